/**
 * htpasswd hashes as Traefik's basicAuth accepts them: bcrypt (`$2y$`, `$2a$`, `$2b$`, through
 * bcryptjs), SHA1 (`{SHA}`), and Apache MD5 (`$apr1$`, `$1$`, through apache-md5). Anything else
 * (plain text, crypt) is refused when the configuration is loaded.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import md5 from 'apache-md5';
import bcrypt from 'bcryptjs';

export type HashKind = 'bcrypt' | 'sha1' | 'md5';

/** The kind of an htpasswd hash, or undefined when it is not one Traefik accepts. */
export function hashKind(hash: string): HashKind | undefined {
  if (/^\$2[abxy]\$[0-9]{2}\$[./A-Za-z0-9]{53}$/.test(hash)) return 'bcrypt';
  if (/^\{SHA\}[A-Za-z0-9+/]{27}=$/.test(hash)) return 'sha1';
  if (/^\$(apr1|1)\$[^$]{1,8}\$[./0-9A-Za-z]{22}$/.test(hash)) return 'md5';
  return undefined;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether `password` matches `hash` (bcrypt runs off the event loop's critical path, in slices). */
export async function verify(password: string, hash: string): Promise<boolean> {
  switch (hashKind(hash)) {
    case 'bcrypt':
      // $2y$ (PHP/htpasswd) is the same algorithm as $2b$.
      return bcrypt.compare(password, hash.replace(/^\$2y\$/, '$2b$'));
    case 'sha1':
      return same(`{SHA}${createHash('sha1').update(password).digest('base64')}`, hash);
    case 'md5':
      return same(md5(password, hash), hash);
    default:
      return false;
  }
}

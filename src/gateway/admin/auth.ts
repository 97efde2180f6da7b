/**
 * Who may use the admin server: a bearer token (from `admin.auth.tokenFile` or `tokenEnv`) and/or
 * basic auth users in the htpasswd formats basicAuth reads (its verifier, htpasswd.ts). Set up
 * once at start; a non-loopback address without auth is refused there (AdminInsecureError)
 * unless `insecure: true`, which is logged. Actions (POST) also need the CSRF token that
 * `GET /api/session` hands to an authenticated client, and a same-origin (or absent) Origin.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type http from 'node:http';
import { AdminInsecureError } from '../../errors.js';
import type { Logger } from '../../types.js';
import type { AdminAddress } from '../config/model.js';
import { hashKind, verify } from '../middleware/builtin/htpasswd.js';

/** The header a client sends the CSRF token in (a custom header: a cross-site form cannot set it). */
export const CSRF_HEADER = 'x-terrarium-csrf';

export interface AdminAuth {
  /** False when no auth is configured (loopback, or insecure). */
  readonly required: boolean;
  /** The CSRF token of this server's lifetime. */
  readonly csrf: string;
  /** Whether the request's Authorization header is a configured token or user. */
  allows(req: http.IncomingMessage): Promise<boolean>;
  /** The WWW-Authenticate value of a 401. */
  readonly challenge: string;
}

/** 127.0.0.0/8, ::1, localhost: the addresses only this machine reaches. An empty host is every interface. */
export function isLoopback(host: string | undefined): boolean {
  if (!host) return false;
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h.startsWith('::ffff:127.');
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compared through their digests: equal lengths for timingSafeEqual, and the length of the token is not leaked. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function readToken(addr: AdminAddress, file: string | undefined): string | undefined {
  const auth = addr.auth;
  if (!auth) return undefined;
  const refuse = (what: string, hint: string) => new AdminInsecureError(addr.text, what, hint, file);
  let token: string | undefined;
  if (auth.tokenFile) {
    try {
      token = readFileSync(auth.tokenFile, 'utf8').trim();
    } catch (e) {
      throw refuse(`cannot read admin.auth.tokenFile ${auth.tokenFile}: ${(e as Error).message}`, 'Create the file with a long random token, e.g. `openssl rand -hex 32 > admin.token`');
    }
    if (token === '') throw refuse(`admin.auth.tokenFile ${auth.tokenFile} is empty`, 'Write a long random token in it, e.g. `openssl rand -hex 32`');
  }
  if (auth.tokenEnv) {
    const v = process.env[auth.tokenEnv]?.trim();
    if (!v) throw refuse(`the environment variable ${auth.tokenEnv} (admin.auth.tokenEnv) is unset or empty`, `Export ${auth.tokenEnv} with a long random token`);
    if (token !== undefined && token !== v) throw refuse('admin.auth.tokenFile and tokenEnv hold different tokens', 'Set one of them');
    token = v;
  }
  return token;
}

/** htpasswd `user:hash` lines; a user of usersFile wins over the same user in users (as basicAuth). */
function readUsers(addr: AdminAddress, file: string | undefined): Map<string, string> {
  const users = new Map<string, string>();
  const auth = addr.auth;
  if (!auth) return users;
  const add = (line: string, where: string, fromFile: boolean) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    const colon = t.indexOf(':');
    const user = t.slice(0, colon);
    if (colon <= 0 || !hashKind(t.slice(colon + 1))) {
      throw new AdminInsecureError(addr.text, `${where}: "${colon > 0 ? user : t.slice(0, 40)}" is not a user:hash entry with a bcrypt ($2y$), SHA1 ({SHA}) or MD5 ($apr1$) hash`, 'Create entries with `htpasswd -nB user`', file);
    }
    if (fromFile || !users.has(user)) users.set(user, t.slice(colon + 1));
  };
  if (auth.usersFile) {
    let text: string;
    try {
      text = readFileSync(auth.usersFile, 'utf8');
    } catch (e) {
      throw new AdminInsecureError(addr.text, `cannot read admin.auth.usersFile ${auth.usersFile}: ${(e as Error).message}`, 'Create it with `htpasswd -cB file user`', file);
    }
    text.split('\n').forEach((l, i) => add(l, `${auth.usersFile} line ${i + 1}`, true));
  }
  (auth.users ?? []).forEach((u, i) => add(u, `admin.auth.users[${i}]`, false));
  return users;
}

/** The admin server's auth, or AdminInsecureError when it would be open to the network. */
export function adminAuth(addr: AdminAddress, file: string | undefined, logger?: Logger): AdminAuth {
  const token = readToken(addr, file);
  const users = readUsers(addr, file);
  const required = token !== undefined || users.size > 0;
  if (!required && !isLoopback(addr.host)) {
    if (!addr.insecure) {
      throw new AdminInsecureError(
        addr.text,
        'a non-loopback address without authentication would let anyone on the network read the gateway and act on it',
        'Add admin.auth (tokenFile, tokenEnv, users or usersFile), bind the admin to 127.0.0.1, or set admin.insecure: true if something else guards it',
        file,
      );
    }
    logger?.warn({ address: addr.text, code: 'ERR_ADMIN_INSECURE' }, `admin server on ${addr.text} without authentication (admin.insecure: true): anyone who reaches it can read the gateway and act on it`);
  }
  return {
    required,
    csrf: randomBytes(24).toString('base64url'),
    challenge: users.size > 0 ? 'Basic realm="terrarium-admin"' : 'Bearer realm="terrarium-admin"',
    async allows(req) {
      if (!required) return true;
      const h = req.headers.authorization ?? '';
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(h);
      if (bearer) return token !== undefined && sameSecret(bearer[1]!, token);
      const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
      if (!basic || users.size === 0) return false;
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const hash = colon > 0 ? users.get(decoded.slice(0, colon)) : undefined;
      return hash !== undefined && (await verify(decoded.slice(colon + 1), hash));
    },
  };
}

/**
 * Whether a request comes from the admin's own origin: no Origin (curl, same-origin GET), or an
 * Origin whose host is the Host the request was sent to. Cross-origin requests are refused, and
 * no Access-Control-Allow-Origin is ever sent, so another site's page can read nothing.
 */
export function sameOrigin(req: http.IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** Whether an action (POST) carries this server's CSRF token. */
export function hasCsrf(req: http.IncomingMessage, auth: { readonly csrf: string }): boolean {
  const v = req.headers[CSRF_HEADER];
  return typeof v === 'string' && sameSecret(v, auth.csrf);
}

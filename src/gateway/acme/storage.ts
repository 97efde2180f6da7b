/**
 * Traefik's acme.json: one object per resolver name, `{ Account: { Email, Registration: { body,
 * uri }, PrivateKey, KeyType }, Certificates: [{ domain: { main, sans }, certificate, key, Store }] }`,
 * `certificate` and `key` the base64 of their PEM, `PrivateKey` the base64 of the account key's DER
 * (PKCS#1 from Traefik, PKCS#8 from us; both are read). Written atomically, mode 0600 (Traefik
 * refuses a storage file others can read).
 */
import { createPrivateKey } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface StoredCertificate {
  domain: { main: string; sans?: string[] };
  /** PEM chain. */
  certificate: string;
  /** PEM private key. */
  key: string;
}

export interface StoredAccount {
  email: string | undefined;
  /** PEM private key. */
  privateKey: string;
  uri: string | undefined;
  body: unknown;
}

interface FileResolver {
  Account?: { Email?: string; Registration?: { body?: unknown; uri?: string } | null; PrivateKey?: string; KeyType?: string } | null;
  Certificates?: { domain: { main: string; sans?: string[] | null }; certificate: string; key: string; Store?: string }[] | null;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

function readAll(file: string): Record<string, FileResolver> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  if (text.trim() === '') return {};
  const v = JSON.parse(text) as unknown;
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, FileResolver>) : {};
}

function accountKeyPem(der: string): string {
  const buf = Buffer.from(der, 'base64');
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      return createPrivateKey({ key: buf, format: 'der', type }).export({ format: 'pem', type: 'pkcs8' }) as string;
    } catch {
      /* the next encoding */
    }
  }
  throw new Error('the account PrivateKey is not a DER private key');
}

/** What one resolver has in the file. Throws when the file is not JSON. */
export function readResolver(file: string, resolver: string): { account: StoredAccount | undefined; certificates: StoredCertificate[] } {
  const r = readAll(file)[resolver] ?? {};
  const a = r.Account;
  const account = a?.PrivateKey ? { email: a.Email || undefined, privateKey: accountKeyPem(a.PrivateKey), uri: a.Registration?.uri, body: a.Registration?.body } : undefined;
  const certificates = (r.Certificates ?? []).map((c) => ({ domain: { main: c.domain.main, sans: c.domain.sans ?? [] }, certificate: unb64(c.certificate), key: unb64(c.key) }));
  return { account, certificates };
}

/** Write one resolver's part (the others' are kept as they are). */
export function writeResolver(file: string, resolver: string, account: StoredAccount | undefined, certificates: StoredCertificate[]): void {
  const all = readAll(file);
  all[resolver] = {
    Account: account
      ? {
          Email: account.email ?? '',
          Registration: { body: account.body ?? { status: 'valid' }, uri: account.uri ?? '' },
          PrivateKey: createPrivateKey(account.privateKey).export({ format: 'der', type: 'pkcs8' }).toString('base64'),
          KeyType: 'EC256',
        }
      : null,
    Certificates: certificates.map((c) => ({ domain: { main: c.domain.main, ...(c.domain.sans?.length ? { sans: c.domain.sans } : {}) }, certificate: b64(c.certificate), key: b64(c.key), Store: 'default' })),
  };
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

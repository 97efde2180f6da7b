/**
 * `basicAuth`: HTTP Basic authentication against htpasswd entries (`users`, and/or `usersFile`
 * relative to the configuration file), as Traefik: realm `traefik` by default, 401 with
 * WWW-Authenticate, `headerField` to pass the user name upstream, `removeHeader` to drop the
 * Authorization header.
 * @example
 * basicAuth: { users: ['test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/'] }
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { hashKind, verify } from './htpasswd.js';
import { bool, defineBuiltin, obj, str, strList, textResponse } from './types.js';

interface BasicAuthOptions {
  users?: string[];
  usersFile?: string;
  realm?: string;
  removeHeader?: boolean;
  headerField?: string;
}

export default defineBuiltin<BasicAuthOptions>(
  'basicAuth',
  obj({ users: strList, usersFile: str, realm: str, removeHeader: bool, headerField: str }),
  (o, env) => {
    const users = new Map<string, string>();
    const add = (line: string, where: (string | number)[], file?: string, lineNo?: number) => {
      const t = line.trim();
      if (t === '' || t.startsWith('#')) return;
      const colon = t.indexOf(':');
      const at = file ? ` (${file} line ${lineNo})` : '';
      if (colon <= 0) {
        env.issue(where, `"${t.slice(0, 40)}" is not a user:hash entry${at}; create entries with htpasswd -nB user`);
        return;
      }
      const user = t.slice(0, colon);
      const hash = t.slice(colon + 1);
      if (!hashKind(hash)) {
        env.issue(where, `the hash of user "${user}" is not bcrypt ($2y$), SHA1 ({SHA}) or MD5 ($apr1$)${at}; create it with htpasswd -nB ${user}`);
        return;
      }
      // Traefik: a user of usersFile wins over the same user in users.
      if (file || !users.has(user)) users.set(user, hash);
    };
    if (o.usersFile) {
      const file = path.resolve(env.baseDir, o.usersFile);
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        env.issue(['usersFile'], `cannot read ${file}: ${(e as Error).message}`);
      }
      text.split('\n').forEach((line, i) => add(line, ['usersFile'], file, i + 1));
    }
    (o.users ?? []).forEach((u, i) => add(u, ['users', i]));
    if (users.size === 0) env.issue([], 'no user: set users (["user:hash"]) or usersFile');
    const realm = o.realm || 'traefik';
    const deny = () => textResponse(401, '401 Unauthorized\n', { 'www-authenticate': `Basic realm="${realm}"` });
    return {
      async onRequest(req) {
        const h = req.headers.authorization;
        const m = typeof h === 'string' ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h) : null;
        if (!m) return deny();
        const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon < 0) return deny();
        const user = decoded.slice(0, colon);
        const hash = users.get(user);
        if (hash === undefined || !(await verify(decoded.slice(colon + 1), hash))) return deny();
        const set: Record<string, string> = {};
        if (o.headerField) set[o.headerField] = user;
        return { setHeaders: set, ...(o.removeHeader ? { removeHeaders: ['authorization'] } : {}) };
      },
    };
  },
);

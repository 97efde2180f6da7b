/**
 * Sticky sessions by cookie (`sticky.cookie`): the cookie names the target that served the first
 * request (by a hash of its URL or service name, never the address itself), and later requests
 * carrying it go to the same target while it is up.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { CookieSpec } from '../config/model.js';

/** The cookie value for a target key. */
export function stickyValue(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** The value of cookie `name` in the request, if any. */
export function cookieValue(headers: OutgoingHttpHeaders, name: string): string | undefined {
  const h = headers.cookie;
  const text = Array.isArray(h) ? h.join('; ') : typeof h === 'string' ? h : '';
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The target a request's sticky cookie names, among those that are up: its index, or -1 when the
 * request has no such cookie (or its target is gone or down) and a strategy must pick.
 */
export function stickyIndex(headers: OutgoingHttpHeaders, cookie: CookieSpec | undefined, targets: readonly { sticky: string; up: boolean }[]): number {
  if (!cookie) return -1;
  const v = cookieValue(headers, cookie.name);
  return v === undefined ? -1 : targets.findIndex((t) => t.sticky === v && t.up);
}

/** Add the Set-Cookie of the sticky cookie to an upstream response. */
export function setStickyCookie(res: IncomingMessage, c: CookieSpec, value: string): void {
  let cookie = `${c.name}=${value}; Path=${c.path}`;
  if (c.domain) cookie += `; Domain=${c.domain}`;
  if (c.maxAge > 0) cookie += `; Max-Age=${c.maxAge}`;
  else if (c.maxAge < 0) cookie += '; Max-Age=0';
  if (c.httpOnly) cookie += '; HttpOnly';
  if (c.secure) cookie += '; Secure';
  if (c.sameSite) cookie += `; SameSite=${c.sameSite[0]!.toUpperCase()}${c.sameSite.slice(1)}`;
  const prev = res.headers['set-cookie'];
  res.headers['set-cookie'] = prev ? [...prev, cookie] : [cookie];
}

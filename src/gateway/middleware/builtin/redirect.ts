/** What redirectScheme and redirectRegex answer: Traefik's statuses and body. */
import type { RequestDecision } from '../contract.js';
import { STATUS_TEXT } from './util.js';

/** 301/302 for GET, 308/307 otherwise (so the method and body survive), as Traefik. */
export function redirect(location: string, permanent: boolean, method: string): RequestDecision {
  const get = method === 'GET';
  const status = permanent ? (get ? 301 : 308) : get ? 302 : 307;
  return { respond: { status, headers: { location, 'content-type': 'text/plain; charset=utf-8' }, body: STATUS_TEXT[status] } };
}

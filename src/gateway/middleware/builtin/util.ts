/** Small helpers shared by the built-in middlewares. */

/** A header value with one more value (Go's Header.Add). */
export function addHeader(existing: string | string[] | undefined, v: string): string | string[] {
  if (existing === undefined) return v;
  return Array.isArray(existing) ? [...existing, v] : [existing, v];
}

/** A header as one string (joined by ', ' when repeated). */
export function headerText(v: string | string[] | number | undefined): string {
  if (v === undefined) return '';
  return Array.isArray(v) ? v.join(', ') : String(v);
}

/** Go's http.StatusText for the statuses built-ins answer with. */
export const STATUS_TEXT: Record<number, string> = {
  301: 'Moved Permanently',
  302: 'Found',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  401: 'Unauthorized',
  403: 'Forbidden',
  413: 'Request Entity Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

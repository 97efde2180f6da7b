/**
 * Traefik's access log (`accessLog` written as a section): one line per request with Traefik's
 * field names (ClientAddr, ClientHost, RequestMethod, RequestPath, DownstreamStatus, Duration in
 * nanoseconds, RouterName, ServiceName, entryPointName...), in Traefik's `common` format or as
 * JSON, filtered and with fields and request headers kept, dropped or redacted as configured. The
 * lines go to `filePath` (appended) or, without one, to the gateway logger: the library never
 * prints by itself.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { ResolvedAccessLog } from '../config/model.js';
import type { Logger } from '../../types.js';

/** What the gateway knows of one finished request. */
export interface AccessEntry {
  start: Date;
  durationMs: number;
  entryPoint: string;
  router: string | undefined;
  service: string | undefined;
  method: string;
  path: string;
  protocol: string;
  scheme: 'http' | 'https';
  host: string;
  clientHost: string;
  clientPort: number;
  status: number;
  contentSize: number;
  username: string | undefined;
  headers: IncomingHttpHeaders;
}

/** Writes the access lines of one configuration; closed with the gateway. */
export class AccessLogWriter {
  private stream: WriteStream | undefined;
  private count = 0;

  constructor(
    readonly spec: ResolvedAccessLog,
    private readonly logger: Logger,
  ) {
    if (spec.filePath) {
      this.stream = createWriteStream(spec.filePath, { flags: 'a' });
      this.stream.on('error', (err) => {
        this.logger.error({ file: spec.filePath, err: err.message }, `access log: cannot write ${spec.filePath}: ${err.message}`);
        this.stream = undefined;
      });
    }
  }

  write(e: AccessEntry): void {
    this.count++;
    const s = this.spec;
    const filtered = s.statusRanges.length > 0 || s.minDurationMs > 0 || s.retryAttempts;
    if (filtered) {
      // Traefik keeps a line that any filter keeps.
      const byStatus = s.statusRanges.some(([lo, hi]) => e.status >= lo && e.status <= hi);
      const byDuration = s.minDurationMs > 0 && e.durationMs >= s.minDurationMs;
      if (!byStatus && !byDuration) return;
    }
    const fields = this.fields(e);
    if (s.format === 'json') {
      const line = JSON.stringify(fields);
      if (this.stream) this.stream.write(`${line}\n`);
      else this.logger.info(fields, 'access');
      return;
    }
    const line = commonLine(fields);
    if (this.stream) this.stream.write(`${line}\n`);
    else this.logger.info({ line }, line);
  }

  /** Traefik's fields of one request, with the field and header modes applied. */
  private fields(e: AccessEntry): Record<string, unknown> {
    const s = this.spec;
    const all: Record<string, unknown> = {
      ClientAddr: e.clientHost.includes(':') ? `[${e.clientHost}]:${e.clientPort}` : `${e.clientHost}:${e.clientPort}`,
      ClientHost: e.clientHost,
      ClientPort: String(e.clientPort),
      ClientUsername: e.username ?? '-',
      DownstreamContentSize: e.contentSize,
      DownstreamStatus: e.status,
      Duration: Math.round(e.durationMs * 1e6),
      RequestAddr: e.host,
      RequestContentSize: Number(e.headers['content-length'] ?? 0),
      RequestCount: this.count,
      RequestHost: e.host.replace(/:[0-9]+$/, ''),
      RequestMethod: e.method,
      RequestPath: e.path,
      RequestPort: /:([0-9]+)$/.exec(e.host)?.[1] ?? '-',
      RequestProtocol: e.protocol,
      RequestScheme: e.scheme,
      RetryAttempts: 0,
      ...(e.router !== undefined ? { RouterName: e.router } : {}),
      ...(e.service !== undefined ? { ServiceName: e.service } : {}),
      StartLocal: localIso(e.start),
      StartUTC: e.start.toISOString(),
      entryPointName: e.entryPoint,
    };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(all)) {
      const mode = s.fieldModes[k] ?? s.fieldDefault;
      if (mode === 'keep') out[k] = v;
      else if (mode === 'redact') out[k] = 'REDACTED';
    }
    for (const [name, v] of Object.entries(e.headers)) {
      const mode = s.headerModes[name] ?? s.headerDefault;
      if (mode === 'drop' || v === undefined) continue;
      const canonical = name.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
      out[`request_${canonical}`] = mode === 'redact' ? 'REDACTED' : Array.isArray(v) ? v.join(', ') : v;
    }
    return out;
  }

  /** Resolves once the file has every line written. */
  close(): Promise<void> {
    const s = this.stream;
    this.stream = undefined;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => s.end(() => resolve()));
  }
}

/** Traefik's `common` format (its CLF with the request count, router, service URL and duration). */
function commonLine(f: Record<string, unknown>): string {
  const v = (k: string, dflt = '-') => (f[k] === undefined ? dflt : String(f[k]));
  const q = (k: string) => `"${v(k)}"`;
  const ms = typeof f.Duration === 'number' ? `${Math.round(f.Duration / 1e6)}ms` : '-';
  return `${v('ClientHost')} - ${v('ClientUsername')} [${v('StartLocal')}] "${v('RequestMethod')} ${v('RequestPath')} ${v('RequestProtocol')}" ${v('DownstreamStatus')} ${v('DownstreamContentSize')} ${q('request_Referer')} ${q('request_User-Agent')} ${v('RequestCount')} ${q('RouterName')} ${q('ServiceName')} ${ms}`;
}

function localIso(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const pad = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, '0');
  const local = new Date(d.getTime() + off * 60_000).toISOString().slice(0, -1);
  return `${local}${sign}${pad(off / 60)}:${pad(off % 60)}`;
}

/**
 * Traefik's `accessLog` section resolved: where the lines go (`filePath`, else the gateway
 * logger), their format (`common`, Traefik's CLF, or `json` with Traefik's field names), the
 * filters (statusCodes ranges, minDuration, retryAttempts) and which fields and request headers
 * are kept, dropped or redacted (`fields.defaultMode`/`names`, `fields.headers.defaultMode`/`names`).
 */
import path from 'node:path';
import { parseGoDuration } from './duration.js';
import type { ResolvedAccessLog } from './model.js';

type Mode = 'keep' | 'drop' | 'redact';

interface AccessLogSection {
  filePath?: string;
  format?: 'common' | 'json' | 'genericCLF';
  bufferingSize?: number;
  filters?: { statusCodes?: string[]; retryAttempts?: boolean; minDuration?: string | number };
  fields?: { defaultMode?: Mode; names?: Record<string, Mode>; headers?: { defaultMode?: Mode; names?: Record<string, Mode> } };
}

/** Resolve Traefik's section; undefined for Terrarium's boolean form (its own access line). */
export function resolveAccessLog(raw: unknown, baseDir: string, issue: (segs: (string | number)[], message: string) => void): ResolvedAccessLog | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const s = raw as AccessLogSection;
  const statusRanges: [number, number][] = [];
  (s.filters?.statusCodes ?? []).forEach((text, i) => {
    const m = /^([0-9]{3})(?:-([0-9]{3}))?$/.exec(text.trim());
    if (!m) issue(['accessLog', 'filters', 'statusCodes', i], `must be a status code or a range such as 500-599 (got "${text}")`);
    else statusRanges.push([Number(m[1]), Number(m[2] ?? m[1])]);
  });
  let minDurationMs = 0;
  const md = s.filters?.minDuration;
  if (md !== undefined) {
    // Traefik: a bare number is nanoseconds (a Go time.Duration), a string a Go duration.
    const n = typeof md === 'number' ? md / 1e6 : parseGoDuration(md);
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) issue(['accessLog', 'filters', 'minDuration'], 'must be a duration such as 10ms');
    else minDurationMs = n;
  }
  const lowerNames: Record<string, Mode> = {};
  for (const [k, v] of Object.entries(s.fields?.headers?.names ?? {})) lowerNames[k.toLowerCase()] = v;
  return {
    filePath: s.filePath ? path.resolve(baseDir, s.filePath) : undefined,
    format: s.format === 'json' ? 'json' : 'common',
    statusRanges,
    retryAttempts: s.filters?.retryAttempts ?? false,
    minDurationMs,
    fieldDefault: s.fields?.defaultMode ?? 'keep',
    fieldModes: s.fields?.names ?? {},
    // Traefik drops every header unless told otherwise.
    headerDefault: s.fields?.headers?.defaultMode ?? 'drop',
    headerModes: lowerNames,
  };
}

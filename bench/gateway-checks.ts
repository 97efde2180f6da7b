/**
 * Scenario: what the request checks of issue 13 cost per request, in-process (no sockets, so the
 * figure does not drown in the noise of a shared machine): the request target and Host checks,
 * path normalisation, forwarded-header cleaning and the upstream header copy with Traefik's
 * X-Forwarded-* set, against the code they replace (a header copy, the `%2e` / dot-segment check
 * and the former three X-Forwarded-* headers), on the core bench's 10-header request, whose
 * client sends an X-Forwarded-For (so the cleaning takes its slow path).
 *
 * Run:   npm run build && node --import tsx bench/gateway-checks.ts
 * Prints a Markdown table (ns per request, median of 9 samples of 300,000 requests after warm-up).
 */
import { upstreamHeaders } from '../src/gateway/services/proxy.js';
import { normalizePath } from '../src/gateway/routing/path.js';
import { parseTarget } from '../src/gateway/routing/target.js';
import { inboundHeaders } from '../src/gateway/routing/forwarded.js';
import { isMain, machine, median, REQ_PASS, table } from './lib.js';

const url = `${REQ_PASS.path}?page=2`;
const headers: Record<string, string> = { ...REQ_PASS.headers, connection: 'keep-alive' };
const rawHeaders = Object.entries(headers).flat();
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** The per-request work of the code this replaces (main before issue 13). */
function before(): unknown {
  const q = url.indexOf('?');
  let path = q < 0 ? url : url.slice(0, q);
  if (path.includes('%') && /%2e/i.test(path)) path = path.replace(/%2e/gi, '.');
  if (path.includes('/.')) path = path + '';
  const copy = Object.assign({}, headers) as Record<string, string | undefined>;
  const out: Record<string, string> = {};
  for (const k in copy) {
    const v = copy[k];
    if (v === undefined || HOP.has(k)) continue;
    out[k] = v;
  }
  const xff = out['x-forwarded-for'];
  out['x-forwarded-for'] = xff ? `${xff}, 127.0.0.1` : '127.0.0.1';
  if (out['x-forwarded-host'] === undefined) out['x-forwarded-host'] = headers.host ?? '';
  if (out['x-forwarded-proto'] === undefined) out['x-forwarded-proto'] = 'http';
  return [path, out];
}

/** The same request through this branch's checks. */
function after(): unknown {
  const t = parseTarget(url, rawHeaders, '1.1');
  if (t.error !== undefined) throw new Error(t.error);
  if (t.asterisk) throw new Error('OPTIONS * is answered, not forwarded');
  const n = normalizePath(t.path);
  const copy = inboundHeaders(headers, false);
  return [n.path, upstreamHeaders(copy, '127.0.0.1', t.host)];
}

function measure(fn: () => unknown): number {
  const N = 300_000;
  let sink: unknown;
  for (let i = 0; i < N; i++) sink = fn();
  const samples: number[] = [];
  for (let s = 0; s < 9; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sink = fn();
    samples.push(Number(process.hrtime.bigint() - t0) / N);
  }
  if (sink === undefined) throw new Error('unreachable');
  return median(samples);
}

export function run(): string {
  // Alternate to spread the machine's drift over both.
  const b: number[] = [];
  const a: number[] = [];
  for (let r = 0; r < 3; r++) {
    b.push(measure(before));
    a.push(measure(after));
  }
  const nb = median(b);
  const na = median(a);
  const m = machine();
  return [
    `Run on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`node --import tsx bench/gateway-checks.ts\`; machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}.`,
    '',
    table(
      ['per request', 'ns'],
      [
        ['before: header copy, %2e/dot check, 3 X-Forwarded-* (main)', nb.toFixed(0)],
        ['after: target + Host checks, path normalisation, forwarded cleaning, 6 X-Forwarded-* (this branch)', na.toFixed(0)],
        ['added per request', (na - nb).toFixed(0)],
      ],
    ),
  ].join('\n');
}

if (isMain(import.meta.url)) console.log(run());

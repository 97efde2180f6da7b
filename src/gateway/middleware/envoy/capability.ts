/**
 * `host.envoy`: what an Envoy filter's handle needs from the gateway process, granted to plugins
 * by the gateway. `httpCall` sends through the service of that name in the configuration now
 * serving (`http.services.<cluster>`, the gateway's own load balancers, health checks and
 * agents), so a cluster is configured once, like any upstream. The crypto functions run on
 * node:crypto in the host (nothing of that is worth doing in a sandbox interpreter).
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Forwarder } from '../../services/index.js';

/**
 * What httpCall needs of a service of the running config (exchange/runtime.ts's Service,
 * structurally: the middleware stage sits below the exchange and does not import it).
 */
type Service = { kind: 'echo' } | { kind: 'loadBalancer'; lb: Forwarder };

/** The largest httpCall response body kept (bytes); a larger one fails the call. */
export const HTTP_CALL_MAX_BODY = 1 << 20;

const HASHES: Record<string, string> = { sha1: 'sha1', sha224: 'sha224', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

function toBuffer(v: unknown): Buffer {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return Buffer.from(String(v ?? ''), 'latin1');
}

/**
 * A response as Envoy's httpCall returns it: headers with `:status`, the body as text. A repeated
 * header is its last value, as Envoy's default, or the list of its values with
 * `return_duplicate_headers` (`dup`).
 */
async function readResponse(res: IncomingMessage, dup: boolean): Promise<{ headers: Record<string, string | string[]>; body: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > HTTP_CALL_MAX_BODY) {
      res.destroy();
      throw new Error(`httpCall: the response body is larger than ${HTTP_CALL_MAX_BODY} bytes`);
    }
    chunks.push(c);
  }
  const headers: Record<string, string | string[]> = { ':status': String(res.statusCode ?? 0) };
  for (const [k, v] of Object.entries(res.headersDistinct)) if (v !== undefined && v.length > 0) headers[k] = v.length === 1 ? v[0]! : dup ? v : v[v.length - 1]!;
  return { headers, body: Buffer.concat(chunks).toString('utf8') };
}

function httpCall(services: () => ReadonlyMap<string, Service> | undefined, cluster: unknown, headers: unknown, body: unknown, timeoutMs: unknown, async: unknown, dup: unknown): Promise<unknown> | null {
  const name = String(cluster);
  const service = services()?.get(name);
  if (!service || service.kind !== 'loadBalancer') throw new Error(`httpCall: no cluster "${name}" (a service in http.services other than echo)`);
  const h = (headers !== null && typeof headers === 'object' ? headers : {}) as Record<string, unknown>;
  const method = String(h[':method'] ?? '');
  const path = String(h[':path'] ?? '');
  if (!method || !path.startsWith('/')) throw new Error('httpCall: the headers must have :method and :path');
  // A value may be a list of strings (a repeated header, such as set-cookie): sent as repeated lines.
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (!k.startsWith(':')) out[k.toLowerCase()] = Array.isArray(v) ? v.map(String) : String(v);
  if (h[':authority'] !== undefined) out.host = String(h[':authority']);
  const payload = toBuffer(body);
  if (payload.length > 0) out['content-length'] = String(payload.length);
  const result = new Promise<unknown>((resolve, reject) => {
    const ms = Number(timeoutMs);
    const timer = ms > 0 ? setTimeout(() => {
      call.abort();
      reject(new Error(`httpCall to "${name}" timed out after ${ms} ms`));
    }, ms) : undefined;
    const call = service.lb.forward({ method, url: path, headers: out, body: payload.length > 0 ? payload : undefined }, (failure, res) => {
      if (failure || !res) {
        clearTimeout(timer);
        reject(new Error(`httpCall to "${name}" failed: ${failure?.message ?? 'no response'}`));
        return;
      }
      readResponse(res, dup === true).then(
        (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  });
  if (async === true) {
    // Fire and forget, as Envoy's asynchronous httpCall: the filter goes on at once.
    result.catch(() => undefined);
    return null;
  }
  return result;
}

function verifySignature(hash: unknown, der: unknown, signature: unknown, data: unknown): [boolean, string] {
  const alg = HASHES[String(hash).toLowerCase()];
  if (!alg) return [false, `unknown hash function ${String(hash)}`];
  let key;
  try {
    key = createPublicKey({ key: toBuffer(der), format: 'der', type: 'spki' });
  } catch {
    try {
      key = createPublicKey({ key: toBuffer(der), format: 'der', type: 'pkcs1' });
    } catch {
      return [false, 'Failed to import public key'];
    }
  }
  try {
    return cryptoVerify(alg, toBuffer(data), key, toBuffer(signature)) ? [true, ''] : [false, 'Failed to verify digest. Error code: 0'];
  } catch (e) {
    return [false, (e as Error).message];
  }
}

/** The `envoy` capability tree, reading the services of the configuration now serving. */
export function envoyCapability(services: () => ReadonlyMap<string, Service> | undefined): Record<string, unknown> {
  return {
    httpCall: (cluster: unknown, headers: unknown, body: unknown, timeoutMs: unknown, async: unknown, dup: unknown) => httpCall(services, cluster, headers, body, timeoutMs, async, dup),
    now: () => Date.now(),
    /** timestampString: milliseconds, or microseconds (`us`), since the epoch, as a decimal string. */
    nowString: (us: unknown) => (us === true ? String(Math.floor((performance.timeOrigin + performance.now()) * 1000)) : String(Date.now())),
    verify: (hash: unknown, der: unknown, signature: unknown, data: unknown) => {
      const [ok, err] = verifySignature(hash, der, signature, data);
      return { ok, error: err };
    },
  };
}

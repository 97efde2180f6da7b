/**
 * The Traefik compatibility table cannot drift: every row's sample is loaded as the gateway loads
 * a file (schema, checks, and the routing table with the middlewares bound), and a supported key
 * must be accepted, a refused one refused with its code; docs/compatibility.md is the table
 * generated from the rows.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHost, type Host } from 'terrarium-plugins';
import { COMPAT_ROWS, replaceCompatBlock, type CompatRow } from '../dist/gateway/config/compat.js';
import { readConfig } from '../dist/gateway/config/load.js';
import { buildRuntime } from '../dist/gateway/exchange/runtime.js';
import { disposeRuntime } from '../dist/gateway/exchange/runtime-dispose.js';
import { PluginCatalog } from '../dist/gateway/middleware/plugin.js';
import { GatewayStats } from '../dist/gateway/stats/stats.js';
import { AgentPool } from '../dist/gateway/services/proxy.js';
import { tempDir } from './fixtures/gateway/helpers.js';

type Obj = Record<string, unknown>;

/** `over` laid on `base`: objects merge, anything else replaces, undefined removes. */
function merge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete out[k];
    else if (v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' && !Array.isArray(out[k])) out[k] = merge(out[k] as Obj, v as Obj);
    else out[k] = v;
  }
  return out;
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('the Traefik compatibility table', () => {
  let dir: { dir: string; cleanup(): Promise<void> };
  let host: Host;
  let dynamic: string;
  let dynamicDir: string;
  before(async () => {
    dir = await tempDir({});
    dynamicDir = path.join(dir.dir, 'dynamic');
    await mkdir(dynamicDir);
    dynamic = path.join(dynamicDir, 'dynamic.yml');
    await writeFile(dynamic, 'http:\n  routers:\n    r:\n      rule: "PathPrefix(`/`)"\n      service: s\n  services:\n    s:\n      echo: {}\n');
    await mkdir(path.join(dir.dir, 'plugins'));
    await writeFile(path.join(dir.dir, 'plugins', 'p.js'), 'export function onRequest() {}\n');
    host = await createHost({ dir: path.join(dir.dir, 'plugins'), logger: silent });
  });
  after(async () => {
    await host.close();
    await dir.cleanup();
  });

  /** Load a row's sample as a gateway file; resolves to the error code, or undefined when accepted. */
  async function load(row: CompatRow): Promise<string | undefined> {
    const sample = JSON.parse(JSON.stringify(row.sample ?? {}).replaceAll('"$DYNAMIC_DIR"', JSON.stringify(dynamicDir)).replaceAll('"$DYNAMIC"', JSON.stringify(dynamic))) as Obj;
    const base: Obj = {
      entryPoints: { web: { address: '127.0.0.1:0' } },
      http: { routers: { r: { rule: 'PathPrefix(`/`)', service: 's' } }, services: { s: { echo: {} } } },
      plugins: { dir: path.join(dir.dir, 'plugins') },
      accessLog: false,
    };
    // A static file (providers.file) holds no http: the routers come from the dynamic file.
    const usesFileProvider = JSON.stringify(sample).includes(dynamicDir);
    const config = merge(usesFileProvider ? { ...base, http: undefined } : base, sample);
    const stats = new GatewayStats();
    const agents = new AgentPool();
    try {
      const checked = await readConfig(config as never);
      const rt = buildRuntime(checked.config, checked.issues, { catalog: new PluginCatalog(host), stats, agents, logger: silent, running: undefined });
      disposeRuntime(rt);
      return undefined;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === undefined) throw e;
      return code;
    } finally {
      agents.destroy();
    }
  }

  for (const row of COMPAT_ROWS.filter((r) => r.status !== 'tls')) {
    it(`${row.key}: ${row.status === 'refused' ? `refused with ${row.code ?? 'ERR_CONFIG'}` : 'accepted'}`, async () => {
      assert.ok(row.sample, `${row.key} has a sample`);
      const code = await load(row);
      if (row.status === 'refused') assert.equal(code, row.code ?? 'ERR_CONFIG');
      else assert.equal(code, undefined, `${row.key} is marked ${row.status} but its sample is refused`);
    });
  }

  it('leaves to the TLS rows only TLS, ACME and HTTP/2 keys', () => {
    for (const r of COMPAT_ROWS.filter((x) => x.status === 'tls')) assert.match(r.key, /(^|\.)tls(\.|$)|^certificatesResolvers|http2|ACME/, r.key);
  });

  it('lists each key once', () => {
    const keys = COMPAT_ROWS.map((r) => r.key);
    assert.deepEqual(keys.filter((k, i) => keys.indexOf(k) !== i), []);
  });

  it("docs/compatibility.md's key table is the one generated from the rows", () => {
    const page = readFileSync(new URL('../docs/compatibility.md', import.meta.url), 'utf8');
    assert.equal(page, replaceCompatBlock(page), 'regenerate the block of docs/compatibility.md (see src/gateway/config/compat.ts)');
  });
});

/**
 * Replay: the gateway's opt-in recorder (per-router sampling, redacted headers, rotation by size)
 * and `terrarium replay` running what it recorded through two versions of a middleware.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createGateway } from '../dist/gateway/index.js';
import { ReplayRecorder } from '../dist/gateway/stats/recorder.js';
import { run } from './cli-run.js';

const MW = `export const meta = { name: 'gate', version: '1.0.0', apiVersion: 1, gateway: { requestHeaders: ['x-key'] } };
export function onRequest(req) {
  if (req.headers['x-key'] !== 'open') return { respond: { status: 403, body: 'closed' } };
}
`;

describe('replay', () => {
  let root: string;
  let recorded: string;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'terrarium-replay-'));
    await mkdir(path.join(root, 'plugins'));
    await writeFile(path.join(root, 'plugins', 'gate.js'), MW);
    // The next version also lets x-key: ajar through.
    await writeFile(path.join(root, 'gate-next.js'), MW.replace("!== 'open'", "!== 'open' && req.headers['x-key'] !== 'ajar'"));
    const config = path.join(root, 'gw.yaml');
    await writeFile(
      config,
      `entryPoints: { web: { address: "127.0.0.1:0" } }
http:
  routers:
    a: { rule: "PathPrefix(\`/a\`)", entryPoints: [web], middlewares: [mw], service: echo }
    b: { rule: "PathPrefix(\`/b\`)", entryPoints: [web], service: echo }
  middlewares: { mw: { plugin: { gate: {} } } }
  services: { echo: { echo: {} } }
plugins: { dir: ./plugins, watch: false }
replay: { file: ./rec/replay.jsonl, sampleRate: 0.5 }
`,
    );
    const gw = await createGateway(config);
    try {
      const url = Object.values(gw.entryPoints)[0]!.url;
      const keys = ['open', 'ajar', 'no', 'ajar', 'open', 'ajar', 'no', 'ajar'];
      for (let i = 0; i < keys.length; i++) {
        await (await fetch(`${url}/a/${i}?n=${i}`, { headers: { 'x-key': keys[i]!, authorization: 'Bearer s3cret', cookie: 'id=1' } })).text();
      }
      for (let i = 0; i < 4; i++) await (await fetch(`${url}/b/${i}`)).text();
    } finally {
      await gw.close();
    }
    recorded = path.join(root, 'rec', 'replay.jsonl');
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('records every second request of each router (sampleRate 0.5), with authorization and cookie redacted', async () => {
    const lines = (await readFile(recorded, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { router: string; request: { path: string; query: Record<string, string>; headers: Record<string, string> } });
    assert.deepEqual(lines.filter((l) => l.router === 'a').map((l) => l.request.path), ['/a/0', '/a/2', '/a/4', '/a/6']);
    assert.deepEqual(lines.filter((l) => l.router === 'b').map((l) => l.request.path), ['/b/0', '/b/2']);
    const first = lines[0]!.request;
    assert.deepEqual(first.query, { n: '0' });
    assert.equal(first.headers.authorization, '[redacted]');
    assert.equal(first.headers.cookie, '[redacted]');
    assert.equal(first.headers['x-key'], 'open');
    assert.doesNotMatch(await readFile(recorded, 'utf8'), /s3cret/);
  });

  it('replay counts the decisions of one version (--json, one router)', async () => {
    const r = await run('replay', recorded, path.join(root, 'plugins', 'gate.js'), '--router', 'a', '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { requests: number; plugin: { decisions: Array<{ decision: string; count: number }> } };
    assert.equal(report.requests, 4);
    // Recorded a/0 open, a/2 no, a/4 open, a/6 no.
    assert.deepEqual(
      [...report.plugin.decisions].sort((x, y) => x.decision.length - y.decision.length),
      [
        { decision: 'null', count: 2 },
        { decision: '{"respond":{"status":403,"body":"closed"}}', count: 2 },
      ],
    );
  });

  it('--against shows the decisions that differ between two versions, with counts, and exits 1', async () => {
    // Append a request only the next version lets through, and a line cut short (a crash mid-write).
    const extra = { at: new Date().toISOString(), router: 'a', request: { method: 'GET', path: '/a/ajar', query: {}, headers: { 'x-key': 'ajar' }, client: { address: '127.0.0.1', port: 1 } } };
    const file = path.join(root, 'more.jsonl');
    await writeFile(file, `${await readFile(recorded, 'utf8')}${JSON.stringify(extra)}\n${JSON.stringify(extra)}\n{"at":"2026-`);
    const r = await run('replay', file, path.join(root, 'plugins', 'gate.js'), '--against', path.join(root, 'gate-next.js'), '--router', 'a');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^6 recorded requests from .*more\.jsonl \(1 malformed lines skipped, the first at .*more\.jsonl:9\)/);
    assert.match(r.stdout, /2 of 6 decisions differ \(4 the same\)/);
    assert.match(r.stdout, /\s+2 {2}\{"respond":\{"status":403,"body":"closed"\}\} {2}-> {2}null {3}e\.g\. a GET \/a\/ajar/);
  });

  it('replay refuses a missing file, an unknown flag, and a plugin that is not a middleware', async () => {
    const missing = await run('replay', path.join(root, 'nope.jsonl'), path.join(root, 'plugins', 'gate.js'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.jsonl does not exist/);
    const flag = await run('replay', recorded, path.join(root, 'plugins', 'gate.js'), '--againts', 'x');
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /unknown option '--againts'\n\(Did you mean --against\?\)/);
    const plain = path.join(root, 'plain.js');
    await writeFile(plain, "export const meta = { name: 'plain', version: '1.0.0', apiVersion: 1 };\nexport function f() { return 1; }\n");
    const notMw = await run('replay', recorded, plain);
    assert.equal(notMw.code, 2);
    assert.match(notMw.stderr, /ERR_FIXTURE: plugin "plain" .*exports no onRequest \(it exports: f\)/);
  });

  it('the recorder rotates its file by size, keeping one older generation, and drops (counts) samples past a full queue', async () => {
    const dir = path.join(root, 'rot');
    const rec = new ReplayRecorder({ file: path.join(dir, 'r.jsonl'), sampleRate: 1, maxBytes: 2048, redactHeaders: [], maxQueue: 1000 });
    for (let i = 0; i < 40; i++) {
      rec.offer('r', 'GET', `/${i}`, {}, { 'x-pad': 'x'.repeat(100) }, { address: '127.0.0.1', port: 1 });
      await rec.flush();
    }
    assert.ok(existsSync(path.join(dir, 'r.jsonl.1')), 'rotated');
    assert.ok((await stat(path.join(dir, 'r.jsonl'))).size <= 2048);
    const last = (await readFile(path.join(dir, 'r.jsonl'), 'utf8')).trim().split('\n').at(-1)!;
    assert.equal((JSON.parse(last) as { request: { path: string } }).request.path, '/39');

    const small = new ReplayRecorder({ file: path.join(dir, 'q.jsonl'), sampleRate: 1, maxBytes: 1 << 20, redactHeaders: [], maxQueue: 2 });
    // Offered in one synchronous burst: the writer has not run yet, so the queue holds 2.
    for (let i = 0; i < 5; i++) small.offer('r', 'GET', `/${i}`, {}, {}, { address: '127.0.0.1', port: 1 });
    await small.flush();
    assert.ok(small.dropped >= 1, `dropped ${small.dropped}`);
    assert.equal(small.recorded + small.dropped, 5);
  });
});

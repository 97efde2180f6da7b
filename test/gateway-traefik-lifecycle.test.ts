/**
 * entryPoints.<name>.transport.lifeCycle with a real SIGTERM to a child gateway process and a slow
 * real upstream: during requestAcceptGraceTimeout new requests are still accepted and served
 * (/ping answers 503), a request in flight finishes within graceTimeOut, and one that outlives
 * graceTimeOut has its connection closed. The accept grace is ended by the test (the
 * acceptGraceEnd hook, over IPC) and every step waits on an event: a log line, a response, a
 * refused connection, the child's exit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { eventually, upstream } from './fixtures/gateway/helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/gateway/lifecycle-child.ts', import.meta.url));

interface Child {
  proc: ChildProcess;
  port: number;
  traefik: number;
  logs: { level: string; msg?: string }[];
  exited: Promise<number | null>;
}

async function startChild(t: { after(fn: () => unknown): void }, config: object): Promise<Child> {
  const proc = fork(CHILD, [JSON.stringify(config)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const logs: Child['logs'] = [];
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const ready = await new Promise<{ port: number; traefik: number }>((resolve, reject) => {
    proc.on('message', (m: { ready?: boolean; port: number; traefik: number; log?: { level: string; msg?: string } }) => {
      if (m.log) logs.push(m.log);
      if (m.ready) resolve(m);
    });
    proc.once('exit', (code) => reject(new Error(`the gateway child exited (${code}) before it was ready`)));
  });
  return { proc, port: ready.port, traefik: ready.traefik, logs, exited };
}

/** A GET on a fresh connection: the status and body, or the error when the connection closes first. */
function get(port: number, path: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    });
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
  });
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });

function config(upstreamUrl: string, lifeCycle: object) {
  return {
    entryPoints: { web: { address: '127.0.0.1:0', transport: { lifeCycle } }, traefik: { address: '127.0.0.1:0' } },
    ping: {},
    http: { routers: { r: { rule: 'PathPrefix(`/`)', service: 'up', entryPoints: ['web'] } }, services: { up: { loadBalancer: { servers: [{ url: upstreamUrl }] } } } },
    accessLog: false,
  };
}

describe('transport.lifeCycle on SIGTERM (child gateway process)', () => {
  it('requestAcceptGraceTimeout: new requests still served and /ping 503; then the listener closes and the slow request in flight finishes within graceTimeOut', async (t) => {
    const held: http.ServerResponse[] = [];
    const up = await upstream((req, res) => {
      if (req.url === '/slow') held.push(res);
      else res.end(`fast ${req.url}`);
    });
    t.after(() => up.close());
    const child = await startChild(t, config(up.url, { requestAcceptGraceTimeout: '60s', graceTimeOut: '60s' }));
    assert.equal(((await get(child.traefik, '/ping')) as { status: number }).status, 200);

    const slow = get(child.port, '/slow');
    await eventually(() => held.length === 1, 'the slow request reached the upstream');
    child.proc.kill('SIGTERM');
    await eventually(() => child.logs.some((l) => /still accepting requests for the accept grace period/.test(l.msg ?? '')), 'the accept grace began');

    // Accept grace: a new connection is accepted and routed; /ping says the gateway is terminating.
    assert.deepEqual(await get(child.port, '/during'), { status: 200, body: 'fast /during' });
    assert.equal(((await get(child.traefik, '/ping')) as { status: number }).status, 503);

    child.proc.send('end-grace');
    await eventually(() => refused(child.port), 'the entry point stops accepting after the grace');
    // graceTimeOut: the request in flight still finishes, complete.
    held[0]!.end('slow done');
    assert.deepEqual(await slow, { status: 200, body: 'slow done' });
    assert.equal(await child.exited, 0);
  });

  it('graceTimeOut: a request in flight past it has its connection closed and the gateway exits', async (t) => {
    const up = await upstream(() => undefined); // never answers
    t.after(() => up.close());
    const child = await startChild(t, config(up.url, { graceTimeOut: '300ms' }));
    const hung = get(child.port, '/hang');
    await eventually(() => up.seen.length === 1, 'the request reached the upstream');
    child.proc.kill('SIGTERM');
    const r = await hung;
    assert.ok('error' in r, `the client gets no response: ${JSON.stringify(r)}`);
    assert.equal(await child.exited, 0);
    // The log line travels over IPC, the close over TCP: it is looked at once the child has exited.
    assert.ok(child.logs.some((l) => l.level === 'warn' && /shutdown timeout: closing connections with requests in flight/.test(l.msg ?? '')), 'the timeout is logged');
    assert.ok(!child.logs.some((l) => /still accepting/.test(l.msg ?? '')), 'no accept grace without requestAcceptGraceTimeout');
  });
});

/**
 * The dashboard's SSE hub (admin/events.ts): no snapshot is built while no client is connected,
 * a client gets the current state at once, and a change reaches it without polling by the test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventHub } from '../dist/gateway/admin/events.js';

async function serve(hub: EventHub): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => hub.add(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => { hub.close(); server.close(() => r()); server.closeAllConnections(); }) };
}

/** Read SSE data lines until `want` of them arrived. */
function read(url: string, want: number): Promise<{ data: string[]; stop(): void }> {
  return new Promise((resolve, reject) => {
    const data: string[] = [];
    const req = http.get(url, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        for (let i; (i = buf.indexOf('\n\n')) >= 0; buf = buf.slice(i + 2)) data.push(buf.slice(0, i).split('\n').find((l) => l.startsWith('data: '))!.slice(6));
        if (data.length >= want) resolve({ data, stop: () => req.destroy() });
      });
    });
    req.on('error', reject);
  });
}

describe('dashboard events (SSE hub)', () => {
  it('builds no snapshot while no client is connected', async () => {
    let state = 0;
    const hub = new EventHub(() => JSON.stringify({ state }), { intervalMs: 10 });
    const s = await serve(hub);
    try {
      state++;
      // A connection whose first snapshot proves the timer ran (or not) meanwhile: before it, none.
      assert.equal(hub.ticks, 0);
      const first = await read(s.url, 1);
      assert.equal(hub.ticks >= 1, true);
      assert.deepEqual(JSON.parse(first.data[0]!), { state: 1 });
      first.stop();
    } finally {
      await s.close();
    }
  });

  it('sends the current state at once, then each change, and never an unchanged one twice', async () => {
    let state = 0;
    const hub = new EventHub(() => JSON.stringify({ state }), { intervalMs: 10 });
    const s = await serve(hub);
    try {
      const got = read(s.url, 2);
      // change only once connected: the second event is the change, not a repeat
      await new Promise<void>((r) => { const t = setInterval(() => { if (hub.size > 0) { clearInterval(t); r(); } }, 5); });
      state = 7;
      const { data, stop } = await got;
      assert.deepEqual(data.map((d) => JSON.parse(d)), [{ state: 0 }, { state: 7 }]);
      stop();
    } finally {
      await s.close();
    }
  });

  it('drops a client that leaves more than maxBufferedBytes unread', async () => {
    let state = 0;
    const big = 'x'.repeat(64 * 1024);
    const hub = new EventHub(() => JSON.stringify({ state: state++, big }), { intervalMs: 5, maxBufferedBytes: 256 * 1024 });
    const s = await serve(hub);
    try {
      const req = http.get(s.url, (res) => res.pause()); // never reads
      await new Promise<void>((r) => { const t = setInterval(() => { if (hub.size > 0) { clearInterval(t); r(); } }, 5); });
      await new Promise<void>((r) => { const t = setInterval(() => { if (hub.size === 0) { clearInterval(t); r(); } }, 5); });
      assert.equal(hub.size, 0);
      req.destroy();
    } finally {
      await s.close();
    }
  });
});

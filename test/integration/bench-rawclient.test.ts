/**
 * The benchmark's raw-socket load generator (scripts/bench/rawclient.ts) against real servers: the
 * bare uWebSockets.js and Socket.IO 4 baselines of the bench (scripts/bench/uws-server.ts,
 * sio-server.ts), each a separate process as in `npm run bench`. It must do the upgrade by hand,
 * count every frame (small frames and frames with 16- and 64-bit lengths), read the latency stamps
 * of its sampled connections, speak Engine.IO / Socket.IO over the raw socket, and bring every
 * connection back after the reconnect storm's drop.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { baselineParts, sleep, wallMs } from '../../scripts/bench/common';
import { Supervisor } from '../../scripts/bench/supervisor';
import type { Proc } from '../../scripts/bench/supervisor';
import { freePort } from '../support/ports';

const BENCH = path.resolve(__dirname, '../../scripts/bench');
const SOURCES = ['127.0.0.2', '127.0.0.3'];

interface Counts {
  received: number;
  bytes: number;
  open: number;
  serverCloses: Record<string, number>;
}

describe('bench raw-socket client', () => {
  const sup = new Supervisor();
  let client: Proc;

  before(() => {
    // sources: 127.250.x.y, a fresh one every 64 connections (unless a connect names fixed ones)
    client = sup.fork(path.join(BENCH, 'rawclient.js'), 'rawclient', { BENCH_SOURCE_OCTET: '250' }, false);
  });
  after(() => sup.killAllSync());

  async function server(script: string): Promise<{ proc: Proc; port: number }> {
    const port = await freePort();
    const proc = sup.fork(path.join(BENCH, script), script, { BENCH_PORT: String(port) });
    await sup.waitForEvent(proc, 'ready', 15_000);
    return { proc, port };
  }

  async function connect(kind: 'ws' | 'sio', port: number, count: number, localAddrs: string[] = []): Promise<{ opened: number; failed: number; errors: Record<string, number> }> {
    return sup.call(client, 'connect', { kind, ports: [port], count, offset: 0, tokens: ['t0', 't1'], localAddrs, concurrency: 20, timeoutMs: 10_000, deadlineMs: 30_000, sampleEvery: 5 });
  }

  /** Waits until the client counted `n` frames (or 10 s). */
  async function received(n: number): Promise<Counts> {
    let c = await sup.call<Counts>(client, 'count');
    for (let i = 0; i < 200 && c.received < n; i++) {
      await sleep(50);
      c = await sup.call<Counts>(client, 'count');
    }
    return c;
  }

  test('bare uWS: upgrade by hand, every frame counted (7-, 16- and 64-bit lengths), stamps read', async () => {
    const s = await server('uws-server.js');
    try {
      const r = await connect('ws', s.port, 40, SOURCES);
      assert.deepEqual([r.opened, r.failed], [40, 0], JSON.stringify(r.errors));
      assert.equal(await sup.call<number>(s.proc, 'connections'), 40);
      await sup.call(client, 'reset');
      await sup.call(client, 'latency');
      const t0 = wallMs();
      let expectedBytes = 0;
      for (const [size, count, perTurn] of [
        [100, 20, 8],
        [1000, 5, 1],
        [70_000, 3, 3],
      ] as const) {
        const parts = baselineParts(size);
        await sup.call(s.proc, 'publishBatch', { ...parts, count, perTurn });
        // each frame: prefix + 20-character stamp + suffix
        expectedBytes += 40 * count * (parts.prefix.length + 20 + parts.suffix.length);
      }
      const c = await received(40 * 28);
      assert.equal(c.received, 40 * 28);
      assert.equal(c.bytes, expectedBytes);
      assert.deepEqual(c.serverCloses, {});
      // every 5th connection samples: 8 connections x 28 frames, each stamped after t0 and before now
      const { samples } = await sup.call<{ samples: number[] }>(client, 'latency');
      assert.equal(samples.length, 8 * 28);
      const span = wallMs() - t0;
      for (const ms of samples) assert.ok(ms >= 0 && ms <= span, `latency sample ${ms} ms outside [0, ${span}]`);
      const { frame } = await sup.call<{ frame: string }>(client, 'lastFrame');
      assert.match(frame, /^\{"type":"bench","id":"0+a","payload":"~T\d+\.\d{3}~x+/);
      const cpu = await sup.call<{ user: number; system: number }>(client, 'cpu');
      assert.ok(cpu.user > 0 && cpu.system >= 0);
    } finally {
      await sup.call(client, 'closeAll');
      await sup.stop(s.proc);
    }
  });

  test('bare uWS: the reconnect storm drops every socket at once and brings each back (on fresh source addresses)', async () => {
    const s = await server('uws-server.js');
    try {
      const r = await connect('ws', s.port, 60);
      assert.equal(r.opened, 60);
      const at = wallMs() + 100;
      const st = await sup.call<{ dropped: number; back: number; failedAttempts: number; droppedAt: number; lastBackAt: number }>(client, 'storm', { at, jitterMs: 300, deadlineMs: 10_000 }, 20_000);
      assert.deepEqual([st.dropped, st.back, st.failedAttempts], [60, 60, 0]);
      assert.ok(st.droppedAt >= at - 5, 'dropped at the agreed time');
      assert.ok(st.lastBackAt > st.droppedAt);
      // the old sockets are gone on the server, the new ones are open
      for (let i = 0; i < 100 && (await sup.call<number>(s.proc, 'connections')) !== 60; i++) await sleep(50);
      assert.equal(await sup.call<number>(s.proc, 'connections'), 60);
      assert.equal((await sup.call<Counts>(client, 'count')).open, 60);
    } finally {
      await sup.call(client, 'closeAll');
      await sup.stop(s.proc);
    }
  });

  test('Socket.IO 4 over the raw socket: EIO=4 open, 40 connect, 42 events counted', async () => {
    const s = await server('sio-server.js');
    try {
      const r = await connect('sio', s.port, 30);
      assert.deepEqual([r.opened, r.failed], [30, 0], JSON.stringify(r.errors));
      for (let i = 0; i < 100 && (await sup.call<number>(s.proc, 'connections')) !== 30; i++) await sleep(50);
      assert.equal(await sup.call<number>(s.proc, 'connections'), 30);
      await sup.call(client, 'reset');
      await sup.call(s.proc, 'publishBatch', { ...baselineParts(100), count: 10, perTurn: 4 });
      const c = await received(300);
      assert.equal(c.received, 300);
      const { samples } = await sup.call<{ samples: number[] }>(client, 'latency');
      assert.equal(samples.length, 6 * 10);
      const { frame } = await sup.call<{ frame: string }>(client, 'lastFrame');
      assert.match(frame, /^42\["m","\{\\"type\\":\\"bench\\"/);
    } finally {
      await sup.call(client, 'closeAll');
      await sup.stop(s.proc);
    }
  });
});

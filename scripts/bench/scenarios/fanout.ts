/** Scenario fanout: Broadcast and PushToUsers deliveries/s of 100 B and 4 KiB frames over all connections, against the bare uWebSockets.js and Socket.IO publish. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HOST } from '../common';
import { baselineFrame, benchPayload, gatewayApi } from '../harness';
import type { Bench, Scn } from '../harness';
import type { BenchParams } from '../params';

export async function fanout(params: BenchParams['fanout'], bench: Bench): Promise<Scn> {
  const { sup } = bench;
  const n = params.connections;
  const sizes = [100, 4096];
  const variants: Record<string, Record<string, number>> = {};
  const set = (v: string, k: string, x: number): void => {
    (variants[v] ??= {})[k] = x;
  };
  const usersOf = Math.ceil(n / 10); // 10 devices per user
  const profDir = fs.mkdtempSync(path.join(bench.tmpRoot, 'prof-'));
  {
    const g = await bench.startGateway('gateway', bench.profile ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {});
    const api = gatewayApi(`${HOST}:${g.grpc}`);
    try {
      await bench.connectAll('fanout ima', 'ws', [g.ws], n, { users: usersOf, userPrefix: 'f', concurrency: 200 });
      for (const size of sizes) {
        const m = params.messages[size] as number;
        const payload = Buffer.from(benchPayload(size));
        const b = await bench.measureDeliveries(
          `fanout ima Broadcast ${size} B`,
          n * m,
          async () => {
            for (let i = 0; i < m; i++) await api.call('Broadcast', { message: { type: 'bench', payload } });
          },
          60_000,
          g.proc.child.pid,
        );
        set(`broadcast-${size}B`, 'ima', b.rate);
        set(`broadcast-${size}B-perServerCpuSec`, 'ima', b.perServerCpuSec);
        const userIds = Array.from({ length: usersOf }, (_, i) => `f${i}`);
        const batches: string[][] = [];
        for (let i = 0; i < userIds.length; i += 1000) batches.push(userIds.slice(i, i + 1000));
        const pu = await bench.measureDeliveries(`fanout ima PushToUsers ${size} B`, n * m, async () => {
          for (let i = 0; i < m; i++) await Promise.all(batches.map((u) => api.call('PushToUsers', { userIds: u, message: { type: 'bench', payload } })));
        });
        set(`pushToUsers-${size}B`, 'ima', pu.rate);
      }
    } finally {
      api.client.close();
      await bench.closeAllClients();
      await sup.stop(g.proc, bench.profile ? 10_000 : 2000);
    }
    if (bench.profile) bench.writeProfileSummary(profDir, 'docs/bench/profile-fanout.md', `fanout (${n} connections, Broadcast and PushToUsers of 100 B and 4 KiB)`);
  }
  for (const [key, script, kind] of [
    ['bareUws', 'uws-server.js', 'ws'],
    ['socketio', 'sio-server.js', 'sio'],
  ] as const) {
    const b = await bench.startBaseline(script, key);
    try {
      await bench.connectAll(`fanout ${key}`, kind, [b.port], n, { users: usersOf, userPrefix: 'f', concurrency: 200 });
      for (const size of sizes) {
        const m = params.messages[size] as number;
        const frame = baselineFrame(size);
        const r = await bench.measureDeliveries(
          `fanout ${key} publish ${size} B`,
          n * m,
          async () => {
            await sup.call(b.proc, 'publish', { frame, count: m }, 60_000);
          },
          60_000,
          b.proc.child.pid,
        );
        set(`broadcast-${size}B`, key, r.rate);
        set(`broadcast-${size}B-perServerCpuSec`, key, r.perServerCpuSec);
      }
    } finally {
      await bench.closeAllClients();
      await sup.stop(b.proc);
    }
  }
  const head = variants['broadcast-100B'] ?? {};
  return { ...head, unit: 'deliveries/s (100-byte Broadcast; see variants)', connections: n, messagesPerSize: params.messages, variants };
}

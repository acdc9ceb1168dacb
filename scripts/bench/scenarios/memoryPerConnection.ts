/** Scenario memoryPerConnection: RSS and heap per idle connection of the gateway, bare uWebSockets.js and Socket.IO 4. */
import { sleep } from '../common';
import { fmt } from '../harness';
import type { Bench, Scn } from '../harness';
import type { BenchParams } from '../params';
import type { Proc } from '../supervisor';

export async function memoryPerConnection(params: BenchParams['memory'], bench: Bench): Promise<Scn> {
  const { sup } = bench;
  const n = params.connections;
  const out: Scn = { unit: 'bytes of RSS per idle connection', connections: n };
  const heap: Record<string, number> = {};
  const detail: Record<string, unknown> = {};
  const measure = async (key: string, proc: Proc, kind: 'ws' | 'sio', p: number): Promise<void> => {
    const before = await sup.call<{ rss: number; heapUsed: number }>(proc, 'mem');
    const r = await bench.connectAll(`memory ${key}`, kind, [p], n, { users: Math.ceil(n / 10), userPrefix: 'mem', concurrency: 200 });
    await sleep(1000);
    const after = await sup.call<{ rss: number; heapUsed: number }>(proc, 'mem');
    out[key] = (after.rss - before.rss) / Math.max(1, r.opened);
    heap[key] = (after.heapUsed - before.heapUsed) / Math.max(1, r.opened);
    detail[key] = { opened: r.opened, failed: r.failed, before, after };
    sup.log(`memory ${key}: ${fmt(out[key] as number)} B RSS, ${fmt(heap[key] as number)} B heap per connection`);
  };
  {
    const g = await bench.startGateway('gateway');
    try {
      await measure('ima', g.proc, 'ws', g.ws);
    } finally {
      await bench.closeAllClients();
      await sup.stop(g.proc);
    }
  }
  {
    const b = await bench.startBaseline('uws-server.js', 'bare-uws');
    try {
      await measure('bareUws', b.proc, 'ws', b.port);
    } finally {
      await bench.closeAllClients();
      await sup.stop(b.proc);
    }
  }
  {
    const b = await bench.startBaseline('sio-server.js', 'socketio');
    try {
      await measure('socketio', b.proc, 'sio', b.port);
    } finally {
      await bench.closeAllClients();
      await sup.stop(b.proc);
    }
  }
  out['heapPerConnection'] = heap;
  out['detail'] = detail;
  return out;
}

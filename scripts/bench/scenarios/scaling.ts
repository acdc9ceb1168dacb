/**
 * Scenario scaling (issue 16): deliveries/s and server RSS against the number of connections. One
 * gateway (and one bare uWebSockets.js server) takes connections in steps (e.g. 1k, 5k, 10k, 19k);
 * at each step the server's RSS (after a forced GC) is read and `messages` Broadcast calls with 8 in
 * flight (bare uWS: 8 publishes per event-loop turn) are delivered to every connection.
 */
import { HOST, baselineParts, sleep } from '../common';
import { fmt } from '../harness';
import type { Bench, Scn } from '../harness';
import type { BenchParams } from '../params';
import type { Proc } from '../supervisor';

interface Point {
  connections: number;
  deliveriesPerSec: number;
  rssBytes: number;
  heapBytes: number;
  p50: number;
  p99: number;
}

export async function scaling(params: BenchParams['scaling'], bench: Bench): Promise<Scn> {
  const { sup } = bench;
  const { levels, messages, inflight, frameBytes } = params;
  const max = Math.max(...levels);
  const users = Math.ceil(max / 10);
  const curves: Record<string, Point[]> = {};
  const problems: string[] = [];

  const run = async (key: string, proc: Proc, port: number, kind: 'ws', publish: (conns: number) => Promise<void>): Promise<void> => {
    let open = 0;
    for (const level of levels) {
      if (level > open) {
        const c = await bench.connectAll(`scaling ${key} to ${fmt(level)}`, kind, [port], level - open, { users, userPrefix: 'sc', concurrency: 300, first: open, nWorkers: Math.max(2, Math.ceil(level / 10_000)), deadlineMs: 90_000 });
        open += c.opened;
        if (c.failed) problems.push(`${key}: ${c.failed} connections failed at the ${level} step ${JSON.stringify(c.errors)}`);
      }
      await sleep(300);
      const mem = await sup.call<{ rss: number; heapUsed: number }>(proc, 'mem');
      const r = await bench.measureDeliveries(`scaling ${key} ${fmt(open)} connections, ${messages} messages ${inflight} in flight`, open * messages, () => publish(open), 60_000, proc.child.pid);
      if (r.received !== r.expected) problems.push(`${key} at ${open}: ${r.received} of ${r.expected} frames received`);
      (curves[key] ??= []).push({ connections: open, deliveriesPerSec: r.rate, rssBytes: mem.rss, heapBytes: mem.heapUsed, p50: r.latency.p50, p99: r.latency.p99 });
      sup.log(`scaling ${key}: ${fmt(open)} connections, RSS ${fmt(mem.rss / 2 ** 20)} MiB`);
    }
  };

  {
    const g = await bench.startGateway('gateway', { maxConnections: max + 500 });
    try {
      const target = `${HOST}:${g.grpc}`;
      await run('ima', g.proc, g.ws, 'ws', async () => {
        await sup.call(bench.pusher, 'burst', { target, method: 'Broadcast', calls: messages, inflight, frameBytes }, 120_000);
      });
      await sup.call(bench.pusher, 'closeGrpc');
    } finally {
      await bench.closeAllClients();
      await sup.stop(g.proc);
    }
  }
  {
    const b = await bench.startBaseline('uws-server.js', 'bare-uws');
    try {
      const parts = baselineParts(frameBytes);
      await run('bareUws', b.proc, b.port, 'ws', async () => {
        await sup.call(b.proc, 'publishBatch', { ...parts, count: messages, perTurn: inflight }, 120_000);
      });
    } finally {
      await bench.closeAllClients();
      await sup.stop(b.proc);
    }
  }
  const top = (k: string): Point | undefined => curves[k]?.[curves[k].length - 1];
  return {
    ima: top('ima')?.deliveriesPerSec,
    bareUws: top('bareUws')?.deliveriesPerSec,
    unit: `deliveries/s at ${fmt(max)} connections (Broadcast, ${inflight} in flight; see curves)`,
    levels,
    messages,
    inflight,
    frameBytes,
    curves,
    problems,
  };
}

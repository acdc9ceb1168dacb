/** Scenario forward: Client messages/s forwarded to the business service (scripts/test-services.js) and acked, with the ack latency. */
import * as path from 'node:path';
import { HOST } from '../common';
import type { LatencySummary } from '../common';
import { fmt } from '../harness';
import type { Bench, Scn } from '../harness';
import type { BenchParams } from '../params';
import type { Proc } from '../supervisor';

export async function forward(params: BenchParams['forward'], bench: Bench): Promise<Scn> {
  const { sup } = bench;
  const { connections: n, window, durationMs } = params;
  const mucPort = bench.port();
  const bizPort = bench.port();
  const svc = sup.spawn('node', [path.join(bench.dist, 'scripts/test-services.js'), '--muc-port', String(mucPort), '--business-port', String(bizPort)], 'test-services');
  await sup.waitFor('test-services', svc, async () => {
    const net = await import('node:net');
    return await new Promise<boolean>((r) => {
      const s = net.connect(bizPort, HOST, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
  });
  const g = await bench.startGateway('gateway', { env: { IMA_BUSINESS_ADDR: `${HOST}:${bizPort}` } });
  try {
    await bench.connectAll('forward ima', 'ws', [g.ws], n, { users: n, userPrefix: 'fw', concurrency: 100, nWorkers: 1 });
    sup.log(`forward: ${n} connections x ${window} in flight for ${durationMs} ms`);
    const r = await sup.call<{ rate: number; acks: number; codes: Record<string, number>; latency: LatencySummary }>(bench.workers[0] as Proc, 'forward', { durationMs, window }, durationMs + 30_000);
    sup.log(`forward: ${fmt(r.rate)} messages/s, ack p50/p99/p999 ${r.latency.p50}/${r.latency.p99}/${r.latency.p999} ms, codes ${JSON.stringify(r.codes)}`);
    return { ima: r.rate, unit: 'client messages/s acked by the business service', connections: n, window, durationMs, ackLatencyMs: r.latency, ackCodes: r.codes };
  } finally {
    await bench.closeAllClients();
    await sup.stop(g.proc);
    await sup.stop(svc);
  }
}

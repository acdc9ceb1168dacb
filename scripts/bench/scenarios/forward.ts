/**
 * Scenario forward: client messages/s forwarded to the business service (scripts/test-services.js)
 * and acked, with the ack latency (send to ack frame), at saturation (every connection keeps
 * `window` messages in flight) and in an open loop at half that peak. The baseline is a bare
 * grpc-js unary client loop of HandleMessage against the same business service (pusher.ts
 * `businessLoop`) with as many calls in flight, then at half its peak.
 */
import * as path from 'node:path';
import { HOST } from '../common';
import type { LatencySummary } from '../common';
import { fmt } from '../harness';
import type { Bench, Scn } from '../harness';
import type { BenchParams } from '../params';

interface LoopResult {
  rate: number;
  acks?: number;
  calls?: number;
  errors?: number;
  unacked?: number;
  codes?: Record<string, number>;
  latency: LatencySummary;
}

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
  const out: Scn = { unit: 'client messages/s acked by the business service', connections: n, window, durationMs };
  try {
    const g = await bench.startGateway('gateway', { env: { IMA_BUSINESS_ADDR: `${HOST}:${bizPort}` } });
    try {
      await bench.connectAll('forward ima', 'ws', [g.ws], n, { users: n, userPrefix: 'fw', concurrency: 100, nWorkers: 1, client: 'ws' });
      sup.log(`forward ima: ${n} connections x ${window} in flight for ${durationMs} ms`);
      const peak = await sup.call<LoopResult>(bench.wsWorker, 'forward', { durationMs, window }, durationMs + 30_000);
      sup.log(`forward ima: ${fmt(peak.rate)} messages/s, ack p50/p99/p999 ${peak.latency.p50}/${peak.latency.p99}/${peak.latency.p999} ms, codes ${JSON.stringify(peak.codes)}`);
      const half = await sup.call<LoopResult>(bench.wsWorker, 'forward', { durationMs, rate: peak.rate / 2 }, durationMs + 30_000);
      sup.log(`forward ima at half peak: ${fmt(half.rate)} messages/s, ack p50/p99/p999 ${half.latency.p50}/${half.latency.p99}/${half.latency.p999} ms${half.unacked ? `, ${half.unacked} unacked` : ''}`);
      out['ima'] = peak.rate;
      out['ackLatencyMs'] = peak.latency;
      out['ackCodes'] = peak.codes;
      out['halfPeak'] = { rate: half.rate, latency: half.latency, unacked: half.unacked ?? 0 };
    } finally {
      await bench.closeAllClients();
      await sup.stop(g.proc);
    }
    const target = `${HOST}:${bizPort}`;
    const inFlight = n * window;
    sup.log(`forward bareGrpc: HandleMessage unary loop, ${inFlight} in flight for ${durationMs} ms`);
    const bp = await sup.call<LoopResult>(bench.pusher, 'businessLoop', { target, window: inFlight, durationMs }, durationMs + 60_000);
    sup.log(`forward bareGrpc: ${fmt(bp.rate)} calls/s (errors ${bp.errors}), p50/p99/p999 ${bp.latency.p50}/${bp.latency.p99}/${bp.latency.p999} ms`);
    const bh = await sup.call<LoopResult>(bench.pusher, 'businessLoop', { target, durationMs, rate: bp.rate / 2 }, durationMs + 60_000);
    sup.log(`forward bareGrpc at half peak: ${fmt(bh.rate)} calls/s, p50/p99/p999 ${bh.latency.p50}/${bh.latency.p99}/${bh.latency.p999} ms`);
    await sup.call(bench.pusher, 'closeGrpc');
    out['bareGrpc'] = bp.rate;
    out['bareGrpcLatencyMs'] = bp.latency;
    out['bareGrpcHalfPeak'] = { rate: bh.rate, latency: bh.latency };
    return out;
  } finally {
    await sup.stop(svc);
  }
}

/** Scenario pushToUser: Unary PushToUser calls/s at saturation and at half peak with a latency probe, against a bare grpc-js server. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HOST } from '../common';
import type { LatencySummary } from '../common';
import { fmt } from '../harness';
import type { Bench, Scn } from '../harness';
import type { BenchParams } from '../params';

export async function pushToUser(params: BenchParams['pushToUser'], bench: Bench): Promise<Scn> {
  const { sup } = bench;
  const { connections: n, concurrency, durationMs, probeIntervalMs } = params;
  const payload = '{"text":"hello from the pushToUser benchmark"}';
  const out: Scn = { unit: 'PushToUser calls/s', concurrency, connections: n, durationMs };
  const lat: Record<string, unknown> = {};
  const run = async (key: string, target: string, wsPort: number): Promise<void> => {
    const load = (rate?: number): Promise<{ rate: number; errors: number; latency: LatencySummary }> =>
      sup.call(bench.loadProc, 'grpcLoad', { target, concurrency, durationMs, users: n, userPrefix: 'pu', payload, ...(rate ? { rate } : {}) }, durationMs + 30_000);
    const probe = (): Promise<{ errors: number; latency: LatencySummary }> =>
      sup.call(bench.probeProc, 'probe', { target, wsPort, user: 'probe-user', durationMs: durationMs - 500, intervalMs: probeIntervalMs }, durationMs + 30_000);
    sup.log(`pushToUser ${key}: saturating at concurrency ${concurrency} for ${durationMs} ms`);
    const [peak, probeSat] = await Promise.all([load(), probe()]);
    sup.log(`pushToUser ${key}: peak ${fmt(peak.rate)} calls/s (errors ${peak.errors}); probe p50/p99/p999 ${probeSat.latency.p50}/${probeSat.latency.p99}/${probeSat.latency.p999} ms`);
    const half = peak.rate / 2;
    const [atHalf, probeHalf] = await Promise.all([load(half), probe()]);
    sup.log(`pushToUser ${key}: at half peak ${fmt(atHalf.rate)} calls/s; probe p50/p99/p999 ${probeHalf.latency.p50}/${probeHalf.latency.p99}/${probeHalf.latency.p999} ms`);
    out[key] = peak.rate;
    lat[key] = { saturated: { load: peak.latency, probe: probeSat.latency, errors: peak.errors }, halfPeak: { rate: atHalf.rate, load: atHalf.latency, probe: probeHalf.latency, errors: atHalf.errors } };
    await sup.call(bench.loadProc, 'closeGrpc');
    await sup.call(bench.probeProc, 'closeGrpc');
  };
  {
    const profDir = fs.mkdtempSync(path.join(bench.tmpRoot, 'prof-'));
    const g = await bench.startGateway('gateway', bench.profile ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {});
    try {
      await bench.connectAll('pushToUser ima', 'ws', [g.ws], n, { users: n, userPrefix: 'pu', concurrency: 100, nWorkers: 1 });
      await run('ima', `${HOST}:${g.grpc}`, g.ws);
    } finally {
      await bench.closeAllClients();
      await sup.stop(g.proc, bench.profile ? 10_000 : 2000);
      if (bench.profile) bench.writeProfileSummary(profDir, 'docs/bench/profile-pushToUser.md', 'pushToUser (unary PushToUser at peak and at half peak, probe running)');
    }
  }
  {
    const b = await bench.startBaseline('grpc-server.js', 'bare-grpc');
    try {
      await run('bareGrpc', `${HOST}:${b.port}`, 0);
    } finally {
      await sup.stop(b.proc);
    }
  }
  out['latencyMs'] = lat;
  return out;
}

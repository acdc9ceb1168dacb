/**
 * Scenario pushToUser: Unary PushToUser calls/s at saturation and at half peak with a latency probe,
 * against the gateway with recovery on (the default: every push numbered and kept in the memory
 * history, SPEC section 10), the gateway with `recovery.enabled: false`, and a bare grpc-js server.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HOST } from '../common';
import type { LatencySummary } from '../common';
import { fmt } from '../harness';
import type { Bench, Scn } from '../harness';
import type { BenchParams } from '../params';

interface RunLatency {
  saturated: { load: LatencySummary; probe: LatencySummary; errors: number };
  halfPeak: { rate: number; load: LatencySummary; probe: LatencySummary; errors: number };
}

export async function pushToUser(params: BenchParams['pushToUser'], bench: Bench): Promise<Scn> {
  const { sup } = bench;
  const { connections: n, concurrency, durationMs, probeIntervalMs, warmupMs } = params;
  const payload = '{"text":"hello from the pushToUser benchmark"}';
  const out: Scn = { unit: 'PushToUser calls/s', concurrency, connections: n, durationMs, warmupMs };
  const lat: Record<string, RunLatency> = {};
  const warmup: Record<string, number> = {};
  /**
   * First an unmeasured closed loop with the probe for warmupMs (JIT of the freshly started
   * server and of the long-lived load and probe processes), then the peak and the half peak.
   */
  const run = async (key: string, target: string, wsPort: number): Promise<void> => {
    const load = (rate?: number, ms = durationMs): Promise<{ rate: number; errors: number; latency: LatencySummary }> =>
      sup.call(bench.loadProc, 'grpcLoad', { target, concurrency, durationMs: ms, users: n, userPrefix: 'pu', payload, ...(rate ? { rate } : {}) }, ms + 30_000);
    const probe = (ms = durationMs): Promise<{ errors: number; latency: LatencySummary }> =>
      sup.call(bench.probeProc, 'probe', { target, wsPort, user: 'probe-user', durationMs: Math.max(100, ms - 500), intervalMs: probeIntervalMs }, ms + 30_000);
    if (warmupMs > 0) {
      const [w] = await Promise.all([load(undefined, warmupMs), probe(warmupMs)]);
      warmup[key] = w.rate;
      sup.log(`pushToUser ${key}: warm-up ${warmupMs} ms, ${fmt(w.rate)} calls/s (not measured)`);
    }
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
  /** Pushes the gateway numbered (its /stats recovery.numbered), to check that recovery was on or off as meant. */
  const numbered: Record<string, number | null> = {};
  const gatewayRun = async (key: string, yaml: string[], profile: boolean): Promise<void> => {
    const profDir = profile ? fs.mkdtempSync(path.join(bench.tmpRoot, 'prof-')) : '';
    const g = await bench.startGateway(key === 'ima' ? 'gateway' : `gateway-${key}`, { yaml, ...(profile ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {}) });
    try {
      await bench.connectAll(`pushToUser ${key}`, 'ws', [g.ws], n, { users: n, userPrefix: 'pu', concurrency: 100, nWorkers: 1 });
      await run(key, `${HOST}:${g.grpc}`, g.ws);
      const rec = (await bench.gatewayStats(g).catch(() => ({}) as Record<string, unknown>))['recovery'] as { numbered?: number } | undefined;
      numbered[key] = typeof rec?.numbered === 'number' ? rec.numbered : null;
      sup.log(`pushToUser ${key}: gateway numbered ${numbered[key] ?? '?'} pushes`);
    } finally {
      await bench.closeAllClients();
      await sup.stop(g.proc, profile ? 10_000 : 2000);
      if (profile) bench.writeProfileSummary(profDir, 'docs/bench/profile-pushToUser.md', 'pushToUser (unary PushToUser at peak and at half peak, probe running)');
    }
  };
  // recovery on (the default config), then the same measurement with recovery off. Each run
  // warms up first: without it the order decided (a cold server and load generator cost a run up
  // to a third of its calls/s in --quick runs)
  await gatewayRun('ima', [], bench.profile);
  // a failure here keeps the recovery-on and bare grpc-js figures (scenarios.pushToUser.recovery.error says why)
  let offError: string | undefined;
  try {
    await gatewayRun('imaNoRecovery', ['recovery:', '  enabled: false'], false);
  } catch (e) {
    offError = (e instanceof Error ? e.message : String(e)).slice(0, 500);
    sup.log(`pushToUser imaNoRecovery FAILED: ${offError}`);
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
  out['warmupRate'] = warmup;
  out['recovery'] = { ...recoveryCost(out, lat, numbered), ...(offError ? { error: offError } : {}) };
  return out;
}

/**
 * scenarios.pushToUser.recovery: what numbering and keeping the history costs, as off / on ratios
 * (throughput: > 1 means recovery costs calls/s; probe latency: < 1 means recovery costs latency).
 */
function recoveryCost(out: Scn, lat: Record<string, RunLatency>, numbered: Record<string, number | null>): Record<string, unknown> {
  const ratio = (off: unknown, on: unknown): number | null => (typeof off === 'number' && typeof on === 'number' && on > 0 ? off / on : null);
  const on = lat['ima'];
  const off = lat['imaNoRecovery'];
  const probe = (l: RunLatency | undefined, at: 'saturated' | 'halfPeak'): LatencySummary | undefined => l?.[at].probe;
  const cmp = (at: 'saturated' | 'halfPeak'): Record<string, unknown> => ({
    on: pick(probe(on, at)),
    off: pick(probe(off, at)),
    ratioOffOn: { p50: ratio(probe(off, at)?.p50, probe(on, at)?.p50), p99: ratio(probe(off, at)?.p99, probe(on, at)?.p99), p999: ratio(probe(off, at)?.p999, probe(on, at)?.p999) },
  });
  const problems: string[] = [];
  if (numbered['ima'] === 0) problems.push('recovery on: the gateway numbered no push (is recovery.enabled honoured?)');
  if ((numbered['imaNoRecovery'] ?? 0) > 0) problems.push(`recovery off: the gateway numbered ${numbered['imaNoRecovery']} pushes`);
  return {
    on: out['ima'] ?? null,
    off: out['imaNoRecovery'] ?? null,
    ratioOffOn: ratio(out['imaNoRecovery'], out['ima']),
    halfPeakRate: { on: on?.halfPeak.rate ?? null, off: off?.halfPeak.rate ?? null },
    probeMs: { saturated: cmp('saturated'), halfPeak: cmp('halfPeak') },
    numbered,
    ...(problems.length ? { problems } : {}),
  };
}

function pick(l: LatencySummary | undefined): { p50: number; p99: number; p999: number } | null {
  return l ? { p50: l.p50, p99: l.p99, p999: l.p999 } : null;
}

/**
 * Scenario concurrency (issue 16): push deliveries/s with several calls in flight. The gateway gets
 * `Broadcast`, `PushToUsers` (every user named, 10 connections each) and `PushToRoom` (one room of
 * every connection) with 1, 8 and 64 calls in flight from the gRPC pusher process; bare
 * uWebSockets.js publishes 1, 8 and 64 frames per event-loop turn (`app.publish`), Socket.IO 4 the
 * same (`io.emit`). The number of messages per level is set so that each measurement takes about a
 * second or two (params.ts). Frames are the same size everywhere; every delivery is counted by the raw
 * clients, and sampled connections measure call start (publish, for the baselines) to frame
 * received. Then the latency against offered load: Broadcast (and bare uWS publish) in an open loop
 * at fractions of the 8-in-flight peak.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HOST, baselineParts } from '../common';
import type { LatencySummary } from '../common';
import { fmt, gatewayApi } from '../harness';
import type { Bench, Scn } from '../harness';
import type { BenchParams } from '../params';

type Method = 'Broadcast' | 'PushToUsers' | 'PushToRoom';
const KEYS: Record<Method, string> = { Broadcast: 'broadcast', PushToUsers: 'pushToUsers', PushToRoom: 'pushToRoom' };
const ROOM = 'bench-all';

export async function concurrency(params: BenchParams['concurrency'], bench: Bench): Promise<Scn> {
  const { sup } = bench;
  const { connections: n, messages, socketioMessages, inflight, frameBytes, loadFractions, loadDurationMs } = params;
  const users = Math.ceil(n / 10);
  if (users > 1000) throw new Error('concurrency: at most 10,000 connections (one PushToUsers call names every user, at most 1,000)');
  /** deliveries/s per series (broadcast, pushToUsers, pushToRoom, bareUws, socketio) per level (calls in flight or frames per turn). */
  const deliveries: Record<string, Record<string, number>> = {};
  const latencyMs: Record<string, Record<string, { p50: number; p99: number; samples: number }>> = {};
  const perServerCpuSec: Record<string, Record<string, number>> = {};
  const callsPerSec: Record<string, Record<string, number>> = {};
  /** Latency against offered load: per server, points {offered, delivered, p50, p99}. */
  const loadCurve: Record<string, Array<{ fraction: number; offeredPerSec: number; deliveriesPerSec: number; p50: number; p99: number; samples: number }>> = {};
  const problems: string[] = [];
  const problem = (m: string): void => {
    sup.log(`concurrency PROBLEM: ${m}`);
    problems.push(m);
  };
  const record = (series: string, level: number, r: { rate: number; latency: LatencySummary; perServerCpuSec: number }): void => {
    (deliveries[series] ??= {})[level] = r.rate;
    (latencyMs[series] ??= {})[level] = { p50: r.latency.p50, p99: r.latency.p99, samples: r.latency.count };
    (perServerCpuSec[series] ??= {})[level] = r.perServerCpuSec;
  };

  /** Open-loop points at fractions of peakPerSec frames per connection per second. */
  const curve = async (key: string, peakMsgsPerSec: number, conns: number, pid: number | undefined, run: (rate: number) => Promise<number>): Promise<void> => {
    for (const f of loadFractions) {
      const rate = Math.max(1, peakMsgsPerSec * f);
      let sent = 0;
      const r = await bench.measureDeliveries(
        `concurrency ${key} open loop at ${Math.round(f * 100)} % of peak (${fmt(rate)} msgs/s)`,
        () => sent * conns,
        async () => {
          sent = await run(rate);
        },
        30_000,
        pid,
      );
      (loadCurve[key] ??= []).push({ fraction: f, offeredPerSec: rate * n, deliveriesPerSec: r.rate, p50: r.latency.p50, p99: r.latency.p99, samples: r.latency.count });
    }
  };

  {
    // --profile: the gateway runs with --cpu-prof; its hottest functions go to docs/bench/profile-fanout.md
    const profDir = bench.profile ? fs.mkdtempSync(path.join(bench.tmpRoot, 'prof-')) : '';
    const g = await bench.startGateway('gateway', bench.profile ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {});
    const api = gatewayApi(`${HOST}:${g.grpc}`);
    try {
      const c = await bench.connectAll('concurrency ima', 'ws', [g.ws], n, { users, userPrefix: 'cc', concurrency: 200 });
      if (c.opened !== n) problem(`ima: ${c.opened} of ${n} connections opened`);
      const userIds = Array.from({ length: users }, (_, i) => `cc${i}`);
      let joined = 0;
      for (let i = 0; i < users; i += 1000) joined += Number((await api.call('JoinRoom', { room: ROOM, userIds: userIds.slice(i, i + 1000) }))['connections']);
      if (joined !== c.opened) problem(`ima: JoinRoom subscribed ${joined} of ${c.opened} connections`);
      const target = `${HOST}:${g.grpc}`;
      for (const method of ['Broadcast', 'PushToUsers', 'PushToRoom'] as const) {
        for (const k of inflight) {
          let burst: { delivered: number; errors: number; callsPerSec: number } | undefined;
          const r = await bench.measureDeliveries(
            `concurrency ima ${method} ${k} in flight`,
            c.opened * (messages[k] as number),
            async () => {
              burst = await sup.call(bench.pusher, 'burst', { target, method, calls: messages[k], inflight: k, frameBytes, userBatches: [userIds], room: ROOM }, 120_000);
            },
            60_000,
            g.proc.child.pid,
          );
          record(KEYS[method], k, r);
          (callsPerSec[KEYS[method]] ??= {})[k] = burst?.callsPerSec ?? NaN;
          if (burst && burst.errors > 0) problem(`ima ${method} ${k} in flight: ${burst.errors} calls failed`);
          if (burst && burst.delivered !== c.opened * (messages[k] as number)) problem(`ima ${method} ${k} in flight: the calls reported ${burst.delivered} delivered, expected ${c.opened * (messages[k] as number)}`);
          if (r.received !== r.expected) problem(`ima ${method} ${k} in flight: ${r.received} of ${r.expected} frames received`);
        }
      }
      const peak = (deliveries['broadcast']?.[8] ?? 0) / Math.max(1, c.opened);
      if (loadFractions.length && peak > 0) {
        await curve('ima', peak, c.opened, g.proc.child.pid, async (rate) => {
          const r = await sup.call<{ calls: number; errors: number }>(bench.pusher, 'rate', { target, method: 'Broadcast', rate, durationMs: loadDurationMs, frameBytes }, loadDurationMs + 60_000);
          return r.calls - r.errors;
        });
      }
      await sup.call(bench.pusher, 'closeGrpc');
    } finally {
      api.client.close();
      await bench.closeAllClients();
      await sup.stop(g.proc, bench.profile ? 10_000 : 2000);
    }
    if (bench.profile) bench.writeProfileSummary(profDir, 'docs/bench/profile-fanout.md', `concurrency (${n} connections; Broadcast, PushToUsers and PushToRoom with ${inflight.join(', ')} calls in flight; the open-loop latency points)`);
  }

  for (const [key, script, kind, count] of [
    ['bareUws', 'uws-server.js', 'ws', messages],
    ['socketio', 'sio-server.js', 'sio', socketioMessages],
  ] as const) {
    const b = await bench.startBaseline(script, key);
    try {
      const c = await bench.connectAll(`concurrency ${key}`, kind, [b.port], n, { users, userPrefix: 'cc', concurrency: 200 });
      if (c.opened !== n) problem(`${key}: ${c.opened} of ${n} connections opened`);
      const parts = baselineParts(frameBytes);
      if (c.opened === 0) continue; // a problem recorded above; the gateway's figures stay
      for (const k of inflight) {
        const r = await bench.measureDeliveries(
          `concurrency ${key} ${k} per turn`,
          c.opened * (count[k] as number),
          async () => {
            await sup.call(b.proc, 'publishBatch', { ...parts, count: count[k], perTurn: k }, 120_000);
          },
          60_000,
          b.proc.child.pid,
        );
        record(key, k, r);
        if (r.received !== r.expected) problem(`${key} ${k} per turn: ${r.received} of ${r.expected} frames received`);
      }
      const peak = (deliveries[key]?.[8] ?? 0) / Math.max(1, c.opened);
      if (key === 'bareUws' && loadFractions.length && peak > 0) {
        await curve(key, peak, c.opened, b.proc.child.pid, async (rate) => {
          const r = await sup.call<{ published: number }>(b.proc, 'publishRate', { ...parts, rate, durationMs: loadDurationMs }, loadDurationMs + 60_000);
          return r.published;
        });
      }
    } finally {
      await bench.closeAllClients();
      await sup.stop(b.proc);
    }
  }

  const ratios: Record<string, Record<string, { vsBareUws: number | null; vsSocketio: number | null }>> = {};
  const ratio = (a: number | undefined, b: number | undefined): number | null => (a !== undefined && b !== undefined && b > 0 && Number.isFinite(a / b) ? a / b : null);
  for (const s of ['broadcast', 'pushToUsers', 'pushToRoom']) {
    for (const k of inflight) (ratios[s] ??= {})[k] = { vsBareUws: ratio(deliveries[s]?.[k], deliveries['bareUws']?.[k]), vsSocketio: ratio(deliveries[s]?.[k], deliveries['socketio']?.[k]) };
    sup.log(`concurrency ${s}: ${inflight.map((k) => `${k} in flight ${fmt(deliveries[s]?.[k] ?? NaN)}/s (x${ratio(deliveries[s]?.[k], deliveries['bareUws']?.[k])?.toFixed(2) ?? '?'} bare uWS, x${ratio(deliveries[s]?.[k], deliveries['socketio']?.[k])?.toFixed(2) ?? '?'} Socket.IO)`).join('; ')}`);
  }
  return {
    ima: deliveries['broadcast']?.[8],
    bareUws: deliveries['bareUws']?.[8],
    socketio: deliveries['socketio']?.[8],
    unit: `deliveries/s (Broadcast of ${frameBytes} B with 8 calls in flight; see deliveries)`,
    connections: n,
    messages,
    socketioMessages,
    frameBytes,
    inflight,
    deliveries,
    latencyMs,
    perServerCpuSec,
    callsPerSec,
    ratios,
    loadCurve,
    problems,
  };
}

/**
 * Outputs of a benchmark run: the table with the goals (stdout), docs/bench/results.json,
 * the charts as hand-written SVG (docs/bench/results.svg, concurrency.svg, scaling.svg; svg.ts, no
 * browser needed) and docs/BENCHMARKS.md (figures, goals with PASS / MISS, the charts, method notes
 * and docs/bench/notes.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PALETTE, barChart, figure, goalChart, lineChart } from './svg';
import type { Panel } from './svg';

export interface Results {
  mode: string;
  startedAt: string;
  durationSec: number;
  uwsNative: boolean;
  machine: Record<string, unknown>;
  parameters: unknown;
  scenarios: Record<string, Record<string, unknown>>;
  errors: Record<string, string>;
  goals?: Goal[];
}

/** A goal of issue 16 with its measured value (a ratio, or a value in `unit`) and PASS / MISS. */
export interface Goal {
  readonly goal: string;
  /** The measured ratio or value; null = not measured in this run. */
  readonly value: number | null;
  /** 'x' for a ratio, else the unit of the value (ms, count). */
  readonly unit: string;
  readonly op: '>=' | '<=';
  readonly threshold: number;
  readonly target: string;
  readonly met: boolean | null;
  readonly figures: string;
  /** Why the figure does not measure the goal exactly as stated (e.g. a --quick run's smaller load). */
  readonly note?: string;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined ? '–' : n >= 100 || digits === 0 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits);
const r2 = (n: number | undefined): string => (n === undefined ? '–' : n.toFixed(2));
const at = (o: unknown, ...keys: Array<string | number>): unknown => keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);

function ratioGoal(goal: string, a: number | undefined, b: number | undefined, op: '>=' | '<=', target: number, unit: string, note?: string): Goal {
  const value = a !== undefined && b !== undefined && b !== 0 ? a / b : null;
  return {
    goal,
    value,
    unit: 'x',
    op,
    threshold: target,
    target: `${op} ${target}x`,
    met: value === null ? null : op === '>=' ? value >= target : value <= target,
    figures: `${fmt(a, 1)} vs ${fmt(b, 1)} ${unit}`,
    ...(note ? { note } : {}),
  };
}

function valueGoal(goal: string, value: number | undefined, op: '>=' | '<=', target: number, unit: string, figures: string, note?: string): Goal {
  return {
    goal,
    value: value ?? null,
    unit,
    op,
    threshold: target,
    target: `${op} ${target}${unit === 'ms' ? ' ms' : ''}`,
    met: value === undefined ? null : op === '>=' ? value >= target : value <= target,
    figures,
    ...(note ? { note } : {}),
  };
}

/** The goals of issue 16, each with its measured ratio or value. */
export function computeGoals(res: Results): Goal[] {
  const s = res.scenarios;
  const g: Goal[] = [];
  const d = at(s['concurrency'], 'deliveries') as Record<string, Record<string, number>> | undefined;
  for (const k of [8, 64]) g.push(ratioGoal(`Broadcast, ${k} calls in flight, vs bare uWS publishing ${k} per turn`, num(d?.['broadcast']?.[k]), num(d?.['bareUws']?.[k]), '>=', 0.7, 'deliveries/s'));
  for (const k of [8, 64]) g.push(ratioGoal(`Broadcast, ${k} calls in flight, vs Socket.IO 4 emitting ${k} per turn`, num(d?.['broadcast']?.[k]), num(d?.['socketio']?.[k]), '>=', 5, 'deliveries/s'));
  const pu = s['pushToUser'];
  g.push(ratioGoal('PushToUser vs bare grpc-js', num(pu?.['ima']), num(pu?.['bareGrpc']), '>=', 0.8, 'calls/s'));
  const half = at(pu, 'latencyMs', 'ima', 'halfPeak') as { probe?: { p99?: number }; rate?: number } | undefined;
  g.push(valueGoal('PushToUser p99 call-to-frame at half of peak', num(half?.probe?.p99), '<=', 5, 'ms', `p99 ${half?.probe?.p99 ?? '–'} ms at ${fmt(num(half?.rate))} calls/s`));
  const fw = s['forward'];
  g.push(ratioGoal('forward vs a bare grpc-js unary loop (HandleMessage)', num(fw?.['ima']), num(fw?.['bareGrpc']), '>=', 0.7, 'messages/s'));
  const fh = at(fw, 'halfPeak') as { rate?: number; latency?: { p99?: number } } | undefined;
  g.push(valueGoal('forward p99 ack at half of peak', num(fh?.latency?.p99), '<=', 20, 'ms', `p99 ${fh?.latency?.p99 ?? '–'} ms at ${fmt(num(fh?.rate))} messages/s`));
  const mem = s['memoryPerConnection'];
  g.push(ratioGoal('memory per idle connection vs bare uWS', num(mem?.['ima']), num(mem?.['bareUws']), '<=', 2, 'B RSS'));
  const cr = s['connectRate'];
  g.push(ratioGoal('connect rate vs bare uWS', num(cr?.['ima']), num(cr?.['bareUws']), '>=', 0.7, 'connections/s'));
  const st = s['storm'];
  const conns = num(st?.['connections']);
  const note = conns !== undefined && conns < 19000 ? `${fmt(conns)} connections in this run, not 19,000` : undefined;
  g.push(valueGoal('reconnect storm: all back within', num(st?.['allBackMs']), '<=', 10_000, 'ms', `${fmt(num(st?.['back']))} of ${fmt(num(st?.['dropped']))} back in ${fmt(num(st?.['allBackMs']))} ms`, note));
  g.push(valueGoal('reconnect storm: failed upgrades', num(st?.['failedUpgrades']), '<=', 0, 'count', `${fmt(num(st?.['failedUpgrades']))} failed upgrades, ${fmt(num(st?.['failedTcp']))} failed TCP connects`, note));
  const muc = at(st, 'mucCalls') as { total?: number; distinctTokens?: number; maxPerToken?: number } | undefined;
  g.push(valueGoal('reconnect storm: MUC calls per distinct token (max)', num(muc?.maxPerToken), '<=', 1, 'count', `${fmt(num(muc?.total))} MUC calls for ${fmt(num(muc?.distinctTokens))} tokens`, note));
  return g;
}

/** `{1: 20, 8: 50}` as "20 / 50 (1 / 8 in flight)". */
function perLevel(v: unknown): string {
  if (typeof v === 'number') return fmt(v);
  const o = (v ?? {}) as Record<string, number>;
  return `${Object.values(o).map((x) => fmt(x)).join(' / ')} (at ${Object.keys(o).join(' / ')} in flight or per turn)`;
}

/** PASS / MISS / not measured. */
export function verdict(g: Goal): string {
  return g.met === null ? 'not measured' : g.met ? 'PASS' : 'MISS';
}

function goalValue(g: Goal): string {
  if (g.value === null) return '–';
  return g.unit === 'x' ? `${r2(g.value)}x` : g.unit === 'ms' ? `${fmt(g.value, 2)} ms` : fmt(g.value);
}

interface RecoveryCost {
  on: number | null;
  off: number | null;
  ratioOffOn: number | null;
  halfPeakRate?: { on: number | null; off: number | null };
  probeMs?: Record<'saturated' | 'halfPeak', { on: Pctl | null; off: Pctl | null; ratioOffOn: Record<keyof Pctl, number | null> }>;
  numbered?: Record<string, number | null>;
  problems?: string[];
  error?: string;
}
type Pctl = { p50: number; p99: number; p999: number };

function recoveryCost(res: Results): RecoveryCost | undefined {
  const r = res.scenarios['pushToUser']?.['recovery'];
  return r && typeof r === 'object' ? (r as RecoveryCost) : undefined;
}

function recoveryProblems(res: Results): string[] {
  const r = recoveryCost(res);
  return [...(r?.problems ?? []), ...(r?.error ? [`recovery off run failed: ${r.error}`] : [])];
}

const pctl = (p: Pctl | null | undefined): string => (p ? `${p.p50}/${p.p99}/${p.p999}` : '–');

interface Row {
  scenario: string;
  ima: number | undefined;
  baselines: string;
  unit: string;
}

function rows(res: Results): Row[] {
  const out: Row[] = [];
  const s = res.scenarios;
  const b = (o: Record<string, unknown> | undefined, keys: string[]): string =>
    keys
      .filter((k) => num(o?.[k]) !== undefined)
      .map((k) => `${k} ${fmt(num(o?.[k]))}`)
      .join(', ');
  const add = (name: string, o: Record<string, unknown> | undefined, unit?: string): void => {
    if (!o) return;
    out.push({ scenario: name, ima: num(o['ima']), baselines: b(o, ['bareUws', 'bareGrpc', 'socketio']), unit: unit ?? String(o['unit'] ?? '') });
  };
  add('connectRate', s['connectRate']);
  add('memoryPerConnection (RSS)', s['memoryPerConnection']);
  const heap = s['memoryPerConnection']?.['heapPerConnection'] as Record<string, unknown> | undefined;
  if (heap) add('memoryPerConnection (heap)', heap, 'bytes of JS heap per idle connection');
  const cc = s['concurrency'];
  const d = at(cc, 'deliveries') as Record<string, Record<string, number>> | undefined;
  const cl50 = at(cc, 'latencyMs') as Record<string, Record<string, { p50: number; p99: number }>> | undefined;
  for (const k of (at(cc, 'inflight') as number[] | undefined) ?? []) {
    for (const m of ['broadcast', 'pushToUsers', 'pushToRoom'])
      if (d?.[m]?.[k] !== undefined)
        out.push({
          scenario: `concurrency ${m} ${k} in flight`,
          ima: num(d[m][k]),
          baselines: `bareUws ${fmt(num(d['bareUws']?.[k]))}, socketio ${fmt(num(d['socketio']?.[k]))} (${k} per turn); p50/p99 ${cl50?.[m]?.[k]?.p50 ?? '–'}/${cl50?.[m]?.[k]?.p99 ?? '–'} ms`,
          unit: 'deliveries/s',
        });
  }
  const sc = s['scaling'];
  const curves = at(sc, 'curves') as Record<string, Array<{ connections: number; deliveriesPerSec: number; rssBytes: number }>> | undefined;
  for (const [i, pt] of (curves?.['ima'] ?? []).entries()) {
    const b = curves?.['bareUws']?.[i];
    out.push({ scenario: `scaling ${fmt(pt.connections)} connections`, ima: pt.deliveriesPerSec, baselines: `bareUws ${fmt(b?.deliveriesPerSec)}; RSS ima ${fmt(pt.rssBytes / 2 ** 20)} MiB, bareUws ${fmt(b ? b.rssBytes / 2 ** 20 : undefined)} MiB`, unit: 'deliveries/s (Broadcast, 8 in flight)' });
  }
  const rm = (s['rooms']?.['variants'] ?? {}) as Record<string, Record<string, unknown>>;
  for (const [v, o] of Object.entries(rm))
    add(`rooms ${v}`, o, v.endsWith('-perServerCpuSec') ? 'deliveries per CPU second of the server process' : v.endsWith('-timeToAllMs') ? 'ms from the call to the last subscriber\'s frame, p50 of single pushes (rounds for R rooms)' : 'deliveries/s');
  const pu = s['pushToUser'];
  add('pushToUser', pu);
  const lat = pu?.['latencyMs'] as Record<string, { saturated: { probe: { p50: number; p99: number; p999: number } }; halfPeak: { probe: { p50: number; p99: number; p999: number } } }> | undefined;
  const rc = recoveryCost(res);
  if (pu && 'imaNoRecovery' in pu)
    out.push({ scenario: 'pushToUser, recovery off', ima: num(pu['imaNoRecovery']), baselines: `recovery on ${fmt(num(pu['ima']))}; off / on ${r2(num(rc?.ratioOffOn))}`, unit: 'PushToUser calls/s, gateway with recovery.enabled: false' });
  if (lat?.['ima']) {
    const l = lat['ima'];
    const off = lat['imaNoRecovery'];
    const bg = lat['bareGrpc'];
    out.push({ scenario: 'pushToUser latency at peak', ima: undefined, baselines: `ima p50/p99/p999 ${pctl(l.saturated.probe)}${off ? `; ima recovery off ${pctl(off.saturated.probe)}` : ''}; bareGrpc ${pctl(bg?.saturated.probe)}`, unit: 'ms (probe)' });
    out.push({ scenario: 'pushToUser latency at half peak', ima: undefined, baselines: `ima p50/p99/p999 ${pctl(l.halfPeak.probe)}${off ? `; ima recovery off ${pctl(off.halfPeak.probe)}` : ''}; bareGrpc ${pctl(bg?.halfPeak.probe)}`, unit: 'ms (probe)' });
  }
  const fw = s['forward'];
  add('forward', fw);
  const al = fw?.['ackLatencyMs'] as Pctl | undefined;
  if (al) out.push({ scenario: 'forward ack latency at peak', ima: undefined, baselines: `ima p50/p99/p999 ${pctl(al)}; bareGrpc ${pctl(at(fw, 'bareGrpcLatencyMs') as Pctl | undefined)}`, unit: 'ms' });
  const fh = at(fw, 'halfPeak', 'latency') as Pctl | undefined;
  if (fh) out.push({ scenario: 'forward ack latency at half peak', ima: undefined, baselines: `ima p50/p99/p999 ${pctl(fh)} at ${fmt(num(at(fw, 'halfPeak', 'rate')))}/s; bareGrpc ${pctl(at(fw, 'bareGrpcHalfPeak', 'latency') as Pctl | undefined)}`, unit: 'ms' });
  const st = s['storm'];
  if (st)
    out.push({
      scenario: 'reconnect storm',
      ima: num(st['allBackMs']),
      baselines: `${fmt(num(st['back']))}/${fmt(num(st['dropped']))} back, ${fmt(num(st['failedUpgrades']))} failed upgrades, ${fmt(num(st['failedTcp']))} failed TCP connects, MUC calls ${fmt(num(at(st, 'mucCalls', 'total')))} for ${fmt(num(at(st, 'mucCalls', 'distinctTokens')))} tokens (${fmt(num(at(st, 'mucCalls', 'duringStorm')))} during the storm), event-loop lag max ${fmt(num(at(st, 'eventLoopLagMs', 'max')), 1)} ms`,
      unit: 'ms from the drop until all are back',
    });
  if (st?.['bareUwsDetail'])
    out.push({
      scenario: 'reconnect storm, bare uWS',
      ima: undefined,
      baselines: `bareUws ${fmt(num(at(st, 'bareUwsDetail', 'allBackMs')))} ms, ${fmt(num(at(st, 'bareUwsDetail', 'failedUpgrades')))} failed upgrades, ${fmt(num(at(st, 'bareUwsDetail', 'failedTcp')))} failed TCP connects`,
      unit: 'the same storm against bare uWebSockets.js (no auth)',
    });
  const cl = s['cluster'];
  if (cl) {
    add('cluster Broadcast', cl, 'deliveries/s');
    out.push({ scenario: 'cluster cross-instance PushToUsers', ima: num(cl['crossInstancePushToUsers']), baselines: '', unit: 'deliveries/s' });
    out.push({ scenario: 'cluster connections held', ima: num(cl['connections']), baselines: `per instance ${(cl['connectionsPerInstance'] as number[] | undefined)?.join(' / ') ?? ''}`, unit: 'connections (3 instances + Redis)' });
  }
  return out;
}

/** ima / bare uWS and ima / Socket.IO per rooms variant (results.json: scenarios.rooms.ratios). */
function roomRatios(res: Results): Array<{ variant: string; vsBareUws: number | undefined; vsSocketio: number | undefined }> {
  const ratios = (res.scenarios['rooms']?.['ratios'] ?? {}) as Record<string, { vsBareUws?: number | null; vsSocketio?: number | null }>;
  return Object.entries(ratios).map(([variant, r]) => ({ variant, vsBareUws: num(r.vsBareUws), vsSocketio: num(r.vsSocketio) }));
}

function roomProblems(res: Results): string[] {
  const p = res.scenarios['rooms']?.['problems'];
  return Array.isArray(p) ? p.map(String) : [];
}

function textTable(res: Results, goals: Goal[]): string {
  const rs = rows(res);
  const w0 = Math.max(...rs.map((r) => r.scenario.length), 8);
  const lines = [`IMA gateway benchmark (${res.mode}, ${res.durationSec} s)`, ''];
  lines.push(`${'scenario'.padEnd(w0)}  ${'ima'.padStart(12)}  baselines  [unit]`);
  for (const r of rs) lines.push(`${r.scenario.padEnd(w0)}  ${fmt(r.ima).padStart(12)}  ${r.baselines}  [${r.unit}]`);
  lines.push('', 'goals (issue 16):');
  if (res.mode === 'quick') lines.push('  (a --quick run: small loads and short windows, to check that everything runs; these verdicts are not the benchmark\'s, run without --quick for them)');
  for (const g of goals) lines.push(`  ${verdict(g).padEnd(12)} ${g.goal}: ${goalValue(g)} (goal ${g.target}; ${g.figures})${g.note ? ` [${g.note}]` : ''}`);
  const cpu = clientCpuSummary(res);
  const hot = cpu.filter((c) => c.max > CLIENT_CPU_WARN);
  lines.push('', `load generators (max share of one core of a client process; warn above ${CLIENT_CPU_WARN * 100} %):`);
  for (const c of cpu) lines.push(`  ${c.max > CLIENT_CPU_WARN ? 'WARN' : '    '} ${c.scenario}: ${(c.max * 100).toFixed(0)} % (${c.process}, ${c.measurement}); ${c.warnings} of ${c.windows} measurements above`);
  if (hot.length) lines.push(`  (${hot.length} scenario(s) where a client process may have limited the figure)`);
  const rr = roomRatios(res);
  if (rr.length) lines.push('', 'rooms (ratios, no goal; for timeToAllMs lower is better):', ...rr.filter((r) => r.vsBareUws !== undefined || r.vsSocketio !== undefined).map((r) => `  ${r.variant}: ima / bare uWS ${r2(r.vsBareUws)}, ima / Socket.IO ${r2(r.vsSocketio)}`));
  for (const p of roomProblems(res)) lines.push(`  ROOMS PROBLEM: ${p}`);
  const rc = recoveryCost(res);
  if (rc) {
    const h = rc.probeMs?.halfPeak;
    lines.push(
      '',
      'recovery (PushToUser, gateway with recovery on (default) vs off; no goal):',
      `  calls/s at peak: on ${fmt(num(rc.on))}, off ${fmt(num(rc.off))}, off / on ${r2(num(rc.ratioOffOn))}`,
      `  probe p50/p99/p999 at half peak: on ${pctl(h?.on)} ms, off ${pctl(h?.off)} ms; p99 off / on ${r2(num(h?.ratioOffOn.p99))}`,
    );
    for (const p of recoveryProblems(res)) lines.push(`  RECOVERY PROBLEM: ${p}`);
  }
  for (const [k, v] of Object.entries(res.errors)) lines.push(`  ERROR ${k}: ${v.split('\n')[0]}`);
  return lines.join('\n');
}

/** Share of one core above which a load-generator process may be the limit (harness.ts CLIENT_CPU_WARN). */
const CLIENT_CPU_WARN = 0.7;

interface CpuWin {
  measurement: string;
  windowSec: number;
  processes: Array<{ process: string; cpuSec: number; coreShare: number }>;
  maxCoreShare: number;
  serverCpuSec?: number;
}

/** Per scenario: the busiest load-generator process over its measurements (scenarios.*.clientCpu). */
function clientCpuSummary(res: Results): Array<{ scenario: string; max: number; process: string; measurement: string; windows: number; warnings: number; clientCpuSec: number; serverCpuSec: number }> {
  const out = [];
  for (const [name, sc] of Object.entries(res.scenarios)) {
    const ws = (sc['clientCpu'] ?? []) as CpuWin[];
    if (!Array.isArray(ws) || ws.length === 0) continue;
    let best = { max: 0, process: '–', measurement: '–' };
    let warnings = 0;
    let clientCpuSec = 0;
    let serverCpuSec = 0;
    for (const w of ws) {
      if (w.maxCoreShare > CLIENT_CPU_WARN) warnings++;
      for (const p of w.processes) {
        clientCpuSec += p.cpuSec;
        if (p.coreShare > best.max) best = { max: p.coreShare, process: p.process, measurement: w.measurement };
      }
      serverCpuSec += w.serverCpuSec ?? 0;
    }
    out.push({ scenario: name, ...best, windows: ws.length, warnings, clientCpuSec, serverCpuSec });
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// charts (SVG, svg.ts)

const SERIES: Record<string, { name: string; color: string }> = {
  broadcast: { name: 'Broadcast', color: PALETTE.ima },
  pushToUsers: { name: 'PushToUsers', color: PALETTE.ima2 },
  pushToRoom: { name: 'PushToRoom', color: PALETTE.ima3 },
  bareUws: { name: 'bare uWS', color: PALETTE.bare },
  socketio: { name: 'Socket.IO 4', color: PALETTE.socketio },
  ima: { name: 'IMA gateway', color: PALETTE.ima },
  imaNoRecovery: { name: 'ima, recovery off', color: PALETTE.ima3 },
  bareGrpc: { name: 'bare grpc-js', color: PALETTE.bare },
};

/** Category labels under the bars of the small charts. */
const SHORT: Record<string, string> = { ima: 'ima', imaNoRecovery: 'ima rec. off', bareUws: 'bare uWS', bareGrpc: 'bare grpc', socketio: 'Socket.IO' };

/** The SVG files: name -> document. */
function charts(res: Results, goals: Goal[]): Record<string, string> {
  const s = res.scenarios;
  const sub = `${res.mode} run, ${res.startedAt}, ${String(res.machine['cpus'])} cores ${String(res.machine['cpuModel'])}, Node ${String(res.machine['node'])}`;
  const out: Record<string, string> = {};

  // concurrency
  const cc = s['concurrency'];
  const d = at(cc, 'deliveries') as Record<string, Record<string, number>> | undefined;
  const lat = at(cc, 'latencyMs') as Record<string, Record<string, { p50: number; p99: number }>> | undefined;
  const levels = ((at(cc, 'inflight') as number[] | undefined) ?? []).map(String);
  if (d && levels.length) {
    const keys = ['broadcast', 'pushToUsers', 'pushToRoom', 'bareUws', 'socketio'].filter((k) => d[k]);
    const panels: Panel[] = [
      barChart({
        title: 'Deliveries/s by calls in flight',
        subtitle: `${fmt(num(at(cc, 'connections')))} connections, ${fmt(num(at(cc, 'frameBytes')))} B frames; baselines: publishes per event-loop turn`,
        yLabel: 'deliveries/s',
        xLabel: 'calls in flight (gateway) / publishes per turn (baselines)',
        categories: levels,
        series: keys.map((k) => ({ ...(SERIES[k] as { name: string; color: string }), values: levels.map((l) => num(d[k]?.[l])) })),
        w: 560,
        h: 320,
      }),
      barChart({
        title: 'Latency p99, call start to frame received',
        subtitle: 'sampled connections (baselines: from the publish); lower is better',
        yLabel: 'ms',
        xLabel: 'calls in flight / publishes per turn',
        categories: levels,
        series: keys.map((k) => ({ ...(SERIES[k] as { name: string; color: string }), values: levels.map((l) => num(lat?.[k]?.[l]?.p99)) })),
        w: 560,
        h: 320,
      }),
    ];
    out['concurrency.svg'] = figure('IMA gateway benchmark: pushes with several calls in flight', sub, panels, 2);
  }

  // scaling and latency against offered load
  const curves = at(s['scaling'], 'curves') as Record<string, Array<{ connections: number; deliveriesPerSec: number; rssBytes: number }>> | undefined;
  const load = at(cc, 'loadCurve') as Record<string, Array<{ offeredPerSec: number; p50: number; p99: number }>> | undefined;
  if (curves || load) {
    const ks = Object.keys(curves ?? {});
    const panels: Panel[] = [
      lineChart({
        title: 'Deliveries/s against connections',
        subtitle: `Broadcast with ${fmt(num(at(s['scaling'], 'inflight')))} in flight (bare uWS: per turn)`,
        xLabel: 'connections',
        yLabel: 'deliveries/s',
        series: ks.map((k) => ({ ...(SERIES[k] as { name: string; color: string }), points: (curves?.[k] ?? []).map((p) => [p.connections, p.deliveriesPerSec] as const) })),
      }),
      lineChart({
        title: 'Server RSS against connections',
        subtitle: 'after a forced GC, connections idle between the pushes',
        xLabel: 'connections',
        yLabel: 'RSS, MiB',
        series: ks.map((k) => ({ ...(SERIES[k] as { name: string; color: string }), points: (curves?.[k] ?? []).map((p) => [p.connections, p.rssBytes / 2 ** 20] as const) })),
      }),
      lineChart({
        title: 'Latency against offered load',
        subtitle: `open loop at fractions of the 8-in-flight peak, ${fmt(num(at(cc, 'connections')))} conns`,
        xLabel: 'offered deliveries/s',
        yLabel: 'ms, call start to frame received',
        series: Object.entries(load ?? {}).flatMap(([k, pts]) => [
          { name: `${SERIES[k]?.name ?? k} p50`, color: SERIES[k]?.color ?? PALETTE.grey, points: pts.map((p) => [p.offeredPerSec, p.p50] as const), dashed: true },
          { name: `${SERIES[k]?.name ?? k} p99`, color: SERIES[k]?.color ?? PALETTE.grey, points: pts.map((p) => [p.offeredPerSec, p.p99] as const) },
        ]),
      }),
    ];
    out['scaling.svg'] = figure('IMA gateway benchmark: scaling', sub, panels, 3);
  }

  // everything else, and the goals
  const panels: Panel[] = [];
  const bars = (title: string, yLabel: string, o: Record<string, unknown> | undefined, keys: string[], subtitle = ''): void => {
    if (!o) return;
    const ks = keys.filter((k) => num(o[k]) !== undefined);
    if (!ks.length) return;
    panels.push(barChart({ title, subtitle, yLabel, categories: ks.map((k) => SHORT[k] ?? k), series: [{ name: title, color: PALETTE.ima, values: ks.map((k) => num(o[k])) }], w: 300, h: 230 }));
  };
  bars('Connect rate', 'connections/s', s['connectRate'], ['ima', 'bareUws'], 'handshake + first frame; higher is better');
  bars('Memory per idle connection', 'bytes RSS', s['memoryPerConnection'], ['ima', 'bareUws', 'socketio'], 'lower is better');
  bars('PushToUser', 'calls/s', s['pushToUser'], ['ima', 'imaNoRecovery', 'bareGrpc'], 'unary calls/s, closed loop');
  const fw = s['forward'];
  bars('forward', 'messages/s', fw, ['ima', 'bareGrpc'], 'gateway: client message to ack; bare: HandleMessage');
  const pl = at(s['pushToUser'], 'latencyMs') as Record<string, { halfPeak?: { probe?: { p50: number; p99: number } } }> | undefined;
  if (pl)
    panels.push(
      barChart({
        title: 'PushToUser latency at half peak',
        subtitle: 'probe: call start to frame (bare grpc-js: to the answer)',
        yLabel: 'ms',
        categories: ['p50', 'p99'],
        series: Object.keys(pl).map((k) => ({ ...(SERIES[k] as { name: string; color: string }), values: [num(pl[k]?.halfPeak?.probe?.p50), num(pl[k]?.halfPeak?.probe?.p99)] })),
        w: 300,
        h: 230,
        refLine: { value: 5, label: 'goal p99 5 ms' },
      }),
    );
  if (fw)
    panels.push(
      barChart({
        title: 'forward latency at half peak',
        subtitle: 'gateway: send to ack; bare: call to answer',
        yLabel: 'ms',
        categories: ['p50', 'p99'],
        series: [
          { ...SERIES['ima']!, values: [num(at(fw, 'halfPeak', 'latency', 'p50')), num(at(fw, 'halfPeak', 'latency', 'p99'))] },
          { ...SERIES['bareGrpc']!, values: [num(at(fw, 'bareGrpcHalfPeak', 'latency', 'p50')), num(at(fw, 'bareGrpcHalfPeak', 'latency', 'p99'))] },
        ],
        w: 300,
        h: 230,
        refLine: { value: 20, label: 'goal p99 20 ms' },
      }),
    );
  const st = s['storm'];
  if (st)
    panels.push(
      barChart({
        title: 'Reconnect storm',
        subtitle: `${fmt(num(st['connections']))} connections dropped at once`,
        yLabel: 'ms',
        categories: ['all back', 'loop lag max'],
        series: [{ name: 'ms', color: PALETTE.ima, values: [num(st['allBackMs']), num(at(st, 'eventLoopLagMs', 'max'))] }],
        w: 300,
        h: 230,
        refLine: { value: 10_000, label: 'goal 10 s' },
      }),
    );
  const rm = (s['rooms']?.['variants'] ?? {}) as Record<string, Record<string, unknown>>;
  const rv = Object.keys(rm).filter((v) => !v.includes('-'));
  if (rv.length)
    panels.push(
      barChart({
        title: 'Rooms: deliveries/s',
        subtitle: 'one room of N, R rooms of N/R',
        yLabel: 'deliveries/s',
        categories: rv,
        series: ['ima', 'bareUws', 'socketio'].map((k) => ({ ...(SERIES[k] as { name: string; color: string }), values: rv.map((v) => num(rm[v]?.[k])) })),
        w: 300,
        h: 230,
      }),
    );
  const cl = s['cluster'];
  if (cl)
    panels.push(
      barChart({
        title: 'Cluster (3 instances)',
        subtitle: `${fmt(num(cl['connections']))} connections`,
        yLabel: 'deliveries/s',
        categories: ['Broadcast', 'cross-instance'],
        series: [{ name: 'ima', color: PALETTE.ima, values: [num(cl['ima']), num(cl['crossInstancePushToUsers'])] }],
        w: 300,
        h: 230,
      }),
    );
  const goalPanel = goalChart(
    'Goals of issue 16',
    goals.map((g) => ({ label: g.goal, value: g.value, target: g.threshold === 0 ? 0.5 : g.threshold, op: g.op, met: g.met, text: `${goalValue(g)} (goal ${g.target}) ${verdict(g)}` })),
  );
  // the goals on top, the small charts in rows of three below
  const head = figure('IMA gateway benchmark', sub, [goalPanel], 1);
  out['results.svg'] = panels.length ? stack(head, panels) : head;
  return out;
}

/** The goals figure with the small panels in rows of three under it. */
function stack(top: string, panels: Panel[]): string {
  const m = /width="(\d+(?:\.\d+)?)" height="(\d+(?:\.\d+)?)"/.exec(top);
  const w0 = Number(m?.[1] ?? 960);
  const h0 = Number(m?.[2] ?? 0);
  const parts: string[] = [];
  let y = h0;
  let width = w0;
  for (let i = 0; i < panels.length; i += 3) {
    let x = 10;
    const row = panels.slice(i, i + 3);
    for (const p of row) {
      parts.push(`<g transform="translate(${x} ${y})">${p.body}</g>`);
      x += p.w + 12;
    }
    width = Math.max(width, x);
    y += Math.max(...row.map((p) => p.h)) + 12;
  }
  return top
    .replace(`width="${m?.[1]}" height="${m?.[2]}" viewBox="0 0 ${m?.[1]} ${m?.[2]}"`, `width="${width}" height="${y}" viewBox="0 0 ${width} ${y}"`)
    .replace('</svg>', `${parts.join('')}</svg>`);
}

// ------------------------------------------------------------------------------------------------
// markdown

function markdown(res: Results, goals: Goal[], notes: string): string {
  const L: string[] = [];
  L.push('# Benchmarks', '');
  L.push('<!-- generated by `npm run bench` (scripts/bench/report.ts); hand-written notes come from docs/bench/notes.md -->', '');
  L.push(`Run: \`npm run bench${res.mode === 'quick' ? ' -- --quick' : ''}\`, mode **${res.mode}**, ${res.startedAt}, ${res.durationSec} s end to end.`);
  const m = res.machine;
  L.push(`Machine: ${m['cpus']} cores (${m['cpuModel']}), ${m['memGiB']} GiB, Node ${m['node']}, ${m['platform']}, ${m['fdLimitPerProcess']} fds per process. uWebSockets.js native binary: asserted in every process that uses it.`, '');
  L.push('Every server and every load generator is a separate process on the same 2 cores, so the load generators compete with the server under test for CPU; ratios measured in the same run are the figures to compare, absolute numbers are a floor.', '');
  if (res.mode === 'quick') L.push('**A `--quick` run:** small loads and short windows, to check that everything runs; its figures and goals are not the benchmark\'s.', '');
  L.push('![goals and figures](bench/results.svg)', '');
  if (res.scenarios['concurrency']) L.push('![pushes with several calls in flight](bench/concurrency.svg)', '');
  if (res.scenarios['scaling'] || at(res.scenarios['concurrency'], 'loadCurve')) L.push('![scaling with connections and latency against offered load](bench/scaling.svg)', '');
  L.push('## Goals (issue 16, measured in this run)', '');
  L.push('| goal | measured | target | result | figures |', '|---|---:|---|---|---|');
  for (const g of goals) L.push(`| ${g.goal}${g.note ? ` (${g.note})` : ''} | ${goalValue(g)} | ${g.target} | ${g.met === null ? 'not measured' : g.met ? 'PASS' : '**MISS**'} | ${g.figures} |`);
  L.push('', '## Figures', '');
  L.push('| scenario | IMA gateway | baselines | unit |', '|---|---:|---|---|');
  for (const r of rows(res)) L.push(`| ${r.scenario} | ${fmt(r.ima)} | ${r.baselines} | ${r.unit} |`);
  const cc = res.scenarios['concurrency'];
  const d = at(cc, 'deliveries') as Record<string, Record<string, number>> | undefined;
  if (cc && d) {
    const levels = (at(cc, 'inflight') as number[] | undefined) ?? [];
    const lat = at(cc, 'latencyMs') as Record<string, Record<string, { p50: number; p99: number }>> | undefined;
    const cpu = at(cc, 'perServerCpuSec') as Record<string, Record<string, number>> | undefined;
    L.push('', '## Pushes with several calls in flight', '');
    L.push(
      `${fmt(num(cc['connections']))} connections (10 per user), frames of about ${fmt(num(cc['frameBytes']))} bytes. The gateway gets ${perLevel(cc['messages'])} calls of each method with 1, 8 or 64 in flight from the gRPC pusher process (\`PushToUsers\` names every user; \`PushToRoom\` goes to one room of every connection); bare uWS publishes as many frames, 1, 8 or 64 per event-loop turn (\`app.publish\`), Socket.IO 4 emits ${perLevel(cc['socketioMessages'])} (\`io.emit\`). Deliveries/s = frames counted by the raw clients / (last frame - first call). Latency = call start (baselines: the publish) to the frame, on every 50th connection. Server CPU: deliveries per CPU second of the server process.`,
      '',
      '| series | ' + levels.map((k) => `${k}: deliveries/s | p50/p99 ms | per server CPU s`).join(' | ') + ' |',
      '|---|' + levels.map(() => '---:|---:|---:').join('|') + '|',
    );
    for (const k of ['broadcast', 'pushToUsers', 'pushToRoom', 'bareUws', 'socketio'].filter((x) => d[x]))
      L.push(`| ${SERIES[k]?.name ?? k} | ` + levels.map((l) => `${fmt(num(d[k]?.[l]))} | ${lat?.[k]?.[l]?.p50 ?? '–'}/${lat?.[k]?.[l]?.p99 ?? '–'} | ${fmt(num(cpu?.[k]?.[l]))}`).join(' | ') + ' |');
    const ratios = at(cc, 'ratios') as Record<string, Record<string, { vsBareUws: number | null; vsSocketio: number | null }>> | undefined;
    L.push('', '| gateway / baseline | ' + levels.map((k) => `${k} in flight`).join(' | ') + ' |', '|---|' + levels.map(() => '---:').join('|') + '|');
    for (const m of ['broadcast', 'pushToUsers', 'pushToRoom']) {
      L.push(`| ${SERIES[m]?.name} / bare uWS | ${levels.map((l) => r2(num(ratios?.[m]?.[l]?.vsBareUws))).join(' | ')} |`);
      L.push(`| ${SERIES[m]?.name} / Socket.IO 4 | ${levels.map((l) => r2(num(ratios?.[m]?.[l]?.vsSocketio))).join(' | ')} |`);
    }
    const lc = at(cc, 'loadCurve') as Record<string, Array<{ fraction: number; offeredPerSec: number; deliveriesPerSec: number; p50: number; p99: number; samples: number }>> | undefined;
    if (lc && Object.keys(lc).length) {
      L.push('', 'Latency against offered load (open loop: Broadcast calls, or bare uWS publishes, at fractions of the 8-in-flight peak):', '', '| server | fraction of peak | offered deliveries/s | delivered/s | p50 ms | p99 ms | samples |', '|---|---:|---:|---:|---:|---:|---:|');
      for (const [k, pts] of Object.entries(lc)) for (const p of pts) L.push(`| ${SERIES[k]?.name ?? k} | ${p.fraction} | ${fmt(p.offeredPerSec)} | ${fmt(p.deliveriesPerSec)} | ${p.p50} | ${p.p99} | ${fmt(p.samples)} |`);
    }
    const probs = (cc['problems'] ?? []) as string[];
    if (probs.length) L.push('', '**Problems seen in this run:**', '', ...probs.map((p) => `- ${p}`));
  }
  const sc = res.scenarios['scaling'];
  const curves = at(sc, 'curves') as Record<string, Array<{ connections: number; deliveriesPerSec: number; rssBytes: number; heapBytes: number; p50: number; p99: number }>> | undefined;
  if (sc && curves) {
    L.push('', '## Scaling with connections', '');
    L.push(`One server takes connections in steps; at each step its RSS after a forced GC, then ${fmt(num(sc['messages']))} Broadcast calls with ${fmt(num(sc['inflight']))} in flight (bare uWS: ${fmt(num(sc['inflight']))} publishes per turn) to every connection.`, '');
    L.push('| server | connections | deliveries/s | RSS MiB | heap MiB | p50/p99 ms |', '|---|---:|---:|---:|---:|---:|');
    for (const [k, pts] of Object.entries(curves)) for (const p of pts) L.push(`| ${SERIES[k]?.name ?? k} | ${fmt(p.connections)} | ${fmt(p.deliveriesPerSec)} | ${fmt(p.rssBytes / 2 ** 20, 1)} | ${fmt(p.heapBytes / 2 ** 20, 1)} | ${p.p50}/${p.p99} |`);
    const probs = (sc['problems'] ?? []) as string[];
    if (probs.length) L.push('', '**Problems seen in this run:**', '', ...probs.map((p) => `- ${p}`));
  }
  const st = res.scenarios['storm'];
  if (st) {
    L.push('', '## Reconnect storm', '');
    L.push(
      `${fmt(num(st['connections']))} connections of ${fmt(num(st['users']))} users (two each) to one gateway whose auth goes to the test MUC gRPC service (\`scripts/bench/muc-server.ts\`, counting ValidateToken calls per token). Every client socket is destroyed at the same moment; each reconnects after a random delay under ${fmt(num(st['jitterMs']))} ms, and a failed attempt is retried after 200 ms.`,
      '',
      '| figure | IMA gateway | bare uWS (same storm, no auth) |',
      '|---|---:|---:|',
      `| back / dropped | ${fmt(num(st['back']))} / ${fmt(num(st['dropped']))} | ${fmt(num(at(st, 'bareUwsDetail', 'back')))} / ${fmt(num(at(st, 'bareUwsDetail', 'dropped')))} |`,
      `| time from the drop until all are back | ${fmt(num(st['allBackMs']))} ms | ${fmt(num(at(st, 'bareUwsDetail', 'allBackMs')))} ms |`,
      `| failed upgrades (request sent, no 101 and first frame: refused, closed, timed out) | ${fmt(num(st['failedUpgrades']))} | ${fmt(num(at(st, 'bareUwsDetail', 'failedUpgrades')))} |`,
      `| failed TCP connects (no connection within the timeout, refused, reset) | ${fmt(num(st['failedTcp']))} | ${fmt(num(at(st, 'bareUwsDetail', 'failedTcp')))} |`,
      `| kernel ListenOverflows / ListenDrops during the storm (machine-wide) | ${fmt(num(st['listenOverflows']))} / ${fmt(num(st['listenDrops']))} | ${fmt(num(at(st, 'bareUwsDetail', 'listenOverflows')))} / ${fmt(num(at(st, 'bareUwsDetail', 'listenDrops')))} |`,
      `| MUC calls before the storm / during it / distinct tokens / max per token | ${fmt(num(at(st, 'mucCalls', 'beforeStorm')))} / ${fmt(num(at(st, 'mucCalls', 'duringStorm')))} / ${fmt(num(at(st, 'mucCalls', 'distinctTokens')))} / ${fmt(num(at(st, 'mucCalls', 'maxPerToken')))} | – |`,
      `| gateway event-loop lag during the storm, max / max of p99 (\`nodejs_eventloop_lag_*\`, ${fmt(num(at(st, 'eventLoopLagMs', 'scrapes')))} scrapes) | ${fmt(num(at(st, 'eventLoopLagMs', 'max')), 1)} / ${fmt(num(at(st, 'eventLoopLagMs', 'p99Max')), 1)} ms | – |`,
      `| slowest /metrics scrape during the storm | ${fmt(num(at(st, 'eventLoopLagMs', 'slowestScrapeMs')), 1)} ms | – |`,
    );
    const errs = Object.entries((st['errors'] ?? {}) as Record<string, number>);
    if (errs.length) L.push('', `Failed attempts by reason: ${errs.map(([k, v]) => `${k} x${v}`).join(', ')}.`);
  }
  const cpu = clientCpuSummary(res);
  if (cpu.length) {
    L.push('', '## Load generators: are the clients the limit?', '');
    L.push(
      `CPU of each load-generator process (raw-socket clients, gRPC load processes; \`process.cpuUsage()\`) over each measured window, as a share of one core. Above ${CLIENT_CPU_WARN * 100} % the client may be what limits the figure, and the bench warns. Server CPU is the server process's (\`/proc\`).`,
      '',
      '| scenario | busiest client process | share of a core | in measurement | measurements above | client CPU s | server CPU s |',
      '|---|---|---:|---|---:|---:|---:|',
    );
    for (const c of cpu) L.push(`| ${c.scenario} | ${c.process} | ${(c.max * 100).toFixed(0)} % | ${c.measurement} | ${c.warnings} of ${c.windows} | ${c.clientCpuSec.toFixed(2)} | ${c.serverCpuSec.toFixed(2)} |`);
  }
  const room = res.scenarios['rooms'];
  if (room) {
    const rv = (room['variants'] ?? {}) as Record<string, Record<string, number>>;
    const ratios = new Map(roomRatios(res).map((r) => [r.variant, r]));
    L.push('', '## Room fan-out (not a goal)', '');
    L.push(
      `${fmt(num(room['subscribers']))} connections (one user each) in one room (\`1x${num(room['subscribers']) ?? ''}\`), and the same connections in ${fmt(num(room['rooms']))} rooms of ${fmt(num(room['perRoom']))} (\`${num(room['rooms']) ?? ''}x${num(room['perRoom']) ?? ''}\`, one push to each room per round); frames of about ${fmt(num(room['frameBytes']))} bytes. Gateway: \`JoinRoom\` then \`PushToRoom\`; bare uWS: \`ws.subscribe(room)\` then \`app.publish(room, frame)\`; Socket.IO 4: \`socket.join(room)\` then \`io.to(room).emit(...)\`. Deliveries/s over ${fmt(num(room['messages']))} sequential pushes (one room) or ${fmt(num(room['rounds']))} rounds; time to all = call start to the last subscriber's frame of one push (one room) or one round (all rooms), p50 of ${fmt(num(room['samples']))}; lower is better there.`,
      '',
      '| variant | IMA gateway | bare uWS | Socket.IO | ima / bare uWS | ima / Socket.IO |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const [v, o] of Object.entries(rv)) {
      const r = ratios.get(v);
      const d = v.endsWith('-timeToAllMs') ? 1 : 0;
      L.push(`| ${v} | ${fmt(num(o['ima']), d)} | ${fmt(num(o['bareUws']), d)} | ${fmt(num(o['socketio']), d)} | ${r2(r?.vsBareUws)} | ${r2(r?.vsSocketio)} |`);
    }
    const join = (room['joinMs'] ?? {}) as Record<string, Record<string, number>>;
    const ji = Object.entries(join).flatMap(([v, o]) => (num(o['ima']) === undefined ? [] : [`${v} ${fmt(num(o['ima']))} ms`]));
    if (ji.length) L.push('', `Gateway membership set-up (\`JoinRoom\`, 1,000 users per call, sequential calls): ${ji.join(', ')}.`);
    const probs = roomProblems(res);
    if (probs.length) L.push('', '**Problems seen in this run:**', '', ...probs.map((p) => `- ${p}`));
  }
  const rc = recoveryCost(res);
  if (rc) {
    const p = rc.probeMs;
    const pu = res.scenarios['pushToUser'];
    L.push('', '## Recovery cost: PushToUser with recovery on and off (not a goal)', '');
    L.push(
      `The pushToUser measurement (${fmt(num(pu?.['connections']))} connections, closed loop at concurrency ${fmt(num(pu?.['concurrency']))} for ${fmt(num(pu?.['durationMs']))} ms, then an open loop at half that peak, the probe running throughout) against the gateway as configured by default (\`recovery.enabled: true\`: every push to a user is numbered and kept in the in-memory history, SPEC section 10) and against a second gateway with \`recovery.enabled: false\`, one after the other in the same run, each after a ${fmt(num(pu?.['warmupMs']))} ms warm-up. Off / on above 1 for calls/s, or below 1 for latency, is what recovery costs; as with every figure here, a difference under ~15 % is within the run-to-run spread, and the order alone can favour the later of the two runs.`,
      '',
      '| figure | recovery on (default) | recovery off | off / on |',
      '|---|---:|---:|---:|',
      `| PushToUser calls/s at peak | ${fmt(num(rc.on))} | ${fmt(num(rc.off))} | ${r2(num(rc.ratioOffOn))} |`,
      `| calls/s at half peak (open loop) | ${fmt(num(rc.halfPeakRate?.on))} | ${fmt(num(rc.halfPeakRate?.off))} | – |`,
    );
    for (const [at, label] of [['halfPeak', 'half peak'], ['saturated', 'peak']] as const)
      for (const q of ['p50', 'p99', 'p999'] as const) {
        const c = p?.[at];
        L.push(`| probe ${q} at ${label}, ms | ${c?.on?.[q] ?? '–'} | ${c?.off?.[q] ?? '–'} | ${r2(num(c?.ratioOffOn[q]))} |`);
      }
    if (rc.numbered) L.push(`| pushes numbered (gateway \`/stats\` recovery.numbered) | ${fmt(num(rc.numbered['ima']))} | ${fmt(num(rc.numbered['imaNoRecovery']))} | – |`);
    const probs = recoveryProblems(res);
    if (probs.length) L.push('', '**Problems seen in this run:**', '', ...probs.map((x) => `- ${x}`));
  }
  if (Object.keys(res.errors).length) {
    L.push('', '## Errors in this run', '');
    for (const [k, v] of Object.entries(res.errors)) L.push(`- ${k}: ${v.split('\n')[0]}`);
  }
  L.push('', '## Method', '');
  L.push(
    '- `scripts/bench/run.ts` (orchestrator) forks the servers and the load generators and talks to them over IPC; each child exits when the orchestrator goes away, and the orchestrator kills every child on exit, SIGINT and SIGTERM. Every phase has a deadline and a watchdog bounds the whole run (170 s quick, 720 s default); results measured before a failure are still written. Charts are hand-written SVG (`scripts/bench/svg.ts`): no browser is needed.',
    '- Servers: the gateway (`dist/main.js` run by `scripts/bench/gateway-proc.ts`, JWT provider, `allow_all`, no per-user cap, rate limit lifted, log level warn), a bare uWebSockets.js server (`uws-server.ts`: subscribe to one topic and send one small frame on open), a Socket.IO 4 server (`sio-server.ts`, websocket transport only, no compression), a bare grpc-js server (`grpc-server.ts`: IMAGatewayService.PushToUser answering at once). The gateway wrapper and the bare uWS server exit 1 when `uwsIsNative()` is false; so does the orchestrator.',
    '- Clients: 4 raw-socket load workers (`rawclient.ts`): `net` sockets that do the WebSocket upgrade by hand with tokens minted up front by the orchestrator, then parse only frame headers (FIN, opcode, 7/16/64-bit lengths, across chunk boundaries) to count frames and bytes, answer pings, and read a payload only for the first (auth) frame, control frames, Socket.IO\'s packet type (Engine.IO v4 / Socket.IO v5 over the raw socket: `EIO=4&transport=websocket`, `40` connect, `2` ping answered `3`, `42[...]` events counted) and the latency stamp on every 50th connection. At most 15,000 sockets per process; client process i binds its sockets to source addresses 127.<10+i>.x.y, a new one every 64 connections, reconnects included (ephemeral ports are per source address, and a bind() on an address whose ports sit in TIME_WAIT from a previous run is several times slower). Each reports its CPU seconds. The forward scenario uses a `ws`-package client (`worker.ts`), which sends messages and reads acks; a gRPC load process and a probe process (`worker.ts`) drive pushToUser; the gRPC pusher (`pusher.ts`) drives the concurrency, scaling and latency scenarios and the bare grpc-js business loop.',
    '- connectRate: connections opened (handshake + first frame: the gateway\'s auth frame, the bare server\'s hello frame) per second of wall time, at a fixed number of concurrent handshakes. The gateway\'s token cache is warmed first (one connection per user), so the measured run is all cache hits.',
    '- memoryPerConnection: RSS and JS heap of the server process after a forced GC, before and after opening N idle connections, divided by N.',
    '- concurrency: N connections (10 per user); the gateway gets `Broadcast`, `PushToUsers` (all users in one call) and `PushToRoom` (one room of all N) calls with 1, 8 and 64 in flight; bare uWS does `app.publish` and Socket.IO `io.emit`, 1, 8 and 64 per event-loop turn. Frames are the same size (the gateway\'s push frame, about 100 B) and carry the call start time. Deliveries/s = frames received by all clients / (last frame received - first call); every frame is counted, and the `delivered` the calls report is checked. Then an open loop of Broadcast (bare uWS: publish) at fractions of the 8-in-flight peak for the latency curve.',
    '- scaling: one gateway (and one bare uWS server) takes connections in steps; at each step its RSS after a forced GC and the deliveries/s of Broadcast with 8 in flight.',
    '- storm: N connections to one gateway with MUC auth (`muc-server.ts`); all client sockets destroyed at once, each reconnecting within a second (random delay); time until all are back, failed attempts, MUC calls per token, event-loop lag from `/metrics`.',
    '- rooms: N connections, one user each; the gateway gets `JoinRoom` calls (1,000 users each) for one room of all N and for R rooms of N/R, then sequential `PushToRoom` calls to the one room, and rounds of concurrent `PushToRoom` calls, one to each of the R rooms; bare uWS subscribes ranges of its open sockets to topics and does `app.publish(room)`, Socket.IO does `socket.join(room)` and `io.to(room).emit`, one message (one room) or one round (R rooms) per event-loop turn. Also the time from one push (or one round) to the last subscriber\'s frame. The gateway\'s reported `delivered` and `JoinRoom` `connections` are checked against the subscribers; the frames received are counted.',
    '- pushToUser: a closed loop of unary PushToUser calls at fixed concurrency for a fixed time (peak), then an open loop at half that rate; meanwhile a probe process with its own connection calls PushToUser for itself every 2 ms and measures call start to frame received (bare grpc-js: to the response). Each server first gets an unmeasured warm-up (`warmupMs` of the same closed loop with the probe). Run against the gateway with its default config (recovery on), then the same against a gateway with `recovery.enabled: false` (`imaNoRecovery` in results.json; the ratio off / on is `scenarios.pushToUser.recovery`), then bare grpc-js.',
    '- forward: connections each keep a few client messages in flight against the test business service (`scripts/test-services.ts`), then an open loop at half that peak; ack latency = send to ack frame. Baseline: a bare grpc-js unary client loop of `HandleMessage` against the same business service with as many calls in flight, then at half its peak.',
    '- cluster: Redis (`redis-server --save "" --appendonly no`) and three gateway instances; connections spread round-robin over the instances; Broadcast through instance 1 (reaches all), then PushToUsers through instance 1 naming only users connected to instances 2 and 3. The number of connections is bounded by the per-process fd limit of the three gateway processes (about 20,000 each).',
  );
  if (notes.trim()) L.push('', notes.trim());
  L.push('');
  return L.join('\n');
}

export async function renderOutputs(res: Results, root: string, log: (m: string) => void, docsDir = path.join(root, 'docs')): Promise<string> {
  const goals = computeGoals(res);
  res.goals = goals;
  const benchDir = path.join(docsDir, 'bench');
  fs.mkdirSync(benchDir, { recursive: true });
  // results.json: per scenario { ima, bareUws | bareGrpc, socketio, unit, ... } plus run parameters, machine and goals
  fs.writeFileSync(path.join(benchDir, 'results.json'), JSON.stringify(res, null, 2) + '\n');
  try {
    for (const [file, svg] of Object.entries(charts(res, goals))) fs.writeFileSync(path.join(benchDir, file), svg);
  } catch (e) {
    // a chart never costs the figures: results.json and BENCHMARKS.md are still written
    log(`charts: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    res.errors['charts'] = e instanceof Error ? e.message : String(e);
  }
  // the hand-written notes live with the repository's docs, whatever the output directory
  const notesFile = path.join(root, 'docs/bench/notes.md');
  const notes = fs.existsSync(notesFile) ? fs.readFileSync(notesFile, 'utf8') : '';
  fs.writeFileSync(path.join(docsDir, 'BENCHMARKS.md'), markdown(res, goals, notes));
  return textTable(res, goals);
}

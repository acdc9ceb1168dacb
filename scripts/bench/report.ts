/**
 * Outputs of a benchmark run: the table (stdout), docs/bench/results.json, docs/bench/results.png
 * (an HTML page of inline SVG bar charts, screenshotted with headless Chromium) and
 * docs/BENCHMARKS.md (figures, ratios, the plot, method notes and docs/bench/notes.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

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

export interface Goal {
  readonly goal: string;
  readonly ratio: number | null;
  readonly target: string;
  readonly met: boolean | null;
  readonly figures: string;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined ? '–' : n >= 100 || digits === 0 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits);
const r2 = (n: number | undefined): string => (n === undefined ? '–' : n.toFixed(2));

function ratioGoal(goal: string, a: number | undefined, b: number | undefined, op: '>=' | '<=', target: number, unit: string): Goal {
  const ratio = a !== undefined && b !== undefined && b !== 0 ? a / b : null;
  return {
    goal,
    ratio,
    target: `${op} ${target}`,
    met: ratio === null ? null : op === '>=' ? ratio >= target : ratio <= target,
    figures: `${fmt(a, 1)} vs ${fmt(b, 1)} ${unit}`,
  };
}

export function computeGoals(res: Results): Goal[] {
  const s = res.scenarios;
  const g: Goal[] = [];
  const fan = (s['fanout']?.['variants'] ?? {}) as Record<string, Record<string, number>>;
  for (const v of ['broadcast-100B', 'broadcast-4096B']) {
    g.push(ratioGoal(`fanout ${v} vs bare uWS`, fan[v]?.['ima'], fan[v]?.['bareUws'], '>=', 0.7, 'deliveries/s'));
    g.push(ratioGoal(`fanout ${v} vs Socket.IO`, fan[v]?.['ima'], fan[v]?.['socketio'], '>=', 5, 'deliveries/s'));
  }
  const mem = s['memoryPerConnection'];
  g.push(ratioGoal('memory/connection vs bare uWS', num(mem?.['ima']), num(mem?.['bareUws']), '<=', 3, 'B RSS'));
  g.push(ratioGoal('memory/connection vs Socket.IO', num(mem?.['ima']), num(mem?.['socketio']), '<=', 0.3, 'B RSS'));
  const pu = s['pushToUser'];
  g.push(ratioGoal('pushToUser vs bare grpc-js', num(pu?.['ima']), num(pu?.['bareGrpc']), '>=', 0.7, 'calls/s'));
  const cr = s['connectRate'];
  g.push(ratioGoal('connectRate vs bare uWS', num(cr?.['ima']), num(cr?.['bareUws']), '>=', 0.5, 'conn/s'));
  const lat = (pu?.['latencyMs'] as Record<string, { halfPeak?: { probe?: { p99?: number }; rate?: number } }> | undefined)?.['ima']?.halfPeak;
  const p99 = lat?.probe?.p99;
  g.push({
    goal: 'PushToUser p99 at half of peak (probe, call start to frame)',
    ratio: p99 ?? null,
    target: '<= 10 ms',
    met: p99 === undefined ? null : p99 <= 10,
    figures: `p99 ${p99 ?? '–'} ms at ${fmt(lat?.rate)} calls/s`,
  });
  return g;
}

/** scenarios.pushToUser.recovery (scenarios/pushToUser.ts): PushToUser with recovery on (the default) and off. */
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
  const fan = (s['fanout']?.['variants'] ?? {}) as Record<string, Record<string, unknown>>;
  for (const [v, o] of Object.entries(fan)) add(`fanout ${v}`, o, v.endsWith('-perServerCpuSec') ? 'deliveries per CPU second of the server process' : 'deliveries/s');
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
  const al = fw?.['ackLatencyMs'] as { p50: number; p99: number; p999: number } | undefined;
  if (al) out.push({ scenario: 'forward ack latency', ima: undefined, baselines: `p50/p99/p999 ${al.p50}/${al.p99}/${al.p999}`, unit: 'ms' });
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
  lines.push('', 'goals:');
  for (const g of goals) lines.push(`  ${g.met === null ? '  ?' : g.met ? ' ok' : 'MISS'}  ${g.goal}: ${g.goal.startsWith('PushToUser p99') ? '' : `ratio ${r2(g.ratio ?? undefined)} `}(goal ${g.target}; ${g.figures})`);
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

// ------------------------------------------------------------------------------------------------
// plot

const COLORS: Record<string, string> = { ima: '#2563eb', imaNoRecovery: '#7c3aed', bareUws: '#16a34a', bareGrpc: '#16a34a', socketio: '#dc2626' };
const LABELS: Record<string, string> = { ima: 'IMA gateway', imaNoRecovery: 'ima, rec. off', bareUws: 'bare uWS', bareGrpc: 'bare grpc-js', socketio: 'Socket.IO 4' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function barChart(title: string, unit: string, bars: Array<{ key: string; label?: string; value: number | undefined }>): string {
  const W = 440;
  const H = 200;
  const vals = bars.map((b) => b.value ?? 0);
  const max = Math.max(...vals, 1e-9);
  const bw = Math.min(80, (W - 40) / bars.length - 16);
  let x = 30;
  const parts: string[] = [];
  for (const b of bars) {
    const h = ((b.value ?? 0) / max) * (H - 70);
    const y = H - 35 - h;
    parts.push(`<rect x="${x}" y="${y}" width="${bw}" height="${h}" fill="${COLORS[b.key] ?? '#6b7280'}" rx="3"/>`);
    parts.push(`<text x="${x + bw / 2}" y="${y - 5}" text-anchor="middle" font-size="12">${b.value === undefined ? '–' : esc(fmt(b.value, 2))}</text>`);
    parts.push(`<text x="${x + bw / 2}" y="${H - 18}" text-anchor="middle" font-size="11">${esc(b.label ?? LABELS[b.key] ?? b.key)}</text>`);
    x += bw + 16;
  }
  return `<div class="chart"><div class="t">${esc(title)}</div><div class="u">${esc(unit)}</div><svg width="${W}" height="${H}">${parts.join('')}<line x1="20" y1="${H - 35}" x2="${W - 10}" y2="${H - 35}" stroke="#999"/></svg></div>`;
}

function ratioChart(goals: Goal[]): string {
  const rowsSvg: string[] = [];
  const W = 900;
  const rowH = 26;
  const ratioGoals = goals.filter((g) => !g.target.includes('ms'));
  ratioGoals.forEach((g, i) => {
    const t = Number(g.target.split(' ')[1]);
    const r = g.ratio ?? 0;
    // bar length = ratio relative to the goal (goal line at the middle), log scale clipped
    const rel = r > 0 ? Math.log10(r / t) : -2;
    const clip = Math.max(-2, Math.min(2, rel));
    const mid = 620;
    const scale = 130;
    const good = g.met === true;
    const y = 10 + i * rowH;
    const x1 = clip < 0 ? mid + clip * scale : mid;
    rowsSvg.push(`<text x="0" y="${y + 15}" font-size="12">${esc(g.goal)}</text>`);
    rowsSvg.push(`<rect x="${x1}" y="${y + 3}" width="${Math.abs(clip) * scale || 1}" height="16" fill="${good ? '#16a34a' : '#dc2626'}" rx="2"/>`);
    rowsSvg.push(`<text x="${mid + (clip >= 0 ? clip * scale + 6 : 6)}" y="${y + 15}" font-size="11">${r2(g.ratio ?? undefined)} (goal ${esc(g.target)})</text>`);
  });
  const h = 20 + ratioGoals.length * rowH;
  rowsSvg.push(`<line x1="620" y1="0" x2="620" y2="${h}" stroke="#111" stroke-dasharray="4 3"/>`);
  return `<div class="wide"><div class="t">Ratios against the goals (bar = ratio / goal, log scale; green = met, dashed line = goal)</div><svg width="${W}" height="${h}">${rowsSvg.join('')}</svg></div>`;
}

function html(res: Results, goals: Goal[]): string {
  const s = res.scenarios;
  const charts: string[] = [];
  const pick = (o: Record<string, unknown> | undefined, keys: string[]): Array<{ key: string; value: number | undefined }> => keys.filter((k) => o && k in o).map((k) => ({ key: k, value: num(o?.[k]) }));
  if (s['connectRate']) charts.push(barChart('connectRate', 'connections/s (higher is better)', pick(s['connectRate'], ['ima', 'bareUws'])));
  if (s['memoryPerConnection']) charts.push(barChart('memory per idle connection', 'bytes RSS (lower is better)', pick(s['memoryPerConnection'], ['ima', 'bareUws', 'socketio'])));
  const fan = (s['fanout']?.['variants'] ?? {}) as Record<string, Record<string, unknown>>;
  for (const v of ['broadcast-100B', 'broadcast-4096B']) if (fan[v]) charts.push(barChart(`fanout ${v}`, 'deliveries/s (higher is better)', pick(fan[v], ['ima', 'bareUws', 'socketio'])));
  if (fan['pushToUsers-100B'] || fan['pushToUsers-4096B'])
    charts.push(barChart('fanout PushToUsers (ima)', 'deliveries/s', [
      { key: 'ima', label: '100 B', value: num(fan['pushToUsers-100B']?.['ima']) },
      { key: 'ima', label: '4 KiB', value: num(fan['pushToUsers-4096B']?.['ima']) },
    ]));
  const rm = (s['rooms']?.['variants'] ?? {}) as Record<string, Record<string, unknown>>;
  for (const [v, o] of Object.entries(rm)) {
    if (v.endsWith('-perServerCpuSec')) continue;
    const ms = v.endsWith('-timeToAllMs');
    const [nr, per] = v.replace('-timeToAllMs', '').split('x').map(Number) as [number, number];
    const layout = nr === 1 ? `one room of ${fmt(per)}` : `${fmt(nr)} rooms of ${fmt(per)}`;
    charts.push(barChart(`rooms, ${layout}${ms ? ': one push, time to all' : ''}`, ms ? 'ms, call to last subscriber\'s frame, p50 (lower is better)' : 'deliveries/s (higher is better)', pick(o, ['ima', 'bareUws', 'socketio'])));
  }
  if (s['pushToUser']) {
    const rc = recoveryCost(res);
    const bars = pick(s['pushToUser'], ['ima', 'imaNoRecovery', 'bareGrpc']).map((b) => (b.key === 'ima' && 'imaNoRecovery' in s['pushToUser']! ? { ...b, label: 'ima, rec. on' } : b));
    charts.push(barChart('pushToUser', `unary calls/s at fixed concurrency${rc?.ratioOffOn != null ? `; recovery off / on ${r2(rc.ratioOffOn)}` : ''}`, bars));
  }
  const lat = s['pushToUser']?.['latencyMs'] as Record<string, { saturated: { probe: Record<string, number> }; halfPeak: { probe: Record<string, number> } }> | undefined;
  if (lat?.['ima'])
    charts.push(barChart('PushToUser latency, ima (probe)', 'ms, call start to frame received', [
      { key: 'ima', label: 'p50 @half', value: lat['ima'].halfPeak.probe['p50'] },
      { key: 'ima', label: 'p99 @half', value: lat['ima'].halfPeak.probe['p99'] },
      { key: 'ima', label: 'p999 @half', value: lat['ima'].halfPeak.probe['p999'] },
      { key: 'socketio', label: 'p99 @peak', value: lat['ima'].saturated.probe['p99'] },
    ]));
  if (lat?.['ima'] && lat['imaNoRecovery'])
    charts.push(barChart('PushToUser latency, recovery on vs off (probe)', 'ms at half peak, call start to frame received', [
      { key: 'ima', label: 'p50 on', value: lat['ima'].halfPeak.probe['p50'] },
      { key: 'imaNoRecovery', label: 'p50 off', value: lat['imaNoRecovery'].halfPeak.probe['p50'] },
      { key: 'ima', label: 'p99 on', value: lat['ima'].halfPeak.probe['p99'] },
      { key: 'imaNoRecovery', label: 'p99 off', value: lat['imaNoRecovery'].halfPeak.probe['p99'] },
      { key: 'ima', label: 'p999 on', value: lat['ima'].halfPeak.probe['p999'] },
      { key: 'imaNoRecovery', label: 'p999 off', value: lat['imaNoRecovery'].halfPeak.probe['p999'] },
    ]));
  if (s['forward'] || s['cluster'])
    charts.push(barChart('forward and cluster (ima)', 'messages/s, deliveries/s', [
      { key: 'ima', label: 'forward msg/s', value: num(s['forward']?.['ima']) },
      { key: 'bareUws', label: 'cluster bcast', value: num(s['cluster']?.['ima']) },
      { key: 'socketio', label: 'cluster x-inst', value: num(s['cluster']?.['crossInstancePushToUsers']) },
    ]));
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{font-family:DejaVu Sans,Arial,sans-serif;margin:16px;width:960px;background:#fff;color:#111}
h1{font-size:18px;margin:0 0 4px} .m{font-size:12px;color:#555;margin-bottom:10px}
.grid{display:flex;flex-wrap:wrap;gap:10px}.chart{border:1px solid #ddd;border-radius:6px;padding:6px;width:450px}
.t{font-weight:bold;font-size:13px}.u{font-size:11px;color:#666}.wide{border:1px solid #ddd;border-radius:6px;padding:6px;margin-top:10px}
</style></head><body><h1>IMA gateway benchmark (${esc(res.mode)})</h1>
<div class="m">${esc(res.startedAt)} · ${esc(String(res.machine['cpus']))} cores ${esc(String(res.machine['cpuModel']))} · ${esc(String(res.machine['memGiB']))} GiB · Node ${esc(String(res.machine['node']))} · uWebSockets.js native</div>
<div class="grid">${charts.join('')}</div>${ratioChart(goals)}</body></html>`;
}

async function screenshot(page: string, png: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  try {
    const p = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    await p.setContent(page, { timeout: 15_000 });
    await p.screenshot({ path: png, fullPage: true, timeout: 15_000 });
  } finally {
    await browser.close();
  }
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
  L.push('![benchmark plot](bench/results.png)', '');
  L.push('## Figures', '');
  L.push('| scenario | IMA gateway | baselines | unit |', '|---|---:|---|---|');
  for (const r of rows(res)) L.push(`| ${r.scenario} | ${fmt(r.ima)} | ${r.baselines} | ${r.unit} |`);
  L.push('', '## Goals (ratios measured in this run)', '');
  L.push('| goal | ratio | target | met | figures |', '|---|---:|---|---|---|');
  for (const g of goals) L.push(`| ${g.goal} | ${g.target.includes('ms') ? `${g.ratio ?? '–'} ms` : r2(g.ratio ?? undefined)} | ${g.target} | ${g.met === null ? 'not measured' : g.met ? 'yes' : '**no**'} | ${g.figures} |`);
  const fan = (res.scenarios['fanout']?.['variants'] ?? {}) as Record<string, Record<string, number>>;
  const perCpu = Object.entries(fan).filter(([v]) => v.endsWith('-perServerCpuSec'));
  if (perCpu.length) {
    L.push('', '## Fan-out cost on the server side (not a goal)', '');
    L.push(
      'Deliveries per CPU second of the server process alone (`/proc/<pid>/stat` user + system time over the measured window), i.e. what each server costs per delivery whatever the load generators cost. The kernel counts CPU time in clock ticks (10 ms), so the short windows of a `--quick` run give only rough figures. The wall-clock goals above are bounded by the clients on this machine; this is the comparison of the servers themselves.',
      '',
      '| variant | IMA gateway | bare uWS | Socket.IO | ima / bare uWS | ima / Socket.IO |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const [v, o] of perCpu) {
      const [ima, bare, sio] = [num(o['ima']), num(o['bareUws']), num(o['socketio'])];
      const ratio = (x: number | undefined, y: number | undefined): string => (x !== undefined && y !== undefined && y > 0 ? r2(x / y) : '–');
      L.push(`| ${v.replace('-perServerCpuSec', '')} | ${fmt(ima)} | ${fmt(bare)} | ${fmt(sio)} | ${ratio(ima, bare)} | ${ratio(ima, sio)} |`);
    }
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
    '- `scripts/bench/run.ts` (orchestrator) forks the servers and the load generators and talks to them over IPC; each child exits when the orchestrator goes away, and the orchestrator kills every child on exit, SIGINT and SIGTERM. Every phase has a deadline and a watchdog bounds the whole run (170 s quick, 585 s default); results measured before a failure are still written.',
    '- Servers: the gateway (`dist/main.js` run by `scripts/bench/gateway-proc.ts`, JWT provider, `allow_all`, no per-user cap, rate limit lifted, log level warn), a bare uWebSockets.js server (`uws-server.ts`: subscribe to one topic and send one small frame on open), a Socket.IO 4 server (`sio-server.ts`, websocket transport only, no compression), a bare grpc-js server (`grpc-server.ts`: IMAGatewayService.PushToUser answering at once). The gateway wrapper and the bare uWS server exit 1 when `uwsIsNative()` is false; so does the orchestrator.',
    '- Clients: 4 load workers (`worker.ts`, `ws` package or `socket.io-client`, no compression), at most 15,000 sockets each; the cluster scenario binds client sockets to 16 source addresses 127.0.0.2-17 (ephemeral ports are per source address). A separate gRPC load process and a separate probe process.',
    '- connectRate: connections opened (handshake + first frame: the gateway\'s auth frame, the bare server\'s hello frame) per second of wall time, at a fixed number of concurrent handshakes. The gateway\'s token cache is warmed first (one connection per user), so the measured run is all cache hits.',
    '- memoryPerConnection: RSS and JS heap of the server process after a forced GC, before and after opening N idle connections, divided by N.',
    '- fanout: N connections (10 per user); the gateway gets sequential `Broadcast` calls (or `PushToUsers` calls of 1,000 users each); bare uWS does `app.publish` and Socket.IO `io.emit`, one message per event-loop turn. Frames are the same size (the gateway\'s push frame, 100 B or 4 KiB). Deliveries/s = frames received by all clients / (last frame received - first call).',
    '- rooms: N connections, one user each; the gateway gets `JoinRoom` calls (1,000 users each) for one room of all N and for R rooms of N/R, then sequential `PushToRoom` calls to the one room, and rounds of concurrent `PushToRoom` calls, one to each of the R rooms; bare uWS subscribes ranges of its open sockets to topics and does `app.publish(room)`, Socket.IO does `socket.join(room)` and `io.to(room).emit`, one message (one room) or one round (R rooms) per event-loop turn. Also the time from one push (or one round) to the last subscriber\'s frame. The gateway\'s reported `delivered` and `JoinRoom` `connections` are checked against the subscribers; the frames received are counted.',
    '- pushToUser: a closed loop of unary PushToUser calls at fixed concurrency for a fixed time (peak), then an open loop at half that rate; meanwhile a probe process with its own connection calls PushToUser for itself every 2 ms and measures call start to frame received (bare grpc-js: to the response). Each server first gets an unmeasured warm-up (`warmupMs` of the same closed loop with the probe). Run against the gateway with its default config (recovery on), then the same against a gateway with `recovery.enabled: false` (`imaNoRecovery` in results.json; the ratio off / on is `scenarios.pushToUser.recovery`), then bare grpc-js.',
    '- forward: connections each keep a few client messages in flight against the test business service (`scripts/test-services.ts`); ack latency = send to ack frame.',
    '- cluster: Redis (`redis-server --save "" --appendonly no`) and three gateway instances; connections spread round-robin over the instances; Broadcast through instance 1 (reaches all), then PushToUsers through instance 1 naming only users connected to instances 2 and 3. The number of connections is bounded by the per-process fd limit of the three gateway processes (about 20,000 each).',
  );
  if (notes.trim()) L.push('', notes.trim());
  L.push('');
  return L.join('\n');
}

export async function renderOutputs(res: Results, root: string, log: (m: string) => void): Promise<string> {
  const goals = computeGoals(res);
  res.goals = goals;
  const benchDir = path.join(root, 'docs/bench');
  fs.mkdirSync(benchDir, { recursive: true });
  // results.json: per scenario { ima, bareUws | bareGrpc, socketio, unit, ... } plus run parameters and machine
  fs.writeFileSync(path.join(benchDir, 'results.json'), JSON.stringify(res, null, 2) + '\n');
  const page = html(res, goals);
  fs.writeFileSync(path.join(benchDir, 'results.html'), page);
  try {
    await Promise.race([screenshot(page, path.join(benchDir, 'results.png')), new Promise((_, j) => setTimeout(() => j(new Error('screenshot timed out')), 60_000))]);
  } catch (e) {
    log(`plot: ${e instanceof Error ? e.message : String(e)}`);
    res.errors['plot'] = e instanceof Error ? e.message : String(e);
  }
  const notesFile = path.join(benchDir, 'notes.md');
  const notes = fs.existsSync(notesFile) ? fs.readFileSync(notesFile, 'utf8') : '';
  fs.writeFileSync(path.join(root, 'docs/BENCHMARKS.md'), markdown(res, goals, notes));
  return textTable(res, goals);
}

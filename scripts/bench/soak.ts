/**
 * `npm run bench -- --soak MINUTES` (run.ts hands `--soak` to soakMain): the soak run. Not run in CI.
 *
 * One real gateway (dist/main.js through the bench wrapper scripts/bench/gateway-proc.ts, the jwt
 * provider with the bench secret, the business test service of test/support/test-services.ts
 * running in this process) under a steady mixed load for MINUTES minutes, from load processes
 * (scripts/bench/soak-load.ts): connections churning and being replaced by a login on the same
 * device, client messages acked by the business service, pings, PushToUser / PushToUsers /
 * Broadcast / KickUser over gRPC. Every SAMPLE_MS it samples the gateway process (RSS and open fds
 * from /proc, V8 heap used, event-loop lag p99 and active handles from its /metrics) and prints a
 * progress line on stderr. At the end it applies the growth rule (see GROWTH RULE below and
 * docs/SOAK.md) and the other checks, writes docs/bench/soak.json, docs/bench/soak.svg and
 * docs/SOAK.md, prints the verdict and exits 1 when the run failed.
 *
 * Every phase is bounded in time, a watchdog bounds the whole run, and every process started is
 * killed on exit (also on SIGINT / SIGTERM / an error). Only 127.0.0.1 and ports below 32768.
 */
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { uwsIsNative } from '../../internal/transport/ws/native';
import { httpGet } from '../../test/support/admin';
import { freePorts } from '../../test/support/ports';
import { TestBusinessService } from '../../test/support/test-services';
import { BENCH_SECRET, HOST, sleep } from './common';
import { zeroCounters } from './soak-counters';
import type { LoadCounters } from './soak-counters';
import type { LoadPlan, LoadSnapshot } from './soak-load';

// ------------------------------------------------------------------------------------------------
// parameters

const LOAD_PROCESSES = 2;
const USERS_PER_PROCESS = 500;
const PLATFORMS = ['ios', 'android', 'web'] as const;
const SAMPLE_MS = 5000;
/**
 * Every this many samples the gateway is asked for its live heap: the bench wrapper runs two full
 * GCs and reports heapUsed (a pause of some tens of ms). The heap used between GCs drifts up and
 * down with the old generation filling and being collected, which over a 10-minute window can look
 * like growth; what survives a full GC is what a leak is made of.
 */
const LIVE_HEAP_EVERY = 3;
/** Per load process; the totals are LOAD_PROCESSES times these (broadcasts: process 0 only). */
const RATES = {
  churnPerSec: 15,
  replaceShare: 0.25,
  messagesPerSec: 50,
  pingIntervalMs: 20_000,
  pushToUserPerSec: 50,
  pushToUsersPerSec: 2,
  pushToUsersBatch: 50,
  broadcastPerSec: 0.5,
  kickPerSec: 0.5,
  replyTimeoutMs: 30_000,
} as const;
/** The gateway's forward.timeoutMs (default 5 s): generous, so a busy machine does not make acks 2001. */
const FORWARD_TIMEOUT_MS = 20_000;

// GROWTH RULE. Warm-up = the first 20 % of the steady phase (caches, the dedupe window, JIT and
// the heap settle there). Warm level = median of the samples of the second quarter of the phase,
// late level = median of the last quarter. Two estimates of the growth rate per hour: the
// Theil-Sen slope (median of the slopes between every two samples) over every sample after the
// warm-up, and (late - warm) over the time between the centres of the two quarters. A series
// FAILS when BOTH exceed its limit, which is max(REL_PER_HOUR x warm level, the series' absolute
// floor) per hour: a leak raises both, while the GC sawtooth, a spike or a short burst of load from
// other processes moves neither much (medians) or only one. The floors keep noise at small values
// (a few handles, a lag of a few ms) from failing the run.
const WARMUP_SHARE = 0.2;
const REL_PER_HOUR = 0.5;
const MIB = 1024 * 1024;

type SeriesKey = 'rssBytes' | 'heapUsedBytes' | 'liveHeapBytes' | 'lagP99Ms' | 'activeHandles' | 'openFds';
interface SeriesDef {
  readonly key: SeriesKey;
  readonly label: string;
  /** Display unit and the raw value per display unit. */
  readonly unit: string;
  readonly scale: number;
  readonly digits: number;
  /** Absolute floor of the limit, in raw units per hour. */
  readonly floorPerHour: number;
  readonly source: string;
  /** Judged on the samples taken while the rest of the machine was quiet only (see BUSY_OTHER_CORES). */
  readonly quietOnly?: boolean;
}
const SERIES: readonly SeriesDef[] = [
  { key: 'rssBytes', label: 'RSS', unit: 'MiB', scale: MIB, digits: 1, floorPerHour: 32 * MIB, source: '/proc/<pid>/status VmRSS' },
  { key: 'heapUsedBytes', label: 'V8 heap used', unit: 'MiB', scale: MIB, digits: 1, floorPerHour: 32 * MIB, source: 'nodejs_heap_size_used_bytes' },
  {
    key: 'liveHeapBytes',
    label: 'live heap after full GC',
    unit: 'MiB',
    scale: MIB,
    digits: 1,
    floorPerHour: 8 * MIB,
    source: `V8 heap used right after two full GCs, forced through the bench wrapper's \`mem\` command every ${(SAMPLE_MS * LIVE_HEAP_EVERY) / 1000} s`,
  },
  { key: 'lagP99Ms', label: 'event-loop lag p99', unit: 'ms', scale: 1, digits: 1, floorPerHour: 100, source: 'nodejs_eventloop_lag_p99_seconds (window since the previous scrape)', quietOnly: true },
  { key: 'activeHandles', label: 'active handles', unit: '', scale: 1, digits: 0, floorPerHour: 60, source: 'nodejs_active_handles_total' },
  { key: 'openFds', label: 'open fds', unit: '', scale: 1, digits: 0, floorPerHour: 600, source: 'entries of /proc/<pid>/fd' },
];
/**
 * A sample interval is "busy" when processes that are not part of the soak used more than this many
 * cores (of the machine's): the gateway's event-loop lag then measures the scheduler, not the
 * gateway, so the lag is judged on the other samples only (and not at all when too few remain).
 */
const BUSY_OTHER_CORES = Math.max(0.5, os.cpus().length * 0.25);
/** fds the gateway may hold after the load beyond what it held before it. */
const FD_SLACK_AFTER = 10;
/** Active handles likewise. */
const HANDLE_SLACK_AFTER = 5;
/** Push and broadcast frames the clients may miss (of those the gateway reported delivered). */
const DELIVERY_TOLERANCE = 0.001;

// ------------------------------------------------------------------------------------------------
// types of the result (docs/bench/soak.json)

interface Sample {
  /** Seconds since the start of the steady phase (negative: before the load). */
  t: number;
  at: string;
  rssBytes: number;
  heapUsedBytes: number;
  /** V8 heap used right after a forced full GC (every LIVE_HEAP_EVERY samples; NaN / null otherwise). */
  liveHeapBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  lagP99Ms: number;
  lagMeanMs: number;
  activeHandles: number;
  activeResources: number;
  openFds: number;
  /** ima_ws_connections. */
  connections: number;
  cpuSeconds: number;
  /** Client side: connections open in the load processes. */
  clientsOpen?: number;
  /** Rates over the interval since the previous sample, per second. */
  rates?: Record<string, number>;
  unexpectedErrors?: number;
  /** CPU used over the interval since the previous sample, in cores. */
  cpu?: CpuShare;
}

interface CpuShare {
  gateway: number;
  /** The load processes together. */
  load: number;
  /** This process (the orchestrator and the business service). */
  soak: number;
  /** Every process of the machine. */
  machine: number;
  /** machine - (gateway + load + soak): processes that are not part of the soak. */
  other: number;
}

interface SeriesResult {
  key: SeriesKey;
  label: string;
  unit: string;
  source: string;
  samplesAfterWarmup: number;
  /** Samples after the warm-up not judged (busy intervals, lag only). */
  samplesLeftOut: number;
  /** Of the Theil-Sen line (value at t = 0 s of the steady phase). */
  fitInterceptAtZero: number;
  first: number;
  last: number;
  min: number;
  max: number;
  warmLevel: number;
  lateLevel: number;
  slopePerHour: number;
  stepPerHour: number;
  limitPerHour: number;
  verdict: 'ok' | 'grows' | 'too few samples' | 'not judged: machine busy';
}

interface Check {
  name: string;
  ok: boolean;
  /** Set when the check could not be made (it does not fail the run). */
  notJudged?: boolean;
  detail: string;
}

interface SoakResult {
  startedAt: string;
  minutes: number;
  steadySeconds: number;
  verdict: 'PASS' | 'FAIL';
  machine: { cpus: number; cpuModel: string; memGiB: number; node: string; platform: string };
  parameters: Record<string, unknown>;
  rule: Record<string, unknown>;
  ramp: { opened: number; slots: number; ms: number }[];
  baseline: Sample | undefined;
  baselineAfterGc: Record<string, number> | undefined;
  samples: Sample[];
  after: Sample | undefined;
  afterGc: Record<string, number> | undefined;
  series: SeriesResult[];
  checks: Check[];
  load: { totals: LoadCounters; perProcess: LoadSnapshot[]; averageRates: Record<string, number> };
  business: { handleMessage: number; statusEvents: number; statusRefused: number };
  gatewayLog: { lines: number; byLevel: Record<string, number>; internalErrorLines: string[]; errorLines: string[] };
  gatewayStats: Record<string, unknown> | undefined;
  gatewayExit: { code: number | null; signal: string | null; during: 'run' | 'shutdown' } | undefined;
  /** Mean CPU use over the steady phase, in cores. */
  cpuCores: CpuShare | undefined;
  errors: string[];
}

// ------------------------------------------------------------------------------------------------
// progress and child processes

const T0 = Date.now();
function log(msg: string): void {
  const s = Math.floor((Date.now() - T0) / 1000);
  process.stderr.write(`[soak ${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${msg}\n`);
}

/** A forked child with the request/reply IPC of scripts/bench/common.ts (serveIpc). */
class Child {
  exited = false;
  exitInfo: { code: number | null; signal: string | null } | undefined;
  stderrTail = '';
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly gone: Promise<void>;

  constructor(
    readonly name: string,
    readonly proc: cp.ChildProcess,
  ) {
    children.add(this);
    proc.stderr?.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-3000);
    });
    proc.on('message', (m: unknown) => {
      const msg = m as { id?: unknown; ok?: unknown; result?: unknown; error?: unknown };
      if (typeof msg.id !== 'number') return;
      const w = this.pending.get(msg.id);
      if (w === undefined) return;
      this.pending.delete(msg.id);
      if (msg.ok === true) w.resolve(msg.result);
      else w.reject(new Error(`${name}: ${String(msg.error)}`));
    });
    this.gone = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exited = true;
        this.exitInfo = { code, signal };
        children.delete(this);
        for (const w of this.pending.values()) w.reject(new Error(`${name} exited (code ${code}, signal ${signal}): ${this.stderrTail.slice(-800)}`));
        this.pending.clear();
        resolve();
      });
    });
  }

  request<T>(cmd: string, args: Record<string, unknown>, timeoutMs: number): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} is not running`));
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ id, cmd, ...args });
    });
  }

  /** signal, then SIGKILL after graceMs; resolves once it is gone (bounded). */
  async stop(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    if (this.exited) return;
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await Promise.race([this.gone, sleep(graceMs + 2000)]);
    clearTimeout(t);
  }
}

const children = new Set<Child>();
function killAllSync(): void {
  for (const c of children) {
    try {
      c.proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
    }),
  ]);
}

// ------------------------------------------------------------------------------------------------
// the gateway and its samples

interface Gateway {
  child: Child;
  pid: number;
  ws: number;
  grpc: number;
  admin: number;
}

/** Gateway log lines: counted by level; bug and error lines kept (the first ones). */
const gwLog = { lines: 0, byLevel: {} as Record<string, number>, internalErrorLines: [] as string[], errorLines: [] as string[], internalErrors: 0, errors: 0 };
const KEEP_LINES = 20;
function onGatewayLine(line: string): void {
  gwLog.lines++;
  const level = /"level":"(\w+)"/.exec(line)?.[1] ?? (line.startsWith('{') ? 'unknown' : 'text');
  gwLog.byLevel[level] = (gwLog.byLevel[level] ?? 0) + 1;
  if (line.includes('"msg":"internal error (bug)')) {
    gwLog.internalErrors++;
    if (gwLog.internalErrorLines.length < KEEP_LINES) gwLog.internalErrorLines.push(line.slice(0, 2000));
    log(`gateway logged an internal error: ${line.slice(0, 400)}`);
  } else if (level === 'error' || level === 'fatal') {
    gwLog.errors++;
    if (gwLog.errorLines.length < KEEP_LINES) gwLog.errorLines.push(line.slice(0, 2000));
    log(`gateway logged an error: ${line.slice(0, 400)}`);
  }
}

async function startGateway(tmp: string, businessPort: number): Promise<Gateway> {
  const dir = fs.mkdtempSync(path.join(tmp, 'cfg-'));
  fs.writeFileSync(
    path.join(dir, 'app.yml'),
    [
      'app:',
      '  shutdownTimeoutSec: 15',
      '  drainWindowSec: 1',
      'websocket:',
      '  host: 127.0.0.1',
      '  maxConnections: 19000',
      'server:',
      '  host: 127.0.0.1',
      'forward:',
      `  timeoutMs: ${FORWARD_TIMEOUT_MS}`,
      'admin:',
      '  host: 127.0.0.1',
      '',
    ].join('\n'),
  );
  const [ws, grpc, admin] = (await freePorts(3, HOST)) as [number, number, number];
  const proc = cp.fork(path.join(__dirname, 'gateway-proc.js'), [], {
    env: {
      ...process.env,
      IMA_CONFIG_DIR: dir,
      APP_ENV: 'dev',
      IMA_WS_PORT: String(ws),
      IMA_GRPC_PORT: String(grpc),
      IMA_ADMIN_PORT: String(admin),
      IMA_JWT_SECRET: BENCH_SECRET,
      IMA_AUTH_PROVIDER: 'jwt',
      IMA_BUSINESS_ADDR: `${HOST}:${businessPort}`,
      IMA_LOG_LEVEL: 'info',
    },
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const child = new Child('gateway', proc);
  for (const stream of [proc.stdout, proc.stderr]) {
    if (stream) readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', onGatewayLine);
  }
  const until = Date.now() + 20_000;
  for (;;) {
    if (child.exited) throw new Error(`the gateway exited during start (code ${child.exitInfo?.code}): ${child.stderrTail.slice(-1500)}`);
    if (Date.now() > until) throw new Error('the gateway was not ready (/readyz 200) within 20 s');
    try {
      if ((await httpGet(`http://${HOST}:${admin}/readyz`, undefined, 1000)).status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return { child, pid: proc.pid as number, ws, grpc, admin };
}

/** Unlabelled samples of a Prometheus text exposition (labelled ones under their full key). */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m) out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

/** User + system CPU seconds of a process (/proc/<pid>/stat; USER_HZ is 100 on Linux); NaN when gone. */
function procCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds every CPU of the machine spent busy (not idle, not waiting for I/O) since boot. */
function machineBusySeconds(): number {
  const f = (fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - (f[3] ?? 0) - (f[4] ?? 0)) / 100;
}

/** CPU seconds so far of the gateway, the load processes, this process and the machine. */
function cpuNow(gatewayPid: number, loadPids: readonly (number | undefined)[]): { at: number; gateway: number; load: number; soak: number; machine: number } {
  const u = process.cpuUsage();
  return {
    at: Date.now(),
    gateway: procCpuSeconds(gatewayPid),
    load: loadPids.reduce<number>((a, p) => a + procCpuSeconds(p), 0),
    soak: (u.user + u.system) / 1e6,
    machine: machineBusySeconds(),
  };
}

function cpuBetween(a: ReturnType<typeof cpuNow>, b: ReturnType<typeof cpuNow>): CpuShare {
  const dt = Math.max(0.001, (b.at - a.at) / 1000);
  const r = (x: number): number => Math.round(x * 100) / 100;
  const gateway = (b.gateway - a.gateway) / dt;
  const load = (b.load - a.load) / dt;
  const soak = (b.soak - a.soak) / dt;
  const machine = (b.machine - a.machine) / dt;
  return { gateway: r(gateway), load: r(load), soak: r(soak), machine: r(machine), other: r(Math.max(0, machine - gateway - load - soak)) };
}

let metricsFailures = 0;
async function sampleGateway(g: Gateway, t: number): Promise<Sample> {
  let rssBytes = NaN;
  let openFds = NaN;
  try {
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${g.pid}/status`, 'utf8'))?.[1];
    rssBytes = kb === undefined ? NaN : Number(kb) * 1024;
    openFds = fs.readdirSync(`/proc/${g.pid}/fd`).length;
  } catch {
    // the process is gone; the caller sees that
  }
  let m = new Map<string, number>();
  try {
    const r = await httpGet(`http://${HOST}:${g.admin}/metrics`, undefined, 10_000);
    if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
    m = parseMetrics(r.body);
  } catch (e) {
    metricsFailures++;
    log(`GET /metrics failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const v = (k: string, f = 1): number => (m.has(k) ? (m.get(k) as number) * f : NaN);
  return {
    t: Math.round(t * 10) / 10,
    at: new Date().toISOString(),
    rssBytes,
    heapUsedBytes: v('nodejs_heap_size_used_bytes'),
    liveHeapBytes: NaN,
    heapTotalBytes: v('nodejs_heap_size_total_bytes'),
    externalBytes: v('nodejs_external_memory_bytes'),
    lagP99Ms: v('nodejs_eventloop_lag_p99_seconds', 1000),
    lagMeanMs: v('nodejs_eventloop_lag_mean_seconds', 1000),
    activeHandles: v('nodejs_active_handles_total'),
    activeResources: v('nodejs_active_resources_total'),
    openFds,
    connections: v('ima_ws_connections'),
    cpuSeconds: v('process_cpu_seconds_total'),
  };
}

// ------------------------------------------------------------------------------------------------
// load totals


function sumCounters(snaps: readonly LoadSnapshot[]): LoadCounters {
  const out: LoadCounters = zeroCounters();
  for (const s of snaps) for (const k of Object.keys(out) as (keyof LoadCounters)[]) out[k] += s.counters[k];
  return out;
}

/** Unexpected errors of the load processes by kind, summed. */
function errorKinds(snaps: readonly LoadSnapshot[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of snaps) for (const [k, v] of Object.entries(p.errors)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** The figures the progress lines and the samples show as rates. */
function rateFigures(c: LoadCounters): Record<string, number> {
  return {
    churn: c.closedByClient + c.replaced + c.kicked,
    connects: c.connected,
    replaced: c.replaced,
    messages: c.acks,
    pings: c.pongs,
    pushCalls: c.pushToUserCalls + c.pushToUsersCalls + c.broadcastCalls,
    kicks: c.kickUserCalls,
    framesIn: c.pushFramesReceived + c.broadcastFramesReceived + c.echoes,
  };
}

// ------------------------------------------------------------------------------------------------
// analysis

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * Theil-Sen line through the points: slope = median of the slopes between every two points,
 * intercept = median of v - slope * t. Long runs are thinned to at most 1,500 points first.
 */
function theilSen(all: readonly { t: number; v: number }[]): { slope: number; intercept: number } {
  const step = Math.max(1, Math.ceil(all.length / 1500));
  const pts = all.filter((_, i) => i % step === 0);
  const slopes: number[] = [];
  for (let i = 0; i < pts.length; i++) {
    for (let j = i + 1; j < pts.length; j++) {
      const a = pts[i] as { t: number; v: number };
      const b = pts[j] as { t: number; v: number };
      if (b.t !== a.t) slopes.push((b.v - a.v) / (b.t - a.t));
    }
  }
  const slope = median(slopes);
  return { slope, intercept: median(pts.map((p) => p.v - slope * p.t)) };
}

/** Whether other processes of the machine used more CPU than BUSY_OTHER_CORES over the sample's interval. */
function busy(s: Sample): boolean {
  return s.cpu === undefined || s.cpu.other > BUSY_OTHER_CORES;
}

/**
 * Whether the lag of sample i is left out: its interval was busy, or the one before was (the lag
 * window and the CPU interval are not exactly aligned, and the gateway drains its backlog after).
 */
function leftOutForLag(samples: readonly Sample[], i: number): boolean {
  const prev = samples[i - 1];
  return busy(samples[i] as Sample) || (prev !== undefined && prev.cpu !== undefined && busy(prev));
}

function analyse(def: SeriesDef, samples: readonly Sample[], T: number): SeriesResult {
  const all = samples.map((s, i) => ({ t: s.t, v: s[def.key], busy: leftOutForLag(samples, i) })).filter((p) => Number.isFinite(p.v));
  // the lag is judged on the samples of quiet intervals only (other processes starve the gateway's event loop)
  const pts = def.quietOnly ? all.filter((p) => !p.busy || p.t < WARMUP_SHARE * T) : all;
  const post = pts.filter((p) => p.t >= WARMUP_SHARE * T);
  const q2 = pts.filter((p) => p.t >= 0.25 * T && p.t < 0.5 * T);
  const q4 = pts.filter((p) => p.t >= 0.75 * T);
  const warm = median(q2.map((p) => p.v));
  const late = median(q4.map((p) => p.v));
  const fit = theilSen(post);
  const slopePerHour = fit.slope * 3600;
  const dt = mean(q4.map((p) => p.t)) - mean(q2.map((p) => p.t));
  const stepPerHour = dt > 0 ? ((late - warm) / dt) * 3600 : NaN;
  const limitPerHour = Math.max(REL_PER_HOUR * Math.abs(warm), def.floorPerHour);
  const enough = post.length >= 6 && q2.length >= 2 && q4.length >= 2 && Number.isFinite(slopePerHour) && Number.isFinite(stepPerHour);
  const allPost = all.filter((p) => p.t >= WARMUP_SHARE * T);
  const leftOut = allPost.length - post.length;
  // too few samples because of busy intervals (the run itself was long enough)
  const busyShort = leftOut > 0 && allPost.length >= 6 && all.filter((p) => p.t >= 0.25 * T && p.t < 0.5 * T).length >= 2 && all.filter((p) => p.t >= 0.75 * T).length >= 2;
  const values = all.map((p) => p.v);
  return {
    key: def.key,
    label: def.label,
    unit: def.unit,
    source: def.source,
    samplesAfterWarmup: post.length,
    samplesLeftOut: leftOut,
    fitInterceptAtZero: fit.intercept,
    first: all[0]?.v ?? NaN,
    last: all[all.length - 1]?.v ?? NaN,
    min: values.reduce((a, b) => Math.min(a, b), Infinity),
    max: values.reduce((a, b) => Math.max(a, b), -Infinity),
    warmLevel: warm,
    lateLevel: late,
    slopePerHour,
    stepPerHour,
    limitPerHour,
    verdict: !enough ? (busyShort ? 'not judged: machine busy' : 'too few samples') : slopePerHour > limitPerHour && stepPerHour > limitPerHour ? 'grows' : 'ok',
  };
}

// ------------------------------------------------------------------------------------------------
// formatting

const defOf = (k: SeriesKey): SeriesDef => SERIES.find((d) => d.key === k) as SeriesDef;
function num(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function fmtVal(k: SeriesKey, raw: number, signed = false): string {
  const d = defOf(k);
  const v = raw / d.scale;
  const s = num(v, d.digits);
  return `${signed && v >= 0 ? '+' : ''}${s}${d.unit ? ` ${d.unit}` : ''}`;
}
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** About n round tick values from 0 to at least max. */
function ticks(max: number, n: number): number[] {
  const top = max > 0 && Number.isFinite(max) ? max : 1;
  const raw = top / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p) as number;
  const out: number[] = [];
  for (let v = 0; v <= top + step * 0.999; v += step) out.push(Math.round(v / step) * step);
  return out;
}

// ------------------------------------------------------------------------------------------------
// outputs: docs/bench/soak.svg

const GREEN = '#1a7f37';
const RED = '#cf222e';
const AMBER = '#9a6700';

function renderSvg(r: SoakResult): string {
  const W = 1000;
  const PW = 490;
  const PH = 230;
  const TOP = 78;
  const T = r.steadySeconds;
  const plotRows = Math.ceil((SERIES.length + 2) / 2);
  const checksH = 52 + Math.ceil(r.checks.length / 2) * 16;
  const H = TOP + plotRows * (PH + 10) + checksH + 34;
  const o: string[] = [];
  const verdictColor = r.verdict === 'PASS' ? GREEN : RED;
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif">`);
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<text x="16" y="26" font-size="17" font-weight="bold" fill="#222">${esc(`IMA gateway soak: ${num(r.minutes, r.minutes % 1 ? 1 : 0)} min of steady mixed load, ${num(LOAD_PROCESSES * USERS_PER_PROCESS * PLATFORMS.length)} connections`)}</text>`);
  o.push(`<text x="${W - 16}" y="26" font-size="17" font-weight="bold" text-anchor="end" fill="${verdictColor}">${r.verdict}</text>`);
  o.push(`<text x="16" y="46" font-size="11.5" fill="#555">${esc(`${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${r.machine.cpus} cores, Node.js ${r.machine.node}; the gateway process sampled every ${SAMPLE_MS / 1000} s (blue). Pink: intervals in which other processes used more than ${BUSY_OTHER_CORES} cores.`)}</text>`);
  o.push(
    `<text x="16" y="62" font-size="11.5" fill="#555">${esc(`Grey: warm-up (first ${WARMUP_SHARE * 100} %, not judged). Orange: medians of the 2nd and last quarter. Dashed: Theil-Sen fit after the warm-up. Fails when both exceed the limit.`)}</text>`,
  );

  interface Line {
    readonly pts: readonly { t: number; v: number }[];
    readonly color: string;
  }
  const plot = (slot: number, title: string, lines: readonly Line[], opts: { status?: { text: string; color: string }; note?: string | undefined; res?: SeriesResult; scale?: number; legend?: readonly [string, string][]; busyBands?: boolean }): void => {
    const px = 8 + (slot % 2) * (PW + 4);
    const py = TOP + Math.floor(slot / 2) * (PH + 10);
    const L = px + 62;
    const R = px + PW - 14;
    const Tp = py + 44;
    const B = py + PH - 30;
    const scale = opts.scale ?? 1;
    const vals = lines.flatMap((l) => l.pts.map((q) => q.v / scale)).filter((v) => Number.isFinite(v));
    const yt = ticks(vals.reduce((a, b) => Math.max(a, b), 0) * 1.08, 4);
    const ymax = yt[yt.length - 1] as number;
    const fine = yt.some((v) => v % 1 !== 0);
    const xt = ticks(T / 60, 6).filter((m) => m <= T / 60 + 1e-9);
    const x = (t: number): number => L + (T > 0 ? (Math.min(T, Math.max(0, t)) / T) * (R - L) : 0);
    const y = (v: number): number => B - (ymax > 0 ? (Math.min(ymax, Math.max(0, v)) / ymax) * (B - Tp) : 0);
    o.push('<g>');
    o.push(`<rect x="${px}" y="${py}" width="${PW}" height="${PH}" fill="#fafafa" stroke="#d0d7de"/>`);
    o.push(`<text x="${px + 10}" y="${py + 18}" font-size="13" font-weight="bold" fill="#222">${esc(title)}</text>`);
    if (opts.status) o.push(`<text x="${px + PW - 10}" y="${py + 18}" font-size="12" font-weight="bold" text-anchor="end" fill="${opts.status.color}">${esc(opts.status.text)}</text>`);
    if (opts.note) o.push(`<text x="${px + 10}" y="${py + 34}" font-size="10.5" fill="#555">${esc(opts.note)}</text>`);
    // warm-up band, busy intervals, grid, axes
    o.push(`<rect x="${x(0).toFixed(1)}" y="${Tp}" width="${(x(WARMUP_SHARE * T) - x(0)).toFixed(1)}" height="${B - Tp}" fill="#eaeef2"/>`);
    for (let i = 1; opts.busyBands === true && i < r.samples.length; i++) {
      const cur = r.samples[i] as Sample;
      if (!busy(cur)) continue;
      const prev = r.samples[i - 1] as Sample;
      o.push(`<rect x="${x(prev.t).toFixed(1)}" y="${Tp}" width="${Math.max(0.5, x(cur.t) - x(prev.t)).toFixed(1)}" height="${B - Tp}" fill="#ffd8d8" opacity="0.6"/>`);
    }
    for (const v of yt) {
      o.push(`<line x1="${L}" x2="${R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e1e4e8"/>`);
      o.push(`<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="10.5" text-anchor="end" fill="#444">${esc(num(v, fine ? 1 : 0))}</text>`);
    }
    for (const m of xt) {
      o.push(`<line x1="${x(m * 60).toFixed(1)}" x2="${x(m * 60).toFixed(1)}" y1="${B}" y2="${B + 4}" stroke="#888"/>`);
      o.push(`<text x="${x(m * 60).toFixed(1)}" y="${B + 16}" font-size="10.5" text-anchor="middle" fill="#444">${esc(num(m, m % 1 ? 1 : 0))}</text>`);
    }
    o.push(`<text x="${R}" y="${B + 27}" font-size="10" text-anchor="end" fill="#666">minutes</text>`);
    o.push(`<line x1="${L}" x2="${R}" y1="${B}" y2="${B}" stroke="#888"/><line x1="${L}" x2="${L}" y1="${Tp}" y2="${B}" stroke="#888"/>`);
    for (const l of lines) {
      const pts = l.pts.filter((q) => Number.isFinite(q.v));
      if (pts.length === 0) continue;
      o.push(`<polyline points="${pts.map((q) => `${x(q.t).toFixed(1)},${y(q.v / scale).toFixed(1)}`).join(' ')}" fill="none" stroke="${l.color}" stroke-width="1.5" stroke-linejoin="round"/>`);
    }
    const res = opts.res;
    if (res && Number.isFinite(res.warmLevel) && res.verdict !== 'not judged: machine busy') {
      const seg = (t0: number, t1: number, v: number): string =>
        `<line x1="${x(t0).toFixed(1)}" x2="${x(t1).toFixed(1)}" y1="${y(v / scale).toFixed(1)}" y2="${y(v / scale).toFixed(1)}" stroke="#e36209" stroke-width="2.5" opacity="0.85"/>`;
      o.push(seg(0.25 * T, 0.5 * T, res.warmLevel));
      if (Number.isFinite(res.lateLevel)) o.push(seg(0.75 * T, T, res.lateLevel));
      if (Number.isFinite(res.slopePerHour) && Number.isFinite(res.fitInterceptAtZero)) {
        const k = res.slopePerHour / 3600;
        const at = (t: number): number => (res.fitInterceptAtZero + k * t) / scale;
        o.push(
          `<line x1="${x(WARMUP_SHARE * T).toFixed(1)}" x2="${x(T).toFixed(1)}" y1="${y(at(WARMUP_SHARE * T)).toFixed(1)}" y2="${y(at(T)).toFixed(1)}" stroke="${res.verdict === 'grows' ? RED : GREEN}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
        );
      }
    }
    if (opts.legend) {
      let lx = L + 8;
      for (const [label, color] of opts.legend) {
        o.push(`<line x1="${lx}" x2="${lx + 16}" y1="${Tp + 8}" y2="${Tp + 8}" stroke="${color}" stroke-width="2"/>`);
        o.push(`<text x="${lx + 20}" y="${Tp + 12}" font-size="10.5" fill="#333">${esc(label)}</text>`);
        lx += 30 + label.length * 6.2;
      }
    }
    o.push('</g>');
  };

  SERIES.forEach((d, i) => {
    const res = r.series.find((q) => q.key === d.key);
    const per = (v: number): string => `${fmtVal(d.key, v, true)}/h`;
    const note = !res
      ? undefined
      : res.verdict === 'not judged: machine busy'
        ? `${res.samplesLeftOut} of ${res.samplesLeftOut + res.samplesAfterWarmup} samples after the warm-up taken in busy intervals (pink)`
        : `fit ${per(res.slopePerHour)}, quarters ${per(res.stepPerHour)}; limit ${fmtVal(d.key, res.limitPerHour)}/h${res.samplesLeftOut > 0 ? `; ${res.samplesLeftOut} busy samples left out` : ` (warm ${fmtVal(d.key, res.warmLevel)})`}`;
    const status = res ? { text: res.verdict, color: res.verdict === 'ok' ? GREEN : res.verdict === 'grows' || res.verdict === 'too few samples' ? RED : AMBER } : undefined;
    plot(i, `${d.label}${d.unit ? ` (${d.unit})` : ''}`, [{ pts: r.samples.map((s) => ({ t: s.t, v: s[d.key] })), color: '#0969da' }], {
      scale: d.scale,
      busyBands: d.quietOnly === true,
      ...(status ? { status } : {}),
      ...(note ? { note } : {}),
      ...(res ? { res } : {}),
    });
  });
  plot(SERIES.length, 'connections held', [{ pts: r.samples.map((s) => ({ t: s.t, v: s.connections })), color: '#0969da' }], { note: 'ima_ws_connections of the gateway' });
  const cpu = (f: (c: CpuShare) => number): { t: number; v: number }[] => r.samples.filter((s) => s.cpu !== undefined).map((s) => ({ t: s.t, v: f(s.cpu as CpuShare) }));
  plot(
    SERIES.length + 1,
    'CPU used (cores)',
    [
      { pts: cpu((c) => c.other), color: RED },
      { pts: cpu((c) => c.load), color: '#8250df' },
      { pts: cpu((c) => c.gateway), color: '#0969da' },
    ],
    {
      busyBands: true,
      note: r.cpuCores ? `means: gateway ${num(r.cpuCores.gateway, 2)}, load processes ${num(r.cpuCores.load, 2)}, other processes ${num(r.cpuCores.other, 2)} of ${r.machine.cpus}` : undefined,
      legend: [
        ['gateway', '#0969da'],
        ['load processes', '#8250df'],
        ['other processes', RED],
      ],
    },
  );
  // the last row: the checks, in two columns
  {
    const px = 8;
    const py = TOP + plotRows * (PH + 10);
    o.push(`<rect x="${px}" y="${py}" width="${2 * PW + 4}" height="${checksH}" fill="#fafafa" stroke="#d0d7de"/>`);
    o.push(`<text x="${px + 10}" y="${py + 18}" font-size="13" font-weight="bold" fill="#222">checks</text>`);
    const perColumn = Math.ceil(r.checks.length / 2);
    r.checks.forEach((c, i) => {
      const cx = px + 10 + Math.floor(i / perColumn) * (PW + 4);
      const cy = py + 40 + (i % perColumn) * 16;
      o.push(`<text x="${cx}" y="${cy}" font-size="11" font-weight="bold" fill="${c.notJudged ? AMBER : c.ok ? GREEN : RED}">${c.notJudged ? 'n/j' : c.ok ? 'ok' : 'FAIL'}</text>`);
      o.push(`<text x="${cx + 34}" y="${cy}" font-size="11" fill="#333">${esc(c.name)}</text>`);
    });
  }
  o.push(`<text x="16" y="${H - 8}" font-size="11" fill="#555">${esc(`Written by npm run bench -- --soak ${r.minutes} (scripts/bench/soak.ts); every sample is in docs/bench/soak.json.`)}</text>`);
  o.push('</svg>');
  return o.join('\n') + '\n';
}

// ------------------------------------------------------------------------------------------------
// outputs: docs/SOAK.md

function renderMarkdown(r: SoakResult): string {
  const tot = r.load.totals;
  const conns = LOAD_PROCESSES * USERS_PER_PROCESS * PLATFORMS.length;
  const first = r.samples[0];
  const last = r.samples[r.samples.length - 1];
  const lives = r.samples.filter((s) => Number.isFinite(s.liveHeapBytes));
  const firstLive = lives[0]?.liveHeapBytes ?? NaN;
  const lastLive = lives[lives.length - 1]?.liveHeapBytes ?? NaN;
  const verdictCell = (s: SeriesResult): string => (s.verdict === 'ok' ? 'ok' : s.verdict === 'grows' || s.verdict === 'too few samples' ? `**${s.verdict}**` : s.verdict);
  const row = (s: SeriesResult): string => {
    const judged = s.verdict !== 'not judged: machine busy';
    const j = (text: string): string => (judged ? text : '-');
    return `| ${s.label} | ${fmtVal(s.key, s.first)} | ${j(fmtVal(s.key, s.warmLevel))} | ${j(fmtVal(s.key, s.lateLevel))} | ${fmtVal(s.key, s.last)} | ${fmtVal(s.key, s.min)} to ${fmtVal(s.key, s.max)} | ${j(fmtVal(s.key, s.slopePerHour, true))} | ${j(fmtVal(s.key, s.stepPerHour, true))} | ${j(fmtVal(s.key, s.limitPerHour))} | ${verdictCell(s)} |`;
  };
  const rate = (k: string): string => num(r.load.averageRates[k] ?? NaN, 1);
  const gs = r.gatewayStats ?? {};
  const failed = r.checks.filter((c) => !c.ok);
  const notJudged = r.series.filter((s) => s.verdict === 'not judged: machine busy');
  const leftOut = r.series.filter((s) => s.samplesLeftOut > 0 && s.verdict !== 'not judged: machine busy');
  const cpu = r.cpuCores;
  const liveRes = r.series.find((x) => x.key === 'liveHeapBytes');
  const liveLimit = liveRes && Number.isFinite(liveRes.limitPerHour) ? liveRes.limitPerHour : defOf('liveHeapBytes').floorPerHour;
  // connections opened per hour: the churn plus the reconnects of kicked users (one per platform)
  const connectsPerHour = LOAD_PROCESSES * (RATES.churnPerSec + RATES.kickPerSec * PLATFORMS.length) * 3600;
  const L: string[] = [
    '# Soak run',
    '',
    '`npm run bench -- --soak MINUTES` runs one gateway under a steady mixed load for MINUTES minutes,',
    'samples its memory, event loop, handles and file descriptors, and fails when any of them grows',
    'without bound, when the gateway exits or logs a bug, or when any load request sees an',
    'unexpected answer. It is not run in CI. This page, [bench/soak.json](bench/soak.json) (every',
    'sample, the load totals, the checks) and [bench/soak.svg](bench/soak.svg) are written by the',
    'run (`scripts/bench/soak.ts`); the figures are those of the last run:',
    `${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${num(r.minutes, r.minutes % 1 ? 1 : 0)} minute${r.minutes === 1 ? '' : 's'} of steady load, ${r.machine.cpus} cores (${r.machine.cpuModel}), Node.js ${r.machine.node}.`,
    '',
    `**Verdict: ${r.verdict}.** ${
      failed.length === 0 ? 'No series grows, and every other check holds.' : `Checks that failed: ${failed.map((c) => `"${c.name}"`).join(', ')}.`
    }${
      notJudged.length > 0
        ? ` ${notJudged.map((s) => s.label).join(', ')} not judged: other processes kept the machine busy (more than ${BUSY_OTHER_CORES} cores) during most of the run.`
        : ''
    }${leftOut.length > 0 ? ` ${leftOut.map((s) => `${s.label}: ${s.samplesLeftOut} samples of busy intervals left out`).join('; ')}.` : ''}`,
    '',
  ];
  if (cpu) {
    L.push(
      `CPU over the steady phase, in cores of ${r.machine.cpus}: gateway ${num(cpu.gateway, 2)}, load processes ${num(cpu.load, 2)}, this process (orchestrator and business`,
      `service) ${num(cpu.soak, 2)}, other processes on the machine ${num(cpu.other, 2)}.`,
      '',
    );
  }
  L.push(
    '![soak](bench/soak.svg)',
    '',
    '## Running it',
    '',
    '```sh',
    'npm run bench -- --soak 10     # builds to dist/, then 10 minutes of load plus about 30 s to start and stop',
    'npx tsc -p . --outDir dist-soak && node dist-soak/scripts/bench/run.js --soak 10   # the same from another build directory',
    '```',
    '',
    'MINUTES may be fractional (at least 1; 10 or more for a meaningful verdict). Progress lines on',
    `stderr every ${SAMPLE_MS / 1000} s show the elapsed time, the connections (client side and as the gateway counts`,
    'them), the load rates, the sample, the CPU used by the gateway, the load processes, this process',
    'and everything else, and the unexpected errors so far. The verdict and the per-series figures go',
    'to stdout. The exit code is 0 for PASS, 1 for FAIL and 2 for a bad argument; SIGINT / SIGTERM',
    `stop every process the run started (exit code 130), and a watchdog stops the run at MINUTES + 5`,
    'minutes whatever happens. Run it on an otherwise idle machine: the run measures what other',
    'processes use and leaves the event-loop lag of busy intervals out of the verdict (see below).',
    '',
    '## What it runs',
    '',
    '- **The gateway**: `dist/main.js` through the bench wrapper `scripts/bench/gateway-proc.ts` (which',
    '  refuses to run without the uWebSockets.js native binary and exits with its parent), on free',
    '  ports below 32768 on 127.0.0.1, `APP_ENV=dev`, the `jwt` provider with the bench secret, the',
    '  default multi-device policy (`one_per_platform`, at most 10 connections per user), the default',
    '  idle timeout (60 s) and rate limits, `info` logging (every line read and scanned by the run),',
    `  status events on, \`IMA_BUSINESS_ADDR\` pointing at the business test service, and`,
    `  \`forward.timeoutMs\` raised to ${FORWARD_TIMEOUT_MS / 1000} s (so that a moment of CPU starvation on a shared machine does not`,
    '  turn into ack 2001).',
    '- **The business service**: `TestBusinessService` of `test/support/test-services.ts`, in the soak',
    '  process: it answers every `HandleMessage` with code 0 and one echo reply (`<type>.echo`) and',
    '  accepts every `OnConnectionStatus`; its records are emptied at every sample.',
    `- **The load**: ${LOAD_PROCESSES} processes (\`scripts/bench/soak-load.ts\`), each holding ${num(USERS_PER_PROCESS * PLATFORMS.length)} connections: ${num(USERS_PER_PROCESS)} users`,
    `  with one device on each of ${PLATFORMS.join(', ')} (so the policy lets them coexist), ${num(conns)} connections in all,`,
    '  far below the 20,000 fds a process may open. Each process works on its own users only. Per',
    '  second, in all:',
    `  - ${num(LOAD_PROCESSES * RATES.churnPerSec)} connections churn (${num(((LOAD_PROCESSES * RATES.churnPerSec) / conns) * 100, 1)} % of them): ${num((1 - RATES.replaceShare) * 100)} % close (1000) and reconnect 0.2 to 1 s later,`,
    `    ${num(RATES.replaceShare * 100)} % are replaced by a new login of the same device, which must make the gateway send the`,
    '    old one `kick` 4001 and close it with 4001;',
    `  - ${num(LOAD_PROCESSES * RATES.messagesPerSec)} client messages, each of which must be acked with code 0, and its echo reply must arrive;`,
    `  - every connection pings (\`{"type":"ping"}\`) every ${RATES.pingIntervalMs / 1000} s, about ${num((conns * 1000) / RATES.pingIntervalMs)} pings per second, each must get its pong;`,
    `  - ${num(LOAD_PROCESSES * RATES.pushToUserPerSec)} \`PushToUser\`, ${num(LOAD_PROCESSES * RATES.pushToUsersPerSec)} \`PushToUsers\` of ${RATES.pushToUsersBatch} users, ${num(RATES.broadcastPerSec, 1)} \`Broadcast\` (to every connection)`,
    `    and ${num(LOAD_PROCESSES * RATES.kickPerSec)} \`KickUser\` over gRPC; each connection of a kicked user must get \`kick\` 4002 and a`,
    "    4002 close, and the response's `kicked` must equal their number; they reconnect 1 to 3 s later.",
    `- Every expected answer has a deadline of ${RATES.replyTimeoutMs / 1000} s (auth frame, ack, pong, close, gRPC call).`,
    '',
    'First the ramp opens every connection (50 at a time per load process); the steady phase of',
    'MINUTES minutes starts once they are all open. At the end the load stops, waits for every',
    'answer, closes every connection with 1000, and the gateway is stopped with SIGTERM.',
    '',
    '## What it samples',
    '',
    `Every ${SAMPLE_MS / 1000} s, of the gateway process:`,
    '',
    ...SERIES.map((d) => `- ${d.label}: ${d.source};`),
    '- also heap total, external memory, mean lag, active resources, `ima_ws_connections`, the CPU',
    '  used by the gateway, the load processes, this process and the whole machine (from /proc), and',
    '  the load counters of every load process; all of it is in soak.json.',
    '',
    '## The growth rule',
    '',
    `- **Warm-up**: the first ${WARMUP_SHARE * 100} % of the steady phase is not judged (the token cache, the 60 s dedupe`,
    '  window of message ids, JIT and the heap settle there).',
    '- **Warm level** = median of the samples of the second quarter of the phase; **late level** =',
    '  median of the samples of the last quarter.',
    '- The heap is judged twice: the heap used of every sample, which drifts with the old generation',
    '  filling up between major GCs (so over 10 minutes it can climb for a while without anything',
    `  leaking; it gets a floor of ${fmtVal('heapUsedBytes', defOf('heapUsedBytes').floorPerHour)}/h), and the **live heap** after two forced full GCs every ${(SAMPLE_MS * LIVE_HEAP_EVERY) / 1000} s, which`,
    `  is what a leak is made of and gets a tight floor of ${fmtVal('liveHeapBytes', defOf('liveHeapBytes').floorPerHour)}/h. The forced GC pauses the gateway for some tens`,
    '  of ms; it falls in one sample window of the lag and leaves its p99 alone.',
    '- Two estimates of the growth per hour: the **fit**, the Theil-Sen slope (the median of the slopes',
    '  between every two samples) over the samples after the warm-up, and the **quarter step**, (late',
    '  level - warm level) divided by the time between the centres of the two quarters. Medians,',
    '  not means, so that the GC sawtooth of the heap and the odd spike do not drive them.',
    `- **Limit** per hour = max(${REL_PER_HOUR * 100} % of the warm level, an absolute floor); floors: ${SERIES.map((d) => `${d.label} ${fmtVal(d.key, d.floorPerHour)}/h`).join(', ')}.`,
    '  The floors keep noise at small values (a handle more or less, a p99 lag that moves by ten ms',
    '  from one window to the next) from failing the run.',
    '- A series **fails when both estimates exceed its limit**: a leak raises both; noise, a burst or a',
    '  step inside one quarter moves mostly one. A series with too few samples (fewer than 6 after',
    '  the warm-up, or fewer than 2 in either quarter) fails as well.',
    `- **Busy machine**: the event-loop lag measures the scheduler more than the gateway while other`,
    `  processes compete for the CPU (on a 2-core machine a busy neighbour turns a p99 of 20 ms into`,
    `  hundreds). Samples whose interval, or the interval before, saw other processes use more than`,
    `  ${BUSY_OTHER_CORES} cores (pink in the plot) are left out of the lag's judgement; when too few remain, the`,
    '  lag is reported as "not judged: machine busy", which does not fail the run (memory, handles',
    '  and fds are judged on every sample: a busy machine does not make them grow).',
    '',
    `What that catches: at ${REL_PER_HOUR * 100} % of the warm level per hour, a series growing by more than about`,
    `${num((REL_PER_HOUR * 100) / 60, 2)} % of its warm level per minute. With the load above (about ${num(connectsPerHour)} connections and`,
    `${num(LOAD_PROCESSES * RATES.messagesPerSec * 3600)} client messages an hour), a leak of about ${num(liveLimit / connectsPerHour)} bytes per connection or of about ${num(liveLimit / (LOAD_PROCESSES * RATES.messagesPerSec * 3600))}`,
    `bytes per client message crosses the live heap limit of this run (${fmtVal('liveHeapBytes', liveLimit)}/h). The limits stay the same per hour whatever`,
    'the length; a longer run makes both estimates less noisy, and shows slow growth the warm-up of a',
    'short run can hide.',
    '',
    '## The other checks',
    '',
    '- the gateway runs until the end (an exit during the run stops it and fails it);',
    '- no unexpected error on the load side: a connect or auth failure, an ack code other than 0 or a',
    '  missing ack, a missing pong, a close or `kick` frame with a code nobody asked for, a connection',
    '  that does not close when it should, a gRPC error or deadline, `KickUser` kicking another number',
    '  of connections than the user held;',
    '- the gateway logs no `"msg":"internal error (bug)..."` line and no other line at `error` or `fatal`;',
    '- every `/metrics` scrape answers;',
    `- the clients receive the push and broadcast frames the gateway reports delivered (at most ${DELIVERY_TOLERANCE * 100} %`,
    '  missing, none extra) and one echo reply per acked message;',
    `- after the load, the gateway holds no connection, at most ${FD_SLACK_AFTER} fds and at most ${HANDLE_SLACK_AFTER} active handles more than`,
    '  before it (this, not the growth rule, is what catches a leak of a socket now and then: the',
    '  fds of the connections themselves vary by dozens from sample to sample);',
    '- the gateway exits with code 0 on SIGTERM.',
    '',
    '## Figures of the last run',
    '',
    '| series | first sample | warm level (Q2) | late level (Q4) | last sample | range | fit per hour | quarters per hour | limit per hour | verdict |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...r.series.map(row),
    '',
  );
  if (r.baseline && r.after) {
    const b = r.baseline;
    const a = r.after;
    L.push(
      'Before the load (gateway started, no connection), the first and the last sample of the steady',
      'phase, and after the load (every connection closed, 2 s later); in brackets the live heap after',
      'full GCs (forced through the bench wrapper; for the first and last sample, the nearest live-heap',
      'sample):',
      '',
      '| | RSS | heap used | lag p99 | active handles | open fds | connections |',
      '|---|---:|---:|---:|---:|---:|---:|',
      `| before | ${fmtVal('rssBytes', b.rssBytes)} | ${fmtVal('heapUsedBytes', b.heapUsedBytes)} (${fmtVal('heapUsedBytes', r.baselineAfterGc?.['heapUsed'] ?? NaN)}) | ${fmtVal('lagP99Ms', b.lagP99Ms)} | ${num(b.activeHandles)} | ${num(b.openFds)} | ${num(b.connections)} |`,
      `| first sample | ${fmtVal('rssBytes', first?.rssBytes ?? NaN)} | ${fmtVal('heapUsedBytes', first?.heapUsedBytes ?? NaN)} (${fmtVal('liveHeapBytes', firstLive)}) | ${fmtVal('lagP99Ms', first?.lagP99Ms ?? NaN)} | ${num(first?.activeHandles ?? NaN)} | ${num(first?.openFds ?? NaN)} | ${num(first?.connections ?? NaN)} |`,
      `| last sample | ${fmtVal('rssBytes', last?.rssBytes ?? NaN)} | ${fmtVal('heapUsedBytes', last?.heapUsedBytes ?? NaN)} (${fmtVal('liveHeapBytes', lastLive)}) | ${fmtVal('lagP99Ms', last?.lagP99Ms ?? NaN)} | ${num(last?.activeHandles ?? NaN)} | ${num(last?.openFds ?? NaN)} | ${num(last?.connections ?? NaN)} |`,
      `| after | ${fmtVal('rssBytes', a.rssBytes)} | ${fmtVal('heapUsedBytes', a.heapUsedBytes)} (${fmtVal('heapUsedBytes', r.afterGc?.['heapUsed'] ?? NaN)}) | ${fmtVal('lagP99Ms', a.lagP99Ms)} | ${num(a.activeHandles)} | ${num(a.openFds)} | ${num(a.connections)} |`,
      '',
    );
  }
  L.push(
    '### Load totals',
    '',
    '| | total | per second (steady phase) |',
    '|---|---:|---:|',
    `| connections opened (ramp included) | ${num(tot.connected)} | ${rate('connects')} |`,
    `| closed by the client (1000) | ${num(tot.closedByClient)} | |`,
    `| replaced by a login on the same device (4001) | ${num(tot.replaced)} | ${rate('replaced')} |`,
    `| kicked by KickUser (4002) | ${num(tot.kicked)} | |`,
    `| client messages sent / acked with 0 / echo replies | ${num(tot.messagesSent)} / ${num(tot.acks)} / ${num(tot.echoes)} | ${rate('messages')} |`,
    `| pings / pongs | ${num(tot.pingsSent)} / ${num(tot.pongs)} | ${rate('pings')} |`,
    `| PushToUser / PushToUsers / Broadcast calls | ${num(tot.pushToUserCalls)} / ${num(tot.pushToUsersCalls)} / ${num(tot.broadcastCalls)} | ${rate('pushCalls')} |`,
    `| KickUser calls | ${num(tot.kickUserCalls)} | ${rate('kicks')} |`,
    `| push frames delivered (gateway) / received (clients) | ${num(tot.pushDelivered)} / ${num(tot.pushFramesReceived)} | |`,
    `| broadcast frames delivered / received | ${num(tot.broadcastDelivered)} / ${num(tot.broadcastFramesReceived)} | |`,
    `| frames received by the clients (pushes, broadcasts, echoes) | ${num(tot.pushFramesReceived + tot.broadcastFramesReceived + tot.echoes)} | ${rate('framesIn')} |`,
    `| gRPC call errors / unexpected errors | ${num(tot.callErrors)} / ${num(tot.unexpected)} | |`,
    `| business service: HandleMessage / OnConnectionStatus calls | ${num(r.business.handleMessage)} / ${num(r.business.statusEvents)} | |`,
    '',
    `Gateway log: ${num(r.gatewayLog.lines)} lines (${Object.entries(r.gatewayLog.byLevel)
      .map(([k, v]) => `${k} ${num(v)}`)
      .join(', ')}); internal errors (bugs): ${r.gatewayLog.internalErrorLines.length}; other error lines: ${r.gatewayLog.errorLines.length}.`,
    '',
  );
  if (gs['messages'] !== undefined) {
    L.push(
      `Gateway \`/stats\` at the end: messages \`${JSON.stringify(gs['messages'])}\`, acks \`${JSON.stringify(gs['acks'])}\`, pushes \`${JSON.stringify(gs['pushes'])}\`, kicks ${JSON.stringify(gs['kicks'])}, disconnects \`${JSON.stringify(gs['disconnects'])}\`, statusEvents \`${JSON.stringify(gs['statusEvents'])}\`, tokenCache \`${JSON.stringify(gs['tokenCache'])}\`, internalErrors \`${JSON.stringify(gs['internalErrors'] ?? {})}\`.`,
      '',
    );
  }
  L.push('### Checks', '', '| check | result | detail |', '|---|---|---|', ...r.checks.map((c) => `| ${c.name} | ${c.notJudged ? 'not judged' : c.ok ? 'ok' : '**FAIL**'} | ${c.detail.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`), '');
  if (r.errors.length > 0) L.push('### Errors', '', ...r.errors.map((e) => `- ${e.replace(/\n/g, ' ').slice(0, 500)}`), '');
  return L.join('\n');
}

// ------------------------------------------------------------------------------------------------
// the run

function parseMinutes(argv: readonly string[]): number {
  const i = argv.findIndex((a) => a === '--soak' || a.startsWith('--soak='));
  const arg = argv[i] as string;
  const raw = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
  const m = Number(raw);
  if (raw === undefined || !Number.isFinite(m) || m < 1 || m > 7 * 24 * 60) {
    process.stderr.write(`bench: --soak expects the number of minutes (1 to 10080), got ${JSON.stringify(raw)}\nusage: npm run bench -- --soak MINUTES\n`);
    process.exit(2);
  }
  return m;
}

export async function soakMain(argv: readonly string[]): Promise<void> {
  const minutes = parseMinutes(argv);
  const ROOT = path.resolve(__dirname, '../../..');
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      log(`${sig}: stopping every process started`);
      killAllSync();
      process.exit(130);
    });
  }
  if (!uwsIsNative()) {
    process.stderr.write('bench: the uWebSockets.js native binary is NOT loaded: refusing to run the soak\n');
    process.exit(1);
  }
  const budgetMs = minutes * 60_000 + 300_000;
  const watchdog = setTimeout(() => {
    log(`watchdog: the run passed its budget of ${Math.round(budgetMs / 1000)} s: stopping every process; FAIL`);
    killAllSync();
    process.exit(1);
  }, budgetMs);
  watchdog.unref();

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-soak-'));
  process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
  const conns = LOAD_PROCESSES * USERS_PER_PROCESS * PLATFORMS.length;
  const result: SoakResult = {
    startedAt: new Date(T0).toISOString(),
    minutes,
    steadySeconds: 0,
    verdict: 'FAIL',
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` },
    parameters: { loadProcesses: LOAD_PROCESSES, usersPerProcess: USERS_PER_PROCESS, platforms: PLATFORMS, connections: conns, perProcess: RATES, broadcastsFrom: 'load process 0', sampleMs: SAMPLE_MS },
    rule: {
      warmupShare: WARMUP_SHARE,
      warmLevel: 'median of the samples of the second quarter of the steady phase',
      lateLevel: 'median of the samples of the last quarter',
      slope: 'Theil-Sen slope (median of the pairwise slopes) over the samples after the warm-up, per hour',
      step: '(late - warm) / (centre of Q4 - centre of Q2), per hour',
      limitPerHour: `max(${REL_PER_HOUR} x warm level, floor)`,
      floorsPerHour: Object.fromEntries(SERIES.map((d) => [d.key, d.floorPerHour])),
      fails: 'when both the slope and the step exceed the limit',
    },
    ramp: [],
    baseline: undefined,
    baselineAfterGc: undefined,
    samples: [],
    after: undefined,
    afterGc: undefined,
    series: [],
    checks: [],
    load: { totals: zeroCounters(), perProcess: [], averageRates: {} },
    business: { handleMessage: 0, statusEvents: 0, statusRefused: 0 },
    gatewayLog: gwLog,
    gatewayStats: undefined,
    gatewayExit: undefined,
    cpuCores: undefined,
    errors: [],
  };
  const checks = result.checks;
  let gw: Gateway | undefined;
  let business: TestBusinessService | undefined;
  const loads: Child[] = [];
  let lastSnaps: LoadSnapshot[] = [];
  let gatewayDied = false;
  let loadDied = '';
  let stopping = false;
  let loadStopped = false;

  const tallyBusiness = (): void => {
    if (!business) return;
    result.business.handleMessage += business.messages.length;
    result.business.statusEvents += business.statuses.length;
    result.business.statusRefused += business.statusAttempts.length - business.statuses.length;
    business.reset();
  };

  try {
    log(`soak of ${minutes} min: ${conns} connections from ${LOAD_PROCESSES} load processes; ${os.cpus().length} cores; uWebSockets.js native: yes`);
    const [bizPort] = (await freePorts(1, HOST)) as [number];
    business = await withTimeout(TestBusinessService.start(bizPort, HOST), 15_000, 'business test service start');
    business.handler = (msg) => ({
      code: 0,
      message: 'ok',
      replies: [{ messageId: `echo-${msg.messageId}`, type: `${msg.type}.echo`, payload: msg.payload, timestamp: Date.now(), replyTo: msg.messageId }],
    });
    gw = await startGateway(tmp, bizPort);
    const g = gw;
    void g.child.gone.then(() => {
      if (result.gatewayExit === undefined) {
        gatewayDied = true;
        result.gatewayExit = { code: g.child.exitInfo?.code ?? null, signal: g.child.exitInfo?.signal ?? null, during: 'run' };
        log(`THE GATEWAY EXITED (code ${g.child.exitInfo?.code}, signal ${g.child.exitInfo?.signal}): ${g.child.stderrTail.slice(-600)}`);
      }
    });
    log(`gateway pid ${g.pid}: ws ${g.ws}, gRPC ${g.grpc}, admin ${g.admin}; business service ${HOST}:${bizPort}`);
    await sleep(1000);
    result.baseline = await sampleGateway(g, -1);
    result.baselineAfterGc = await g.child.request<Record<string, number>>('mem', {}, 10_000);
    log(`before the load: rss ${fmtVal('rssBytes', result.baseline.rssBytes)}, heap ${fmtVal('heapUsedBytes', result.baseline.heapUsedBytes)}, handles ${result.baseline.activeHandles}, fds ${result.baseline.openFds}`);

    // load processes and the ramp
    for (let i = 0; i < LOAD_PROCESSES; i++) {
      const proc = cp.fork(path.join(__dirname, 'soak-load.js'), [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      const child = new Child(`load-${i}`, proc);
      void child.gone.then(() => {
        if (!loadDied && !stopping) {
          loadDied = `${child.name} exited (code ${child.exitInfo?.code}, signal ${child.exitInfo?.signal}): ${child.stderrTail.slice(-600)}`;
          log(loadDied);
        }
      });
      loads.push(child);
    }
    const plans: LoadPlan[] = loads.map((_, i) => ({
      index: i,
      wsPort: g.ws,
      grpcTarget: `${HOST}:${g.grpc}`,
      userBase: i * USERS_PER_PROCESS,
      users: USERS_PER_PROCESS,
      platforms: PLATFORMS,
      tokenTtlSec: Math.ceil(minutes * 60) + 3600,
      rampConcurrency: 50,
      rampTimeoutMs: 60_000,
      churnPerSec: RATES.churnPerSec,
      replaceShare: RATES.replaceShare,
      messagesPerSec: RATES.messagesPerSec,
      pingIntervalMs: RATES.pingIntervalMs,
      pushToUserPerSec: RATES.pushToUserPerSec,
      pushToUsersPerSec: RATES.pushToUsersPerSec,
      pushToUsersBatch: RATES.pushToUsersBatch,
      broadcastPerSec: i === 0 ? RATES.broadcastPerSec : 0,
      kickPerSec: RATES.kickPerSec,
      replyTimeoutMs: RATES.replyTimeoutMs,
    }));
    log(`ramp: opening ${conns} connections`);
    result.ramp = await Promise.all(loads.map((l, i) => l.request<{ opened: number; slots: number; ms: number }>('start', { plan: plans[i] }, 90_000)));
    log(`ramp: ${result.ramp.reduce((a, r) => a + r.opened, 0)}/${conns} open in ${(Math.max(...result.ramp.map((r) => r.ms)) / 1000).toFixed(1)} s`);

    // steady phase
    const steadyStart = Date.now();
    const steadyMs = minutes * 60_000;
    let prevCounters = zeroCounters();
    let prevAt = steadyStart;
    let startFigures: Record<string, number> | undefined;
    const loadPids = loads.map((l) => l.proc.pid);
    const cpuStart = cpuNow(g.pid, loadPids);
    let cpuPrev = cpuStart;
    for (let k = 0; ; k++) {
      const due = steadyStart + k * SAMPLE_MS;
      if (due > steadyStart + steadyMs + 1) break;
      await sleep(Math.max(0, due - Date.now()));
      if (gatewayDied || loadDied) break;
      const now = Date.now();
      const t = (now - steadyStart) / 1000;
      const [s, snaps] = await Promise.all([sampleGateway(g, t), Promise.all(loads.map((l) => l.request<LoadSnapshot>('stats', {}, 10_000)))]);
      if (gatewayDied) break;
      if (k % LIVE_HEAP_EVERY === 0) {
        // after the scrape, so that the forced GC does not shape the sample's own heap figure
        const mem = await g.child.request<{ heapUsed: number }>('mem', {}, 10_000).catch((e: unknown) => {
          if (!gatewayDied) result.errors.push(`live heap (mem) at ${t.toFixed(0)} s: ${e instanceof Error ? e.message : String(e)}`);
          return undefined;
        });
        if (mem) s.liveHeapBytes = mem.heapUsed;
      }
      const cpuCur = cpuNow(g.pid, loadPids);
      if (k > 0) {
        s.cpu = cpuBetween(cpuPrev, cpuCur);
        result.cpuCores = cpuBetween(cpuStart, cpuCur);
      }
      cpuPrev = cpuCur;
      lastSnaps = snaps;
      tallyBusiness();
      const c = sumCounters(snaps);
      const cur = rateFigures(c);
      const prev = rateFigures(prevCounters);
      const dt = (now - prevAt) / 1000;
      s.rates = {};
      if (k > 0) for (const key of Object.keys(cur)) s.rates[key] = Math.round((((cur[key] as number) - (prev[key] as number)) / dt) * 10) / 10;
      else startFigures = cur;
      s.clientsOpen = snaps.reduce((a, x) => a + x.open, 0);
      s.unexpectedErrors = c.unexpected;
      result.samples.push(s);
      prevCounters = c;
      prevAt = now;
      const rr = s.rates;
      log(
        `${String(Math.floor(t / 60)).padStart(2, '0')}:${String(Math.floor(t % 60)).padStart(2, '0')} of ${minutes} min | conns ${num(s.clientsOpen)} (gw ${num(s.connections)}) | ` +
          (k === 0
            ? 'steady phase starts | '
            : `churn ${num(rr['churn'] ?? NaN)}/s msgs ${num(rr['messages'] ?? NaN)}/s pings ${num(rr['pings'] ?? NaN)}/s pushes ${num(rr['pushCalls'] ?? NaN)}/s kicks ${num(rr['kicks'] ?? NaN, 1)}/s frames in ${num(rr['framesIn'] ?? NaN)}/s | `) +
          `rss ${fmtVal('rssBytes', s.rssBytes)} heap ${fmtVal('heapUsedBytes', s.heapUsedBytes)}${Number.isFinite(s.liveHeapBytes) ? ` (live ${fmtVal('liveHeapBytes', s.liveHeapBytes)})` : ''} lag p99 ${fmtVal('lagP99Ms', s.lagP99Ms)} handles ${num(s.activeHandles)} fds ${num(s.openFds)} | ` +
          (s.cpu ? `cpu gw ${num(s.cpu.gateway, 2)} load ${num(s.cpu.load, 2)} soak ${num(s.cpu.soak, 2)} other ${num(s.cpu.other, 2)} cores | ` : '') +
          `errors ${c.unexpected}${c.unexpected > 0 ? ` ${JSON.stringify(errorKinds(snaps))}` : ''}`,
      );
    }
    result.steadySeconds = Math.round((Date.now() - steadyStart) / 100) / 10;

    // the end of the load
    stopping = true;
    if (!gatewayDied) {
      log('stopping the load: waiting for every answer, closing every connection');
      const finals = await Promise.allSettled(loads.map((l) => l.request<LoadSnapshot>('stop', {}, 2 * RATES.replyTimeoutMs + 20_000)));
      finals.forEach((f, i) => {
        if (f.status === 'fulfilled') lastSnaps[i] = f.value;
        else result.errors.push(`stopping load-${i}: ${f.reason instanceof Error ? f.reason.message : String(f.reason)}`);
      });
      loadStopped = finals.every((f) => f.status === 'fulfilled') && !gatewayDied;
      await sleep(2000);
      tallyBusiness();
      if (!gatewayDied) {
        result.after = await sampleGateway(g, result.steadySeconds + 2);
        result.afterGc = await g.child.request<Record<string, number>>('mem', {}, 10_000).catch(() => undefined);
        result.gatewayStats = JSON.parse((await httpGet(`http://${HOST}:${g.admin}/stats`, undefined, 5000)).body) as Record<string, unknown>;
        log(`after the load: connections ${result.after.connections}, rss ${fmtVal('rssBytes', result.after.rssBytes)}, heap ${fmtVal('heapUsedBytes', result.after.heapUsedBytes)} (after a full GC ${fmtVal('heapUsedBytes', result.afterGc?.['heapUsed'] ?? NaN)}), handles ${result.after.activeHandles}, fds ${result.after.openFds}`);
      }
    }
    const totals = sumCounters(lastSnaps);
    result.load = { totals, perProcess: lastSnaps, averageRates: {} };
    if (startFigures && result.samples.length > 1) {
      // over the sampled steady phase (the final closes of the stop are not churn)
      const span = (result.samples[result.samples.length - 1] as Sample).t - (result.samples[0] as Sample).t;
      const endFigures = rateFigures(prevCounters);
      for (const key of Object.keys(endFigures)) result.load.averageRates[key] = Math.round((((endFigures[key] as number) - (startFigures[key] as number)) / Math.max(1, span)) * 10) / 10;
    }
    for (const l of loads) await l.stop('SIGTERM', 2000);
    if (!gatewayDied) {
      log('stopping the gateway (SIGTERM)');
      result.gatewayExit = { code: null, signal: null, during: 'shutdown' };
      await g.child.stop('SIGTERM', 25_000);
      result.gatewayExit = { code: g.child.exitInfo?.code ?? null, signal: g.child.exitInfo?.signal ?? null, during: 'shutdown' };
    }
  } catch (e) {
    const m = e instanceof Error ? (e.stack ?? e.message) : String(e);
    log(`ERROR: ${m}`);
    result.errors.push(m.slice(0, 3000));
    if (result.load.perProcess.length === 0 && lastSnaps.length > 0) result.load = { totals: sumCounters(lastSnaps), perProcess: lastSnaps, averageRates: {} };
  } finally {
    for (const l of loads) await l.stop('SIGKILL', 1000);
    if (gw && !gw.child.exited) await gw.child.stop('SIGKILL', 1000);
    tallyBusiness();
    await business?.stop().catch(() => undefined);
  }

  // verdict
  const T = result.steadySeconds;
  result.series = SERIES.map((d) => analyse(d, result.samples, T));
  for (const s of result.series) {
    checks.push({
      name: `${s.label} does not grow`,
      ok: s.verdict === 'ok' || s.verdict === 'not judged: machine busy',
      ...(s.verdict === 'not judged: machine busy' ? { notJudged: true } : {}),
      detail:
        s.verdict === 'too few samples'
          ? `only ${s.samplesAfterWarmup} samples after the warm-up`
          : s.verdict === 'not judged: machine busy'
            ? `not judged: only ${s.samplesAfterWarmup} of ${s.samplesAfterWarmup + s.samplesLeftOut} samples after the warm-up were taken while other processes used at most ${BUSY_OTHER_CORES} cores`
            : `fit ${fmtVal(s.key, s.slopePerHour, true)}/h, quarters ${fmtVal(s.key, s.stepPerHour, true)}/h, limit ${fmtVal(s.key, s.limitPerHour)}/h${s.samplesLeftOut > 0 ? ` (${s.samplesLeftOut} samples of busy intervals left out)` : ''}`,
    });
  }
  const tot = result.load.totals;
  const ex = result.gatewayExit;
  checks.push({ name: 'the gateway ran to the end', ok: !gatewayDied && ex !== undefined, detail: gatewayDied ? `exited during the run (code ${ex?.code}, signal ${ex?.signal})` : `ran ${T} s of steady load` });
  checks.push({ name: 'the load processes ran to the end', ok: loadDied === '' && result.errors.length === 0, detail: loadDied || (result.errors[0]?.split('\n')[0] ?? 'yes') });
  const errKinds = errorKinds(result.load.perProcess);
  checks.push({ name: 'no unexpected error on the load side', ok: tot.unexpected === 0 && result.load.perProcess.length === LOAD_PROCESSES, detail: tot.unexpected === 0 ? `${num(tot.connected)} connects, ${num(tot.acks)} acks, ${num(tot.pongs)} pongs, ${num(tot.pushToUserCalls + tot.pushToUsersCalls + tot.broadcastCalls + tot.kickUserCalls)} gRPC calls` : `${tot.unexpected}: ${JSON.stringify(errKinds)}; first: ${result.load.perProcess.flatMap((p) => p.errorSamples).slice(0, 3).join(' / ')}` });
  checks.push({ name: 'no internal error (bug) in the gateway log', ok: gwLog.internalErrors === 0, detail: gwLog.internalErrors === 0 ? `${num(gwLog.lines)} lines scanned` : `${gwLog.internalErrors} line(s), first: ${gwLog.internalErrorLines[0]?.slice(0, 300) ?? ''}` });
  checks.push({ name: 'no error or fatal line in the gateway log', ok: gwLog.errors === 0, detail: gwLog.errors === 0 ? 'none' : `${gwLog.errors} line(s), first: ${gwLog.errorLines[0]?.slice(0, 300) ?? ''}` });
  checks.push({ name: 'every /metrics scrape answered', ok: metricsFailures === 0, detail: metricsFailures === 0 ? `${result.samples.length + 2} scrapes` : `${metricsFailures} failed` });
  const delivered = tot.pushDelivered + tot.broadcastDelivered;
  const received = tot.pushFramesReceived + tot.broadcastFramesReceived;
  // a call that failed on the client side (deadline) may still have delivered: then the sums cannot be compared
  const comparable = loadStopped && tot.callErrors === 0 && (errKinds['ack'] ?? 0) === 0;
  const deliveriesOk = !comparable || (delivered > 0 && received <= delivered && received >= delivered * (1 - DELIVERY_TOLERANCE) && tot.echoes >= tot.acks * (1 - DELIVERY_TOLERANCE) && tot.echoes <= tot.acks);
  checks.push({
    name: 'the clients received what the gateway delivered',
    ok: deliveriesOk,
    detail: `push and broadcast frames: ${num(received)} received of ${num(delivered)} delivered (${num(delivered - received)} missing); echo replies ${num(tot.echoes)} for ${num(tot.acks)} acks${comparable ? '' : loadStopped ? ' (not compared: failed calls or acks, see the load check)' : ' (not compared: the load did not end normally)'}`,
  });
  const after = result.after;
  const base = result.baseline;
  checks.push({
    name: 'after the load: no connection left, fds and handles back',
    ok: after !== undefined && base !== undefined && after.connections === 0 && after.openFds <= base.openFds + FD_SLACK_AFTER && after.activeHandles <= base.activeHandles + HANDLE_SLACK_AFTER,
    detail:
      after && base
        ? `connections ${after.connections}; fds ${after.openFds} after, ${base.openFds} before (slack ${FD_SLACK_AFTER}); active handles ${after.activeHandles} after, ${base.activeHandles} before (slack ${HANDLE_SLACK_AFTER})`
        : 'not measured',
  });
  checks.push({ name: 'the gateway exits 0 on SIGTERM', ok: ex?.during === 'shutdown' && ex.code === 0, detail: ex ? `exit code ${ex.code}, signal ${ex.signal}` : 'not stopped' });
  result.verdict = checks.every((c) => c.ok) ? 'PASS' : 'FAIL';

  // outputs
  try {
    const dir = path.join(ROOT, 'docs/bench');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'soak.json'), JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1) + '\n');
    fs.writeFileSync(path.join(dir, 'soak.svg'), renderSvg(result));
    fs.writeFileSync(path.join(ROOT, 'docs/SOAK.md'), renderMarkdown(result));
    log('wrote docs/bench/soak.json, docs/bench/soak.svg, docs/SOAK.md');
  } catch (e) {
    log(`writing the outputs failed: ${e instanceof Error ? e.message : String(e)}`);
    result.verdict = 'FAIL';
  }
  const lines = [
    '',
    ...result.series.map(
      (s) =>
        `  ${s.verdict === 'ok' ? 'ok  ' : s.verdict === 'not judged: machine busy' ? 'n/j ' : 'FAIL'} ${s.label.padEnd(20)} first ${fmtVal(s.key, s.first).padStart(11)}  last ${fmtVal(s.key, s.last).padStart(11)}  ` +
        `fit ${fmtVal(s.key, s.slopePerHour, true)}/h  quarters ${fmtVal(s.key, s.stepPerHour, true)}/h  limit ${fmtVal(s.key, s.limitPerHour)}/h${s.verdict === 'ok' || s.verdict === 'grows' ? '' : ` (${s.verdict})`}`,
    ),
    ...(result.cpuCores ? [`  CPU (mean cores): gateway ${num(result.cpuCores.gateway, 2)}, load processes ${num(result.cpuCores.load, 2)}, soak process ${num(result.cpuCores.soak, 2)}, other processes ${num(result.cpuCores.other, 2)} of ${result.machine.cpus}`] : []),
    ...checks.filter((c) => !c.name.endsWith('does not grow')).map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`),
    `soak verdict: ${result.verdict}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
  clearTimeout(watchdog);
  process.exit(result.verdict === 'PASS' ? 0 : 1);
}

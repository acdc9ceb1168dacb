/**
 * `npm run bench [-- --quick] [-- --only a,b] [-- --report-only]`: the IMA gateway benchmark (issue 7).
 * `--report-only` re-renders the outputs from docs/bench/results.json (after editing docs/bench/notes.md).
 *
 * Starts the gateway, the baselines (bare uWebSockets.js, Socket.IO 4, bare grpc-js) and its own
 * load generators as separate processes, runs the six scenarios, prints a table and writes
 * docs/bench/results.json, docs/bench/results.png and docs/BENCHMARKS.md. Every phase is bounded
 * in time, a watchdog bounds the whole run, and every process started is killed on exit (also on
 * SIGINT / SIGTERM / an error). Progress lines go to stderr.
 */
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '../../internal/rpc/proto';
import { uwsIsNative } from '../../internal/transport/ws/native';
import { BENCH_SECRET, HOST, sleep } from './common';
import type { LatencySummary } from './common';
import { renderOutputs } from './report';
import type { Results } from './report';

// ------------------------------------------------------------------------------------------------
// arguments and parameters

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const onlyArg = argv.find((a) => a.startsWith('--only'));
/** `--profile`: the gateway of fanout and pushToUser runs with --cpu-prof; its hottest functions go to docs/bench/profile-<scenario>.md. */
const PROFILE = argv.includes('--profile');
const ONLY = onlyArg ? (onlyArg.includes('=') ? onlyArg.split('=')[1] : argv[argv.indexOf(onlyArg) + 1])?.split(',') : undefined;
const ROOT = path.resolve(__dirname, '../../..');
const DIST = path.resolve(__dirname, '../..');

const P = QUICK
  ? {
      mode: 'quick',
      budgetSec: 170,
      connectRate: { connections: 3000, concurrency: 100, users: 100 },
      memory: { connections: 2000 },
      fanout: { connections: 2000, messages: { 100: 20, 4096: 5 } as Record<number, number> },
      pushToUser: { connections: 500, concurrency: 32, durationMs: 3000, probeIntervalMs: 2 },
      forward: { connections: 100, window: 4, durationMs: 3000 },
      cluster: { connections: 3000, broadcasts: 10, pushRounds: 3 },
    }
  : {
      mode: 'default',
      budgetSec: 585,
      connectRate: { connections: 18000, concurrency: 200, users: 100 },
      memory: { connections: 15000 },
      fanout: { connections: 10000, messages: { 100: 50, 4096: 10 } as Record<number, number> },
      pushToUser: { connections: 1000, concurrency: 64, durationMs: 10000, probeIntervalMs: 2 },
      forward: { connections: 200, window: 4, durationMs: 10000 },
      cluster: { connections: 54000, broadcasts: 10, pushRounds: 3 },
    };
const WORKERS = 4;
/** Client sockets per worker process stay well under the ~20,000 fd limit. */
const MAX_PER_WORKER = 15000;
/** Source addresses for the cluster scenario (ephemeral ports are per source address). */
const CLUSTER_SOURCES = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`);

// ------------------------------------------------------------------------------------------------
// progress, processes, cleanup

const T0 = Date.now();
function log(msg: string): void {
  const s = Math.floor((Date.now() - T0) / 1000);
  process.stderr.write(`[bench ${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${msg}\n`);
}

interface Proc {
  readonly name: string;
  readonly child: cp.ChildProcess;
  exited: boolean;
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
  onEvent?: (m: Record<string, unknown>) => void;
  stderrTail: string;
}
const procs = new Set<Proc>();
let aborted = false;

function track(name: string, child: cp.ChildProcess): Proc {
  const p: Proc = { name, child, exited: false, pending: new Map(), stderrTail: '' };
  procs.add(p);
  child.stderr?.on('data', (d: Buffer) => {
    const s = d.toString();
    p.stderrTail = (p.stderrTail + s).slice(-4000);
    if (/refusing to benchmark|NATIVE BINARY NOT LOADED/.test(s)) process.stderr.write(`[${name}] ${s}`);
  });
  child.on('message', (m: unknown) => {
    const msg = m as Record<string, unknown>;
    if (typeof msg['id'] === 'number') {
      const w = p.pending.get(msg['id']);
      if (w) {
        p.pending.delete(msg['id']);
        if (msg['ok']) w.resolve(msg['result']);
        else w.reject(new Error(`${name}: ${String(msg['error'])}`));
      }
    } else p.onEvent?.(msg);
  });
  child.on('exit', (code, signal) => {
    p.exited = true;
    procs.delete(p);
    for (const w of p.pending.values()) w.reject(new Error(`${name} exited (code ${code}, signal ${signal}): ${p.stderrTail.slice(-600)}`));
    p.pending.clear();
  });
  return p;
}

function forkBench(script: string, name: string, env: Record<string, string> = {}, gc = true, extraExecArgv: string[] = []): Proc {
  const child = cp.fork(path.join(__dirname, script), [], {
    env: { ...process.env, ...env },
    execArgv: [...(gc ? ['--expose-gc'] : []), ...extraExecArgv],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  return track(name, child);
}

function spawnProc(cmd: string, args: string[], name: string, env: Record<string, string> = {}): Proc {
  const child = cp.spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return track(name, child);
}

let reqSeq = 0;
function call<T = Record<string, unknown>>(p: Proc, cmd: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
  if (p.exited) return Promise.reject(new Error(`${p.name} is not running`));
  const id = ++reqSeq;
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      p.pending.delete(id);
      reject(new Error(`${p.name}: ${cmd} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    p.pending.set(id, {
      resolve: (v) => {
        clearTimeout(t);
        resolve(v as T);
      },
      reject: (e) => {
        clearTimeout(t);
        reject(e);
      },
    });
    p.child.send({ id, cmd, ...args });
  });
}

async function stop(p: Proc | undefined, graceMs = 2000): Promise<void> {
  if (!p || p.exited) return;
  const gone = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await Promise.race([gone, sleep(graceMs + 1000)]);
  clearTimeout(t);
}

function killAllSync(): void {
  for (const p of procs) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping every process started`);
    killAllSync();
    process.exit(130);
  });
}
process.on('uncaughtException', (e) => {
  log(`uncaught: ${e.stack ?? e.message}`);
  killAllSync();
  process.exit(1);
});

// ------------------------------------------------------------------------------------------------
// ports, servers

let nextPort = 21000 + (process.pid % 50) * 100;
const port = (): number => {
  nextPort++;
  if (nextPort >= 32700) nextPort = 21000;
  return nextPort;
};

function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', reject);
  });
}

async function waitFor(what: string, p: Proc, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (p.exited) throw new Error(`${what} exited during start: ${p.stderrTail.slice(-1500)}`);
    if (aborted) throw new Error('aborted');
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms: ${p.stderrTail.slice(-1500)}`);
}

interface Gateway {
  proc: Proc;
  ws: number;
  grpc: number;
  admin: number;
}

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-bench-'));
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));

async function startGateway(name: string, opts: { maxConnections?: number; env?: Record<string, string>; execArgv?: string[] } = {}): Promise<Gateway> {
  const dir = fs.mkdtempSync(path.join(tmpRoot, 'cfg-'));
  fs.writeFileSync(
    path.join(dir, 'app.yml'),
    [
      'app:',
      '  shutdownTimeoutSec: 5',
      '  drainWindowSec: 0',
      '  statsIntervalSec: 0',
      'websocket:',
      '  host: 127.0.0.1',
      '  idleTimeoutSec: 3600',
      '  heartbeatIntervalSec: 3000',
      `  maxConnections: ${opts.maxConnections ?? 19000}`,
      '  rateLimit:',
      '    perSecond: 1000000',
      '    burst: 1000000',
      '    closeAfterViolations: 1000000',
      'server:',
      '  host: 127.0.0.1',
      '  maxUsersPerCall: 1000',
      'admin:',
      '  host: 127.0.0.1',
      'multiDevice:',
      '  maxConnectionsPerUser: 0',
      '',
    ].join('\n'),
  );
  const g = { ws: port(), grpc: port(), admin: port() };
  const proc = forkBench('gateway-proc.js', name, {
    IMA_CONFIG_DIR: dir,
    APP_ENV: 'dev',
    IMA_WS_PORT: String(g.ws),
    IMA_GRPC_PORT: String(g.grpc),
    IMA_ADMIN_PORT: String(g.admin),
    IMA_JWT_SECRET: BENCH_SECRET,
    IMA_KICK_POLICY: 'allow_all',
    IMA_LOG_LEVEL: 'warn',
    ...(opts.env ?? {}),
  }, true, opts.execArgv ?? []);
  await waitFor(name, proc, async () => (await httpGet(`http://${HOST}:${g.admin}/readyz`)).status === 200);
  return { proc, ...g };
}

async function gatewayStats(g: Gateway): Promise<Record<string, unknown>> {
  return JSON.parse((await httpGet(`http://${HOST}:${g.admin}/stats`)).body) as Record<string, unknown>;
}

async function startBaseline(script: string, name: string): Promise<{ proc: Proc; port: number }> {
  const p = port();
  const proc = forkBench(script, name, { BENCH_PORT: String(p) });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} not ready: ${proc.stderrTail}`)), 15_000);
    proc.onEvent = (m) => {
      if (m['event'] === 'ready') {
        clearTimeout(t);
        resolve();
      }
    };
    proc.child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${name} exited with ${code}: ${proc.stderrTail.slice(-1500)}`));
    });
  });
  return { proc, port: p };
}

// ------------------------------------------------------------------------------------------------
// load workers

let workers: Proc[] = [];
let loadProc: Proc;
let probeProc: Proc;

function startWorkers(): void {
  workers = Array.from({ length: WORKERS }, (_, i) => forkBench('worker.js', `worker-${i}`, {}, false));
  for (const w of workers) w.onEvent = (m) => m['event'] === 'progress' && progress.set(w.name, Number(m['opened']));
  loadProc = forkBench('worker.js', 'grpc-load', {}, false);
  probeProc = forkBench('worker.js', 'probe', {}, false);
}
const progress = new Map<string, number>();

interface ConnectResult {
  opened: number;
  failed: number;
  ms: number;
  wallMs: number;
  errors: Record<string, number>;
}

/** Opens `count` connections spread over `nWorkers` workers; progress every 2 s. */
async function connectAll(
  label: string,
  kind: 'ws' | 'sio',
  ports: number[],
  count: number,
  o: { users: number; userPrefix: string; concurrency?: number; nWorkers?: number; localAddrs?: string[]; deadlineMs?: number },
): Promise<ConnectResult> {
  const nWorkers = Math.min(WORKERS, Math.max(o.nWorkers ?? 2, Math.ceil(count / MAX_PER_WORKER)));
  const per = Math.ceil(count / nWorkers);
  const conc = Math.max(1, Math.floor((o.concurrency ?? 200) / nWorkers));
  const deadlineMs = o.deadlineMs ?? 120_000;
  progress.clear();
  const ticker = setInterval(() => {
    const n = [...progress.values()].reduce((a, b) => a + b, 0);
    log(`${label}: ${n}/${count} connections`);
  }, 2000);
  const t0 = performance.now();
  try {
    const rs = await Promise.all(
      workers.slice(0, nWorkers).map((w, i) =>
        call<Omit<ConnectResult, 'wallMs'>>(
          w,
          'connect',
          {
            kind,
            ports,
            count: Math.max(0, Math.min(per, count - i * per)),
            offset: i * per,
            users: o.users,
            userPrefix: o.userPrefix,
            concurrency: conc,
            localAddrs: o.localAddrs ?? [],
            deadlineMs,
          },
          deadlineMs + 20_000,
        ),
      ),
    );
    const wallMs = performance.now() - t0;
    const errors: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    const out = { opened: rs.reduce((a, r) => a + r.opened, 0), failed: rs.reduce((a, r) => a + r.failed, 0), ms: Math.max(...rs.map((r) => r.ms)), wallMs, errors };
    log(`${label}: ${out.opened} open, ${out.failed} failed in ${(wallMs / 1000).toFixed(1)} s${out.failed ? ` ${JSON.stringify(errors)}` : ''}`);
    return out;
  } finally {
    clearInterval(ticker);
  }
}

async function closeAllClients(): Promise<void> {
  await Promise.all([...workers, loadProc, probeProc].filter((w) => !w.exited).map((w) => call(w, 'closeAll', {}, 30_000)));
}

async function resetCounts(): Promise<void> {
  await Promise.all(workers.map((w) => call(w, 'reset')));
}

async function counts(): Promise<{ received: number; lastRecvAt: number }> {
  const rs = await Promise.all(workers.map((w) => call<{ received: number; lastRecvAt: number }>(w, 'count')));
  return { received: rs.reduce((a, r) => a + r.received, 0), lastRecvAt: Math.max(...rs.map((r) => r.lastRecvAt)) };
}

/**
 * Runs `send` (which makes the servers deliver `expected` frames in total) and waits until the
 * clients have them all (or nothing arrives for 3 s, or timeoutMs); deliveries/s = received over
 * (last frame received - start).
 */
/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
let clockTicks = 0;
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    clockTicks ||= Number(cp.execSync('getconf CLK_TCK').toString().trim()) || 100;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the parenthesised command name; utime and stime are fields 14 and 15
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clockTicks;
  } catch {
    return NaN;
  }
}

/**
 * Frames delivered per second of wall time (the load generators share the two cores, so this is
 * partly a client figure) and, with `serverPid`, per CPU second the server process spent (what the
 * server itself costs per delivery, whatever the clients cost).
 */
async function measureDeliveries(
  label: string,
  expected: number,
  send: () => Promise<void>,
  timeoutMs = 60_000,
  serverPid?: number,
): Promise<{ rate: number; received: number; expected: number; ms: number; perServerCpuSec: number }> {
  await resetCounts();
  const cpu0 = cpuSeconds(serverPid);
  const start = performance.timeOrigin + performance.now();
  await send();
  const end = Date.now() + timeoutMs;
  let last = -1;
  let lastChange = Date.now();
  let c = await counts();
  while (c.received < expected && Date.now() < end && Date.now() - lastChange < 3000) {
    await sleep(50);
    c = await counts();
    if (c.received !== last) {
      last = c.received;
      lastChange = Date.now();
    }
  }
  const cpu = cpuSeconds(serverPid) - cpu0;
  const ms = c.lastRecvAt - start;
  const rate = ms > 0 ? (c.received / ms) * 1000 : 0;
  const perServerCpuSec = cpu > 0 ? c.received / cpu : NaN;
  log(
    `${label}: ${c.received}/${expected} frames in ${ms.toFixed(0)} ms = ${fmt(rate)} deliveries/s` +
      (Number.isFinite(perServerCpuSec) ? `; server ${cpu.toFixed(2)} CPU s = ${fmt(perServerCpuSec)} deliveries per server CPU second` : ''),
  );
  return { rate, received: c.received, expected, ms, perServerCpuSec };
}

// ------------------------------------------------------------------------------------------------
// gRPC push API client (orchestrator side: Broadcast and PushToUsers)

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Record<string, unknown>) => void) => void;
function gatewayApi(target: string): { client: grpc.Client; call: (method: string, req: unknown) => Promise<Record<string, unknown>> } {
  const { grpcType } = loadProto();
  const Ctor = grpcType.im.gateway.v1.IMAGatewayService as unknown as new (t: string, c: grpc.ChannelCredentials) => grpc.Client;
  const client = new Ctor(target, grpc.credentials.createInsecure());
  return {
    client,
    call: (method, req) =>
      new Promise((resolve, reject) => {
        const fn = (client as unknown as Record<string, Unary>)[method] as Unary;
        fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (e, r) => (e ? reject(e) : resolve(r ?? {})));
      }),
  };
}

/** Gateway push frame: {"type":"bench","id":<23 chars>,"payload":P,"ts":<13 digits>} = 77 bytes + P. */
const FRAME_OVERHEAD = 77;
function benchPayload(frameBytes: number): string {
  return JSON.stringify('x'.repeat(Math.max(1, frameBytes - FRAME_OVERHEAD - 2)));
}
function baselineFrame(frameBytes: number): string {
  return `{"type":"bench","id":"0000000000000000000000a","payload":${benchPayload(frameBytes)},"ts":${Date.now()}}`;
}

// ------------------------------------------------------------------------------------------------
// scenarios

const fmt = (n: number): string => (Number.isFinite(n) ? (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2)) : String(n));
type Scn = Record<string, unknown>;

async function connectRate(): Promise<Scn> {
  const { connections: n, concurrency, users } = P.connectRate;
  const out: Scn = { unit: 'connections/s (handshake + first frame)', connections: n, concurrency };
  {
    const g = await startGateway('gateway');
    try {
      // warm the token cache: one connection per user, then the measured run hits the cache
      await connectAll('connectRate ima warm-up', 'ws', [g.ws], users, { users, userPrefix: 'cr', concurrency: 50 });
      await closeAllClients();
      const r = await connectAll('connectRate ima', 'ws', [g.ws], n, { users, userPrefix: 'cr', concurrency, deadlineMs: 60_000 });
      const st = await gatewayStats(g);
      out['ima'] = (r.opened / r.wallMs) * 1000;
      out['imaDetail'] = { ...r, tokenCache: st['tokenCache'] };
    } finally {
      await closeAllClients();
      await stop(g.proc);
    }
  }
  {
    const b = await startBaseline('uws-server.js', 'bare-uws');
    try {
      const r = await connectAll('connectRate bare uWS', 'ws', [b.port], n, { users, userPrefix: 'cr', concurrency, deadlineMs: 60_000 });
      out['bareUws'] = (r.opened / r.wallMs) * 1000;
      out['bareUwsDetail'] = r;
    } finally {
      await closeAllClients();
      await stop(b.proc);
    }
  }
  return out;
}

async function memoryPerConnection(): Promise<Scn> {
  const n = P.memory.connections;
  const out: Scn = { unit: 'bytes of RSS per idle connection', connections: n };
  const heap: Record<string, number> = {};
  const detail: Record<string, unknown> = {};
  const measure = async (key: string, proc: Proc, kind: 'ws' | 'sio', p: number): Promise<void> => {
    const before = await call<{ rss: number; heapUsed: number }>(proc, 'mem');
    const r = await connectAll(`memory ${key}`, kind, [p], n, { users: Math.ceil(n / 10), userPrefix: 'mem', concurrency: 200 });
    await sleep(1000);
    const after = await call<{ rss: number; heapUsed: number }>(proc, 'mem');
    out[key] = (after.rss - before.rss) / Math.max(1, r.opened);
    heap[key] = (after.heapUsed - before.heapUsed) / Math.max(1, r.opened);
    detail[key] = { opened: r.opened, failed: r.failed, before, after };
    log(`memory ${key}: ${fmt(out[key] as number)} B RSS, ${fmt(heap[key] as number)} B heap per connection`);
  };
  {
    const g = await startGateway('gateway');
    try {
      await measure('ima', g.proc, 'ws', g.ws);
    } finally {
      await closeAllClients();
      await stop(g.proc);
    }
  }
  {
    const b = await startBaseline('uws-server.js', 'bare-uws');
    try {
      await measure('bareUws', b.proc, 'ws', b.port);
    } finally {
      await closeAllClients();
      await stop(b.proc);
    }
  }
  {
    const b = await startBaseline('sio-server.js', 'socketio');
    try {
      await measure('socketio', b.proc, 'sio', b.port);
    } finally {
      await closeAllClients();
      await stop(b.proc);
    }
  }
  out['heapPerConnection'] = heap;
  out['detail'] = detail;
  return out;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/**
 * Self time per function of the V8 CPU profile(s) in dir (written by --cpu-prof when the process
 * exits), the top entries as a markdown table with where each lives (our code, a dependency, V8).
 */
function writeProfileSummary(dir: string, outFile: string, what: string): void {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) {
    log(`profile: no .cpuprofile written in ${dir}`);
    return;
  }
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const f of files) {
    const prof = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[] };
    const usPerSample = (prof.endTime - prof.startTime) / Math.max(1, prof.samples.length);
    for (const n of prof.nodes) {
      const us = (n.hitCount ?? 0) * usPerSample;
      if (us === 0) continue;
      const cf = n.callFrame;
      if (cf.functionName === '(idle)') {
        idle += us;
        continue;
      }
      const where = cf.url === '' ? 'V8 / native' : cf.url.includes('/node_modules/') ? cf.url.slice(cf.url.lastIndexOf('/node_modules/') + 14) : cf.url.startsWith('node:') ? cf.url : path.relative(ROOT, cf.url.replace(/^file:\/\//, ''));
      const key = `${cf.functionName || '(anonymous)'}\t${where}${cf.url === '' ? '' : `:${cf.lineNumber + 1}`}`;
      self.set(key, (self.get(key) ?? 0) + us);
      total += us;
    }
  }
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
  const L = [
    `# CPU profile: ${what}`,
    '',
    `Written by \`npm run bench -- --only <scenario> --profile\` (V8 \`--cpu-prof\` of the gateway process over the whole scenario, connecting included). Busy time ${(total / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s. Self time per function, busy time only:`,
    '',
    '| self % | self ms | function | where |',
    '|---:|---:|---|---|',
    ...top.map(([k, us]) => {
      const [fn, where] = k.split('\t');
      return `| ${((us / total) * 100).toFixed(1)} | ${(us / 1000).toFixed(0)} | \`${fn}\` | ${where} |`;
    }),
    '',
  ];
  fs.writeFileSync(path.join(ROOT, outFile), L.join('\n'));
  log(`profile: ${outFile} (${files.length} profile file(s))`);
}

async function fanout(): Promise<Scn> {
  const n = P.fanout.connections;
  const sizes = [100, 4096];
  const variants: Record<string, Record<string, number>> = {};
  const set = (v: string, k: string, x: number): void => {
    (variants[v] ??= {})[k] = x;
  };
  const usersOf = Math.ceil(n / 10); // 10 devices per user
  const profDir = fs.mkdtempSync(path.join(tmpRoot, 'prof-'));
  {
    const g = await startGateway('gateway', PROFILE ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {});
    const api = gatewayApi(`${HOST}:${g.grpc}`);
    try {
      await connectAll('fanout ima', 'ws', [g.ws], n, { users: usersOf, userPrefix: 'f', concurrency: 200 });
      for (const size of sizes) {
        const m = P.fanout.messages[size] as number;
        const payload = Buffer.from(benchPayload(size));
        const b = await measureDeliveries(
          `fanout ima Broadcast ${size} B`,
          n * m,
          async () => {
            for (let i = 0; i < m; i++) await api.call('Broadcast', { message: { type: 'bench', payload } });
          },
          60_000,
          g.proc.child.pid,
        );
        set(`broadcast-${size}B`, 'ima', b.rate);
        set(`broadcast-${size}B-perServerCpuSec`, 'ima', b.perServerCpuSec);
        const userIds = Array.from({ length: usersOf }, (_, i) => `f${i}`);
        const batches: string[][] = [];
        for (let i = 0; i < userIds.length; i += 1000) batches.push(userIds.slice(i, i + 1000));
        const pu = await measureDeliveries(`fanout ima PushToUsers ${size} B`, n * m, async () => {
          for (let i = 0; i < m; i++) await Promise.all(batches.map((u) => api.call('PushToUsers', { userIds: u, message: { type: 'bench', payload } })));
        });
        set(`pushToUsers-${size}B`, 'ima', pu.rate);
      }
    } finally {
      api.client.close();
      await closeAllClients();
      await stop(g.proc, PROFILE ? 10_000 : 2000);
    }
    if (PROFILE) writeProfileSummary(profDir, 'docs/bench/profile-fanout.md', `fanout (${n} connections, Broadcast and PushToUsers of 100 B and 4 KiB)`);
  }
  for (const [key, script, kind] of [
    ['bareUws', 'uws-server.js', 'ws'],
    ['socketio', 'sio-server.js', 'sio'],
  ] as const) {
    const b = await startBaseline(script, key);
    try {
      await connectAll(`fanout ${key}`, kind, [b.port], n, { users: usersOf, userPrefix: 'f', concurrency: 200 });
      for (const size of sizes) {
        const m = P.fanout.messages[size] as number;
        const frame = baselineFrame(size);
        const r = await measureDeliveries(
          `fanout ${key} publish ${size} B`,
          n * m,
          async () => {
            await call(b.proc, 'publish', { frame, count: m }, 60_000);
          },
          60_000,
          b.proc.child.pid,
        );
        set(`broadcast-${size}B`, key, r.rate);
        set(`broadcast-${size}B-perServerCpuSec`, key, r.perServerCpuSec);
      }
    } finally {
      await closeAllClients();
      await stop(b.proc);
    }
  }
  const head = variants['broadcast-100B'] ?? {};
  return { ...head, unit: 'deliveries/s (100-byte Broadcast; see variants)', connections: n, messagesPerSize: P.fanout.messages, variants };
}

async function pushToUser(): Promise<Scn> {
  const { connections: n, concurrency, durationMs, probeIntervalMs } = P.pushToUser;
  const payload = '{"text":"hello from the pushToUser benchmark"}';
  const out: Scn = { unit: 'PushToUser calls/s', concurrency, connections: n, durationMs };
  const lat: Record<string, unknown> = {};
  const run = async (key: string, target: string, wsPort: number): Promise<void> => {
    const load = (rate?: number): Promise<{ rate: number; errors: number; latency: LatencySummary }> =>
      call(loadProc, 'grpcLoad', { target, concurrency, durationMs, users: n, userPrefix: 'pu', payload, ...(rate ? { rate } : {}) }, durationMs + 30_000);
    const probe = (): Promise<{ errors: number; latency: LatencySummary }> =>
      call(probeProc, 'probe', { target, wsPort, user: 'probe-user', durationMs: durationMs - 500, intervalMs: probeIntervalMs }, durationMs + 30_000);
    log(`pushToUser ${key}: saturating at concurrency ${concurrency} for ${durationMs} ms`);
    const [peak, probeSat] = await Promise.all([load(), probe()]);
    log(`pushToUser ${key}: peak ${fmt(peak.rate)} calls/s (errors ${peak.errors}); probe p50/p99/p999 ${probeSat.latency.p50}/${probeSat.latency.p99}/${probeSat.latency.p999} ms`);
    const half = peak.rate / 2;
    const [atHalf, probeHalf] = await Promise.all([load(half), probe()]);
    log(`pushToUser ${key}: at half peak ${fmt(atHalf.rate)} calls/s; probe p50/p99/p999 ${probeHalf.latency.p50}/${probeHalf.latency.p99}/${probeHalf.latency.p999} ms`);
    out[key] = peak.rate;
    lat[key] = { saturated: { load: peak.latency, probe: probeSat.latency, errors: peak.errors }, halfPeak: { rate: atHalf.rate, load: atHalf.latency, probe: probeHalf.latency, errors: atHalf.errors } };
    await call(loadProc, 'closeGrpc');
    await call(probeProc, 'closeGrpc');
  };
  {
    const profDir = fs.mkdtempSync(path.join(tmpRoot, 'prof-'));
    const g = await startGateway('gateway', PROFILE ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {});
    try {
      await connectAll('pushToUser ima', 'ws', [g.ws], n, { users: n, userPrefix: 'pu', concurrency: 100, nWorkers: 1 });
      await run('ima', `${HOST}:${g.grpc}`, g.ws);
    } finally {
      await closeAllClients();
      await stop(g.proc, PROFILE ? 10_000 : 2000);
      if (PROFILE) writeProfileSummary(profDir, 'docs/bench/profile-pushToUser.md', 'pushToUser (unary PushToUser at peak and at half peak, probe running)');
    }
  }
  {
    const b = await startBaseline('grpc-server.js', 'bare-grpc');
    try {
      await run('bareGrpc', `${HOST}:${b.port}`, 0);
    } finally {
      await stop(b.proc);
    }
  }
  out['latencyMs'] = lat;
  return out;
}

async function forward(): Promise<Scn> {
  const { connections: n, window, durationMs } = P.forward;
  const mucPort = port();
  const bizPort = port();
  const svc = spawnProc('node', [path.join(DIST, 'scripts/test-services.js'), '--muc-port', String(mucPort), '--business-port', String(bizPort)], 'test-services');
  await waitFor('test-services', svc, async () => {
    const net = await import('node:net');
    return await new Promise<boolean>((r) => {
      const s = net.connect(bizPort, HOST, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
  });
  const g = await startGateway('gateway', { env: { IMA_BUSINESS_ADDR: `${HOST}:${bizPort}` } });
  try {
    await connectAll('forward ima', 'ws', [g.ws], n, { users: n, userPrefix: 'fw', concurrency: 100, nWorkers: 1 });
    log(`forward: ${n} connections x ${window} in flight for ${durationMs} ms`);
    const r = await call<{ rate: number; acks: number; codes: Record<string, number>; latency: LatencySummary }>(workers[0] as Proc, 'forward', { durationMs, window }, durationMs + 30_000);
    log(`forward: ${fmt(r.rate)} messages/s, ack p50/p99/p999 ${r.latency.p50}/${r.latency.p99}/${r.latency.p999} ms, codes ${JSON.stringify(r.codes)}`);
    return { ima: r.rate, unit: 'client messages/s acked by the business service', connections: n, window, durationMs, ackLatencyMs: r.latency, ackCodes: r.codes };
  } finally {
    await closeAllClients();
    await stop(g.proc);
    await stop(svc);
  }
}

async function cluster(): Promise<Scn> {
  const { connections: n, broadcasts, pushRounds } = P.cluster;
  const redisPort = port();
  const redis = spawnProc('redis-server', ['--port', String(redisPort), '--bind', HOST, '--save', '', '--appendonly', 'no', '--maxclients', '1000'], 'redis');
  const gws: Gateway[] = [];
  const apis: ReturnType<typeof gatewayApi>[] = [];
  try {
    await waitFor('redis', redis, async () => /Ready to accept connections/i.test(redis.stderrTail) || (await redisPing(redisPort)));
    const perInstance = Math.ceil(n / 3);
    for (let i = 1; i <= 3; i++) {
      gws.push(
        await startGateway(`gateway-${i}`, {
          maxConnections: perInstance + 100,
          env: { IMA_REDIS_URL: `redis://${HOST}:${redisPort}`, IMA_ADVERTISE_HOST: HOST, IMA_INSTANCE_ID: `bench-gw-${i}` },
        }),
      );
    }
    const r = await connectAll('cluster', 'ws', gws.map((g) => g.ws), n, { users: n, userPrefix: 'c', concurrency: 300, nWorkers: WORKERS, localAddrs: CLUSTER_SOURCES, deadlineMs: 150_000 });
    const held = (await Promise.all(gws.map((g) => gatewayStats(g)))).map((s) => Number(s['connections']));
    log(`cluster: instances hold ${held.join(' + ')} = ${held.reduce((a, b) => a + b, 0)} connections`);
    for (const g of gws) apis.push(gatewayApi(`${HOST}:${g.grpc}`));
    const api = apis[0] as ReturnType<typeof gatewayApi>;
    const payload = Buffer.from(benchPayload(100));
    const total = r.opened;
    const b = await measureDeliveries('cluster Broadcast 100 B (via instance 1)', total * broadcasts, async () => {
      for (let i = 0; i < broadcasts; i++) await api.call('Broadcast', { message: { type: 'bench', payload } });
    }, 90_000);
    // users whose connection is on instances 2 and 3 (connection i goes to instance i % 3)
    const remote: string[] = [];
    for (let i = 0; i < n; i++) if (i % 3 !== 0) remote.push(`c${i}`);
    const batches: string[][] = [];
    for (let i = 0; i < remote.length; i += 1000) batches.push(remote.slice(i, i + 1000));
    const expectedRemote = Math.round(remote.length * (r.opened / n));
    const pu = await measureDeliveries('cluster cross-instance PushToUsers 100 B (via instance 1)', expectedRemote * pushRounds, async () => {
      for (let k = 0; k < pushRounds; k++) {
        for (let i = 0; i < batches.length; i += 4) await Promise.all(batches.slice(i, i + 4).map((u) => api.call('PushToUsers', { userIds: u, message: { type: 'bench', payload } })));
      }
    }, 90_000);
    return {
      ima: b.rate,
      unit: 'deliveries/s (Broadcast of 100 B through one of 3 instances; see crossInstancePushToUsers)',
      instances: 3,
      connections: total,
      connectionsPerInstance: held,
      connectFailed: r.failed,
      connectErrors: r.errors,
      connectRate: (r.opened / r.wallMs) * 1000,
      sourceAddresses: CLUSTER_SOURCES.length,
      broadcasts,
      crossInstancePushToUsers: pu.rate,
      pushRounds,
    };
  } finally {
    for (const a of apis) a.client.close();
    await closeAllClients();
    await Promise.all(gws.map((g) => stop(g.proc)));
    await stop(redis);
  }
}

function redisPing(p: number): Promise<boolean> {
  return import('node:net').then(
    (net) =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(p, HOST, () => s.write('PING\r\n'));
        s.on('data', (d: Buffer) => {
          s.destroy();
          resolve(d.toString().startsWith('+PONG'));
        });
        s.on('error', () => resolve(false));
      }),
  );
}

// ------------------------------------------------------------------------------------------------
// main

const SCENARIOS: Array<[string, () => Promise<Scn>]> = [
  ['connectRate', connectRate],
  ['memoryPerConnection', memoryPerConnection],
  ['fanout', fanout],
  ['pushToUser', pushToUser],
  ['forward', forward],
  ['cluster', cluster],
];

async function main(): Promise<void> {
  if (argv.includes('--report-only')) {
    // re-render the table, plot and BENCHMARKS.md from docs/bench/results.json (e.g. after editing docs/bench/notes.md)
    const res = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs/bench/results.json'), 'utf8')) as Results;
    delete res.errors['plot'];
    process.stdout.write((await renderOutputs(res, ROOT, log)) + '\n');
    process.exit(0);
  }
  if (!uwsIsNative()) {
    process.stderr.write('bench: the uWebSockets.js native binary is NOT loaded (the package fell back to its slow JS implementation): refusing to benchmark. Install a build matching this Node.js ABI.\n');
    process.exit(1);
  }
  const watchdog = setTimeout(() => {
    aborted = true;
    log(`watchdog: the run passed its ${P.budgetSec} s budget: stopping every process and writing what was measured`);
    killAllSync();
    setTimeout(() => process.exit(1), 20_000).unref();
  }, P.budgetSec * 1000);
  watchdog.unref();
  log(`mode ${P.mode}; ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; uWebSockets.js native: yes`);
  startWorkers();
  const results: Results = {
    mode: P.mode,
    startedAt: new Date(T0).toISOString(),
    durationSec: 0,
    uwsNative: true,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}`, fdLimitPerProcess: 20000 },
    parameters: P,
    scenarios: {},
    errors: {},
  };
  for (const [name, fn] of SCENARIOS) {
    if (ONLY && !ONLY.includes(name)) continue;
    if (aborted) {
      results.errors[name] = 'not run: watchdog';
      continue;
    }
    log(`== ${name}`);
    const t = Date.now();
    try {
      results.scenarios[name] = { ...(await fn()), seconds: Math.round((Date.now() - t) / 100) / 10 };
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      log(`${name} FAILED: ${m}`);
      results.errors[name] = m.slice(0, 2000);
      if (/refusing to benchmark/.test(m)) {
        killAllSync();
        process.exit(1);
      }
      if (!aborted) {
        // make sure nothing of the failed scenario is left behind
        for (const p of [...procs]) if (!workers.includes(p) && p !== loadProc && p !== probeProc) await stop(p, 500);
        await closeAllClients().catch(() => undefined);
      }
    }
  }
  results.durationSec = Math.round((Date.now() - T0) / 1000);
  for (const p of [...procs]) await stop(p, 1000);
  log('writing docs/bench/results.json, docs/bench/results.png, docs/BENCHMARKS.md');
  const table = await renderOutputs(results, ROOT, log);
  process.stdout.write(table + '\n');
  log(`done in ${results.durationSec} s${Object.keys(results.errors).length ? ` (errors: ${Object.keys(results.errors).join(', ')})` : ''}`);
  process.exit(Object.keys(results.errors).length ? 1 : 0);
}

void main();

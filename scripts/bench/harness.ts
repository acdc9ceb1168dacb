/**
 * What the scenarios share: the gateway and baseline servers they start, the load workers and
 * their commands (connect, count, close), delivery measurement, the gRPC push API client, frame
 * sizing and CPU-profile summaries. Processes are started through the Supervisor.
 */
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { signJwt } from '../../internal/auth/jwt';
import { loadProto } from '../../internal/rpc/proto';
import { BENCH_SECRET, HOST, sleep, summarize } from './common';
import type { LatencySummary } from './common';
import { BENCH_DIR, type Proc, type Supervisor } from './supervisor';

/** Raw-socket load worker processes (rawclient.ts) for the client connections. */
export const WORKERS = 4;
/** Client sockets per worker process stay well under the ~20,000 fd limit (issue 16: at most ~18,000). */
const MAX_PER_WORKER = 15000;
/** Raw client process i binds its sockets to 127.<SOURCE_OCTET_BASE + i>.x.y (rawclient.ts nextSource). */
const SOURCE_OCTET_BASE = 10;
/** A client process above this share of one core is reported as possibly limiting the figure. */
export const CLIENT_CPU_WARN = 0.7;

/** CPU of one load-generator process over one measured window. */
export interface ClientCpu {
  readonly process: string;
  readonly cpuSec: number;
  /** cpuSec / window seconds (1 = one core busy for the whole window). */
  readonly coreShare: number;
}

/** The load generators' CPU over one measurement. */
export interface CpuWindow {
  readonly measurement: string;
  readonly windowSec: number;
  readonly processes: ClientCpu[];
  readonly maxCoreShare: number;
  /** The server process's CPU seconds over the window (from /proc), when known. */
  readonly serverCpuSec?: number;
}

/** JWT tokens (HS256, the bench secret) for users `${prefix}0` .. `${prefix}${n - 1}`, minted once per run. */
const tokenCache = new Map<string, string[]>();
export function jwtTokens(prefix: string, n: number): string[] {
  const key = `${prefix}/${n}`;
  let t = tokenCache.get(key);
  if (!t) {
    const exp = Math.floor(Date.now() / 1000) + 7200;
    t = Array.from({ length: n }, (_, i) => signJwt({ sub: `${prefix}${i}`, exp }, { alg: 'HS256', secret: BENCH_SECRET }));
    tokenCache.set(key, t);
  }
  return t;
}

/** What a scenario returns (one entry of results.json's scenarios). */
export type Scn = Record<string, unknown>;

export interface Gateway {
  proc: Proc;
  ws: number;
  grpc: number;
  admin: number;
}

export interface ConnectResult {
  opened: number;
  failed: number;
  ms: number;
  wallMs: number;
  errors: Record<string, number>;
}

export const fmt = (n: number): string => (Number.isFinite(n) ? (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2)) : String(n));

/** GET url; resolves with the status and body. */
export function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
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

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
let clockTicks = 0;
export function cpuSeconds(pid: number | undefined): number {
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

/** The gateway's gRPC push API (orchestrator side: Broadcast and PushToUsers). */
type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Record<string, unknown>) => void) => void;
export function gatewayApi(target: string): { client: grpc.Client; call: (method: string, req: unknown) => Promise<Record<string, unknown>> } {
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
export function benchPayload(frameBytes: number): string {
  return JSON.stringify('x'.repeat(Math.max(1, frameBytes - FRAME_OVERHEAD - 2)));
}
export function baselineFrame(frameBytes: number): string {
  return `{"type":"bench","id":"0000000000000000000000a","payload":${benchPayload(frameBytes)},"ts":${Date.now()}}`;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export type GatewayApi = ReturnType<typeof gatewayApi>;

/** The scenarios' view of the run: the supervisor, the load workers and the servers. */
export class Bench {
  /** Where the outputs go (docs/, or --out DIR): the profile summaries of --profile. */
  docsDir: string;
  /** Per-run scratch directory (gateway configs, CPU profiles); removed on exit. */
  readonly tmpRoot: string;
  /** Raw-socket clients (rawclient.ts): every delivery scenario's connections. */
  workers: Proc[] = [];
  /** A `ws`-package client (worker.ts) for the forward scenario, which sends and reads acks. */
  wsWorker!: Proc;
  loadProc!: Proc;
  probeProc!: Proc;
  /** The gRPC push load generator of the concurrency, scaling and latency scenarios (pusher.ts). */
  pusher!: Proc;
  /** Load-generator CPU per measurement since the last takeCpuLog(). */
  private cpuLog: CpuWindow[] = [];
  private readonly progress = new Map<string, number>();
  private nextPort = 21000 + (process.pid % 50) * 100;

  /**
   * root: the repository; dist: the build (dist/ or --outDir); profile: run the gateway of
   * fanout and pushToUser with --cpu-prof.
   */
  constructor(
    readonly sup: Supervisor,
    readonly root: string,
    readonly dist: string,
    readonly profile: boolean,
  ) {
    this.docsDir = path.join(root, 'docs');
    const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-bench-'));
    this.tmpRoot = tmpRoot;
    process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));
  }

  port(): number {
    this.nextPort++;
    if (this.nextPort >= 32700) this.nextPort = 21000;
    return this.nextPort;
  }

  /** Forks one of the benchmark's own scripts (scripts/bench/<script>). */
  forkBench(script: string, name: string, env: Record<string, string> = {}, gc = true, extraExecArgv: string[] = []): Proc {
    return this.sup.fork(path.join(BENCH_DIR, script), name, env, gc, extraExecArgv);
  }

  /** The load workers (connections), the gRPC load generator and the latency probe. */
  startWorkers(): void {
    this.workers = Array.from({ length: WORKERS }, (_, i) => this.forkBench('rawclient.js', `client-${i}`, { BENCH_SOURCE_OCTET: String(SOURCE_OCTET_BASE + i) }, false));
    this.wsWorker = this.forkBench('worker.js', 'ws-client', {}, false);
    for (const w of [...this.workers, this.wsWorker]) w.onEvent = (m) => m['event'] === 'progress' && this.progress.set(w.name, Number(m['opened']));
    this.loadProc = this.forkBench('worker.js', 'grpc-load', {}, false);
    this.probeProc = this.forkBench('worker.js', 'probe', {}, false);
    this.pusher = this.forkBench('pusher.js', 'grpc-pusher', {}, false);
  }

  /** The processes that live for the whole run. */
  longLived(): Proc[] {
    return [...this.workers, this.wsWorker, this.loadProc, this.probeProc, this.pusher];
  }

  /** The load generators whose CPU is reported. */
  private loadGenerators(): Proc[] {
    return [...this.workers, this.loadProc, this.pusher].filter((p) => !p.exited);
  }

  /** CPU microseconds (user + system) of every load generator so far. */
  async cpuSnapshot(): Promise<Map<string, number>> {
    const ps = this.loadGenerators();
    const rs = await Promise.all(ps.map((p) => this.sup.call<{ user: number; system: number }>(p, 'cpu').catch(() => ({ user: NaN, system: NaN }))));
    return new Map(ps.map((p, i) => [p.name, (rs[i]?.user ?? NaN) + (rs[i]?.system ?? NaN)]));
  }

  /**
   * The load generators' CPU since `before` over windowMs, logged and kept for the scenario's
   * `clientCpu`; warns when a process used more than CLIENT_CPU_WARN of a core (the figure may be
   * the client's limit rather than the server's).
   */
  async cpuWindow(measurement: string, before: Map<string, number>, windowMs: number, serverCpuSec?: number): Promise<CpuWindow> {
    const after = await this.cpuSnapshot();
    const windowSec = Math.max(1e-3, windowMs / 1000);
    const processes: ClientCpu[] = [];
    for (const [name, us] of after) {
      const b = before.get(name);
      if (b === undefined || !Number.isFinite(us - b)) continue;
      const cpuSec = (us - b) / 1e6;
      if (cpuSec < 0.005) continue;
      processes.push({ process: name, cpuSec: Math.round(cpuSec * 1000) / 1000, coreShare: Math.round((cpuSec / windowSec) * 1000) / 1000 });
    }
    const maxCoreShare = Math.max(0, ...processes.map((p) => p.coreShare));
    const w: CpuWindow = { measurement, windowSec: Math.round(windowSec * 1000) / 1000, processes, maxCoreShare, ...(serverCpuSec !== undefined && Number.isFinite(serverCpuSec) ? { serverCpuSec: Math.round(serverCpuSec * 1000) / 1000 } : {}) };
    this.cpuLog.push(w);
    const busy = processes.filter((p) => p.coreShare > CLIENT_CPU_WARN);
    const line = processes.map((p) => `${p.process} ${(p.coreShare * 100).toFixed(0)}%`).join(', ');
    if (busy.length) this.sup.log(`WARNING ${measurement}: load generator above ${CLIENT_CPU_WARN * 100} % of a core (${line}): the figure may be the client's limit`);
    else if (line) this.sup.log(`${measurement}: client CPU ${line} of a core`);
    return w;
  }

  /** The CPU windows recorded since the last call (run.ts stores them as the scenario's clientCpu). */
  takeCpuLog(): CpuWindow[] {
    const l = this.cpuLog;
    this.cpuLog = [];
    return l;
  }

  /** Latency samples (stamp to frame received, ms) of the sampled raw connections since the last call. */
  async latency(): Promise<LatencySummary> {
    const rs = await Promise.all(this.workers.map((w) => this.sup.call<{ samples: number[] }>(w, 'latency')));
    return summarize(rs.flatMap((r) => r.samples));
  }

  /**
   * Starts a gateway with the benchmark's config (a temporary IMA_CONFIG_DIR with app.yml);
   * `yaml`: further top-level sections appended to that app.yml (e.g. `['recovery:', '  enabled: false']`).
   */
  async startGateway(name: string, opts: { maxConnections?: number; env?: Record<string, string>; execArgv?: string[]; yaml?: string[] } = {}): Promise<Gateway> {
    const dir = fs.mkdtempSync(path.join(this.tmpRoot, 'cfg-'));
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
        ...(opts.yaml ?? []),
        '',
      ].join('\n'),
    );
    const g = { ws: this.port(), grpc: this.port(), admin: this.port() };
    const proc = this.forkBench('gateway-proc.js', name, {
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
    await this.sup.waitFor(name, proc, async () => (await httpGet(`http://${HOST}:${g.admin}/readyz`)).status === 200);
    return { proc, ...g };
  }

  async gatewayStats(g: Gateway): Promise<Record<string, unknown>> {
    return JSON.parse((await httpGet(`http://${HOST}:${g.admin}/stats`)).body) as Record<string, unknown>;
  }

  async startBaseline(script: string, name: string, env: Record<string, string> = {}): Promise<{ proc: Proc; port: number }> {
    const p = this.port();
    const proc = this.forkBench(script, name, { BENCH_PORT: String(p), ...env });
    await this.sup.waitForEvent(proc, 'ready', 15_000);
    return { proc, port: p };
  }

  /** Opens `count` connections spread over `nWorkers` workers; progress every 2 s. */
  async connectAll(
    label: string,
    kind: 'ws' | 'sio',
    ports: number[],
    count: number,
    o: {
      users: number;
      userPrefix: string;
      concurrency?: number;
      nWorkers?: number;
      localAddrs?: string[];
      deadlineMs?: number;
      /** Tokens by user index (default: JWTs for `${userPrefix}<i>`, minted here). */
      tokens?: string[];
      /** 'ws': the `ws`-package worker (forward); default: the raw-socket workers. */
      client?: 'raw' | 'ws';
      /** Every n-th connection samples latency stamps (default 50; 0 = none). */
      sampleEvery?: number;
      /** Index of the first connection (device ids, users, source addresses), to add to connections already open. */
      first?: number;
    },
  ): Promise<ConnectResult> {
    const pool = o.client === 'ws' ? [this.wsWorker] : this.workers;
    const nWorkers = Math.min(pool.length, Math.max(o.nWorkers ?? 2, Math.ceil(count / MAX_PER_WORKER)));
    const tokens = kind === 'ws' && o.client !== 'ws' ? (o.tokens ?? jwtTokens(o.userPrefix, o.users)) : [];
    const per = Math.ceil(count / nWorkers);
    const conc = Math.max(1, Math.floor((o.concurrency ?? 200) / nWorkers));
    const deadlineMs = o.deadlineMs ?? 120_000;
    this.progress.clear();
    const ticker = setInterval(() => {
      const n = [...this.progress.values()].reduce((a, b) => a + b, 0);
      this.sup.log(`${label}: ${n}/${count} connections`);
    }, 2000);
    const t0 = performance.now();
    try {
      const rs = await Promise.all(
        pool.slice(0, nWorkers).map((w, i) =>
          this.sup.call<Omit<ConnectResult, 'wallMs'>>(
            w,
            'connect',
            {
              kind,
              ports,
              count: Math.max(0, Math.min(per, count - i * per)),
              offset: (o.first ?? 0) + i * per,
              users: o.users,
              userPrefix: o.userPrefix,
              concurrency: conc,
              localAddrs: o.localAddrs ?? [],
              deadlineMs,
              tokens,
              sampleEvery: o.sampleEvery ?? 50,
              timeoutMs: 15_000,
            },
            deadlineMs + 20_000,
          ),
        ),
      );
      const wallMs = performance.now() - t0;
      const errors: Record<string, number> = {};
      for (const r of rs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
      const out = { opened: rs.reduce((a, r) => a + r.opened, 0), failed: rs.reduce((a, r) => a + r.failed, 0), ms: Math.max(...rs.map((r) => r.ms)), wallMs, errors };
      this.sup.log(`${label}: ${out.opened} open, ${out.failed} failed in ${(wallMs / 1000).toFixed(1)} s${out.failed ? ` ${JSON.stringify(errors)}` : ''}`);
      return out;
    } finally {
      clearInterval(ticker);
    }
  }

  async closeAllClients(): Promise<void> {
    await Promise.all([...this.workers, this.wsWorker, this.loadProc, this.probeProc].filter((w) => !w.exited).map((w) => this.sup.call(w, 'closeAll', {}, 30_000)));
  }

  async resetCounts(): Promise<void> {
    await Promise.all(this.workers.map((w) => this.sup.call(w, 'reset')));
  }

  async counts(): Promise<{ received: number; lastRecvAt: number; open: number; serverCloses: Record<string, number> }> {
    const rs = await Promise.all(this.workers.map((w) => this.sup.call<{ received: number; lastRecvAt: number; open: number; serverCloses: Record<string, number> }>(w, 'count')));
    const serverCloses: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.serverCloses)) serverCloses[k] = (serverCloses[k] ?? 0) + v;
    return { received: rs.reduce((a, r) => a + r.received, 0), lastRecvAt: Math.max(...rs.map((r) => r.lastRecvAt)), open: rs.reduce((a, r) => a + r.open, 0), serverCloses };
  }

  /**
   * Runs `send` (which makes the servers deliver `expected` frames in total) and waits until the
   * clients have them all (or nothing arrives for 3 s, or timeoutMs); deliveries/s = received over
   * (last frame received - start). Frames delivered per second of wall time (the load generators
   * share the two cores, so this is partly a client figure) and, with `serverPid`, per CPU second
   * the server process spent (what the server itself costs per delivery, whatever the clients cost).
   */
  async measureDeliveries(
    label: string,
    expectedArg: number | (() => number),
    send: () => Promise<void>,
    timeoutMs = 60_000,
    serverPid?: number,
  ): Promise<{ rate: number; received: number; expected: number; ms: number; perServerCpuSec: number; latency: LatencySummary; clientCpu: CpuWindow }> {
    await this.resetCounts();
    const cpu0 = cpuSeconds(serverPid);
    const clients0 = await this.cpuSnapshot();
    const start = performance.timeOrigin + performance.now();
    await send();
    // a function: the frames to expect are known only once send() has run (open loops)
    const expected = typeof expectedArg === 'function' ? expectedArg() : expectedArg;
    const end = Date.now() + timeoutMs;
    let last = -1;
    let lastChange = Date.now();
    let c = await this.counts();
    while (c.received < expected && Date.now() < end && Date.now() - lastChange < 3000) {
      await sleep(50);
      c = await this.counts();
      if (c.received !== last) {
        last = c.received;
        lastChange = Date.now();
      }
    }
    const cpu = cpuSeconds(serverPid) - cpu0;
    const ms = c.received > 0 ? c.lastRecvAt - start : 0;
    const rate = ms > 0 ? (c.received / ms) * 1000 : 0;
    const perServerCpuSec = cpu > 0 ? c.received / cpu : NaN;
    const latency = await this.latency();
    const closes = Object.entries(c.serverCloses);
    this.sup.log(
      `${label}: ${c.received}/${expected} frames in ${ms.toFixed(0)} ms = ${fmt(rate)} deliveries/s` +
        (Number.isFinite(perServerCpuSec) ? `; server ${cpu.toFixed(2)} CPU s = ${fmt(perServerCpuSec)} deliveries per server CPU second` : '') +
        (latency.count ? `; latency p50/p99 ${latency.p50}/${latency.p99} ms` : '') +
        (closes.length ? `; closed by the server: ${closes.map(([k, v]) => `${k} x${v}`).join(', ')}` : ''),
    );
    const clientCpu = await this.cpuWindow(label, clients0, Math.max(ms, 1), Number.isFinite(cpu) ? cpu : undefined);
    return { rate, received: c.received, expected, ms, perServerCpuSec, latency, clientCpu };
  }

  /**
   * Self time per function of the V8 CPU profile(s) in dir (written by --cpu-prof when the process
   * exits), the top entries as a markdown table with where each lives (our code, a dependency, V8).
   */
  writeProfileSummary(dir: string, outFile: string, what: string): void {
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) {
      this.sup.log(`profile: no .cpuprofile written in ${dir}`);
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
        const where = cf.url === '' ? 'V8 / native' : cf.url.includes('/node_modules/') ? cf.url.slice(cf.url.lastIndexOf('/node_modules/') + 14) : cf.url.startsWith('node:') ? cf.url : path.relative(this.root, cf.url.replace(/^file:\/\//, ''));
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
    // outFile is under docs/; with --out the docs directory is elsewhere
    const file = outFile.startsWith('docs/') ? path.join(this.docsDir, outFile.slice(5)) : path.join(this.root, outFile);
    fs.writeFileSync(file, L.join('\n'));
    this.sup.log(`profile: ${path.relative(this.root, file)} (${files.length} profile file(s))`);
  }
}

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
import { loadProto } from '../../internal/rpc/proto';
import { BENCH_SECRET, HOST, sleep } from './common';
import { BENCH_DIR, type Proc, type Supervisor } from './supervisor';

/** Load worker processes for the client connections. */
export const WORKERS = 4;
/** Client sockets per worker process stay well under the ~20,000 fd limit. */
const MAX_PER_WORKER = 15000;

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
  /** Per-run scratch directory (gateway configs, CPU profiles); removed on exit. */
  readonly tmpRoot: string;
  workers: Proc[] = [];
  loadProc!: Proc;
  probeProc!: Proc;
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
    this.workers = Array.from({ length: WORKERS }, (_, i) => this.forkBench('worker.js', `worker-${i}`, {}, false));
    for (const w of this.workers) w.onEvent = (m) => m['event'] === 'progress' && this.progress.set(w.name, Number(m['opened']));
    this.loadProc = this.forkBench('worker.js', 'grpc-load', {}, false);
    this.probeProc = this.forkBench('worker.js', 'probe', {}, false);
  }

  /** The processes that live for the whole run. */
  longLived(): Proc[] {
    return [...this.workers, this.loadProc, this.probeProc];
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
    o: { users: number; userPrefix: string; concurrency?: number; nWorkers?: number; localAddrs?: string[]; deadlineMs?: number },
  ): Promise<ConnectResult> {
    const nWorkers = Math.min(WORKERS, Math.max(o.nWorkers ?? 2, Math.ceil(count / MAX_PER_WORKER)));
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
        this.workers.slice(0, nWorkers).map((w, i) =>
          this.sup.call<Omit<ConnectResult, 'wallMs'>>(
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
      this.sup.log(`${label}: ${out.opened} open, ${out.failed} failed in ${(wallMs / 1000).toFixed(1)} s${out.failed ? ` ${JSON.stringify(errors)}` : ''}`);
      return out;
    } finally {
      clearInterval(ticker);
    }
  }

  async closeAllClients(): Promise<void> {
    await Promise.all([...this.workers, this.loadProc, this.probeProc].filter((w) => !w.exited).map((w) => this.sup.call(w, 'closeAll', {}, 30_000)));
  }

  async resetCounts(): Promise<void> {
    await Promise.all(this.workers.map((w) => this.sup.call(w, 'reset')));
  }

  async counts(): Promise<{ received: number; lastRecvAt: number }> {
    const rs = await Promise.all(this.workers.map((w) => this.sup.call<{ received: number; lastRecvAt: number }>(w, 'count')));
    return { received: rs.reduce((a, r) => a + r.received, 0), lastRecvAt: Math.max(...rs.map((r) => r.lastRecvAt)) };
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
    expected: number,
    send: () => Promise<void>,
    timeoutMs = 60_000,
    serverPid?: number,
  ): Promise<{ rate: number; received: number; expected: number; ms: number; perServerCpuSec: number }> {
    await this.resetCounts();
    const cpu0 = cpuSeconds(serverPid);
    const start = performance.timeOrigin + performance.now();
    await send();
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
    const ms = c.lastRecvAt - start;
    const rate = ms > 0 ? (c.received / ms) * 1000 : 0;
    const perServerCpuSec = cpu > 0 ? c.received / cpu : NaN;
    this.sup.log(
      `${label}: ${c.received}/${expected} frames in ${ms.toFixed(0)} ms = ${fmt(rate)} deliveries/s` +
        (Number.isFinite(perServerCpuSec) ? `; server ${cpu.toFixed(2)} CPU s = ${fmt(perServerCpuSec)} deliveries per server CPU second` : ''),
    );
    return { rate, received: c.received, expected, ms, perServerCpuSec };
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
    fs.writeFileSync(path.join(this.root, outFile), L.join('\n'));
    this.sup.log(`profile: ${outFile} (${files.length} profile file(s))`);
  }
}

/**
 * The Java side of the interop suite as child processes: the Nacos server (our launcher over the
 * Maven Central artifacts), the Dubbo 3 providers/consumer of test/interop/java and the Spring Boot
 * example of examples/java-spring-boot. Each process prints a ready line (`READY`, Nacos:
 * `NACOS READY port=N`, Spring Boot: `Started ...`) and then one JSON object per stdout line (the
 * Spring Boot example: plain log lines); stdout and stderr are kept for assertions and failure
 * messages. Everything started here is killed when the test process exits.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { repoRoot } from '../support/gateway-process';
import { portIsFree, reservePort } from '../support/ports';

export const JAVA_DIR = path.join(repoRoot(), 'test', 'interop', 'java');
/** The Spring Boot example's executable jar (spring-boot-maven-plugin's repackaged jar). */
export const SPRING_EXAMPLE_JAR = path.join(repoRoot(), 'examples', 'java-spring-boot', 'target', 'ima-spring-boot-example.jar');
const BUILD_HINT = 'build the Java side first: mvn -q -B -f api/java/pom.xml install && mvn -q -B -f test/interop/java/pom.xml package -DskipTests && mvn -q -B -f examples/java-spring-boot/pom.xml package -DskipTests';

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
});

export type JsonLine = Record<string, unknown>;

function classpath(module: string): string {
  const dir = path.join(JAVA_DIR, module, 'target');
  if (!fs.existsSync(path.join(dir, 'classes')) || !fs.existsSync(path.join(dir, 'lib'))) {
    throw new Error(`${dir}/classes or lib missing: ${BUILD_HINT}`);
  }
  return `${path.join(dir, 'classes')}${path.delimiter}${path.join(dir, 'lib', '*')}`;
}

/** java arguments that run mainClass of a module of test/interop/java (classes + target/lib). */
function moduleMain(module: string, mainClass: string, args: string[]): string[] {
  return ['-cp', classpath(module), mainClass, ...args];
}

export class JavaProcess {
  readonly lines: JsonLine[] = [];
  /** Every stdout line as printed (the last 2000). */
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  private readonly child: ChildProcess;
  private readonly waiters: Array<{ match: (l: JsonLine) => boolean; resolve: (l: JsonLine) => void }> = [];
  private readyResolve: (() => void) | undefined;
  private readonly readyPromise: Promise<void>;
  private exitedInfo: { code: number | null; signal: string | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private nextId = 1;

  /** Runs `java ...jvmArgs ...launch` (launch: `-cp <cp> <main> args` or `-jar <jar> args`). */
  constructor(
    readonly name: string,
    launch: string[],
    jvmArgs: string[] = [],
    private readonly readyLine: RegExp = /^READY$/,
  ) {
    this.child = spawn('java', [...jvmArgs, ...launch], { cwd: JAVA_DIR, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this.child);
    this.readyPromise = new Promise<void>((resolve) => {
      this.readyResolve = resolve;
    });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line));
    readline.createInterface({ input: this.child.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      if (this.stderr.length > 2000) this.stderr.splice(0, 1000);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        live.delete(this.child);
        this.exitedInfo = { code, signal };
        resolve(this.exitedInfo);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private onLine(line: string): void {
    this.stdout.push(line);
    if (this.stdout.length > 2000) this.stdout.splice(0, 1000);
    if (this.readyLine.test(line)) {
      this.readyResolve?.();
      return;
    }
    if (!line.startsWith('{')) return;
    let obj: JsonLine;
    try {
      obj = JSON.parse(line) as JsonLine;
    } catch {
      return;
    }
    this.lines.push(obj);
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i]!;
      if (w.match(obj)) {
        this.waiters.splice(i, 1);
        w.resolve(obj);
        i--;
      }
    }
  }

  private failure(what: string): Error {
    return new Error(`${this.name}: ${what}${this.exitedInfo ? ` (exited ${JSON.stringify(this.exitedInfo)})` : ''}\n--- stdout tail ---\n${this.stdout.slice(-20).join('\n')}\n--- stderr tail ---\n${this.stderr.slice(-40).join('\n')}`);
  }

  /** Resolves when the process printed its ready line; rejects on timeout or exit. */
  async ready(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      this.readyPromise.then(() => 'ready' as const),
      this.exited.then(() => 'exited' as const),
      new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome !== 'ready') throw this.failure(outcome === 'exited' ? 'exited before it was ready' : `not ready within ${timeoutMs} ms`);
  }

  /** The first line (already seen or coming) that matches, within timeoutMs. */
  async waitFor(match: (l: JsonLine) => boolean, timeoutMs: number, what: string): Promise<JsonLine> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return seen;
    let timer: NodeJS.Timeout | undefined;
    let waiter: { match: (l: JsonLine) => boolean; resolve: (l: JsonLine) => void } | undefined;
    const got = new Promise<JsonLine>((resolve) => {
      waiter = { match, resolve };
      this.waiters.push(waiter);
    });
    const outcome = await Promise.race([got, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)))]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      const i = this.waiters.indexOf(waiter!);
      if (i >= 0) this.waiters.splice(i, 1);
      throw this.failure(`no ${what} within ${timeoutMs} ms; last lines: ${JSON.stringify(this.lines.slice(-5))}`);
    }
    return outcome;
  }

  send(obj: unknown): void {
    this.child.stdin!.write(`${JSON.stringify(obj)}\n`);
  }

  /** Consumer mode: one request, its reply (matched by id); `extra` adds fields to the request line (e.g. apiToken). */
  async call(method: string, request: unknown, timeoutMs = 15_000, extra: Record<string, unknown> = {}): Promise<JsonLine> {
    const id = this.nextId++;
    this.send({ ...extra, id, method, request });
    return this.waitFor((l) => l['id'] === id, timeoutMs, `reply to ${method} #${id}`);
  }

  /** SIGTERM (a graceful Dubbo shutdown deregisters), SIGKILL after timeoutMs. */
  async stop(timeoutMs = 20_000): Promise<void> {
    if (this.exitedInfo !== undefined) return;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([this.exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)))]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

export interface NacosServer {
  readonly port: number;
  /** host:port for IMA_NACOS_ADDR and Dubbo's registry address. */
  readonly address: string;
  readonly process: JavaProcess;
  /** Stops the server and starts a new one on the same ports with an empty home (nothing kept). */
  restart(): Promise<void>;
  /** GET on the Nacos HTTP API (path below /nacos), the JSON body whatever the status. */
  api(pathAndQuery: string): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * A Nacos main port whose derived ports are free too: Nacos also binds main+1000 (client gRPC),
 * main+1001 (cluster gRPC) and main-1000 (raft), all below 32768.
 */
async function nacosPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 21_000 + Math.floor(Math.random() * 9_000);
    const all = [p - 1000, p, p + 1000, p + 1001];
    let ok = true;
    for (const q of all) if (!(await portIsFree(q))) ok = false;
    if (ok) {
      for (const q of all) reservePort(q);
      return p;
    }
  }
  throw new Error('no free port set for Nacos');
}

async function launchNacos(port: number, timeoutMs: number): Promise<{ proc: JavaProcess; home: string }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-nacos-'));
  const proc = new JavaProcess(
    'nacos',
    moduleMain('nacos-launcher', 'ima.interop.nacos.NacosLauncher', ['--port', String(port), '--home', home]),
    ['-Xms128m', '-Xmx512m', '--add-opens', 'java.base/java.lang=ALL-UNNAMED'],
    /^NACOS READY/,
  );
  try {
    await proc.ready(timeoutMs);
  } catch (e) {
    await proc.stop(5_000);
    throw e;
  }
  return { proc, home };
}

export async function startNacos(timeoutMs = 120_000): Promise<NacosServer> {
  const port = await nacosPort();
  let { proc, home } = await launchNacos(port, timeoutMs);
  const base = `http://127.0.0.1:${port}/nacos`;
  const dispose = async (): Promise<void> => {
    await proc.stop(15_000);
    if (process.env['IMA_INTEROP_KEEP'] === undefined) fs.rmSync(home, { recursive: true, force: true });
    else process.stderr.write(`nacos home kept: ${home}\n`);
  };
  return {
    port,
    address: `127.0.0.1:${port}`,
    get process(): JavaProcess {
      return proc;
    },
    async restart(): Promise<void> {
      await dispose();
      ({ proc, home } = await launchNacos(port, timeoutMs));
    },
    async api(pathAndQuery: string): Promise<unknown> {
      // Nacos answers errors with a JSON body too ({code, message, data}): callers read it
      const r = await fetch(`${base}${pathAndQuery}`);
      const text = await r.text();
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new Error(`nacos ${pathAndQuery}: HTTP ${r.status} ${text}`);
      }
    },
    stop: dispose,
  };
}

/** A process of test/interop/java/dubbo-services (mode muc | business | consumer; grpc: plain grpc-java, no Dubbo). */
export function startDubbo(mode: 'muc' | 'business' | 'consumer' | 'grpc', args: string[]): JavaProcess {
  // the Nacos client keeps caches and logs under user.home (~/nacos): a home of its own, removed at exit
  const home = fs.mkdtempSync(path.join(os.tmpdir(), `ima-dubbo-${mode}-`));
  const proc = new JavaProcess(`dubbo-${mode}`, moduleMain('dubbo-services', 'ima.interop.dubbo.Main', [mode, ...args]), ['-Xms64m', '-Xmx384m', `-Duser.home=${home}`]);
  void proc.exited.then(() => fs.rmSync(home, { recursive: true, force: true }));
  return proc;
}

/**
 * The Spring Boot example (examples/java-spring-boot) as built, unchanged: `args` are Spring
 * properties (`--server.port=...`). Ready when Spring Boot logs `Started ImBackendApplication`,
 * which comes after Dubbo exported its services and registered them.
 */
export function startSpringExample(args: string[]): JavaProcess {
  if (!fs.existsSync(SPRING_EXAMPLE_JAR)) throw new Error(`${SPRING_EXAMPLE_JAR} missing: ${BUILD_HINT}`);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-spring-'));
  const proc = new JavaProcess('spring-example', ['-jar', SPRING_EXAMPLE_JAR, ...args], ['-Xms64m', '-Xmx384m', `-Duser.home=${home}`], /Started ImBackendApplication in/);
  void proc.exited.then(() => fs.rmSync(home, { recursive: true, force: true }));
  return proc;
}

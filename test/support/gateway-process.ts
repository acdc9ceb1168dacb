/**
 * Runs the built gateway (dist/main.js) as a child process on free ports, captures its log lines
 * and waits until /healthz answers.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { httpGet } from './admin';
import { freePorts } from './ports';
import { spawnSupervised, type ExitInfo, type SupervisedChild } from './supervised-child';

export interface StartGatewayOptions {
  /** Added to (and overriding) process.env and the IMA_* defaults; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** IMA_CONFIG_DIR; default: the repo's config/ directory. */
  configDir?: string;
  /** Extra command-line arguments for dist/main.js. */
  args?: string[];
  /** Script to run instead of the built gateway (dist/main.js); for testing this helper. */
  entry?: string;
  /** How long to wait for /healthz (default 15 s). */
  readyTimeoutMs?: number;
  /**
   * A command the gateway runs under: the node command line is appended to it (e.g.
   * `['sh', '-c', 'ulimit -n 320 && exec "$0" "$@"']` for a low descriptor limit).
   */
  wrap?: string[];
  /**
   * Fixed ports instead of free ones: to restart a gateway on the ports it had (clients that
   * reconnect by themselves find it at the same URL). Take them from freePorts().
   */
  ports?: { ws: number; grpc: number; admin: number };
}

export type { ExitInfo } from './supervised-child';

export interface GatewayProcess {
  readonly pid: number | undefined;
  readonly child: ChildProcess;
  readonly wsPort: number;
  readonly grpcPort: number;
  readonly adminPort: number;
  /** http://127.0.0.1:<adminPort> */
  readonly adminUrl: string;
  /** 127.0.0.1:<grpcPort> */
  readonly grpcAddress: string;
  /** Raw stdout and stderr lines, in arrival order. */
  readonly logs: string[];
  /** ws://127.0.0.1:<wsPort>/ws?<query> */
  wsUrl(query?: Record<string, string>): string;
  /** The log lines that are JSON objects, parsed. */
  jsonLogs(): Record<string, unknown>[];
  /**
   * Resolves with the first log line (from index `fromLine`, default 0) matching re; rejects on
   * timeout or when the process exits first.
   */
  waitForLog(re: RegExp, timeoutMs?: number, fromLine?: number): Promise<string>;
  readonly exited: Promise<ExitInfo>;
  /** The exit once it happened. */
  readonly exitInfo: ExitInfo | undefined;
  /** Sends signal; kills with SIGKILL when it has not exited after timeoutMs. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitInfo>;
  kill9(): Promise<ExitInfo>;
}

/** The repository root: the nearest ancestor of this file's directory holding package.json. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, '../../..');
    dir = up;
  }
}

/** The gateway of the build this file belongs to (dist/test/support -> dist/main.js). */
export function gatewayEntry(): string {
  return path.resolve(__dirname, '..', '..', 'main.js');
}

interface Spawned {
  child: ChildProcess;
  logs: string[];
  exited: Promise<ExitInfo>;
  exitInfo: () => ExitInfo | undefined;
  sc: SupervisedChild;
}

function spawnGateway(env: NodeJS.ProcessEnv, args: string[], entry = gatewayEntry(), wrap: readonly string[] = []): Spawned {
  if (!fs.existsSync(entry)) throw new Error(`gateway entry ${entry} not found: build first (npx tsc -p .)`);
  const command = [...wrap, process.execPath, entry, ...args];
  const sc = spawnSupervised('gateway', command[0] ?? process.execPath, command.slice(1), { cwd: repoRoot(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  return { child: sc.child, logs: sc.logs, exited: sc.exited, exitInfo: sc.exitInfo, sc };
}

function buildEnv(opts: StartGatewayOptions, ports: { ws: number; grpc: number; admin: number }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    IMA_WS_PORT: String(ports.ws),
    IMA_GRPC_PORT: String(ports.grpc),
    IMA_ADMIN_PORT: String(ports.admin),
    IMA_LOG_LEVEL: 'debug',
    IMA_CONFIG_DIR: opts.configDir ?? path.join(repoRoot(), 'config'),
  };
  // The test runner's own context must not leak into the gateway.
  delete env.NODE_TEST_CONTEXT;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts the gateway on free ports and resolves once GET /healthz answers 200. */
export async function startGateway(opts: StartGatewayOptions = {}): Promise<GatewayProcess> {
  const [wsPort, grpcPort, adminPort] = opts.ports !== undefined ? [opts.ports.ws, opts.ports.grpc, opts.ports.admin] : ((await freePorts(3)) as [number, number, number]);
  const sp = spawnGateway(buildEnv(opts, { ws: wsPort, grpc: grpcPort, admin: adminPort }), opts.args ?? [], opts.entry, opts.wrap);
  const { child, logs, exited } = sp;
  const adminUrl = `http://127.0.0.1:${adminPort}`;

  const kill = (signal: NodeJS.Signals): void => sp.sc.kill(signal);
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<ExitInfo> => (await sp.sc.stop(signal, timeoutMs)) as ExitInfo;

  const gw: GatewayProcess = {
    get pid() {
      return child.pid;
    },
    child,
    wsPort,
    grpcPort,
    adminPort,
    adminUrl,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    logs,
    wsUrl(query: Record<string, string> = {}): string {
      const qs = new URLSearchParams(query).toString();
      return `ws://127.0.0.1:${wsPort}/ws${qs ? `?${qs}` : ''}`;
    },
    jsonLogs(): Record<string, unknown>[] {
      const out: Record<string, unknown>[] = [];
      for (const line of logs) {
        if (!line.startsWith('{')) continue;
        try {
          const v = JSON.parse(line) as unknown;
          if (v && typeof v === 'object' && !Array.isArray(v)) out.push(v as Record<string, unknown>);
        } catch {
          // not JSON
        }
      }
      return out;
    },
    waitForLog(re: RegExp, timeoutMs = 5_000, fromLine = 0): Promise<string> {
      return sp.sc.waitForLine(re, timeoutMs, fromLine, 'gateway');
    },
    exited,
    get exitInfo() {
      return sp.exitInfo();
    },
    stop,
    kill9(): Promise<ExitInfo> {
      kill('SIGKILL');
      return exited;
    },
  };

  // Wait for /healthz, or fail when the process exits first.
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;
  const deadline = Date.now() + readyTimeoutMs;
  let lastError = 'no answer yet';
  for (;;) {
    const info = sp.exitInfo();
    if (info) {
      throw new Error(`gateway exited (code ${info.code}, signal ${info.signal}) before /healthz answered; logs:\n${sp.sc.tail()}`);
    }
    if (Date.now() >= deadline) {
      await stop('SIGKILL', 2_000);
      throw new Error(`gateway /healthz not 200 within ${readyTimeoutMs} ms (last: ${lastError}); logs:\n${sp.sc.tail()}`);
    }
    try {
      const res = await httpGet(`${adminUrl}/healthz`, undefined, 1_000);
      if (res.status === 200) return gw;
      lastError = `HTTP ${res.status} ${res.body.slice(0, 200)}`;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await Promise.race([delay(50), exited]);
  }
}

/**
 * Runs the gateway expecting it to stop by itself (e.g. invalid config): resolves with its exit
 * code and combined output once it exits; rejects (after killing it) when it runs for more than
 * timeoutMs.
 */
export async function runGatewayExpectingFailure(
  opts: StartGatewayOptions & { timeoutMs?: number } = {},
): Promise<{ code: number | null; signal: string | null; output: string }> {
  const [wsPort, grpcPort, adminPort] = (await freePorts(3)) as [number, number, number];
  const sp = spawnGateway(buildEnv(opts, { ws: wsPort, grpc: grpcPort, admin: adminPort }), opts.args ?? [], opts.entry, opts.wrap);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const first = await Promise.race([sp.exited, timedOut]);
  clearTimeout(timer);
  if (first === 'timeout') {
    sp.sc.kill('SIGKILL');
    await sp.exited;
    throw new Error(`gateway still running after ${timeoutMs} ms (expected it to fail); output:\n${sp.sc.tail()}`);
  }
  return { code: first.code, signal: first.signal, output: sp.logs.join('\n') };
}

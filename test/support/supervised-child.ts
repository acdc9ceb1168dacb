/**
 * Child processes under supervision, shared by the test helper that runs gateways
 * (test/support/gateway-process.ts) and the benchmark's process supervisor
 * (scripts/bench/supervisor.ts): spawn or fork a node script, capture its output lines, wait for
 * a line (or the exit), stop it with a signal and then SIGKILL after a bounded wait, and kill
 * every child still running when this process exits.
 */
import { fork, spawn, type ChildProcess, type ForkOptions, type SpawnOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as readline from 'node:readline';

export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

export interface SuperviseOptions {
  /** Keep only the last maxLines output lines (default: all; waitForLine's fromLine needs all). */
  maxLines?: number;
}

export interface SupervisedChild {
  readonly name: string;
  readonly child: ChildProcess;
  /** stdout and stderr lines (those streams that are piped), in arrival order. */
  readonly logs: string[];
  /** Emits 'line' (line) for every output line and 'exit' once the process is gone. */
  readonly lineEvents: EventEmitter;
  /** Resolves after 'close' (the process exited and its output ended: the logs are complete). */
  readonly exited: Promise<ExitInfo>;
  /** The exit once `exited` resolved. */
  exitInfo(): ExitInfo | undefined;
  /** The last n output lines, with a note of how many came before. */
  tail(n?: number): string;
  /** Sends signal unless the process already exited. */
  kill(signal: NodeJS.Signals): void;
  /**
   * Resolves with the first line (from index fromLine) matching re; rejects on timeout or when
   * the process exits first. `what` names the process in the error messages.
   */
  waitForLine(re: RegExp, timeoutMs: number, fromLine?: number, what?: string): Promise<string>;
  /**
   * Sends signal; sends SIGKILL when it has not exited after graceMs; then waits for the exit
   * (at most afterKillMs when given). Resolves with the exit, or undefined when it never came.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number, afterKillMs?: number): Promise<ExitInfo | undefined>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills every supervised child still running (synchronous: usable in an 'exit' handler). */
export function killAllSupervisedSync(signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const c of live) {
    try {
      c.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Kills any supervised child still running when this process exits, so no port stays taken. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => killAllSupervisedSync('SIGKILL'));
}

function timeout<T>(ms: number, value: T): { promise: Promise<T>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(value), ms);
  });
  return { promise, clear: () => clearTimeout(timer) };
}

/** Puts an already started child under supervision. */
export function supervise(name: string, child: ChildProcess, opts: SuperviseOptions = {}): SupervisedChild {
  installExitHook();
  live.add(child);
  const logs: string[] = [];
  const lineEvents = new EventEmitter();
  lineEvents.setMaxListeners(0);
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', (line) => {
      logs.push(line);
      if (opts.maxLines !== undefined && logs.length > opts.maxLines) logs.splice(0, logs.length - opts.maxLines);
      lineEvents.emit('line', line);
    });
  }
  let info: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    // 'close' comes after 'exit' and after stdout/stderr ended: the logs are complete.
    child.once('close', (code, signal) => {
      live.delete(child);
      info = { code, signal };
      lineEvents.emit('exit');
      resolve(info);
    });
    child.once('error', (err) => {
      logs.push(`[spawn error] ${err.message}`);
      if (child.pid === undefined) {
        live.delete(child);
        info = { code: null, signal: null };
        lineEvents.emit('exit');
        resolve(info);
      }
    });
  });

  const tail = (n = 200): string => {
    const t = logs.slice(-n).join('\n');
    return logs.length > n ? `…(${logs.length - n} earlier lines)\n${t}` : t;
  };

  const kill = (signal: NodeJS.Signals): void => {
    if (info) return;
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000, afterKillMs?: number): Promise<ExitInfo | undefined> => {
    if (info) return info;
    kill(signal);
    const grace = timeout(graceMs, 'timeout' as const);
    const first = await Promise.race([exited, grace.promise]);
    grace.clear();
    if (first !== 'timeout') return first;
    kill('SIGKILL');
    if (afterKillMs === undefined) return exited;
    const after = timeout(afterKillMs, undefined);
    const r = await Promise.race([exited, after.promise]);
    after.clear();
    return r;
  };

  const waitForLine = (re: RegExp, timeoutMs: number, fromLine = 0, what = name): Promise<string> => {
    const find = (): string | undefined => {
      for (let i = fromLine; i < logs.length; i++) {
        const l = logs[i];
        if (l !== undefined && re.test(l)) return l;
      }
      return undefined;
    };
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<string>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        lineEvents.off('line', onLine);
        lineEvents.off('exit', onExit);
      };
      const onLine = (line: string): void => {
        if (logs.length - 1 >= fromLine && re.test(line)) {
          cleanup();
          resolve(line);
        }
      };
      const onExit = (): void => {
        cleanup();
        const again = find();
        if (again !== undefined) resolve(again);
        else reject(new Error(`${what} exited (${JSON.stringify(info)}) before logging ${re}; logs:\n${tail()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a ${what} log line matching ${re}; logs:\n${tail()}`));
      }, timeoutMs);
      lineEvents.on('line', onLine);
      lineEvents.on('exit', onExit);
    });
  };

  return { name, child, logs, lineEvents, exited, exitInfo: () => info, tail, kill, waitForLine, stop };
}

/** Spawns a command (stdio defaults to ['ignore', 'pipe', 'pipe']) under supervision. */
export function spawnSupervised(name: string, command: string, args: readonly string[], options: SpawnOptions = {}, opts: SuperviseOptions = {}): SupervisedChild {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  return supervise(name, child, opts);
}

/** Forks a node script (with an IPC channel) under supervision. */
export function forkSupervised(name: string, script: string, args: readonly string[], options: ForkOptions = {}, opts: SuperviseOptions = {}): SupervisedChild {
  const child = fork(script, args, options);
  return supervise(name, child, opts);
}

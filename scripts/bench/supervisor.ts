/**
 * The benchmark's process supervisor: starts the gateway, the baselines and the load workers as
 * child processes (on test/support/supervised-child.ts, shared with the tests' gateway helper),
 * talks to them over the IPC request/reply protocol of common.ts, stops them with bounded waits,
 * kills every process started on exit / SIGINT / SIGTERM / SIGHUP / an uncaught error, and prints
 * the progress lines (stderr).
 */
import * as path from 'node:path';
import { forkSupervised, killAllSupervisedSync, spawnSupervised, type SupervisedChild } from '../../test/support/supervised-child';
import { sleep } from './common';

/** Output lines kept per process for error messages. */
const KEEP_LINES = 200;
/** Characters of a process's output quoted in error messages (the tail). */
const TAIL_CHARS = 4000;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** A process started by the supervisor. */
export interface Proc {
  readonly name: string;
  readonly sc: SupervisedChild;
  readonly child: SupervisedChild['child'];
  /** Set on the child's 'exit'. */
  exited: boolean;
  readonly pending: Map<number, Pending>;
  /** Unsolicited IPC messages (progress, ready). */
  onEvent?: (m: Record<string, unknown>) => void;
  /** The last output (stderr, and stdout when piped), at most TAIL_CHARS characters. */
  readonly stderrTail: string;
}

export class Supervisor {
  /** Set by the watchdog: waits give up, no further scenario starts. */
  aborted = false;
  readonly procs = new Set<Proc>();
  private reqSeq = 0;
  private handlersInstalled = false;

  constructor(readonly t0: number = Date.now()) {}

  /** A progress line `[bench mm:ss] msg` on stderr. */
  log(msg: string): void {
    const s = Math.floor((Date.now() - this.t0) / 1000);
    process.stderr.write(`[bench ${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${msg}\n`);
  }

  /**
   * Kills every process started on exit, SIGINT / SIGTERM / SIGHUP (exit code 130) and an uncaught
   * exception (exit code 1).
   */
  installExitHandlers(): void {
    if (this.handlersInstalled) return;
    this.handlersInstalled = true;
    process.on('exit', () => this.killAllSync());
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(sig, () => {
        this.log(`${sig}: stopping every process started`);
        this.killAllSync();
        process.exit(130);
      });
    }
    process.on('uncaughtException', (e) => {
      this.log(`uncaught: ${e.stack ?? e.message}`);
      this.killAllSync();
      process.exit(1);
    });
  }

  private track(name: string, sc: SupervisedChild): Proc {
    const p: Proc = {
      name,
      sc,
      child: sc.child,
      exited: false,
      pending: new Map(),
      get stderrTail(): string {
        return sc.logs.join('\n').slice(-TAIL_CHARS);
      },
    };
    this.procs.add(p);
    sc.lineEvents.on('line', (line: string) => {
      if (/refusing to benchmark|NATIVE BINARY NOT LOADED/.test(line)) process.stderr.write(`[${name}] ${line}\n`);
    });
    sc.child.on('message', (m: unknown) => {
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
    sc.child.on('exit', (code, signal) => {
      p.exited = true;
      this.procs.delete(p);
      for (const w of p.pending.values()) w.reject(new Error(`${name} exited (code ${code}, signal ${signal}): ${p.stderrTail.slice(-600)}`));
      p.pending.clear();
    });
    return p;
  }

  /** Forks a node script with an IPC channel (stderr captured; with --expose-gc when gc). */
  fork(script: string, name: string, env: Record<string, string> = {}, gc = true, extraExecArgv: string[] = []): Proc {
    const sc = forkSupervised(
      name,
      script,
      [],
      { env: { ...process.env, ...env }, execArgv: [...(gc ? ['--expose-gc'] : []), ...extraExecArgv], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
      { maxLines: KEEP_LINES },
    );
    return this.track(name, sc);
  }

  /** Spawns a command (stdout and stderr captured). */
  spawn(cmd: string, args: string[], name: string, env: Record<string, string> = {}): Proc {
    const sc = spawnSupervised(name, cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }, { maxLines: KEEP_LINES });
    return this.track(name, sc);
  }

  /** An IPC request to a forked process; rejects after timeoutMs or when it exits. */
  call<T = Record<string, unknown>>(p: Proc, cmd: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
    if (p.exited) return Promise.reject(new Error(`${p.name} is not running`));
    const id = ++this.reqSeq;
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

  /** SIGTERM; SIGKILL after graceMs; waits at most graceMs + 1 s in all. */
  async stop(p: Proc | undefined, graceMs = 2000): Promise<void> {
    if (!p || p.exited) return;
    await p.sc.stop('SIGTERM', graceMs, 1000);
  }

  /** Stops every running process except those in keep (e.g. the load workers). */
  async stopAllExcept(keep: readonly Proc[], graceMs: number): Promise<void> {
    for (const p of [...this.procs]) if (!keep.includes(p)) await this.stop(p, graceMs);
  }

  /** SIGKILL to every process started (synchronous). */
  killAllSync(): void {
    for (const p of this.procs) p.sc.kill('SIGKILL');
    killAllSupervisedSync('SIGKILL');
  }

  /** Polls check every 100 ms until it is true; fails when p exits, on abort, or after timeoutMs. */
  async waitFor(what: string, p: Proc, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (p.exited) throw new Error(`${what} exited during start: ${p.stderrTail.slice(-1500)}`);
      if (this.aborted) throw new Error('aborted');
      try {
        if (await check()) return;
      } catch {
        // not yet
      }
      await sleep(100);
    }
    throw new Error(`${what} not ready within ${timeoutMs} ms: ${p.stderrTail.slice(-1500)}`);
  }

  /** Waits for the IPC event `event` from p; fails when p exits first or after timeoutMs. */
  waitForEvent(p: Proc, event: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${p.name} not ready: ${p.stderrTail}`)), timeoutMs);
      p.onEvent = (m) => {
        if (m['event'] === event) {
          clearTimeout(t);
          resolve();
        }
      };
      p.child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`${p.name} exited with ${code}: ${p.stderrTail.slice(-1500)}`));
      });
    });
  }
}

/** The directory of the benchmark's compiled scripts (gateway-proc.js, worker.js, the baselines). */
export const BENCH_DIR = path.resolve(__dirname);

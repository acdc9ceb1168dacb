/**
 * A throw-away redis-server for tests: its own free port (below 32768), no persistence
 * (`--save "" --appendonly no`), its working directory in a temp dir. Never touches a Redis that
 * may already run on 6379.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './ports';

export interface TestRedis {
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** Stops the server (SIGTERM, SIGKILL after 5 s) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops it (when running) and starts a server on the same port: empty (a restart without
   * persistence), or with its data back when started `persistent`. Also works after stop(), to bring a stopped server back.
   */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Lets a paused server go on (SIGCONT). */
  resume(): void;
}

const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
const READY_TIMEOUT_MS = 10_000;

/** Sends one inline command and resolves with the first reply line (e.g. `+PONG`). */
export function redisCommand(port: number, command: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis ${command}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(`${command}\r\n`));
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\r\n');
      if (nl >= 0) {
        clearTimeout(timer);
        sock.end();
        resolve(buf.slice(0, nl));
      }
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    });
  });
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function spawnServer(port: number, dir: string, persistent = false): Promise<ChildProcess> {
  const child = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', persistent ? 'yes' : 'no', '--appendfsync', 'always', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'yes'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server on ${port} not ready after ${READY_TIMEOUT_MS} ms:\n${output.join('')}`)), READY_TIMEOUT_MS);
    const onData = (d: Buffer): void => {
      output.push(d.toString('utf8'));
      if (/Ready to accept connections/.test(output.join(''))) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString('utf8')));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on ${port} exited (${code ?? signal}) before it was ready:\n${output.join('')}`));
    });
  });
  try {
    await ready;
    const pong = await redisCommand(port, 'PING');
    if (pong !== '+PONG') throw new Error(`redis-server on ${port} answered PING with ${pong}`);
  } catch (err) {
    child.kill('SIGKILL');
    await waitExit(child);
    throw err;
  }
  // Keep draining its output so the pipe never fills up.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = waitExit(child);
  child.kill('SIGCONT'); // a paused server could not act on SIGTERM
  child.kill('SIGTERM'); // no persistence configured: nothing is saved
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/**
 * Starts redis-server on a free port and resolves once it answers PING. `persistent`: with an
 * append-only file (fsync always) in its temp dir, so `restart()` keeps the data.
 */
export async function startRedis(opts: { persistent?: boolean } = {}): Promise<TestRedis> {
  const persistent = opts.persistent === true;
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-redis-'));
  let child: ChildProcess | undefined = await spawnServer(port, dir, persistent);
  running.add(child);

  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c !== undefined) {
      await stopServer(c);
      running.delete(c);
    }
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await stop();
      fs.mkdirSync(dir, { recursive: true });
      child = await spawnServer(port, dir, persistent);
      running.add(child);
    },
    pause: () => {
      child?.kill('SIGSTOP');
    },
    resume: () => {
      child?.kill('SIGCONT');
    },
  };
}

/**
 * `npm run demo`: the demo chat in one command. Starts the demo business service
 * (dist/demo/business-service.js: BusinessMessageService over gRPC plus the page's token endpoint)
 * and the gateway (dist/main.js) with the demo page on (IMA_DEMO=true), the jwt provider and the
 * service as its business service (so clients subscribe to rooms through it), prints the URL to
 * open, and on Ctrl+C / SIGTERM / SIGHUP stops both (SIGTERM each, the gateway drains) and exits 0.
 * On a terminal, `r` + Enter restarts the gateway alone (to watch the pages reconnect and resync).
 *
 * Ports, from the environment: IMA_WS_PORT (8080: the page and the WebSocket), IMA_GRPC_PORT
 * (50051), IMA_ADMIN_PORT (8081: /dashboard), DEMO_GRPC_PORT (50052: the business service),
 * DEMO_HTTP_PORT (8090: the token endpoint). Any other IMA_* variable reaches the gateway.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import * as readline from 'node:readline';

const DIST = path.resolve(__dirname, '..');
const ROOT = path.resolve(DIST, '..');
const GATEWAY_ENTRY = path.join(DIST, 'main.js');
const SERVICE_ENTRY = path.join(DIST, 'demo', 'business-service.js');
/** The token endpoint port the page assumes when its URL names none. */
const DEFAULT_TOKEN_PORT = 8090;
const STOP_GRACE_MS = 40_000;

function port(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65_535) {
    process.stderr.write(`demo: ${name} must be a port number from 1 to 65535, got ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return Number(v);
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: '', 40: 'WARN ', 50: 'ERROR ', 60: 'FATAL ' };
const SHOWN_FIELDS = ['userId', 'deviceId', 'platform', 'code', 'reason', 'room', 'signal', 'step', 'error', 'err', 'dir'];

/** A gateway log line (pino JSON) as one short line; undefined to leave it out. */
function gatewayLine(line: string): string | undefined {
  if (!line.startsWith('{')) return line;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = typeof o['level'] === 'number' ? o['level'] : 30;
  if (level < 30) return undefined;
  const msg = String(o['msg'] ?? '');
  const fields: string[] = [];
  if (msg === 'ima gateway started') fields.push(`ports=${JSON.stringify(o['ports'])}`, `instance=${String(o['instanceId'] ?? '')}`);
  for (const k of SHOWN_FIELDS) {
    const v = o[k];
    if (v === undefined || v === '') continue;
    const text = typeof v === 'object' ? ((v as { message?: unknown }).message ?? JSON.stringify(v)) : v;
    fields.push(`${k}=${String(text)}`);
  }
  return `${LEVELS[level] ?? ''}${msg}${fields.length > 0 ? ` (${fields.join(' ')})` : ''}`;
}

interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  exited: boolean;
  /** set before this script stops it on purpose (a restart) */
  expectedExit: boolean;
  /** emits 'line' for each output line */
  readonly lines: EventEmitter;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: Child[] = [];

function start(name: string, entry: string, args: string[], env: NodeJS.ProcessEnv, format: (line: string) => string | undefined): Child {
  // a process group of its own: Ctrl+C reaches this script only, which stops the children once
  // and in order (a second signal would make the gateway skip its drain)
  const proc = spawn(process.execPath, [entry, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const child: Child = {
    name,
    proc,
    exited: false,
    expectedExit: false,
    lines: new EventEmitter(),
    exit: new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        child.exited = true;
        resolve({ code, signal });
      });
      proc.once('error', (err) => {
        process.stderr.write(`demo: cannot start the ${name}: ${err.message}\n`);
        child.exited = true;
        resolve({ code: null, signal: null });
      });
    }),
  };
  for (const stream of [proc.stdout, proc.stderr]) {
    if (stream === null) continue;
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      child.lines.emit('line', line);
      const out = format(line);
      if (out !== undefined) process.stdout.write(`[${name}] ${out}\n`);
    });
  }
  children.push(child);
  return child;
}

/** Resolves with the first output line matching re; rejects when the child exits first. */
function waitForLine(child: Child, re: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const onLine = (line: string): void => {
      if (re.test(line)) done(null, line);
    };
    const timer = setTimeout(() => done(new Error(`the ${child.name} did not get ready within ${timeoutMs / 1000} s`)), timeoutMs);
    const done = (err: Error | null, line?: string): void => {
      clearTimeout(timer);
      child.lines.off('line', onLine);
      if (err !== null) reject(err);
      else resolve(line ?? '');
    };
    child.lines.on('line', onLine);
    void child.exit.then((e) => done(new Error(`the ${child.name} exited (code ${e.code}, signal ${e.signal}) before it was ready`)));
  });
}

let stopping: Promise<void> | null = null;

/** SIGTERM to every running child (the gateway first: it drains, then the service), then waits; SIGKILL after STOP_GRACE_MS. */
function stopAll(): Promise<void> {
  if (stopping !== null) return stopping;
  stopping = (async () => {
    for (const c of [...children].reverse()) {
      if (c.exited) continue;
      try {
        c.proc.kill('SIGTERM');
      } catch {
        // gone meanwhile
      }
      const timer = setTimeout(() => {
        process.stderr.write(`demo: the ${c.name} did not stop within ${STOP_GRACE_MS / 1000} s: killing it\n`);
        c.proc.kill('SIGKILL');
      }, STOP_GRACE_MS);
      await c.exit;
      clearTimeout(timer);
    }
  })();
  return stopping;
}

process.on('exit', () => {
  // never leave a child behind (they have their own process group)
  for (const c of children) if (!c.exited) c.proc.kill('SIGKILL');
});

/** A child that exits by itself (not stopped by this script) ends the demo with exit code 1. */
function watch(child: Child): void {
  void child.exit.then((e) => {
    if (stopping !== null || child.expectedExit) return;
    process.stderr.write(`demo: the ${child.name} exited (code ${e.code}, signal ${e.signal}): stopping\n`);
    void stopAll().then(() => process.exit(1));
  });
}

async function main(): Promise<void> {
  const wsPort = port('IMA_WS_PORT', 8080);
  const grpcPort = port('IMA_GRPC_PORT', 50051);
  const adminPort = port('IMA_ADMIN_PORT', 8081);
  const demoGrpcPort = port('DEMO_GRPC_PORT', 50052);
  const demoHttpPort = port('DEMO_HTTP_PORT', DEFAULT_TOKEN_PORT);

  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (stopping === null) process.stdout.write(`\ndemo: ${sig}: stopping the gateway and the demo service\n`);
      void stopAll().then(() => process.exit(0));
    });
  }
  // `npm run demo` runs this under a shell that does not pass SIGTERM on: when npm is told to
  // stop, the shell dies and this process is left to init. Stop then too.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid === parent || stopping !== null) return;
    process.stdout.write('\ndemo: the parent process is gone: stopping the gateway and the demo service\n');
    void stopAll().then(() => process.exit(0));
  }, 250).unref();

  // the page gets its tokens from the service: both must use the jwt provider with one secret
  const env: NodeJS.ProcessEnv = { ...process.env, IMA_AUTH_PROVIDER: 'jwt', IMA_WS_PORT: String(wsPort), IMA_GRPC_PORT: String(grpcPort), IMA_ADMIN_PORT: String(adminPort) };
  const service = start(
    'service',
    SERVICE_ENTRY,
    ['--grpc-port', String(demoGrpcPort), '--http-port', String(demoHttpPort), '--gateway', `127.0.0.1:${grpcPort}`],
    env,
    (line) => line,
  );
  watch(service);
  await waitForLine(service, /^demo service ready/, 15_000);
  const startGateway = async (): Promise<Child> => {
    const g = start(
      'gateway',
      GATEWAY_ENTRY,
      [],
      { ...env, IMA_DEMO: 'true', IMA_BUSINESS_ADDR: `127.0.0.1:${demoGrpcPort}`, IMA_LOG_LEVEL: process.env['IMA_LOG_LEVEL'] ?? 'info' },
      gatewayLine,
    );
    watch(g);
    await waitForLine(g, /"msg":"ima gateway started"/, 30_000);
    return g;
  };
  let gateway = await startGateway();

  const query = demoHttpPort === DEFAULT_TOKEN_PORT ? '' : `?tokenUrl=http://127.0.0.1:${demoHttpPort}/token`;
  const interactive = process.stdin.isTTY === true;
  process.stdout.write(
    [
      '',
      'IMA demo chat is running:',
      `  open http://127.0.0.1:${wsPort}/demo${query} in two browser windows, pick two names, join the same room`,
      `  dashboard: http://127.0.0.1:${adminPort}/dashboard`,
      `  tokens:    http://127.0.0.1:${demoHttpPort}/token?user=alice&device=d1&platform=web`,
      ...(interactive ? ['Type r and Enter to restart the gateway (the pages reconnect and resync); Ctrl+C stops everything.'] : ['Ctrl+C stops it.']),
      '',
      '',
    ].join('\n'),
  );

  if (!interactive) return;
  // r + Enter: restart the gateway alone (SIGTERM, wait, start on the same ports)
  let restarting = false;
  // terminal: false keeps the terminal in line mode, where Ctrl+C is still SIGINT
  readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false }).on('line', (line) => {
    if (line.trim().toLowerCase() !== 'r' || restarting || stopping !== null) return;
    restarting = true;
    const old = gateway;
    old.expectedExit = true;
    process.stdout.write('demo: restarting the gateway\n');
    old.proc.kill('SIGTERM');
    void old.exit
      .then(async () => {
        if (stopping !== null) return;
        children.splice(children.indexOf(old), 1);
        gateway = await startGateway();
        process.stdout.write('demo: the gateway is back\n');
      })
      .catch((e: unknown) => {
        process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
        void stopAll().then(() => process.exit(1));
      })
      .finally(() => {
        restarting = false;
      });
  });
}

main().catch(async (e: unknown) => {
  process.stderr.write(`demo: ${e instanceof Error ? e.message : String(e)}\n`);
  await stopAll();
  process.exit(1);
});

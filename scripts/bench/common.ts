import { performance } from 'node:perf_hooks';

/**
 * Shared helpers of the benchmark processes (orchestrator, servers, load workers): an IPC
 * request/reply protocol over child_process.fork channels, percentiles, frame sizing.
 */

export interface IpcRequest {
  readonly id: number;
  readonly cmd: string;
  readonly [k: string]: unknown;
}

export interface IpcReply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

export type Handler = (req: IpcRequest) => Promise<unknown> | unknown;

/**
 * Serves IPC requests from the parent; exits when the parent goes away (so no process outlives
 * the orchestrator, even when it is killed with SIGKILL).
 */
export function serveIpc(handlers: Record<string, Handler>): void {
  if (typeof process.send !== 'function') {
    process.stderr.write('bench: this process must be started by scripts/bench/run.js (IPC channel missing)\n');
    process.exit(1);
  }
  process.on('disconnect', () => process.exit(0));
  process.on('message', (raw: unknown) => {
    const req = raw as IpcRequest;
    if (typeof req !== 'object' || req === null || typeof req.id !== 'number') return;
    const h = handlers[req.cmd];
    const reply = (r: IpcReply): void => {
      if (process.connected) process.send?.(r);
    };
    if (h === undefined) {
      reply({ id: req.id, ok: false, error: `unknown command ${req.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => h(req))
      .then(
        (result) => reply({ id: req.id, ok: true, result }),
        (e: unknown) => reply({ id: req.id, ok: false, error: e instanceof Error ? e.stack ?? e.message : String(e) }),
      );
  });
}

/** Sends an unsolicited event to the parent (progress, ready). */
export function emit(event: string, data: Record<string, unknown> = {}): void {
  if (process.connected) process.send?.({ event, ...data });
}

/** Memory of this process after a full GC (processes are started with --expose-gc). */
export function memorySnapshot(): { rss: number; heapUsed: number; external: number; arrayBuffers: number } {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export function summarize(samples: number[]): LatencySummary {
  const s = samples.slice().sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    count: s.length,
    p50: r(percentile(s, 50)),
    p99: r(percentile(s, 99)),
    p999: r(percentile(s, 99.9)),
    max: r(s.length ? (s[s.length - 1] as number) : NaN),
    mean: r(s.length ? sum / s.length : NaN),
  };
}

/** High-resolution milliseconds. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * The push frame the gateway writes for a ServerMessage with a JSON-string payload of `n`
 * characters is about n + FRAME_OVERHEAD bytes; baselines send strings of the same total size.
 */
export function payloadFor(frameBytes: number, overhead: number): string {
  return JSON.stringify('x'.repeat(Math.max(1, frameBytes - overhead - 2)));
}

export const BENCH_SECRET = 'ima-bench-secret-0123456789abcdef';
export const HOST = '127.0.0.1';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The baselines' `publish` command: `req.count` times `publishOne(req.frame)`, one per event-loop
 * turn (as the gateway gets one Broadcast RPC per message).
 */
export async function publishEach(req: IpcRequest, publishOne: (frame: string) => void): Promise<void> {
  const frame = String(req['frame']);
  const count = Number(req['count']);
  for (let i = 0; i < count; i++) {
    publishOne(frame);
    await new Promise<void>((r) => setImmediate(r));
  }
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between the processes of one machine. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The latency stamp `~T<epoch ms with 3 decimals>~` (20 characters) that load generators and
 * baseline servers put near the start of a payload; the raw clients' sampled connections read it.
 */
export function stamp(): string {
  return `~T${wallMs().toFixed(3)}~`;
}

/** Bytes of the gateway's push frame around the payload: {"type":"bench","id":<23 chars>,"payload":P,"ts":<13 digits>}. */
export const PUSH_FRAME_OVERHEAD = 77;

/** The padding that makes a stamped push frame (payload `"<stamp><pad>"`) about frameBytes long. */
export function padFor(frameBytes: number): string {
  return 'x'.repeat(Math.max(1, frameBytes - PUSH_FRAME_OVERHEAD - 2 - 20));
}

/**
 * A baseline server's stamped frame, the same bytes as the gateway's push frame: `prefix`, a
 * fresh stamp, `suffix`.
 */
export function baselineParts(frameBytes: number): { prefix: string; suffix: string } {
  return { prefix: '{"type":"bench","id":"0000000000000000000000a","payload":"', suffix: `${padFor(frameBytes)}","ts":${Date.now()}}` };
}

/**
 * The baselines' `publishBatch` command: `count` stamped frames, `perTurn` of them per event-loop
 * turn (as the gateway gets `perTurn` push calls in flight).
 */
export async function publishBatch(req: IpcRequest, publishOne: (frame: string) => void): Promise<{ ms: number }> {
  const prefix = String(req['prefix']);
  const suffix = String(req['suffix']);
  const count = Number(req['count']);
  const perTurn = Math.max(1, Number(req['perTurn'] ?? 1));
  const t0 = nowMs();
  for (let i = 0; i < count; ) {
    for (let j = 0; j < perTurn && i < count; j++, i++) publishOne(prefix + stamp() + suffix);
    await new Promise<void>((r) => setImmediate(r));
  }
  return { ms: nowMs() - t0 };
}

/** The baselines' `publishRate` command: stamped frames at `rate` per second for durationMs (open loop). */
export async function publishRate(req: IpcRequest, publishOne: (frame: string) => void): Promise<{ published: number; ms: number }> {
  const prefix = String(req['prefix']);
  const suffix = String(req['suffix']);
  const rate = Number(req['rate']);
  const t0 = nowMs();
  const end = t0 + Number(req['durationMs']);
  let n = 0;
  while (nowMs() < end) {
    const due = Math.floor(((nowMs() - t0) / 1000) * rate);
    for (; n < due; n++) publishOne(prefix + stamp() + suffix);
    await new Promise<void>((r) => setTimeout(r, 1));
  }
  return { published: n, ms: nowMs() - t0 };
}

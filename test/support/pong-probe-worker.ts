/**
 * A bystander WebSocket client in its own worker thread (so that the busy test thread does not
 * delay it): logs in, then pings at an interval, alternating a `{"type":"ping"}` frame and a
 * WebSocket ping frame, and measures how long each pong takes. Started by startPongProbe().
 *
 * Each round trip is also measured net of CPU starvation: on Linux, the run-queue wait (time
 * runnable but not running, /proc/.../schedstat) of the gateway's main thread and of this thread
 * during the round trip is subtracted. On a machine shared with other work, that wait says
 * nothing about the gateway; what remains is the gateway's own delay (its work on other
 * connections, its pauses) plus the network.
 *
 * Messages from the parent: 'stop'. To the parent: {kind:'ready'} once logged in,
 * {kind:'error', message} when it cannot log in, {kind:'result', ...} after 'stop'.
 */
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';

export interface PongProbeData {
  readonly url: string;
  readonly intervalMs: number;
  /** A pong later than this is reported as missing (and the probe goes on). */
  readonly giveUpMs: number;
  /** The gateway's pid, for its main thread's run-queue wait; undefined: not corrected. */
  readonly gatewayPid?: number;
}

export interface PongSample {
  /** Unix ms when the ping was sent. */
  readonly at: number;
  readonly kind: 'frame' | 'ws';
  /** Round trip, ms. */
  readonly ms: number;
  /** Run-queue wait of the gateway's main thread and of the probe's thread during it, ms. */
  readonly schedWaitMs: number;
  /** For ping frames: how long after the ping the gateway answered (the pong's `ts`; same machine clock). */
  readonly gatewayAfterMs?: number;
}

export interface PongProbeResult {
  readonly kind: 'result';
  readonly samples: PongSample[];
  /** Pings with no pong within giveUpMs. */
  readonly missing: number;
  /** The close, when the socket closed before 'stop'. */
  readonly closed: { code: number; reason: string } | null;
  /** Whether run-queue waits could be read (Linux /proc). */
  readonly schedstat: boolean;
}

export type PongProbeMessage = { kind: 'ready' } | { kind: 'error'; message: string } | PongProbeResult;

/** Run-queue wait (ns) of one thread from its schedstat line ("on-cpu wait slices"), NaN when unreadable. */
function runQueueWaitNs(path: string): number {
  try {
    return Number(fs.readFileSync(path, 'utf8').split(' ')[1]);
  } catch {
    return NaN;
  }
}

const port = parentPort;
const data = workerData as PongProbeData;

if (port !== null) {
  const gatewayStat = data.gatewayPid !== undefined ? `/proc/${data.gatewayPid}/task/${data.gatewayPid}/schedstat` : '';
  const ownStat = '/proc/thread-self/schedstat';
  const waitNs = (): number => (gatewayStat === '' ? NaN : runQueueWaitNs(gatewayStat) + runQueueWaitNs(ownStat));
  const schedstat = !Number.isNaN(waitNs());

  const ws = new WebSocket(data.url);
  const samples: PongSample[] = [];
  let missing = 0;
  let closed: { code: number; reason: string } | null = null;
  let stopping = false;
  /** The ping in flight. */
  let pending: { kind: 'frame' | 'ws'; sentAt: number; wallAt: number; wait0: number; timer: NodeJS.Timeout } | null = null;
  let next: NodeJS.Timeout | null = null;
  let useFrame = true;
  let authed = false;
  let finished = false;

  const schedule = (): void => {
    if (stopping || closed !== null) return;
    next = setTimeout(sendPing, data.intervalMs);
  };
  /** gatewayTs: the pong frame's `ts`. */
  const settle = (kind: 'frame' | 'ws', gatewayTs?: number): void => {
    if (pending === null || pending.kind !== kind) return;
    const ms = performance.now() - pending.sentAt;
    const waited = (waitNs() - pending.wait0) / 1e6;
    clearTimeout(pending.timer);
    samples.push({
      at: pending.wallAt,
      kind,
      ms,
      schedWaitMs: Number.isFinite(waited) ? waited : 0,
      ...(gatewayTs !== undefined ? { gatewayAfterMs: gatewayTs - pending.wallAt } : {}),
    });
    pending = null;
    if (stopping) finish();
    else schedule();
  };
  function sendPing(): void {
    next = null;
    if (stopping || closed !== null || ws.readyState !== WebSocket.OPEN) return;
    const kind = useFrame ? 'frame' : 'ws';
    useFrame = !useFrame;
    const timer = setTimeout(() => {
      missing++;
      pending = null;
      if (stopping) finish();
      else schedule();
    }, data.giveUpMs);
    pending = { kind, sentAt: performance.now(), wallAt: Date.now(), wait0: waitNs(), timer };
    if (kind === 'frame') ws.send('{"type":"ping"}');
    else ws.ping();
  }
  function finish(): void {
    if (finished) return;
    finished = true;
    if (next !== null) clearTimeout(next);
    const result: PongProbeResult = { kind: 'result', samples, missing, closed, schedstat };
    port?.postMessage(result);
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    else ws.terminate();
    port?.close();
  }

  ws.on('message', (raw: WebSocket.RawData, isBinary: boolean) => {
    if (isBinary) return;
    let f: { type?: unknown; ok?: unknown; ts?: unknown } | null;
    try {
      f = JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : Buffer.from(raw as ArrayBuffer).toString('utf8')) as { type?: unknown; ok?: unknown; ts?: unknown };
    } catch {
      return;
    }
    if (!authed && f?.type === 'auth') {
      authed = true;
      if (f.ok === true) {
        port.postMessage({ kind: 'ready' } satisfies PongProbeMessage);
        schedule();
      } else port.postMessage({ kind: 'error', message: `auth refused: ${JSON.stringify(f)}` } satisfies PongProbeMessage);
      return;
    }
    if (f?.type === 'pong') settle('frame', typeof f.ts === 'number' ? f.ts : undefined);
  });
  ws.on('pong', () => settle('ws'));
  ws.on('error', (e: Error) => {
    if (!authed) port.postMessage({ kind: 'error', message: e.message } satisfies PongProbeMessage);
  });
  ws.on('close', (code: number, reason: Buffer) => {
    if (!stopping) closed = { code, reason: reason.toString('utf8') };
    if (pending !== null) clearTimeout(pending.timer);
    if (!authed) port.postMessage({ kind: 'error', message: `closed before auth (${code})` } satisfies PongProbeMessage);
    if (stopping || !authed) return;
    finish();
  });
  port.on('message', (m: unknown) => {
    if (m !== 'stop') return;
    stopping = true;
    if (pending === null) finish();
  });
}

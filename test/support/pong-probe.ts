/**
 * The main-thread side of pong-probe-worker.ts: a bystander client that pings a gateway at an
 * interval from its own worker thread and reports every pong's round trip.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PongProbeData, PongProbeMessage, PongProbeResult, PongSample } from './pong-probe-worker';

export type { PongProbeResult, PongSample };

export interface PongProbe {
  /** Resolves once the probe is logged in and pinging; rejects when it cannot log in. */
  readonly ready: Promise<void>;
  /** Stops pinging (after the ping in flight) and resolves with every measured round trip. */
  stop(): Promise<PongProbeResult>;
}

/**
 * opts.gatewayPid: the gateway process, whose main thread's run-queue wait is measured with each
 * round trip (PongSample.schedWaitMs).
 */
export function startPongProbe(url: string, opts: { intervalMs?: number; giveUpMs?: number; gatewayPid?: number } = {}): PongProbe {
  const data: PongProbeData = {
    url,
    intervalMs: opts.intervalMs ?? 50,
    giveUpMs: opts.giveUpMs ?? 2_000,
    ...(opts.gatewayPid !== undefined ? { gatewayPid: opts.gatewayPid } : {}),
  };
  const worker = new Worker(path.join(__dirname, 'pong-probe-worker.js'), { workerData: data });
  let result: PongProbeResult | undefined;
  let onResult: ((r: PongProbeResult) => void) | undefined;
  let failure: Error | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: PongProbeMessage) => {
      if (m.kind === 'ready') resolve();
      else if (m.kind === 'error') reject(new Error(`pong probe: ${m.message}`));
      else {
        result = m;
        onResult?.(m);
      }
    });
    worker.on('error', (e) => {
      failure = e;
      reject(e);
    });
  });
  ready.catch(() => undefined);
  return {
    ready,
    stop: async () => {
      if (result === undefined && failure === undefined) {
        const got = new Promise<PongProbeResult>((resolve, reject) => {
          onResult = resolve;
          worker.once('exit', () => (result !== undefined ? resolve(result) : reject(new Error('pong probe exited without a result'))));
        });
        worker.postMessage('stop');
        result = await got;
      }
      await worker.terminate();
      if (result === undefined) throw failure ?? new Error('pong probe failed');
      return result;
    },
  };
}

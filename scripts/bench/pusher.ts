/**
 * gRPC load generator of the concurrency, scaling, latency and forward scenarios (issue 16), in its
 * own process: `burst` makes `calls` calls of Broadcast / PushToUsers / PushToRoom with `inflight`
 * calls in flight; `rate` makes calls at a fixed rate (open loop); `businessLoop` is a bare grpc-js
 * unary client of the business service (HandleMessage), the baseline of the forward path. Every
 * push carries the call's start time in its payload (`"~T<epoch ms>~xxx..."`), which the sampled
 * raw clients read to measure call start to frame received. `cpu` reports this process's CPU.
 */
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '../../internal/rpc/proto';
import { nowMs, padFor, serveIpc, stamp, summarize } from './common';

/** A JSON string payload `"~T<stamp>~xxx"` stamped now. */
function stampedPayload(pad: string): Buffer {
  return Buffer.from(`"${stamp()}${pad}"`);
}

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Record<string, unknown>) => void) => void;
const clients = new Map<string, grpc.Client>();
function client(service: 'IMAGatewayService' | 'BusinessMessageService', target: string): grpc.Client {
  const key = `${service} ${target}`;
  let c = clients.get(key);
  if (!c) {
    const { grpcType } = loadProto();
    const Ctor = grpcType.im.gateway.v1[service] as unknown as new (t: string, cr: grpc.ChannelCredentials) => grpc.Client;
    c = new Ctor(target, grpc.credentials.createInsecure());
    clients.set(key, c);
  }
  return c;
}

function call(c: grpc.Client, method: string, req: unknown): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const fn = (c as unknown as Record<string, Unary>)[method] as Unary;
    fn.call(c, req, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (e, r) => (e ? reject(e) : resolve(r ?? {})));
  });
}

interface PushReq {
  target: string;
  method: 'Broadcast' | 'PushToUsers' | 'PushToRoom';
  frameBytes: number;
  userBatches?: string[][];
  room?: string;
}

/** One push call of `method`, stamped at its start; resolves with the `delivered` it reports. */
function pushOnce(r: PushReq, pad: string, k: number): Promise<number> {
  const message = { type: 'bench', payload: stampedPayload(pad) };
  const c = client('IMAGatewayService', r.target);
  const req =
    r.method === 'Broadcast'
      ? { message }
      : r.method === 'PushToRoom'
        ? { room: r.room, message }
        : { userIds: (r.userBatches as string[][])[k % (r.userBatches as string[][]).length], message };
  return call(c, r.method, req).then((res) => Number(res['delivered'] ?? 0));
}

/** `calls` push calls with `inflight` in flight (a closed loop). */
async function burst(req: Record<string, unknown>): Promise<unknown> {
  const r = req as unknown as PushReq & { calls: number; inflight: number };
  const pad = padFor(r.frameBytes);
  let issued = 0;
  let delivered = 0;
  let errors = 0;
  const lat: number[] = [];
  const t0 = nowMs();
  await Promise.all(
    Array.from({ length: Math.min(r.inflight, r.calls) }, async () => {
      while (issued < r.calls) {
        const k = issued++;
        const s = nowMs();
        try {
          const d = await pushOnce(r, pad, k);
          delivered += d;
          lat.push(nowMs() - s);
        } catch {
          errors++;
        }
      }
    }),
  );
  const ms = nowMs() - t0;
  return { calls: r.calls, errors, delivered, ms, callsPerSec: (r.calls / ms) * 1000, callLatency: summarize(lat) };
}

/** Push calls at `rate` per second for durationMs (open loop; at most maxInflight outstanding). */
async function rate(req: Record<string, unknown>): Promise<unknown> {
  const r = req as unknown as PushReq & { rate: number; durationMs: number; maxInflight?: number };
  const pad = padFor(r.frameBytes);
  const maxInflight = r.maxInflight ?? 256;
  let issued = 0;
  let delivered = 0;
  let errors = 0;
  let skipped = 0;
  let inflight = 0;
  const t0 = nowMs();
  const end = t0 + r.durationMs;
  const pending: Promise<void>[] = [];
  while (nowMs() < end) {
    const due = Math.floor(((nowMs() - t0) / 1000) * r.rate);
    while (issued < due) {
      const k = issued++;
      if (inflight >= maxInflight) {
        skipped++;
        continue;
      }
      inflight++;
      pending.push(
        pushOnce(r, pad, k).then(
          (d) => {
            delivered += d;
            inflight--;
          },
          () => {
            errors++;
            inflight--;
          },
        ),
      );
    }
    await new Promise((res) => setTimeout(res, 1));
  }
  await Promise.all(pending);
  const ms = nowMs() - t0;
  return { calls: issued - skipped, skipped, errors, delivered, ms, callsPerSec: ((issued - skipped) / ms) * 1000 };
}

/**
 * The forward path's baseline: a bare grpc-js unary client loop of HandleMessage against the same
 * business service, `window` calls in flight for durationMs (closed loop), or at `rate` calls/s
 * (open loop) when given. Latency = call start to response.
 */
async function businessLoop(req: Record<string, unknown>): Promise<unknown> {
  const target = String(req['target']);
  const window = Number(req['window'] ?? 64);
  const durationMs = Number(req['durationMs']);
  const openRate = req['rate'] === undefined ? 0 : Number(req['rate']);
  const c = client('BusinessMessageService', target);
  const payload = Buffer.from('{"text":"hello from the forward benchmark"}');
  let n = 0;
  let calls = 0;
  let errors = 0;
  const lat: number[] = [];
  const one = async (): Promise<void> => {
    const k = n++;
    const s = nowMs();
    try {
      await call(c, 'HandleMessage', { messageId: `b${k}`, type: 'bench.msg', payload, timestamp: Date.now(), userId: `fw${k % 200}`, deviceId: 'd', platform: 'web' });
      calls++;
      if (lat.length < 500_000) lat.push(nowMs() - s);
    } catch {
      errors++;
    }
  };
  const t0 = nowMs();
  const end = t0 + durationMs;
  if (openRate <= 0) {
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (nowMs() < end) await one();
      }),
    );
  } else {
    const pending: Promise<void>[] = [];
    let issued = 0;
    while (nowMs() < end) {
      const due = Math.floor(((nowMs() - t0) / 1000) * openRate);
      while (issued < due) {
        issued++;
        pending.push(one());
      }
      await new Promise((res) => setTimeout(res, 1));
    }
    await Promise.all(pending);
  }
  const ms = nowMs() - t0;
  return { calls, errors, ms, rate: (calls / ms) * 1000, latency: summarize(lat) };
}

serveIpc({
  burst,
  rate,
  businessLoop,
  cpu: () => process.cpuUsage(),
  closeGrpc: () => {
    for (const c of clients.values()) c.close();
    clients.clear();
    return {};
  },
});

/**
 * Load-generator worker: holds client connections (ws package, or socket.io-client for the
 * Socket.IO baseline), counts received frames, drives forward traffic, gRPC PushToUser load and
 * the latency probe. Started several times by run.ts (fd limits, source addresses, CPU).
 */
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import WebSocket from 'ws';
import { io as sioConnect } from 'socket.io-client';
import type { Socket as SioSocket } from 'socket.io-client';
import { signJwt } from '../../internal/auth/jwt';
import { loadProto } from '../../internal/rpc/proto';
import { BENCH_SECRET, HOST, emit, nowMs, serveIpc, summarize } from './common';

type Conn = { kind: 'ws'; ws: WebSocket } | { kind: 'sio'; s: SioSocket };

const conns: Conn[] = [];
let received = 0;
let bytes = 0;
let lastRecvAt = 0;
/** The last frame received (any connection), for a check of its shape. */
let lastFrame: Buffer | string = '';
const wallMs = (): number => performance.timeOrigin + performance.now();

const tokens = new Map<string, string>();
function tokenFor(user: string): string {
  let t = tokens.get(user);
  if (t === undefined) {
    t = signJwt({ sub: user, exp: Math.floor(Date.now() / 1000) + 7200 }, { alg: 'HS256', secret: BENCH_SECRET });
    tokens.set(user, t);
  }
  return t;
}

/** Per-ws handlers that the forward scenario installs for acks. */
const ackHandlers = new WeakMap<WebSocket, (frame: string) => void>();

function openWs(port: number, user: string, device: string, localAddress: string | undefined, timeoutMs: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const url = `ws://${HOST}:${port}/ws?token=${tokenFor(user)}&device_id=${device}&platform=web`;
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress, handshakeTimeout: timeoutMs });
    let first = true;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('first frame timeout'));
    }, timeoutMs);
    ws.on('message', (data: Buffer) => {
      if (first) {
        first = false;
        clearTimeout(timer);
        const s = data.toString();
        if (s.includes('"ok":false')) {
          ws.terminate();
          reject(new Error(`auth refused: ${s.slice(0, 120)}`));
          return;
        }
        resolve(ws);
        return;
      }
      received++;
      bytes += data.length;
      lastRecvAt = wallMs();
      lastFrame = data;
      const h = ackHandlers.get(ws);
      if (h) h(data.toString());
    });
    ws.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    ws.on('close', () => {
      clearTimeout(timer);
      if (first) reject(new Error('closed before first frame'));
    });
  });
}

function openSio(port: number, localAddress: string | undefined, timeoutMs: number): Promise<SioSocket> {
  return new Promise((resolve, reject) => {
    const s = sioConnect(`http://${HOST}:${port}`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: timeoutMs,
      perMessageDeflate: false,
      ...(localAddress ? { localAddress } : {}),
    } as Record<string, unknown>);
    s.on('connect', () => resolve(s));
    s.on('connect_error', (e: Error) => {
      s.close();
      reject(e);
    });
    s.on('m', (data: string) => {
      received++;
      bytes += data.length;
      lastRecvAt = wallMs();
      lastFrame = data;
    });
  });
}

let progressOpened = 0;

async function connect(req: Record<string, unknown>): Promise<unknown> {
  const kind = req['kind'] as 'ws' | 'sio';
  const ports = req['ports'] as number[];
  const count = Number(req['count']);
  const offset = Number(req['offset']);
  const users = Number(req['users']);
  const userPrefix = String(req['userPrefix'] ?? 'u');
  const localAddrs = (req['localAddrs'] as string[] | undefined) ?? [];
  const concurrency = Number(req['concurrency'] ?? 200);
  const timeoutMs = Number(req['timeoutMs'] ?? 15000);
  const deadline = Date.now() + Number(req['deadlineMs'] ?? 120_000);
  let next = 0;
  let opened = 0;
  let failed = 0;
  const errors = new Map<string, number>();
  const t0 = nowMs();
  const progress = setInterval(() => emit('progress', { opened: progressOpened }), 1000);
  const one = async (): Promise<void> => {
    while (next < count && Date.now() < deadline) {
      const i = offset + next++;
      const port = ports[i % ports.length] as number;
      const la = localAddrs.length ? localAddrs[i % localAddrs.length] : undefined;
      try {
        if (kind === 'ws') conns.push({ kind: 'ws', ws: await openWs(port, `${userPrefix}${i % users}`, `d${i}`, la, timeoutMs) });
        else conns.push({ kind: 'sio', s: await openSio(port, la, timeoutMs) });
        opened++;
        progressOpened++;
      } catch (e) {
        failed++;
        const m = (e instanceof Error ? e.message : String(e)).slice(0, 80);
        errors.set(m, (errors.get(m) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, one));
  clearInterval(progress);
  return { opened, failed, ms: nowMs() - t0, errors: Object.fromEntries(errors) };
}

async function closeAll(): Promise<unknown> {
  const n = conns.length;
  for (const c of conns.splice(0)) {
    if (c.kind === 'ws') c.ws.terminate();
    else c.s.disconnect();
  }
  progressOpened = 0;
  await new Promise((r) => setTimeout(r, 200));
  return { closed: n };
}

/**
 * Each ws connection keeps `window` client messages in flight (closed loop); or, with `rate`,
 * messages are sent at `rate` per second round-robin over the connections (open loop). Ack latency
 * per message (send to ack frame).
 */
/**
 * An ack frame for one of `pending`'s messages (id -> send time): its latency and code recorded,
 * the id forgotten; false for any other frame.
 */
function recordAck(frame: string, pending: Map<string, number>, lat: number[], codes: Map<number, number>): boolean {
  if (!frame.startsWith('{"type":"ack"')) return false;
  const f = JSON.parse(frame) as { id: string; code: number };
  const t = pending.get(f.id);
  if (t === undefined) return false;
  pending.delete(f.id);
  if (lat.length < 500_000) lat.push(nowMs() - t);
  codes.set(f.code, (codes.get(f.code) ?? 0) + 1);
  return true;
}

async function forward(req: Record<string, unknown>): Promise<unknown> {
  const durationMs = Number(req['durationMs']);
  const window = Number(req['window'] ?? 1);
  const openRate = req['rate'] === undefined ? 0 : Number(req['rate']);
  if (openRate > 0) return forwardOpen(durationMs, openRate);
  const lat: number[] = [];
  const codes = new Map<number, number>();
  let acks = 0;
  let stop = false;
  let seq = 0;
  const wss = conns.flatMap((c) => (c.kind === 'ws' ? [c.ws] : []));
  const t0 = nowMs();
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let active = wss.length;
  for (const ws of wss) {
    const pending = new Map<string, number>();
    const send = (): void => {
      const id = `m${seq++}`;
      pending.set(id, nowMs());
      ws.send(`{"type":"bench.msg","id":"${id}","payload":{"text":"hello from the forward benchmark"}}`);
    };
    ackHandlers.set(ws, (frame) => {
      if (!recordAck(frame, pending, lat, codes)) return;
      acks++;
      if (!stop) send();
      else if (pending.size === 0 && --active === 0) done();
    });
    for (let i = 0; i < window; i++) send();
  }
  await new Promise((r) => setTimeout(r, durationMs));
  stop = true;
  const ms = nowMs() - t0;
  const acksAtStop = acks;
  await Promise.race([finished, new Promise((r) => setTimeout(r, 5000))]);
  for (const ws of wss) ackHandlers.delete(ws);
  return { acks: acksAtStop, ms, rate: (acksAtStop / ms) * 1000, codes: Object.fromEntries(codes), latency: summarize(lat) };
}

/** forward at a fixed rate (open loop): messages round-robin over the connections. */
async function forwardOpen(durationMs: number, rate: number): Promise<unknown> {
  const lat: number[] = [];
  const codes = new Map<number, number>();
  const pending = new Map<string, number>();
  let acks = 0;
  let seq = 0;
  const wss = conns.flatMap((c) => (c.kind === 'ws' ? [c.ws] : []));
  for (const ws of wss) {
    ackHandlers.set(ws, (frame) => {
      if (recordAck(frame, pending, lat, codes)) acks++;
    });
  }
  const t0 = nowMs();
  const end = t0 + durationMs;
  while (nowMs() < end) {
    const due = Math.floor(((nowMs() - t0) / 1000) * rate);
    while (seq < due) {
      const id = `o${seq}`;
      const ws = wss[seq++ % wss.length] as WebSocket;
      pending.set(id, nowMs());
      ws.send(`{"type":"bench.msg","id":"${id}","payload":{"text":"hello from the forward benchmark"}}`);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  const ms = nowMs() - t0;
  const deadline = Date.now() + 5000;
  while (pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const ws of wss) ackHandlers.delete(ws);
  return { sent: seq, acks, ms, rate: (acks / ms) * 1000, unacked: pending.size, codes: Object.fromEntries(codes), latency: summarize(lat) };
}

let grpcClients = new Map<string, grpc.Client>();
type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { delivered?: number }) => void) => void;
function gatewayClient(target: string): Record<string, Unary> {
  let c = grpcClients.get(target);
  if (c === undefined) {
    const { grpcType } = loadProto();
    const Ctor = grpcType.im.gateway.v1.IMAGatewayService as unknown as new (t: string, cr: grpc.ChannelCredentials) => grpc.Client;
    c = new Ctor(target, grpc.credentials.createInsecure());
    grpcClients.set(target, c);
  }
  return c as unknown as Record<string, Unary>;
}

function pushToUser(target: string, userId: string, messageId: string, payload: Buffer): Promise<number> {
  const client = gatewayClient(target);
  return new Promise((resolve, reject) => {
    client['PushToUser']!.call(
      client,
      { userId, message: { messageId, type: 'bench', payload } },
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (e, r) => (e ? reject(e) : resolve(r?.delivered ?? 0)),
    );
  });
}

/** Closed loop (concurrency) or open loop (rate, calls/s) PushToUser load for durationMs. */
async function grpcLoad(req: Record<string, unknown>): Promise<unknown> {
  const target = String(req['target']);
  const concurrency = Number(req['concurrency'] ?? 64);
  const durationMs = Number(req['durationMs']);
  const rate = req['rate'] === undefined ? 0 : Number(req['rate']);
  const users = Number(req['users']);
  const userPrefix = String(req['userPrefix']);
  const payload = Buffer.from(String(req['payload']));
  let calls = 0;
  let errors = 0;
  let delivered = 0;
  const lat: number[] = [];
  const t0 = nowMs();
  const end = t0 + durationMs;
  let n = 0;
  const one = async (): Promise<void> => {
    const s = nowMs();
    try {
      const d = await pushToUser(target, `${userPrefix}${n % users}`, `l${n++}`, payload);
      delivered += d;
      calls++;
      if (lat.length < 300_000) lat.push(nowMs() - s);
    } catch {
      errors++;
    }
  };
  if (rate <= 0) {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (nowMs() < end) await one();
      }),
    );
  } else {
    // open loop: issue calls on schedule (up to 4x concurrency outstanding)
    const inflight = new Set<Promise<void>>();
    let issued = 0;
    while (nowMs() < end) {
      const due = Math.floor(((nowMs() - t0) / 1000) * rate);
      while (issued < due && inflight.size < concurrency * 4) {
        issued++;
        const p = one().finally(() => inflight.delete(p));
        inflight.add(p);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(inflight);
  }
  const ms = nowMs() - t0;
  return { calls, errors, delivered, ms, rate: (calls / ms) * 1000, latency: summarize(lat) };
}

/**
 * Latency probe: one WebSocket connection of `user` (gateway) and sequential PushToUser calls to it;
 * latency = call start to frame received (gateway) or to the response (bare grpc, wsPort = 0).
 */
async function probe(req: Record<string, unknown>): Promise<unknown> {
  const target = String(req['target']);
  const wsPort = Number(req['wsPort'] ?? 0);
  const user = String(req['user']);
  const durationMs = Number(req['durationMs']);
  const intervalMs = Number(req['intervalMs'] ?? 5);
  const payload = Buffer.from('{"text":"probe"}');
  const lat: number[] = [];
  let ws: WebSocket | undefined;
  const waiting = new Map<string, () => void>();
  if (wsPort > 0) {
    ws = await openWs(wsPort, user, 'probe-device', undefined, 10_000);
    ws.on('message', (d: Buffer) => {
      const s = d.toString();
      const m = /"id":"(p\d+)"/.exec(s);
      if (m) waiting.get(m[1] as string)?.();
    });
  }
  const end = nowMs() + durationMs;
  let n = 0;
  let errors = 0;
  while (nowMs() < end) {
    const id = `p${n++}`;
    const s = nowMs();
    try {
      if (ws) {
        const got = new Promise<void>((r, j) => {
          const t = setTimeout(() => j(new Error('frame timeout')), 5000);
          waiting.set(id, () => {
            clearTimeout(t);
            r();
          });
        });
        await Promise.all([pushToUser(target, user, id, payload), got]);
        waiting.delete(id);
      } else {
        await pushToUser(target, user, id, payload);
      }
      lat.push(nowMs() - s);
    } catch {
      errors++;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  ws?.terminate();
  return { errors, latency: summarize(lat) };
}

serveIpc({
  connect,
  closeAll,
  count: () => ({ received, bytes, lastRecvAt, open: conns.length }),
  lastFrame: () => ({ frame: lastFrame.toString().slice(0, 500) }),
  reset: () => {
    received = 0;
    bytes = 0;
    lastRecvAt = 0;
    return {};
  },
  forward,
  grpcLoad,
  cpu: () => process.cpuUsage(),
  probe,
  closeGrpc: () => {
    for (const c of grpcClients.values()) c.close();
    grpcClients = new Map();
    return {};
  },
});

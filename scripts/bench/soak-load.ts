/**
 * Load process of the soak run (scripts/bench/soak.ts, `npm run bench -- --soak MINUTES`).
 *
 * Holds one share of the WebSocket connections (one slot per user and platform, so the default
 * one_per_platform policy lets them all coexist) and, for its own users only, drives a steady
 * mixed load: connections closing and reconnecting, logins replacing the connection of the same
 * device (the policy kicks the old one with 4001), client messages (acked by the business
 * service, which echoes a reply), pings, and gRPC PushToUser / PushToUsers / KickUser calls; one
 * process also calls Broadcast. Every outcome is checked against what it should be (auth frame,
 * ack code 0, pong, close code, kick frame, call status, kicked count) and anything else is
 * recorded as an unexpected error. Driven over IPC by soak.ts (`start`, `stats`, `stop`); exits
 * with its parent.
 */
import * as grpc from '@grpc/grpc-js';
import WebSocket from 'ws';
import type { IMAGatewayServiceClient } from '../../api/gen/im/gateway/v1/IMAGatewayService';
import type { BroadcastResponseOutput } from '../../api/gen/im/gateway/v1/BroadcastResponse';
import type { KickUserResponseOutput } from '../../api/gen/im/gateway/v1/KickUserResponse';
import type { PushResponseOutput } from '../../api/gen/im/gateway/v1/PushResponse';
import { signJwt } from '../../internal/auth/jwt';
import { loadProto } from '../../internal/rpc/proto';
import { BENCH_SECRET, HOST, serveIpc, sleep } from './common';
import type { IpcRequest } from './common';
import { zeroCounters } from './soak-counters';
import type { LoadCounters } from './soak-counters';

/** What one load process does (rates are per second, for this process). */
export interface LoadPlan {
  readonly index: number;
  readonly wsPort: number;
  readonly grpcTarget: string;
  /** This process's users are `soak-u<userBase>` .. `soak-u<userBase + users - 1>`. */
  readonly userBase: number;
  readonly users: number;
  /** One connection slot per user and platform. */
  readonly platforms: readonly string[];
  readonly tokenTtlSec: number;
  readonly rampConcurrency: number;
  readonly rampTimeoutMs: number;
  /** Slots that close and reconnect (or get replaced) per second. */
  readonly churnPerSec: number;
  /** Share of the churn done by a second login on the same device (the old one gets 4001). */
  readonly replaceShare: number;
  readonly messagesPerSec: number;
  readonly pingIntervalMs: number;
  readonly pushToUserPerSec: number;
  readonly pushToUsersPerSec: number;
  readonly pushToUsersBatch: number;
  readonly broadcastPerSec: number;
  readonly kickPerSec: number;
  /** Deadline of every expected answer: auth frame, ack, pong, close, gRPC call. */
  readonly replyTimeoutMs: number;
}

export type { LoadCounters } from './soak-counters';

export interface LoadSnapshot {
  readonly index: number;
  readonly counters: LoadCounters;
  /** Connections authenticated and not closed. */
  readonly open: number;
  readonly connecting: number;
  readonly callsInFlight: number;
  /** Unexpected errors by kind. */
  readonly errors: Record<string, number>;
  /** The first unexpected errors, with time and detail. */
  readonly errorSamples: readonly string[];
}

const ERROR_SAMPLES = 40;

type SlotState = 'idle' | 'connecting' | 'open' | 'closing' | 'replacing' | 'kicking';
type Expect = 'none' | 'close' | 'replace' | 'kick';

interface Slot {
  readonly user: number;
  readonly device: string;
  readonly platform: string;
  state: SlotState;
  /** The authenticated connection of the slot. */
  conn: Conn | undefined;
  /** A connection being opened (first login, reconnect or replacing login). */
  next: Conn | undefined;
  reopenAt: number;
}

interface Conn {
  readonly ws: WebSocket;
  readonly slot: Slot;
  readonly openedAt: number;
  authed: boolean;
  /** How this connection is expected to end, and since when. */
  expect: Expect;
  expectSince: number;
  /** Code of the kick frame received, if any. */
  kickCode: number | undefined;
  /** Client message id -> time sent. */
  readonly pending: Map<string, number>;
  pingAt: number;
  nextPingAt: number;
  lastError: string | undefined;
  /** Resolves once the connection is authenticated or closed. */
  readonly settled: Promise<void>;
  settle: () => void;
}

let plan: LoadPlan;
let slots: Slot[] = [];
/** Slots of each user (index = user - userBase). */
let userSlots: Slot[][] = [];
const live = new Set<Conn>();
const counters: LoadCounters = zeroCounters();
const errors = new Map<string, number>();
const errorSamples: string[] = [];
let stopping = false;
let ticker: NodeJS.Timeout | undefined;
let callsInFlight = 0;
let msgSeq = 0;
let client: (IMAGatewayServiceClient & grpc.Client) | undefined;

function unexpected(kind: string, detail: string): void {
  counters.unexpected++;
  errors.set(kind, (errors.get(kind) ?? 0) + 1);
  if (errorSamples.length < ERROR_SAMPLES) errorSamples.push(`${new Date().toISOString()} load-${plan.index} ${kind}: ${detail.slice(0, 300)}`);
}

const rand = (n: number): number => Math.floor(Math.random() * n);
const userId = (u: number): string => `soak-u${u}`;

const tokens = new Map<number, string>();
function tokenFor(u: number): string {
  let t = tokens.get(u);
  if (t === undefined) {
    t = signJwt({ sub: userId(u), exp: Math.floor(Date.now() / 1000) + plan.tokenTtlSec }, { alg: 'HS256', secret: BENCH_SECRET });
    tokens.set(u, t);
  }
  return t;
}

// ------------------------------------------------------------------------------------------------
// connections

/** Opens a connection for the slot (a first login, a reconnect, or a login replacing slot.conn). */
function open(slot: Slot): Conn {
  counters.connectsStarted++;
  const url = `ws://${HOST}:${plan.wsPort}/ws?token=${tokenFor(slot.user)}&device_id=${slot.device}&platform=${slot.platform}`;
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: plan.replyTimeoutMs });
  const now = Date.now();
  let settle = (): void => undefined;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const c: Conn = {
    ws,
    slot,
    openedAt: now,
    authed: false,
    expect: 'none',
    expectSince: 0,
    kickCode: undefined,
    pending: new Map(),
    pingAt: 0,
    nextPingAt: now + rand(plan.pingIntervalMs),
    lastError: undefined,
    settled,
    settle,
  };
  live.add(c);
  slot.next = c;
  ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
    if (isBinary) {
      unexpected('frame', 'binary frame');
      return;
    }
    onFrame(c, Buffer.isBuffer(data) ? data.toString('utf8') : String(data));
  });
  ws.on('error', (e: Error) => {
    c.lastError = e.message;
  });
  ws.on('close', (code: number, reason: Buffer) => onClose(c, code, reason.toString('utf8')));
  return c;
}

function onAuthed(c: Conn): void {
  c.authed = true;
  c.settle();
  counters.connected++;
  const slot = c.slot;
  if (slot.next !== c) {
    unexpected('connect', `auth frame on a connection the slot no longer waits for (${slot.state})`);
    return;
  }
  slot.next = undefined;
  // a replaced connection (if it has not closed yet) stays in `live` until its 4001 close
  slot.conn = c;
  slot.state = 'open';
}

function onFrame(c: Conn, s: string): void {
  let f: Record<string, unknown>;
  try {
    f = JSON.parse(s) as Record<string, unknown>;
  } catch {
    unexpected('frame', `not JSON: ${s.slice(0, 120)}`);
    return;
  }
  const type = f['type'];
  if (!c.authed) {
    if (type === 'auth' && f['ok'] === true) onAuthed(c);
    else unexpected('connect', `first frame is not a successful auth: ${s.slice(0, 200)}`);
    return;
  }
  switch (type) {
    case 'pong':
      if (c.pingAt === 0) unexpected('pong', 'pong without a ping');
      else {
        c.pingAt = 0;
        counters.pongs++;
      }
      return;
    case 'ack': {
      const id = String(f['id']);
      if (!c.pending.delete(id)) {
        unexpected('ack', `ack for an unknown id ${id}`);
        return;
      }
      if (f['code'] === 0) counters.acks++;
      else unexpected('ack', `ack code ${String(f['code'])} ${String(f['message'] ?? '')}`);
      return;
    }
    case 'soak.msg.echo':
      counters.echoes++;
      return;
    case 'soak.push':
    case 'soak.pushm':
      counters.pushFramesReceived++;
      return;
    case 'soak.bcast':
      counters.broadcastFramesReceived++;
      return;
    case 'kick': {
      const code = Number(f['code']);
      c.kickCode = code;
      if (!((c.expect === 'replace' && code === 4001) || (c.expect === 'kick' && code === 4002))) {
        unexpected('kick', `kick ${code} (${String(f['reason'])}) on a connection expecting ${c.expect}`);
      }
      return;
    }
    default:
      unexpected('frame', `unexpected frame ${s.slice(0, 200)}`);
  }
}

function onClose(c: Conn, code: number, reason: string): void {
  live.delete(c);
  c.settle();
  const slot = c.slot;
  const now = Date.now();
  if (!c.authed) {
    counters.connectFailed++;
    unexpected('connect', `closed (${code}${reason ? ` ${reason}` : ''}) before the auth frame${c.lastError ? `: ${c.lastError}` : ''}`);
    if (slot.next === c) {
      slot.next = undefined;
      if (slot.state === 'replacing' && slot.conn !== undefined) {
        // the replacing login failed: end the old connection normally
        beginClose(slot.conn);
      } else {
        slot.state = 'idle';
        slot.reopenAt = now + 1000;
      }
    }
    return;
  }
  if (c.pending.size > 0) unexpected('ack', `connection closed (${code}) with ${c.pending.size} message(s) not acknowledged`);
  if (c.pingAt !== 0) unexpected('pong', `connection closed (${code}) with a ping not answered`);
  if (c.expect === 'close' && code === 1000) counters.closedByClient++;
  else if (c.expect === 'replace' && code === 4001 && c.kickCode === 4001) counters.replaced++;
  else if (c.expect === 'kick' && code === 4002 && c.kickCode === 4002) counters.kicked++;
  else unexpected('close', `close ${code}${reason ? ` (${reason})` : ''} on a connection expecting ${c.expect}${c.kickCode !== undefined ? `, kick frame ${c.kickCode}` : ''}`);
  if (slot.conn === c) {
    slot.conn = undefined;
    if (slot.state === 'replacing') return; // the replacing login takes the slot when it is authenticated
    slot.state = 'idle';
    slot.reopenAt = now + (c.expect === 'kick' ? 1000 + rand(2000) : 200 + rand(800));
  }
}

function beginClose(c: Conn): void {
  c.expect = 'close';
  c.expectSince = Date.now();
  c.slot.state = 'closing';
  c.ws.close(1000, 'soak churn');
}

/** A random slot that is open with nothing awaiting an answer (so ending it loses nothing). */
function pickQuiet(): Slot | undefined {
  for (let i = 0; i < 20; i++) {
    const s = slots[rand(slots.length)] as Slot;
    if (s.state === 'open' && s.conn !== undefined && s.conn.pending.size === 0 && s.conn.pingAt === 0) return s;
  }
  return undefined;
}

function churnOne(): void {
  const slot = pickQuiet();
  if (slot === undefined || slot.conn === undefined) return;
  if (Math.random() < plan.replaceShare) {
    const old = slot.conn;
    old.expect = 'replace';
    old.expectSince = Date.now();
    slot.state = 'replacing';
    open(slot);
  } else {
    beginClose(slot.conn);
  }
}

function sendMessage(): void {
  for (let i = 0; i < 20; i++) {
    const s = slots[rand(slots.length)] as Slot;
    if (s.state !== 'open' || s.conn === undefined) continue;
    const id = `s${plan.index}-${msgSeq++}`;
    s.conn.pending.set(id, Date.now());
    counters.messagesSent++;
    s.conn.ws.send(`{"type":"soak.msg","id":"${id}","payload":{"text":"soak message","n":${msgSeq}}}`);
    return;
  }
}

function pings(now: number): void {
  for (const s of slots) {
    const c = s.conn;
    if (s.state !== 'open' || c === undefined || c.pingAt !== 0 || now < c.nextPingAt) continue;
    c.pingAt = now;
    c.nextPingAt = now + plan.pingIntervalMs;
    counters.pingsSent++;
    c.ws.send('{"type":"ping"}');
  }
}

/** Deadlines of the answers awaited on every connection. */
function sweep(now: number): void {
  const limit = plan.replyTimeoutMs;
  for (const c of live) {
    if (!c.authed) {
      if (now - c.openedAt > limit) {
        c.lastError = `no auth frame within ${limit} ms`;
        c.ws.terminate();
      }
      continue;
    }
    for (const [id, at] of c.pending) {
      if (now - at > limit) {
        c.pending.delete(id);
        unexpected('ack', `no ack for ${id} within ${limit} ms`);
      }
    }
    if (c.pingAt !== 0 && now - c.pingAt > limit) {
      c.pingAt = 0;
      unexpected('pong', `no pong within ${limit} ms`);
    }
    if (c.expect !== 'none' && now - c.expectSince > limit) {
      unexpected('close', `no ${c.expect} close within ${limit} ms`);
      c.expect = 'none';
      c.ws.terminate();
    }
  }
}

function reopen(now: number): void {
  if (stopping) return;
  for (const s of slots) {
    if (s.state === 'idle' && now >= s.reopenAt) {
      s.state = 'connecting';
      open(s);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// gRPC push API

function rpc<T>(method: string, start: (opts: grpc.CallOptions, cb: grpc.requestCallback<T>) => void): Promise<T | undefined> {
  callsInFlight++;
  return new Promise((resolve) => {
    start({ deadline: Date.now() + plan.replyTimeoutMs }, (err, res) => {
      callsInFlight--;
      if (err !== null || res === undefined) {
        counters.callErrors++;
        unexpected(method, err !== null ? `${grpc.status[err.code] ?? err.code}: ${err.details}` : 'no response');
        resolve(undefined);
      } else resolve(res);
    });
  });
}

function api(): IMAGatewayServiceClient & grpc.Client {
  if (client === undefined) {
    const Ctor = loadProto().grpcType.im.gateway.v1.IMAGatewayService;
    client = new Ctor(plan.grpcTarget, grpc.credentials.createInsecure()) as IMAGatewayServiceClient & grpc.Client;
  }
  return client;
}

const payload = (kind: string): Buffer => Buffer.from(JSON.stringify({ text: `soak ${kind}`, at: Date.now() }));

function pushToUser(): void {
  const u = plan.userBase + rand(plan.users);
  counters.pushToUserCalls++;
  void rpc<PushResponseOutput>('PushToUser', (o, cb) => api().PushToUser({ userId: userId(u), message: { type: 'soak.push', payload: payload('push') } }, o, cb)).then((r) => {
    if (r) counters.pushDelivered += r.delivered;
  });
}

function pushToUsers(): void {
  const ids = new Set<string>();
  const n = Math.min(plan.pushToUsersBatch, plan.users);
  while (ids.size < n) ids.add(userId(plan.userBase + rand(plan.users)));
  counters.pushToUsersCalls++;
  void rpc<PushResponseOutput>('PushToUsers', (o, cb) => api().PushToUsers({ userIds: [...ids], message: { type: 'soak.pushm', payload: payload('pushm') } }, o, cb)).then((r) => {
    if (r) counters.pushDelivered += r.delivered;
  });
}

function broadcast(): void {
  counters.broadcastCalls++;
  void rpc<BroadcastResponseOutput>('Broadcast', (o, cb) => api().Broadcast({ message: { type: 'soak.bcast', payload: payload('broadcast') } }, o, cb)).then((r) => {
    if (r) counters.broadcastDelivered += Number(r.delivered);
  });
}

/** Kicks a user whose every slot is open and quiet; each of its connections must get 4002. */
function kickOne(): void {
  for (let i = 0; i < 20; i++) {
    const us = userSlots[rand(userSlots.length)] as Slot[];
    const quiet = us.every((s) => s.state === 'open' && s.conn !== undefined && s.conn.pending.size === 0 && s.conn.pingAt === 0);
    if (!quiet) continue;
    const now = Date.now();
    for (const s of us) {
      s.state = 'kicking';
      const c = s.conn as Conn;
      c.expect = 'kick';
      c.expectSince = now;
    }
    const u = (us[0] as Slot).user;
    counters.kickUserCalls++;
    void rpc<KickUserResponseOutput>('KickUser', (o, cb) => api().KickUser({ userId: userId(u), reason: 'soak' }, o, cb)).then((r) => {
      if (r && r.kicked !== us.length) unexpected('KickUser', `${userId(u)}: kicked ${r.kicked}, expected ${us.length}`);
    });
    return;
  }
}

// ------------------------------------------------------------------------------------------------
// the load loop

const TICK_MS = 50;
interface Budget {
  readonly rate: () => number;
  readonly act: () => void;
  due: number;
}

function startLoop(): void {
  const budgets: Budget[] = [
    { rate: () => plan.churnPerSec, act: churnOne, due: 0 },
    { rate: () => plan.messagesPerSec, act: sendMessage, due: 0 },
    { rate: () => plan.pushToUserPerSec, act: pushToUser, due: 0 },
    { rate: () => plan.pushToUsersPerSec, act: pushToUsers, due: 0 },
    { rate: () => plan.broadcastPerSec, act: broadcast, due: 0 },
    { rate: () => plan.kickPerSec, act: kickOne, due: 0 },
  ];
  let last = Date.now();
  ticker = setInterval(() => {
    const now = Date.now();
    const dt = (now - last) / 1000;
    last = now;
    sweep(now);
    if (stopping) return;
    reopen(now);
    pings(now);
    for (const b of budgets) {
      // a stalled loop does not turn into a burst of more than one second's worth
      b.due = Math.min(b.due + b.rate() * dt, Math.max(1, b.rate()));
      while (b.due >= 1) {
        b.due -= 1;
        b.act();
      }
    }
  }, TICK_MS);
}

async function start(req: IpcRequest): Promise<unknown> {
  plan = req['plan'] as LoadPlan;
  slots = [];
  userSlots = [];
  for (let i = 0; i < plan.users; i++) {
    const u = plan.userBase + i;
    const us = plan.platforms.map((p, k) => ({ user: u, device: `soak-d${u}-${k}`, platform: p, state: 'idle' as SlotState, conn: undefined, next: undefined, reopenAt: 0 }));
    userSlots.push(us);
    slots.push(...us);
  }
  // ramp: every slot connects, rampConcurrency at a time
  const t0 = Date.now();
  const deadline = t0 + plan.rampTimeoutMs;
  let nextSlot = 0;
  const sweeper = setInterval(() => sweep(Date.now()), 500);
  const worker = async (): Promise<void> => {
    while (nextSlot < slots.length && Date.now() < deadline) {
      const s = slots[nextSlot++] as Slot;
      s.state = 'connecting';
      await open(s).settled;
    }
  };
  try {
    await Promise.all(Array.from({ length: plan.rampConcurrency }, worker));
  } finally {
    clearInterval(sweeper);
  }
  const opened = slots.filter((s) => s.state === 'open').length;
  startLoop();
  return { opened, slots: slots.length, ms: Date.now() - t0 };
}

function snapshot(): LoadSnapshot {
  return {
    index: plan.index,
    counters: { ...counters },
    open: slots.filter((s) => s.conn !== undefined).length,
    connecting: slots.filter((s) => s.next !== undefined).length,
    callsInFlight,
    errors: Object.fromEntries(errors),
    errorSamples: errorSamples.slice(),
  };
}

/**
 * Stops the load: no new actions; waits (bounded) for calls, acks, pongs and changing slots to
 * settle, then closes every connection with 1000 and waits for the closes.
 */
async function stop(): Promise<unknown> {
  stopping = true;
  const settleBy = Date.now() + plan.replyTimeoutMs + 2000;
  const busy = (): boolean =>
    callsInFlight > 0 || slots.some((s) => s.state === 'connecting' || s.state === 'replacing' || s.state === 'closing' || s.state === 'kicking') || [...live].some((c) => c.pending.size > 0 || c.pingAt !== 0);
  while (busy() && Date.now() < settleBy) await sleep(50);
  // the last pushes and broadcasts may still be on their way to the clients
  await sleep(1000);
  for (const s of slots) if (s.conn !== undefined && s.state === 'open') beginClose(s.conn);
  const closeBy = Date.now() + plan.replyTimeoutMs;
  while (live.size > 0 && Date.now() < closeBy) await sleep(50);
  for (const c of live) {
    unexpected('close', `still open ${plan.replyTimeoutMs} ms after the end of the load (state ${c.slot.state}, expecting ${c.expect})`);
    c.ws.terminate();
  }
  if (ticker !== undefined) clearInterval(ticker);
  client?.close();
  return snapshot();
}

serveIpc({ start, stats: () => snapshot(), stop });

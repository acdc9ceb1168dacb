/**
 * Standing fault suite (SPEC.md sections 6 and 8, README "Cluster (Redis)" and "Forwarding client
 * messages") with real processes and exact counts:
 *
 * a. Redis stopped, restarted empty and paused (SIGSTOP / SIGCONT of the redis-server this suite
 *    started, TestRedis.pause / resume) while pushes run against two gateway instances: no call hangs (each answers by its
 *    deadline, with success or a clear status), local delivery goes on, and once Redis is back and
 *    the instances re-registered, PushToUsers and Broadcast reach every connection exactly once.
 * b. The business service slow, failing and restarted on the same port, with several connections
 *    pipelining messages (what business-faults.test.ts does not cover: it drives one connection,
 *    one message at a time): one ack per message in send order, deadlines not piling up, the circuit
 *    breaker shared by all connections, order kept and nothing forwarded twice across the restart.
 * c. One instance of three killed with SIGKILL under push load: the other two keep answering with
 *    exact counts; once the dead instance's lease expires its users are offline and no call is
 *    routed to it.
 * d. After each: no gateway (the killed one included) logged `internal error (bug)`, and
 *    `/stats` internalErrors sums to 0 on every surviving instance.
 *
 * Leases are short (redis.leaseTtlSec 3, refresh and sweep every second, from a config directory:
 * these keys have no environment variable) so that expiry and re-registration take seconds.
 *
 * FAULTS_LOG_DIR=<dir> keeps every gateway's log lines as <dir>/<instance id>.log.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { IMAGatewayServiceClient } from '../../api/gen/im/gateway/v1/IMAGatewayService';
import { loadProto } from '../../internal/rpc/proto';
import { httpGet } from '../support/admin';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { startRedis } from '../support/redis';
import type { TestRedis } from '../support/redis';
import { TestBusinessService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import type { Frame } from '../support/ws-client';
import { TEST_JWT_SECRET, configDir, eventually, jwtFor } from './helpers';

type Client = IMAGatewayServiceClient & grpc.Client;

const LEASE_TTL_SEC = 3;
const REDIS_YML = `redis:\n  leaseTtlSec: ${LEASE_TTL_SEC}\n  leaseRefreshSec: 1\n  sweepEverySec: 1\n`;
/**
 * Deadline of the push calls made while a fault is on: 3 s, the timeout of the README's Dubbo
 * example (`@DubboReference(timeout = 3000)`).
 */
const FAULT_DEADLINE_MS = 3_000;
/** How much later than its deadline a call may come back before it counts as hung (timers, a loaded CI machine). */
const HANG_SLACK_MS = 1_000;

/** One gateway instance and a gRPC client of it. */
interface Node {
  readonly id: string;
  readonly gw: GatewayProcess;
  readonly rpc: Client;
}

/** One WebSocket connection and where it is. */
interface Conn {
  readonly user: string;
  readonly device: string;
  readonly platform: string;
  readonly node: Node;
  readonly ws: TestWsClient;
}

/** A push API call and how it ended. */
interface Outcome {
  readonly method: string;
  readonly via: string;
  readonly phase: string;
  readonly deadlineMs: number;
  readonly ms: number;
  /** The message id of a push (each call pushes its own). */
  readonly pushId?: string;
  readonly res?: Record<string, unknown>;
  readonly code?: grpc.status;
  readonly details?: string;
}

function rpcClient(address: string): Client {
  return new (loadProto().grpcType.im.gateway.v1.IMAGatewayService)(address, grpc.credentials.createInsecure()) as Client;
}

/** A unary call that always resolves, with how long it took. */
function call(node: Node, method: keyof IMAGatewayServiceClient, req: Record<string, unknown>, deadlineMs = 5_000, phase = ''): Promise<Outcome> {
  const t0 = Date.now();
  const pushId = (req['message'] as { messageId?: string } | undefined)?.messageId;
  return new Promise((resolve) => {
    const fn = (node.rpc as unknown as Record<string, (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: unknown) => void) => void>)[method as string];
    assert.ok(fn, `no method ${String(method)}`);
    fn.call(node.rpc, req, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (e, r) => {
      const base = { method: String(method), via: node.id, phase, deadlineMs, ms: Date.now() - t0, ...(pushId !== undefined ? { pushId } : {}) };
      resolve(e ? { ...base, code: e.code, details: e.details } : { ...base, res: r as Record<string, unknown> });
    });
  });
}

/** A call that must succeed: its response. */
async function must(node: Node, method: keyof IMAGatewayServiceClient, req: Record<string, unknown>): Promise<Record<string, unknown>> {
  const o = await call(node, method, req);
  assert.equal(o.code, undefined, `${String(method)} via ${node.id}: ${o.code !== undefined ? grpc.status[o.code] : ''} ${o.details ?? ''}`);
  assert.ok(o.res);
  return o.res;
}

let idSeq = 0;
const nextId = (tag: string): string => `${tag}-${++idSeq}-${process.pid}`;
const message = (id: string): Record<string, unknown> => ({ messageId: id, type: 'fault.push', payload: Buffer.from(JSON.stringify({ id })) });

const started: Node[] = [];
process.on('exit', () => {
  // FAULTS_LOG_DIR=<dir> keeps every gateway's log lines (<dir>/<instance id>.log)
  const dir = process.env.FAULTS_LOG_DIR;
  if (dir !== undefined) for (const n of started) fs.writeFileSync(`${dir}/${n.id}.log`, `${n.gw.logs.join('\n')}\n`);
});

async function startNode(id: string, dir: string, env: Record<string, string>): Promise<Node> {
  const gw = await startGateway({ configDir: dir, env: { IMA_INSTANCE_ID: id, IMA_JWT_SECRET: TEST_JWT_SECRET, IMA_LOG_LEVEL: 'info', ...env } });
  const node = { id, gw, rpc: rpcClient(gw.grpcAddress) };
  started.push(node);
  return node;
}

async function connect(node: Node, user: string, device: string, platform: string): Promise<Conn> {
  const ws = await TestWsClient.connect(node.gw.wsUrl({ token: jwtFor(user), device_id: device, platform }));
  const auth = await ws.next('auth');
  assert.equal(auth['ok'], true, `${user}/${device} on ${node.id}: ${JSON.stringify(auth)}`);
  return { user, device, platform, node, ws };
}

async function stats(node: Node): Promise<Record<string, unknown>> {
  const r = await httpGet(`${node.gw.adminUrl}/stats`);
  assert.equal(r.status, 200, `/stats of ${node.id}`);
  return r.json as Record<string, unknown>;
}

async function redisState(node: Node): Promise<{ state: string; reRegistrations: number }> {
  const r = (await stats(node))['redis'] as { state?: string; reRegistrations?: number } | undefined;
  return { state: r?.state ?? '?', reRegistrations: r?.reRegistrations ?? 0 };
}

function internalErrorCount(s: Record<string, unknown>): number {
  const ie = s['internalErrors'];
  if (ie === undefined || ie === null || typeof ie !== 'object') return 0;
  return Object.values(ie as Record<string, unknown>).reduce<number>((n, v) => n + (typeof v === 'number' ? v : 0), 0);
}

/** (d) No instance logged a bug; every running one reports internalErrors 0. */
async function assertNoInternalErrors(nodes: readonly Node[]): Promise<void> {
  const problems: string[] = [];
  for (const n of nodes) {
    const lines = n.gw.logs.filter((l) => l.includes('internal error (bug)'));
    if (lines.length > 0) problems.push(`${n.id} logged:\n  ${lines.map((l) => l.slice(0, 600)).join('\n  ')}`);
    if (n.gw.exitInfo === undefined) {
      const s = await stats(n);
      if (internalErrorCount(s) !== 0) problems.push(`${n.id}: internalErrors ${JSON.stringify(s['internalErrors'])}`);
    }
  }
  assert.deepEqual(problems, []);
}

/** The distinct users of some connections, in order. */
const usersOf = (conns: readonly Conn[]): string[] => [...new Set(conns.map((c) => c.user))];

/** How many times a connection received the frame with this id. */
const timesReceived = (c: Conn, id: string): number => c.ws.frames.filter((f: Frame) => f['id'] === id).length;

/**
 * Sends a marker Broadcast through each node and waits until every connection has all of them:
 * every push written before (by a call that had returned) has then arrived.
 */
async function drain(nodes: readonly Node[], conns: readonly Conn[]): Promise<void> {
  const ids: string[] = [];
  for (const n of nodes) {
    const id = nextId('marker');
    ids.push(id);
    await must(n, 'Broadcast', { message: message(id) });
  }
  for (const c of conns) for (const id of ids) await c.ws.next((f) => f['id'] === id, 5_000);
}

/**
 * PushToUsers of every user and a Broadcast through each node: delivered = every connection,
 * nobody offline, and every connection receives each push exactly once.
 */
async function exactDelivery(nodes: readonly Node[], conns: readonly Conn[]): Promise<void> {
  const ids: string[] = [];
  for (const n of nodes) {
    const a = nextId('exact-users');
    const r = await must(n, 'PushToUsers', { userIds: usersOf(conns), message: message(a) });
    assert.deepEqual({ delivered: r['delivered'], offline: r['offlineUserIds'] }, { delivered: conns.length, offline: [] }, `PushToUsers via ${n.id}`);
    const b = nextId('exact-bc');
    const s = await must(n, 'Broadcast', { message: message(b) });
    assert.deepEqual({ delivered: Number(s['delivered']), instances: s['instances'] }, { delivered: conns.length, instances: nodes.length }, `Broadcast via ${n.id}`);
    ids.push(a, b);
  }
  await drain(nodes, conns);
  for (const c of conns) for (const id of ids) assert.equal(timesReceived(c, id), 1, `${c.user}/${c.device}@${c.node.id} received ${id} ${timesReceived(c, id)} times`);
}

/**
 * Push API calls in a loop (two at a time) through the given nodes while a fault is on: PushToUsers
 * of every user, Broadcast, PushToUser of one user, GetConnectionStatus. Each outcome is kept with
 * the phase it started in.
 */
class PushLoad {
  readonly outcomes: Outcome[] = [];
  phase = 'start';
  private running = true;
  private readonly loops: Array<Promise<void>>;

  constructor(
    private readonly nodes: readonly Node[],
    private readonly users: readonly string[],
    private readonly deadlineMs: number,
    private readonly methods: ReadonlyArray<'PushToUsers' | 'Broadcast' | 'PushToUser' | 'GetConnectionStatus'> = ['PushToUsers', 'Broadcast', 'PushToUser', 'GetConnectionStatus'],
  ) {
    this.loops = [0, 1].map((k) => this.loop(k));
  }

  private async loop(k: number): Promise<void> {
    for (let i = k; this.running; i += 2) {
      const node = this.nodes[i % this.nodes.length];
      const method = this.methods[Math.floor(i / this.nodes.length) % this.methods.length];
      if (node === undefined || method === undefined) return;
      const user = this.users[i % this.users.length] ?? '';
      const req: Record<string, unknown> =
        method === 'PushToUsers'
          ? { userIds: [...this.users], message: message(nextId('load')) }
          : method === 'Broadcast'
            ? { message: message(nextId('load')) }
            : method === 'PushToUser'
              ? { userId: user, message: message(nextId('load')) }
              : { userIds: [...this.users] };
      this.outcomes.push(await call(node, method, req, this.deadlineMs, this.phase));
      await new Promise((r) => setTimeout(r, 40));
    }
  }

  /** Resolves once at least n calls that started in `phase` have come back. */
  async completed(phase: string, n: number, timeoutMs: number): Promise<void> {
    await eventually(() => this.outcomes.filter((o) => o.phase === phase).length >= n, timeoutMs, `${n} push calls in phase ${phase}`);
  }

  async stop(): Promise<Outcome[]> {
    this.running = false;
    await Promise.all(this.loops);
    return this.outcomes;
  }
}

/** Every call came back by its deadline (plus slack): with success or a status that says what happened. */
function noHang(outcomes: readonly Outcome[]): string[] {
  const clear = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);
  return outcomes
    .filter((o) => o.ms > o.deadlineMs + HANG_SLACK_MS || (o.code !== undefined && !clear.has(o.code)))
    .map((o) => `${o.method} via ${o.via} (${o.phase}): ${o.code !== undefined ? `${grpc.status[o.code]} ${o.details ?? ''}` : 'ok'} after ${o.ms} ms`);
}

function summary(outcomes: readonly Outcome[]): string {
  const by = new Map<string, { n: number; max: number }>();
  for (const o of outcomes) {
    const k = `${o.phase}: ${o.code === undefined ? 'OK' : grpc.status[o.code]}`;
    const x = by.get(k) ?? { n: 0, max: 0 };
    x.n++;
    x.max = Math.max(x.max, o.ms);
    by.set(k, x);
  }
  return [...by].map(([k, x]) => `${k} ×${x.n} (slowest ${x.max} ms)`).join('; ');
}

/**
 * For every push that succeeded, `delivered` equals the connections that received it, and no
 * connection received any push twice (call drain() first).
 */
function deliveredIsTrue(outcomes: readonly Outcome[], conns: readonly Conn[]): string[] {
  const problems: string[] = [];
  for (const o of outcomes) {
    if (o.pushId === undefined) continue;
    const counts = conns.map((c) => timesReceived(c, o.pushId ?? ''));
    const twice = conns.filter((_c, i) => (counts[i] ?? 0) > 1);
    if (twice.length > 0) problems.push(`${o.method} ${o.pushId} (${o.phase}) reached ${twice.map((c) => `${c.user}/${c.device}`).join(', ')} more than once`);
    if (o.res === undefined) continue;
    const got = counts.filter((n) => n > 0).length;
    if (Number(o.res['delivered']) !== got) problems.push(`${o.method} ${o.pushId} via ${o.via} (${o.phase}): delivered ${String(o.res['delivered'])}, received by ${got}`);
  }
  return problems;
}

/**
 * Resolves once GetConnectionStatus through every node lists exactly the connections (user, device,
 * owning instance) and every node counts all of them in a Broadcast's instances.
 */
async function everyMappingListed(nodes: readonly Node[], conns: readonly Conn[], timeoutMs: number, when: string): Promise<void> {
  let last = '';
  await eventually(
    async () => {
      const problems: string[] = [];
      for (const n of nodes) {
        const st = await call(n, 'GetConnectionStatus', { userIds: usersOf(conns) });
        const listed = (st.res?.['statuses'] as Array<{ userId: string; deviceId: string; instanceId: string }> | undefined) ?? [];
        const missing = conns.filter((c) => !listed.some((x) => x.userId === c.user && x.deviceId === c.device && x.instanceId === c.node.id));
        if (missing.length > 0 || listed.length !== conns.length) {
          problems.push(`through ${n.id}: ${listed.length} listed${missing.length > 0 ? `, missing ${missing.map((c) => `${c.user}/${c.device}@${c.node.id}`).join(', ')}` : ''}${st.details !== undefined ? ` (${st.details})` : ''}`);
        }
        const bc = await call(n, 'Broadcast', { message: { type: 'probe' }, platforms: ['miniweb'] });
        if (bc.res?.['instances'] !== nodes.length) problems.push(`Broadcast through ${n.id}: ${JSON.stringify(bc.res ?? bc.details)}`);
      }
      last = problems.join('; ');
      return problems.length === 0;
    },
    timeoutMs,
    `every mapping listed and every instance live ${when}`,
  ).catch((e: unknown) => {
    throw new Error(`${e instanceof Error ? e.message : String(e)}: ${last}`);
  });
}

// ---------------------------------------------------------------------------------------------

describe('a. Redis stopped, restarted and paused while pushes run (two instances)', () => {
  let redis: TestRedis;
  let A: Node;
  let B: Node;
  let cleanupConfig: () => void;
  let load: PushLoad | undefined;
  let outcomes: Outcome[] = [];
  const conns: Conn[] = [];
  /** Calls made directly during the faults (besides the load), with their expectations checked in place. */
  const direct: Outcome[] = [];

  before(async () => {
    redis = await startRedis();
    const cfg = configDir({ 'redis.yml': REDIS_YML });
    cleanupConfig = cfg.cleanup;
    const env = { IMA_REDIS_URL: redis.url, IMA_ADVERTISE_HOST: '127.0.0.1' };
    [A, B] = await Promise.all([startNode('fa-1', cfg.dir, env), startNode('fa-2', cfg.dir, env)]);
    await eventually(async () => (await call(A, 'Broadcast', { message: { type: 'probe' }, platforms: ['miniweb'] })).res?.['instances'] === 2, 10_000, 'a cluster of two');
    // eight users: four on each instance, one of each with a second device on the other instance
    for (let i = 0; i < 8; i++) {
      const home = i < 4 ? A : B;
      conns.push(await connect(home, `fa-u${i}-${process.pid}`, `d${i}`, i < 4 ? 'ios' : 'android'));
    }
    conns.push(await connect(B, `fa-u0-${process.pid}`, 'd0-web', 'web'));
    conns.push(await connect(A, `fa-u4-${process.pid}`, 'd4-web', 'web'));
  });

  after(async () => {
    if (load !== undefined) await load.stop();
    await Promise.allSettled(conns.map((c) => c.ws.terminate()));
    for (const n of [A, B]) n?.rpc.close();
    await Promise.allSettled([A, B].map((n) => n?.gw.stop()));
    await redis?.stop();
    cleanupConfig?.();
  });

  test('before any fault: PushToUsers and Broadcast reach every connection exactly once', async () => {
    await exactDelivery([A, B], conns);
    load = new PushLoad([A, B], usersOf(conns), FAULT_DEADLINE_MS);
    load.phase = 'healthy';
    await load.completed('healthy', 8, 10_000);
  });

  test('Redis stopped: both instances notice, local delivery goes on, no call hangs', async () => {
    assert.ok(load);
    load.phase = 'redis stopped';
    await redis.stop();
    await eventually(async () => (await redisState(A)).state === 'down' && (await redisState(B)).state === 'down', 10_000, 'both instances to see Redis down');
    // a user with connections on A only, pushed through A; one on B only, through B
    const onA = conns.find((c) => c.node === A && conns.filter((x) => x.user === c.user).length === 1);
    const onB = conns.find((c) => c.node === B && conns.filter((x) => x.user === c.user).length === 1);
    assert.ok(onA && onB);
    for (const [via, c] of [[A, onA], [B, onB]] as const) {
      const o = await call(via, 'PushToUser', { userId: c.user, message: message(nextId('local')) }, FAULT_DEADLINE_MS, 'redis stopped');
      direct.push(o);
      assert.equal(o.code, undefined, `PushToUser via ${via.id} with Redis down: ${o.details ?? ''}`);
      assert.equal(o.res?.['delivered'], 1, `local delivery via ${via.id} goes on`);
    }
    await load.completed('redis stopped', 8, 15_000);
    for (const c of conns) assert.ok(c.ws.isOpen, `${c.user}/${c.device} stays connected`);
  });

  test('Redis back empty (restarted without persistence): mappings re-registered, delivery exact again', async () => {
    assert.ok(load);
    const before = { a: (await redisState(A)).reRegistrations, b: (await redisState(B)).reRegistrations };
    load.phase = 'redis restarting';
    await redis.restart();
    await eventually(
      async () => {
        const [sa, sb] = [await redisState(A), await redisState(B)];
        return sa.state === 'up' && sb.state === 'up' && sa.reRegistrations > before.a && sb.reRegistrations > before.b;
      },
      10_000,
      'both instances to re-register with the restarted Redis',
    );
    load.phase = 'redis back';
    await everyMappingListed([A, B], conns, 10_000, 'after the restart');
    await exactDelivery([A, B], conns);
    await load.completed('redis back', 8, 10_000);
  });

  test('Redis paused (SIGSTOP) for longer than the command timeout and the leases: calls come back by their deadline', async (t) => {
    assert.ok(load);
    load.phase = 'redis paused';
    const pausedAt = Date.now();
    redis.pause();
    try {
      // direct calls meanwhile: each must come back by its deadline
      const onA = conns.find((c) => c.node === A && conns.filter((x) => x.user === c.user).length === 1);
      assert.ok(onA);
      const calls = await Promise.all([
        call(A, 'PushToUser', { userId: onA.user, message: message(nextId('paused')) }, FAULT_DEADLINE_MS, 'redis paused'),
        call(B, 'Broadcast', { message: message(nextId('paused')) }, FAULT_DEADLINE_MS, 'redis paused'),
        call(A, 'GetConnectionStatus', { userIds: [onA.user] }, FAULT_DEADLINE_MS, 'redis paused'),
      ]);
      for (const o of calls) {
        direct.push(o);
        t.diagnostic(`${o.method} via ${o.via} while Redis is paused: ${o.code !== undefined ? grpc.status[o.code] : 'OK'} after ${o.ms} ms`);
        assert.ok(o.ms <= FAULT_DEADLINE_MS + HANG_SLACK_MS, `${o.method} came back by its deadline (${o.ms} ms)`);
      }
      await load.completed('redis paused', 2, 20_000);
      const left = 4_500 - (Date.now() - pausedAt);
      if (left > 0) await new Promise((r) => setTimeout(r, left)); // hold the pause past the 3 s lease and command timeout
    } finally {
      redis.resume();
    }
    load.phase = 'redis resumed';
  });

  test(
    'after SIGCONT: every mapping back, PushToUsers and Broadcast reach every connection exactly once',
    async () => {
      assert.ok(load);
      try {
        await everyMappingListed([A, B], conns, 15_000, 'after SIGCONT');
        await exactDelivery([A, B], conns);
      } finally {
        await load.completed('redis resumed', 8, 10_000);
      }
    },
  );

  test('no call hung: every call during the faults came back by its deadline, with success, UNAVAILABLE or DEADLINE_EXCEEDED', async (t) => {
    assert.ok(load);
    outcomes = await load.stop();
    load = undefined;
    t.diagnostic(`calls: ${summary([...outcomes, ...direct])}`);
    assert.deepEqual(noHang([...outcomes, ...direct]), []);
  });

  test(
    'every call during the faults answered within its deadline (SPEC.md section 8: "Redis slow or stalled: every API call answers within its deadline")',
    async () => {
      const late = [...outcomes, ...direct].filter((o) => o.code === grpc.status.DEADLINE_EXCEEDED);
      assert.deepEqual(
        late.map((o) => `${o.method} via ${o.via} (${o.phase}) after ${o.ms} ms`),
        [],
        'calls the gateway did not answer before their 3 s deadline',
      );
    },
  );

  test('delivered counts are true and no connection got a push twice (every push of the whole scenario)', async () => {
    await drain([A, B], conns);
    assert.deepEqual(deliveredIsTrue([...outcomes, ...direct], conns), []);
  });

  test('d. no internal error on either instance', async () => {
    await assertNoInternalErrors([A, B]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('b. the business service slow, failing and restarted, several connections pipelining', () => {
  /** forward.timeoutMs: long enough that a healthy call never reaches it on a loaded CI machine. */
  const TIMEOUT_MS = 1_000;
  const THRESHOLD = 3;
  const RESET_MS = 800;
  let biz: TestBusinessService;
  let node: Node;
  let cleanupConfig: () => void;
  const conns: Conn[] = [];
  let seq = 0;

  before(async () => {
    biz = await TestBusinessService.start();
    const cfg = configDir({
      'websocket.yml': `forward:\n  timeoutMs: ${TIMEOUT_MS}\n  breakerFailureThreshold: ${THRESHOLD}\n  breakerResetMs: ${RESET_MS}\n  maxInFlight: 64\n  dedupeWindowSec: 60\n`,
    });
    cleanupConfig = cfg.cleanup;
    node = await startNode('fb-1', cfg.dir, { IMA_BUSINESS_ADDR: biz.address });
    for (let i = 0; i < 4; i++) conns.push(await connect(node, `fb-u${i}-${process.pid}`, `d${i}`, 'ios'));
  });

  after(async () => {
    await Promise.allSettled(conns.map((c) => c.ws.terminate()));
    node?.rpc.close();
    await node?.gw.stop();
    await biz?.stop();
    cleanupConfig?.();
  });

  /** Sends n messages at once on a connection; resolves with their ids, in send order. */
  function pipeline(c: Conn, n: number, tag: string): string[] {
    const ids: string[] = [];
    for (let k = 0; k < n; k++) {
      const id = `${tag}-${c.device}-${++seq}`;
      ids.push(id);
      c.ws.send({ type: 'chat', id, payload: { k } });
    }
    return ids;
  }

  /** The acks of these ids, in arrival order (waits for all of them). */
  async function acks(c: Conn, ids: readonly string[], timeoutMs = 10_000): Promise<Array<{ id: string; code: number }>> {
    const want = new Set(ids);
    await eventually(() => c.ws.frames.filter((f) => f['type'] === 'ack' && want.has(String(f['id']))).length >= ids.length, timeoutMs, `${ids.length} acks on ${c.user}`);
    return c.ws.frames.filter((f) => f['type'] === 'ack' && want.has(String(f['id']))).map((f) => ({ id: String(f['id']), code: Number(f['code']) }));
  }

  async function breakerState(): Promise<string> {
    return String((await stats(node))['businessBreaker']);
  }

  async function healthy(): Promise<void> {
    biz.mode = 'ok';
    await eventually(
      async () => {
        const c = conns[0];
        if (c === undefined) return false;
        const [id] = pipeline(c, 1, 'heal');
        return (await acks(c, [id ?? ''])).every((a) => a.code === 0);
      },
      10_000,
      'forwarding to work again',
    );
  }

  test('slow beyond forward.timeoutMs, four connections pipelining: each message one ack, in order; 2001 only for calls made, the rest 2000 at once', async (t) => {
    biz.mode = 'slow';
    const callsBefore = biz.messages.length;
    const cancelledBefore = biz.cancelledCalls;
    const t0 = Date.now();
    const sent = conns.map((c) => pipeline(c, 6, 'slow'));
    const got = await Promise.all(conns.map((c, i) => acks(c, sent[i] ?? [])));
    const elapsed = Date.now() - t0;
    const all = got.flat();
    const calls = biz.messages.length - callsBefore;
    const timeouts = all.filter((a) => a.code === 2001).length;
    t.diagnostic(`24 messages answered in ${elapsed} ms: ${timeouts} × 2001, ${all.filter((a) => a.code === 2000).length} × 2000; ${calls} calls reached the service`);
    for (const [i, c] of conns.entries()) assert.deepEqual(got[i]?.map((a) => a.id), sent[i], `acks of ${c.user} in send order, one each`);
    assert.ok(all.every((a) => a.code === 2000 || a.code === 2001), JSON.stringify(all));
    assert.equal(timeouts, calls, 'a 2001 for each call that reached the service; no call for the 2000s');
    assert.ok(timeouts >= THRESHOLD, `the breaker opened after ${THRESHOLD} failures (${timeouts} timeouts)`);
    // two waves of deadlines at most (calls in flight when the breaker opens); without the breaker
    // the last message of a connection would wait for 6 deadlines (6 s)
    assert.ok(elapsed < 4 * TIMEOUT_MS, `no pile-up of deadlines (${elapsed} ms)`);
    assert.equal(await breakerState(), 'open');
    await eventually(() => biz.cancelledCalls - cancelledBefore === timeouts, 5_000, 'every timed-out call cancelled at the service (the deadline travels with the call)');
    await healthy();
  });

  test('failing (ack 2000) through one connection opens the breaker for all: another connection gets 2000 at once, with no call', async () => {
    const [a, b] = conns;
    assert.ok(a && b);
    biz.mode = 'error';
    for (let k = 0; k < THRESHOLD; k++) {
      const ids = pipeline(a, 1, 'fail');
      assert.deepEqual((await acks(a, ids)).map((x) => x.code), [2000]);
    }
    assert.equal(await breakerState(), 'open');
    biz.mode = 'slow'; // a call now would hang until the deadline: none may be made
    const callsBefore = biz.messages.length;
    const t0 = Date.now();
    const ids = pipeline(b, 5, 'open');
    const got = await acks(b, ids);
    const ms = Date.now() - t0;
    assert.deepEqual(got.map((x) => x.id), ids);
    assert.deepEqual(got.map((x) => x.code), [2000, 2000, 2000, 2000, 2000]);
    assert.ok(ms < TIMEOUT_MS, `answered at once (${ms} ms), not at a deadline`);
    assert.equal(biz.messages.length, callsBefore, 'the open breaker made no call');
    await healthy();
  });

  test('restarted on the same port while four connections stream: one ack per message in send order, acks 0 again, order kept, nothing forwarded twice', async (t) => {
    const port = biz.port;
    const old = biz;
    const sent: string[][] = conns.map(() => []);
    let streaming = true;
    const streams = conns.map(async (c, i) => {
      for (let k = 0; streaming && k < 2_000; k++) {
        sent[i]?.push(...pipeline(c, 1, 'restart'));
        await new Promise((r) => setTimeout(r, 15));
      }
    });
    await eventually(() => old.messages.length > 20, 5_000, 'messages flowing before the restart');
    await old.stop();
    const down = Date.now();
    await eventually(() => conns.every((c) => c.ws.frames.some((f) => f['type'] === 'ack' && f['code'] === 2000 && String(f['id']).startsWith('restart-'))), 5_000, 'every connection to see the service down (2000)');
    biz = await TestBusinessService.start(port);
    biz.handler = async () => {
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 4)));
      return { code: 0, message: '', replies: [] };
    };
    const up = Date.now();
    // stream on until every connection got a 0 from the new process, then a little more
    await eventually(() => conns.every((c) => c.ws.frames.some((f) => f['type'] === 'ack' && f['code'] === 0 && biz.messages.some((m) => m.messageId === f['id']))), 10_000, 'acks 0 from the restarted service');
    const more = biz.messages.length + 20;
    await eventually(() => biz.messages.length >= more, 5_000, 'more messages after recovery');
    streaming = false;
    await Promise.all(streams);
    const got = await Promise.all(conns.map((c, i) => acks(c, sent[i] ?? [])));
    t.diagnostic(`down ${up - down} ms; ${sent.flat().length} messages: ${got.flat().filter((a) => a.code === 0).length} × 0, ${got.flat().filter((a) => a.code === 2000).length} × 2000, ${got.flat().filter((a) => a.code === 2001).length} × 2001`);
    for (const [i, c] of conns.entries()) {
      const acked = got[i] ?? [];
      assert.deepEqual(acked.map((a) => a.id), sent[i], `${c.user}: one ack per message, in send order`);
      assert.ok(acked.every((a) => [0, 2000, 2001].includes(a.code)), JSON.stringify(acked.filter((a) => ![0, 2000, 2001].includes(a.code))));
      // after the first 0 from the new process every message is accepted (the service stays healthy)
      const firstNew = acked.findIndex((a) => a.code === 0 && biz.messages.some((m) => m.messageId === a.id));
      assert.ok(firstNew >= 0);
      assert.deepEqual(acked.slice(firstNew).filter((a) => a.code !== 0), [], `${c.user}: acks after recovery`);
      // the services saw this connection's messages once each, in send order; every 0 was received
      const received = [...old.messages, ...biz.messages].filter((m) => m.userId === c.user && m.messageId.startsWith('restart-')).map((m) => m.messageId);
      assert.equal(new Set(received).size, received.length, `${c.user}: nothing forwarded twice`);
      const order = received.map((id) => (sent[i] ?? []).indexOf(id));
      assert.deepEqual(order, [...order].sort((x, y) => x - y), `${c.user}: forwarded in send order`);
      for (const a of acked) if (a.code === 0) assert.ok(received.includes(a.id), `${a.id} acked 0 was received`);
    }
    // and once more, calmly: all accepted
    const last = conns.map((c) => pipeline(c, 5, 'after'));
    const lastAcks = await Promise.all(conns.map((c, i) => acks(c, last[i] ?? [])));
    assert.ok(lastAcks.flat().every((a) => a.code === 0), JSON.stringify(lastAcks));
  });

  test('d. no internal error', async () => {
    for (const c of conns) assert.ok(c.ws.isOpen, `${c.user} stayed connected through it all`);
    await assertNoInternalErrors([node]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('c. one instance of three killed with SIGKILL under push load', () => {
  let redis: TestRedis;
  let nodes: Node[] = [];
  let cleanupConfig: () => void;
  let load: PushLoad | undefined;
  const conns: Conn[] = [];
  let dead: Node;
  let survivors: Node[];
  let killedAt = 0;

  before(async () => {
    redis = await startRedis();
    const cfg = configDir({ 'redis.yml': REDIS_YML });
    cleanupConfig = cfg.cleanup;
    const env = { IMA_REDIS_URL: redis.url, IMA_ADVERTISE_HOST: '127.0.0.1' };
    nodes = await Promise.all(['fc-1', 'fc-2', 'fc-3'].map((id) => startNode(id, cfg.dir, env)));
    const [n1] = nodes;
    assert.ok(n1);
    await eventually(async () => (await call(n1, 'Broadcast', { message: { type: 'probe' }, platforms: ['miniweb'] })).res?.['instances'] === 3, 10_000, 'a cluster of three');
    // three users on each instance, and one user with a device on the first and the third
    for (const [k, n] of nodes.entries()) for (let i = 0; i < 3; i++) conns.push(await connect(n, `fc-u${k}${i}-${process.pid}`, `d${k}${i}`, 'android'));
    conns.push(await connect(nodes[0] ?? n1, `fc-both-${process.pid}`, 'both-1', 'ios'));
    conns.push(await connect(nodes[2] ?? n1, `fc-both-${process.pid}`, 'both-3', 'web'));
    [dead, ...survivors] = nodes as [Node, Node, Node];
  });

  after(async () => {
    if (load !== undefined) await load.stop();
    await Promise.allSettled(conns.map((c) => c.ws.terminate()));
    for (const n of nodes) n.rpc.close();
    await Promise.allSettled(nodes.map((n) => n.gw.stop()));
    await redis?.stop();
    cleanupConfig?.();
  });

  const onSurvivors = (): Conn[] => conns.filter((c) => c.node !== dead);
  /** Users with every device on a survivor. */
  const survivorUsers = (): string[] => usersOf(onSurvivors()).filter((u) => !conns.some((c) => c.user === u && c.node === dead));
  const deadOnly = (): string[] => usersOf(conns.filter((c) => c.node === dead)).filter((u) => !onSurvivors().some((c) => c.user === u));

  test('SIGKILL of one instance while pushes run through the other two: they keep answering, with exact counts for users on them', async (t) => {
    await exactDelivery(nodes, conns);
    const users = survivorUsers();
    const expected = onSurvivors().filter((c) => users.includes(c.user)).length;
    // no Broadcast in this load: one forwarded to the instance being killed may reach its clients and
    // never be counted (checked after the lease expired instead)
    load = new PushLoad(survivors, users, 5_000, ['PushToUsers', 'PushToUser', 'GetConnectionStatus']);
    load.phase = 'all three up';
    await load.completed('all three up', 6, 10_000);
    load.phase = 'after the kill';
    killedAt = Date.now();
    const exit = await dead.gw.kill9();
    assert.equal(exit.signal, 'SIGKILL');
    for (const c of conns.filter((x) => x.node === dead)) assert.equal((await c.ws.waitClosed(5_000)).code, 1006);
    await load.completed('after the kill', 12, 15_000);
    const outcomes = await load.stop();
    load = undefined;
    t.diagnostic(`calls through the survivors: ${summary(outcomes)}`);
    assert.deepEqual(
      outcomes.filter((o) => o.code !== undefined).map((o) => `${o.method} via ${o.via} (${o.phase}): ${grpc.status[o.code ?? 0]} ${o.details ?? ''} after ${o.ms} ms`),
      [],
      'every call through a survivor succeeded',
    );
    for (const o of outcomes.filter((x) => x.method === 'PushToUsers')) {
      assert.deepEqual({ delivered: o.res?.['delivered'], offline: o.res?.['offlineUserIds'] }, { delivered: expected, offline: [] }, `PushToUsers via ${o.via} (${o.phase})`);
    }
    const survivorConns = onSurvivors();
    await drain(survivors, survivorConns);
    assert.deepEqual(deliveredIsTrue(outcomes, survivorConns), []);
    for (const o of outcomes.filter((x) => x.method === 'PushToUsers')) {
      for (const c of survivorConns.filter((x) => users.includes(x.user))) assert.equal(timesReceived(c, o.pushId ?? ''), 1, `${o.pushId} reached ${c.user}/${c.device} once`);
    }
  });

  test(`within the lease (${LEASE_TTL_SEC} s) plus 5 s the dead instance's users are offline everywhere and Broadcast counts two instances`, async () => {
    const gone = deadOnly();
    assert.ok(gone.length === 3);
    let last = '';
    await eventually(
      async () => {
        const answers = await Promise.all(
          survivors.map(async (n) => ({
            st: await call(n, 'GetConnectionStatus', { userIds: gone }),
            push: await call(n, 'PushToUsers', { userIds: gone, message: message(nextId('gone')) }),
            bc: await call(n, 'Broadcast', { message: { type: 'probe' }, platforms: ['miniweb'] }),
          })),
        );
        last = JSON.stringify(answers.map((a) => ({ st: a.st.res ?? a.st.details, push: a.push.res ?? a.push.details, bc: a.bc.res ?? a.bc.details })));
        return answers.every(
          (a) =>
            (a.st.res?.['statuses'] as unknown[] | undefined)?.length === 0 &&
            a.push.res?.['delivered'] === 0 &&
            JSON.stringify(a.push.res['offlineUserIds']) === JSON.stringify(gone) &&
            a.bc.res?.['instances'] === 2,
        );
      },
      Math.max(1_000, LEASE_TTL_SEC * 1_000 + 5_000 - (Date.now() - killedAt)),
      'the dead instance forgotten by both survivors',
    ).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; last answers: ${last}`);
    });
  });

  test('after that, no call is routed to the dead instance, and pushes are exact', async () => {
    const marks = survivors.map((n) => n.gw.logs.length);
    const survivorConns = onSurvivors();
    const both = `fc-both-${process.pid}`;
    for (const n of survivors) {
      // a user with one device on the dead instance and one on a survivor: only the survivor's counts
      const r1 = await must(n, 'PushToUser', { userId: both, message: message(nextId('both')) });
      assert.deepEqual({ delivered: r1['delivered'], offline: r1['offlineUserIds'] }, { delivered: 1, offline: [] });
      const all = usersOf(conns);
      const r2 = await must(n, 'PushToUsers', { userIds: all, message: message(nextId('all')) });
      assert.deepEqual({ delivered: r2['delivered'], offline: r2['offlineUserIds'] }, { delivered: survivorConns.length, offline: deadOnly() });
      const r3 = await must(n, 'Broadcast', { message: message(nextId('bc')) });
      assert.deepEqual({ delivered: Number(r3['delivered']), instances: r3['instances'] }, { delivered: survivorConns.length, instances: 2 });
      const r4 = await must(n, 'KickUser', { userId: deadOnly()[0] ?? '', reason: 'gone' });
      assert.equal(r4['kicked'], 0);
      const r5 = await must(n, 'GetConnectionStatus', { userIds: all });
      assert.ok(((r5['statuses'] as Array<{ instanceId: string }>) ?? []).every((s) => s.instanceId !== dead.id), JSON.stringify(r5));
      assert.equal((r5['statuses'] as unknown[]).length, survivorConns.length);
    }
    await exactDelivery(survivors, survivorConns);
    // a call routed to the dead instance would fail and be logged with its id ("forwarded ... failed")
    for (const [i, n] of survivors.entries()) {
      const routed = n.gw.logs.slice(marks[i]).filter((l) => l.includes(dead.id));
      assert.deepEqual(routed, [], `${n.id} did not call ${dead.id}`);
    }
  });

  test('d. no internal error: the survivors report none, and none was logged by any of the three', async () => {
    await assertNoInternalErrors(nodes);
  });
});

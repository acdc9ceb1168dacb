/**
 * The cluster (SPEC.md sections 5 and 6 "Cluster") end to end: real redis-server processes, real
 * gateway processes (three on one Redis with the default one_per_platform policy, three more on
 * their own Redis with single_session), real WebSocket clients and a grpc-js client of
 * IMAGatewayService. Routing of pushes, broadcasts and kicks across instances with exact counts,
 * the cluster-wide login policy, GetConnectionStatus from any instance, the same-device reconnect
 * race, a Redis outage and restart without persistence, a SIGKILLed instance and a SIGTERMed one,
 * an instance restarted under the same IMA_INSTANCE_ID right after a SIGKILL, and one frozen
 * (SIGSTOP) for longer than its lease.
 *
 * Leases are short here (ttl 3 s, refresh and sweep every second) so that expiry and the write-back
 * after a Redis restart happen within a few seconds. The destructive tests (Redis restart, kill -9,
 * SIGTERM) run last, in that order, on the first trio.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import type { IMAGatewayServiceClient } from '../../api/gen/im/gateway/v1/IMAGatewayService';
import { loadProto } from '../../internal/rpc/proto';
import { httpGet } from '../support/admin';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { startRedis } from '../support/redis';
import type { TestRedis } from '../support/redis';
import { TestWsClient } from '../support/ws-client';
import type { Frame } from '../support/ws-client';
import { TEST_JWT_SECRET, configDir, eventually, jwtFor } from './helpers';

type Client = IMAGatewayServiceClient & grpc.Client;

interface PushRes {
  success: boolean;
  delivered: number;
  offlineUserIds: string[];
}
interface BroadcastRes {
  success: boolean;
  delivered: number;
  instances: number;
}
interface KickRes {
  success: boolean;
  kicked: number;
}
interface Status {
  userId: string;
  deviceId: string;
  platform: string;
  online: boolean;
  instanceId: string;
  connectedAt: number;
  clientIp: string;
}
interface StatusRes {
  statuses: Status[];
}

const LEASE_TTL_SEC = 3;
const REDIS_YML = `redis:\n  leaseTtlSec: ${LEASE_TTL_SEC}\n  leaseRefreshSec: 1\n  sweepEverySec: 1\n`;

function client(address: string): Client {
  return new (loadProto().grpcType.im.gateway.v1.IMAGatewayService)(address, grpc.credentials.createInsecure()) as Client;
}

/** A unary call as a promise of { res } or { err }. */
function call<Req, Res>(c: Client, method: keyof IMAGatewayServiceClient, req: Req, timeoutMs = 10_000): Promise<{ res?: Res; err?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const fn = (c as unknown as Record<string, (r: Req, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Res) => void) => void>)[method as string];
    assert.ok(fn);
    fn.call(c, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) => resolve(e ? { err: e } : { res: r as Res }));
  });
}

/** A call that must succeed: its response. */
async function must<Res>(c: Client, method: keyof IMAGatewayServiceClient, req: unknown): Promise<Res> {
  const r = await call<unknown, Res>(c, method, req);
  assert.equal(r.err, undefined, `${String(method)} failed: ${r.err?.message ?? ''}`);
  assert.ok(r.res !== undefined);
  return r.res;
}

/** One gateway instance of a test cluster and a gRPC client of it. */
interface Node {
  readonly id: string;
  readonly gw: GatewayProcess;
  readonly rpc: Client;
}

const redisServers: TestRedis[] = [];
const nodes: Node[] = [];
const cleanups: Array<() => void> = [];
const clients: TestWsClient[] = [];

let redis1: TestRedis;
let redis2: TestRedis;
/** one_per_platform trio on redis1 */
let A: Node;
let B: Node;
let C: Node;
/** single_session trio on redis2 */
let SA: Node;
let SB: Node;
let SC: Node;

async function startNode(id: string, redis: TestRedis, policy: string, dir: string): Promise<Node> {
  const gw = await startGateway({
    configDir: dir,
    env: {
      IMA_REDIS_URL: redis.url,
      IMA_ADVERTISE_HOST: '127.0.0.1',
      IMA_KICK_POLICY: policy,
      IMA_INSTANCE_ID: id,
      IMA_JWT_SECRET: TEST_JWT_SECRET,
    },
  });
  const node = { id, gw, rpc: client(gw.grpcAddress) };
  nodes.push(node);
  return node;
}

/** Resolves once a Broadcast through `via` reaches `n` instances (every lease is visible). */
async function clusterFormed(via: Node, n: number): Promise<void> {
  await eventually(
    async () => {
      const r = await call<unknown, BroadcastRes>(via.rpc, 'Broadcast', { message: { type: 'cluster.probe' }, platforms: ['miniweb'] });
      return r.res?.instances === n;
    },
    10_000,
    `a cluster of ${n} instances seen from ${via.id}`,
  );
}

before(async () => {
  const cfg = configDir({ 'redis.yml': REDIS_YML });
  cleanups.push(cfg.cleanup);
  [redis1, redis2] = await Promise.all([startRedis(), startRedis()]);
  redisServers.push(redis1, redis2);
  [A, B, C, SA, SB, SC] = await Promise.all([
    startNode('gw-a', redis1, 'one_per_platform', cfg.dir),
    startNode('gw-b', redis1, 'one_per_platform', cfg.dir),
    startNode('gw-c', redis1, 'one_per_platform', cfg.dir),
    startNode('ss-a', redis2, 'single_session', cfg.dir),
    startNode('ss-b', redis2, 'single_session', cfg.dir),
    startNode('ss-c', redis2, 'single_session', cfg.dir),
  ]);
  await Promise.all([clusterFormed(A, 3), clusterFormed(SA, 3)]);
});

after(async () => {
  await Promise.allSettled(clients.map((c) => c.terminate()));
  for (const n of nodes) n.rpc.close();
  await Promise.allSettled(nodes.map((n) => n.gw.stop()));
  await Promise.allSettled(redisServers.map((r) => r.stop()));
  for (const c of cleanups) c();
});

let seq = 0;
/** A user id unique to this run. */
const uid = (tag: string): string => `${tag}-${++seq}-${process.pid}`;

/** Connects one device of `user` to `node` and waits for its auth ok frame. */
async function online(node: Node, user: string, device: string, platform: string): Promise<TestWsClient> {
  const c = await TestWsClient.connect(node.gw.wsUrl({ token: jwtFor(user), device_id: device, platform }));
  clients.push(c);
  const auth = await c.next('auth');
  assert.equal(auth['ok'], true, `${user}/${device} on ${node.id} admitted: ${JSON.stringify(auth)}`);
  assert.equal(auth['instanceId'], node.id);
  return c;
}

async function closeAll(cs: TestWsClient[]): Promise<void> {
  await Promise.all(cs.map((c) => c.close()));
}

const msg = (id: string, type = 'notice'): Record<string, unknown> => ({ messageId: id, type, payload: Buffer.from(JSON.stringify({ id })) });

/** Waits for the push frame with this message id and checks its payload. */
async function received(c: TestWsClient, id: string, ms = 5_000): Promise<Frame> {
  const f = await c.next((x) => x['id'] === id, ms);
  assert.deepEqual(f['payload'], { id });
  return f;
}

/** Waits for a kick frame with `code` followed by a close with the same code. */
async function kickedWith(c: TestWsClient, code: number): Promise<void> {
  const k = await c.next('kick', 5_000);
  assert.equal(k['code'], code, JSON.stringify(k));
  assert.equal((await c.waitClosed(5_000)).code, code);
}

async function statuses(via: Node, userIds: string[]): Promise<Status[]> {
  return (await must<StatusRes>(via.rpc, 'GetConnectionStatus', { userIds })).statuses;
}

/** "device@instance" for each status, sorted. */
function where(list: Status[]): string[] {
  return list.map((s) => `${s.userId}/${s.deviceId}@${s.instanceId}`).sort();
}

describe('cluster of three instances on one Redis', () => {
  test('Broadcast through any instance reaches the clients of all three: delivered = every connection, instances = 3', async () => {
    const ca = await online(A, uid('bc'), 'd-a', 'ios');
    const cb = await online(B, uid('bc'), 'd-b', 'android');
    const cc = await online(C, uid('bc'), 'd-c', 'web');
    const cc2 = await online(C, uid('bc'), 'd-c2', 'linux');
    for (const via of [A, B, C]) {
      const id = `bc-${via.id}-${seq}`;
      const r = await must<BroadcastRes>(via.rpc, 'Broadcast', { message: msg(id) });
      assert.deepEqual(r, { success: true, delivered: 4, instances: 3 }, `Broadcast through ${via.id}`);
      for (const c of [ca, cb, cc, cc2]) await received(c, id);
    }
    // a platform filter applies on every instance
    const id = `bc-filter-${seq}`;
    const r = await must<BroadcastRes>(B.rpc, 'Broadcast', { message: msg(id), platforms: ['ios', 'linux'] });
    assert.deepEqual(r, { success: true, delivered: 2, instances: 3 });
    await received(ca, id);
    await received(cc2, id);
    assert.equal(cb.frames.filter((f) => f['id'] === id).length, 0);
    assert.equal(cc.frames.filter((f) => f['id'] === id).length, 0);
    await closeAll([ca, cb, cc, cc2]);
  });

  test('PushToUser: a user connected on A is reached through B, through C and through A', async () => {
    const u = uid('pu');
    const c = await online(A, u, 'phone', 'ios');
    for (const via of [B, C, A]) {
      const id = `pu-${via.id}-${seq}`;
      const r = await must<PushRes>(via.rpc, 'PushToUser', { userId: u, message: msg(id) });
      assert.deepEqual(r, { success: true, delivered: 1, offlineUserIds: [] }, `PushToUser through ${via.id}`);
      await received(c, id);
    }
    assert.equal(c.framesOfType('notice').length, 3, 'each push delivered exactly once');
    // an offline user is listed, from any instance
    const ghost = uid('ghost');
    assert.deepEqual(await must<PushRes>(C.rpc, 'PushToUser', { userId: ghost, message: msg(`g-${seq}`) }), {
      success: true,
      delivered: 0,
      offlineUserIds: [ghost],
    });
    await c.close();
  });

  test('PushToUsers across instances: delivered = exact connection count, offline users listed', async () => {
    const u1 = uid('pus'); // on A
    const u2 = uid('pus'); // on B and C (two devices)
    const u3 = uid('pus'); // on C
    const off = uid('pus-off');
    const c1 = await online(A, u1, 'd1', 'ios');
    const c2b = await online(B, u2, 'd2-ios', 'ios');
    const c2c = await online(C, u2, 'd2-android', 'android');
    const c3 = await online(C, u3, 'd3', 'web');
    for (const via of [A, B, C]) {
      const id = `pus-${via.id}-${seq}`;
      const r = await must<PushRes>(via.rpc, 'PushToUsers', { userIds: [u1, u2, off, u3, u1], message: msg(id) });
      assert.deepEqual(r, { success: true, delivered: 4, offlineUserIds: [off] }, `PushToUsers through ${via.id}`);
      for (const c of [c1, c2b, c2c, c3]) await received(c, id);
    }
    // filters travel with the forwarded call
    const id = `pus-filter-${seq}`;
    const r = await must<PushRes>(A.rpc, 'PushToUsers', { userIds: [u1, u2, u3], message: msg(id), platforms: ['android'] });
    assert.deepEqual(r, { success: true, delivered: 1, offlineUserIds: [u1, u3] });
    await received(c2c, id);
    for (const c of [c1, c2b, c3]) assert.equal(c.frames.filter((f) => f['id'] === id).length, 0);
    await closeAll([c1, c2b, c2c, c3]);
  });

  test('one_per_platform cluster-wide: a second ios login on B kicks the ios session on A (4001); the android session on A stays', async () => {
    const u = uid('opp');
    const iosA = await online(A, u, 'ios-1', 'ios');
    const androidA = await online(A, u, 'android-1', 'android');
    const iosB = await online(B, u, 'ios-2', 'ios');
    await kickedWith(iosA, 4001);
    assert.ok(androidA.isOpen, 'the android session on A stays');
    assert.ok(iosB.isOpen);
    // the cluster now knows android-1@A and ios-2@B only
    await eventually(async () => where(await statuses(C, [u])).join() === [`${u}/android-1@gw-a`, `${u}/ios-2@gw-b`].sort().join(), 5_000, 'the status after the kick');
    const id = `opp-${seq}`;
    assert.deepEqual(await must<PushRes>(C.rpc, 'PushToUser', { userId: u, message: msg(id) }), { success: true, delivered: 2, offlineUserIds: [] });
    await received(androidA, id);
    await received(iosB, id);
    await closeAll([androidA, iosB]);
  });

  test('KickUser through C kicks the devices on A and B with 4002; kicked is summed', async () => {
    const u = uid('kick');
    const other = uid('kick-other');
    const ca = await online(A, u, 'k-ios', 'ios');
    const cb = await online(B, u, 'k-android', 'android');
    const bystander = await online(A, other, 'o-ios', 'ios');
    const r = await must<KickRes>(C.rpc, 'KickUser', { userId: u, reason: 'banned' });
    assert.deepEqual(r, { success: true, kicked: 2 });
    for (const c of [ca, cb]) {
      const k = await c.next('kick');
      assert.equal(k['code'], 4002);
      assert.equal(k['reason'], 'banned');
      assert.equal((await c.waitClosed()).code, 4002);
    }
    assert.ok(bystander.isOpen, 'another user is not kicked');
    await eventually(async () => (await statuses(B, [u])).length === 0, 5_000, 'the kicked user offline in the cluster view');
    // kicking one device only
    const c2 = await online(B, u, 'k-web', 'web');
    const c3 = await online(C, u, 'k-linux', 'linux');
    assert.deepEqual(await must<KickRes>(A.rpc, 'KickUser', { userId: u, deviceId: 'k-linux' }), { success: true, kicked: 1 });
    await kickedWith(c3, 4002);
    assert.ok(c2.isOpen);
    await closeAll([bystander, c2]);
  });

  test('GetConnectionStatus through any instance lists the devices on every instance with their instance_id', async () => {
    const u = uid('st');
    const ghost = uid('st-ghost');
    const devices: Array<[Node, string, string]> = [
      [A, 's-ios', 'ios'],
      [B, 's-android', 'android'],
      [C, 's-web', 'web'],
    ];
    const cs: TestWsClient[] = [];
    for (const [n, d, p] of devices) cs.push(await online(n, u, d, p));
    for (const via of [A, B, C]) {
      const list = await statuses(via, [u, ghost]);
      assert.equal(list.length, 3, `through ${via.id}: ${JSON.stringify(list)}`);
      for (const [n, d, p] of devices) {
        const s = list.find((x) => x.deviceId === d);
        assert.ok(s, `${d} listed through ${via.id}`);
        assert.equal(s.userId, u);
        assert.equal(s.instanceId, n.id);
        assert.equal(s.platform, p);
        assert.equal(s.online, true);
        assert.ok(Math.abs(Date.now() - Number(s.connectedAt)) < 60_000, `connectedAt ${s.connectedAt}`);
        assert.ok(s.clientIp !== '');
      }
    }
    await closeAll(cs);
    await eventually(async () => (await statuses(C, [u])).length === 0, 5_000, 'the closed devices gone from the cluster view');
  });

  test('same-device reconnect on another instance: the old connection gets 4001, its late unregister keeps the new mapping', async () => {
    const u = uid('race');
    const old = await online(A, u, 'dev-1', 'ios');
    const fromLine = A.gw.logs.length;
    const fresh = await online(B, u, 'dev-1', 'ios');
    await kickedWith(old, 4001);
    // A logs "disconnected" after it has sent the unregister of the old epoch to Redis; a
    // GetConnectionStatus through A goes out on A's Redis connection after that unregister, so
    // it sees its effect (no fixed sleep needed).
    await A.gw.waitForLog(/"disconnected"/, 5_000, fromLine);
    for (const via of [A, B, C]) {
      assert.deepEqual(where(await statuses(via, [u])), [`${u}/dev-1@gw-b`], `status through ${via.id}`);
    }
    const id = `race-${seq}`;
    assert.deepEqual(await must<PushRes>(A.rpc, 'PushToUser', { userId: u, message: msg(id) }), { success: true, delivered: 1, offlineUserIds: [] });
    await received(fresh, id);
    assert.ok(fresh.isOpen);
    await fresh.close();
  });
});

describe('single_session cluster-wide (second trio, own Redis)', () => {
  test('each login elsewhere kicks the previous session (4001): A then B then C; only C remains', async () => {
    const u = uid('ss');
    const ca = await online(SA, u, 'ss-ios', 'ios');
    const cb = await online(SB, u, 'ss-web', 'web');
    await kickedWith(ca, 4001);
    assert.ok(cb.isOpen);
    const cc = await online(SC, u, 'ss-windows', 'windows');
    await kickedWith(cb, 4001);
    assert.ok(cc.isOpen);
    await eventually(async () => where(await statuses(SA, [u])).join() === `${u}/ss-windows@ss-c`, 5_000, 'only the session on ss-c listed');
    const id = `ss-${seq}`;
    assert.deepEqual(await must<PushRes>(SB.rpc, 'PushToUser', { userId: u, message: msg(id) }), { success: true, delivered: 1, offlineUserIds: [] });
    await received(cc, id);
    // a second user is independent of the first
    const v = uid('ss');
    const cv = await online(SA, v, 'v-ios', 'ios');
    assert.ok(cc.isOpen);
    await closeAll([cc, cv]);
  });
});

describe('failures: Redis outage, kill -9, SIGTERM (first trio, in this order)', () => {
  test('Redis down: local delivery goes on, /readyz 503 degraded; Redis back empty: mappings written back, routing works again', async () => {
    const ua = uid('rd');
    const ub = uid('rd');
    const a1 = await online(A, ua, 'rd-ios', 'ios');
    const a2 = await online(A, ua, 'rd-web', 'web');
    const b1 = await online(B, ub, 'rd-android', 'android');

    await redis1.stop();
    await eventually(
      async () => {
        const r = await httpGet(`${A.gw.adminUrl}/readyz`);
        const j = r.json as { status?: string; checks?: { redis?: string } } | undefined;
        return r.status === 503 && j?.status === 'degraded' && j.checks?.redis === 'down';
      },
      10_000,
      '/readyz of A: 503 degraded, checks.redis down',
    );
    for (const c of [a1, a2, b1]) assert.ok(c.isOpen, 'clients stay connected while Redis is down');
    const id = `rd-local-${seq}`;
    assert.deepEqual(await must<PushRes>(A.rpc, 'PushToUser', { userId: ua, message: msg(id) }), { success: true, delivered: 2, offlineUserIds: [] });
    await received(a1, id);
    await received(a2, id);
    // a login during the outage is admitted (policy applied locally) and written back later
    const uc = uid('rd');
    const a3 = await online(A, uc, 'rd-late', 'linux');

    await redis1.restart(); // no persistence: every key is gone
    await eventually(
      async () => {
        const r = await call<unknown, StatusRes>(B.rpc, 'GetConnectionStatus', { userIds: [ua, ub, uc] });
        return where(r.res?.statuses ?? []).join() === [`${ua}/rd-ios@gw-a`, `${ua}/rd-web@gw-a`, `${ub}/rd-android@gw-b`, `${uc}/rd-late@gw-a`].sort().join();
      },
      10_000,
      'every mapping written back after the Redis restart',
    );
    // cross-instance push: a user on A pushed through B
    const id2 = `rd-cross-${seq}`;
    await eventually(
      async () => {
        const r = await call<unknown, PushRes>(B.rpc, 'PushToUser', { userId: ua, message: msg(id2) });
        return r.res?.delivered === 2;
      },
      10_000,
      'a push through B reaching the user on A',
    );
    await received(a1, id2);
    await received(a2, id2);
    await eventually(async () => (await httpGet(`${A.gw.adminUrl}/readyz`)).status === 200, 10_000, '/readyz of A back to 200');
    await clusterFormed(C, 3);
    await closeAll([a1, a2, a3, b1]);
  });

  test('kill -9 of A: within lease TTL + 5 s its users are offline and Broadcast reaches 2 instances', async () => {
    const ua = uid('k9');
    const ub = uid('k9');
    const ca = await online(A, ua, 'k9-ios', 'ios');
    const cb = await online(B, ub, 'k9-ios', 'ios');
    assert.deepEqual(where(await statuses(B, [ua, ub])), [`${ua}/k9-ios@gw-a`, `${ub}/k9-ios@gw-b`].sort());

    const killedAt = Date.now();
    const exit = await A.gw.kill9();
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal((await ca.waitClosed()).code, 1006);
    let last = '';
    await eventually(
      async () => {
        const st = await call<unknown, StatusRes>(B.rpc, 'GetConnectionStatus', { userIds: [ua, ub] });
        const push = await call<unknown, PushRes>(B.rpc, 'PushToUser', { userId: ua, message: msg(`k9-${seq}`) });
        const bc = await call<unknown, BroadcastRes>(B.rpc, 'Broadcast', { message: { type: 'k9.probe' }, platforms: ['miniweb'] });
        last = JSON.stringify({ st: st.res ?? st.err?.message, push: push.res ?? push.err?.message, bc: bc.res ?? bc.err?.message });
        return (
          where(st.res?.statuses ?? []).join() === `${ub}/k9-ios@gw-b` &&
          push.res?.delivered === 0 &&
          push.res.offlineUserIds.join() === ua &&
          bc.res?.instances === 2
        );
      },
      LEASE_TTL_SEC * 1000 + 5_000 - (Date.now() - killedAt),
      'A forgotten by the cluster',
    ).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; last answers: ${last}`);
    });
    // the survivors still route to each other
    const id = `k9-alive-${seq}`;
    assert.deepEqual(await must<PushRes>(C.rpc, 'PushToUser', { userId: ub, message: msg(id) }), { success: true, delivered: 1, offlineUserIds: [] });
    await received(cb, id);
    assert.deepEqual(await must<BroadcastRes>(C.rpc, 'Broadcast', { message: msg(`k9-bc-${seq}`) }), { success: true, delivered: 1, instances: 2 });
    // the sweep deletes the dead instance's keys
    const r = new Redis(redis1.url, { maxRetriesPerRequest: 1 });
    try {
      await eventually(async () => (await r.exists('ima:inst:gw-a', 'ima:iu:gw-a', `ima:u:{${ua}}`)) === 0 && (await r.zscore('ima:instances', 'gw-a')) === null, 5_000, 'gw-a swept from Redis');
    } finally {
      r.disconnect();
    }
    await cb.close();
  });

  test('SIGTERM of C: its clients get 1001 and Redis keeps none of its mappings', async () => {
    const uc = uid('term');
    const ub = uid('term');
    const c1 = await online(C, uc, 't-ios', 'ios');
    const c2 = await online(C, uc, 't-web', 'web');
    const b1 = await online(B, ub, 't-android', 'android');
    const both = await online(C, ub, 't-linux', 'linux');
    assert.equal((await statuses(B, [uc, ub])).length, 4);

    const exit = await C.gw.stop('SIGTERM');
    assert.equal(exit.code, 0, 'exit 0 after a graceful shutdown');
    for (const c of [c1, c2, both]) assert.equal((await c.waitClosed()).code, 1001);
    assert.ok(b1.isOpen);
    assert.deepEqual(where(await statuses(B, [uc, ub])), [`${ub}/t-android@gw-b`]);
    const r = new Redis(redis1.url, { maxRetriesPerRequest: 1 });
    try {
      const keys = await r.keys('ima:*');
      assert.ok(!keys.includes('ima:inst:gw-c'), `lease key gone: ${keys.join(' ')}`);
      assert.ok(!keys.includes('ima:iu:gw-c'), `index key gone: ${keys.join(' ')}`);
      assert.ok(!keys.includes(`ima:u:{${uc}}`), `the user key of a C-only user gone: ${keys.join(' ')}`);
      assert.equal(await r.zscore('ima:instances', 'gw-c'), null);
      for (const k of keys.filter((x) => x.startsWith('ima:u:'))) {
        const h = await r.hgetall(k);
        for (const [field, v] of Object.entries(h)) assert.ok(!v.includes('"i":"gw-c"'), `${k} ${field} still owned by gw-c: ${v}`);
      }
    } finally {
      r.disconnect();
    }
    assert.deepEqual(await must<BroadcastRes>(B.rpc, 'Broadcast', { message: msg(`term-bc-${seq}`) }), { success: true, delivered: 1, instances: 1 });
    await b1.close();
  });

  test('an instance restarted with the same IMA_INSTANCE_ID right after kill -9 does not keep its dead connections online', async () => {
    const cfg = configDir({ 'redis.yml': REDIS_YML });
    cleanups.push(cfg.cleanup);
    const first = await startNode('gw-a', redis1, 'one_per_platform', cfg.dir);
    await clusterFormed(B, 2);
    const u = uid('reinc');
    const c = await online(first, u, 'ri-ios', 'ios');
    // B's cached instance view (at most 1 s old) may still hold the expired lease of the gw-a killed earlier
    await eventually(async () => where(await statuses(B, [u])).join() === `${u}/ri-ios@gw-a`, 3_000, 'the new connection listed through B');
    await first.gw.kill9();
    assert.equal((await c.waitClosed()).code, 1006);
    // a supervisor restarts it at once, with the same instance id (a StatefulSet, systemd...)
    const second = await startNode('gw-a', redis1, 'one_per_platform', cfg.dir);
    const restartedAt = Date.now();
    await clusterFormed(B, 2);
    // the connection died with the first process: the push cannot reach it
    assert.deepEqual(await must<PushRes>(B.rpc, 'PushToUser', { userId: u, message: msg(`reinc-${seq}`) }), { success: true, delivered: 0, offlineUserIds: [u] });
    // and the cluster view must not report it online for ever (lease TTL + 5 s is ample)
    let last: Status[] = [];
    await eventually(
      async () => {
        last = await statuses(B, [u]);
        return last.length === 0;
      },
      LEASE_TTL_SEC * 1000 + 5_000,
      'the dead connection of the previous gw-a process gone from GetConnectionStatus',
    ).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; still listed: ${JSON.stringify(last)}; ${Date.now() - restartedAt} ms after the restart`);
    });
    assert.deepEqual(await statuses(second, [u]), []);
  });

  test('an instance frozen longer than its lease (SIGSTOP) counts as gone; after SIGCONT its mappings are written back', async () => {
    const gwA = nodes.filter((n) => n.id === 'gw-a' && n.gw.exitInfo === undefined).pop();
    assert.ok(gwA, 'a live gw-a from the previous test');
    const u = uid('frozen');
    const c = await online(gwA, u, 'fz-android', 'android');
    await eventually(async () => where(await statuses(B, [u])).join() === `${u}/fz-android@gw-a`, 3_000, 'the connection listed through B');
    gwA.gw.child.kill('SIGSTOP');
    try {
      await eventually(
        async () => {
          const st = await statuses(B, [u]);
          const push = await must<PushRes>(B.rpc, 'PushToUser', { userId: u, message: msg(`fz-off-${seq}`) });
          return st.length === 0 && push.offlineUserIds.join() === u;
        },
        LEASE_TTL_SEC * 1000 + 5_000,
        'the frozen instance\'s user offline in the cluster view',
      );
    } finally {
      gwA.gw.child.kill('SIGCONT');
    }
    await eventually(async () => where(await statuses(B, [u])).join() === `${u}/fz-android@gw-a`, 5_000, 'the mapping written back after SIGCONT');
    const id = `fz-back-${seq}`;
    await eventually(async () => (await must<PushRes>(B.rpc, 'PushToUser', { userId: u, message: msg(id) })).delivered === 1, 5_000, 'a push through B reaching it again');
    await received(c, id);
    // (a push forwarded while it was frozen, which B reported as offline after its forward deadline,
    // may still be delivered when the process resumes: gRPC deadlines are relative, so the resumed
    // server cannot tell that the request waited in its socket buffer. Not asserted either way.)
    assert.ok(c.isOpen);
    await c.close();
  });
});

/**
 * Rooms (SPEC.md section 9) end to end: real gateway processes, real redis-server processes, real
 * WebSocket clients, the push API over HTTP/JSON, a real business service answering subscriptions.
 *
 * - one instance (memory): JoinRoom / LeaveRoom / PushToRoom / GetRoomStatus with exact counts,
 *   later connections of a member subscribed at login, filters, the three clientSubscribe modes
 *   (business allowing and refusing, deny, allow), the per-connection limit, bad room names and
 *   bad API arguments;
 * - three instances on one Redis (with persistence): members spread over them and exact counts
 *   summed, an instance without subscribers never called, a Redis restart (membership survives),
 *   the pub/sub ingress for user, room and broadcast channels and a malformed message;
 * - 10,000 members join a room and one push reaches every one of their connections.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { httpGet, httpRequest } from '../support/admin';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { startRedis } from '../support/redis';
import type { TestRedis } from '../support/redis';
import { TestBusinessService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import type { Frame } from '../support/ws-client';
import { TEST_JWT_SECRET, configDir, eventually, jwtFor } from './helpers';

const cleanups: Array<() => Promise<void> | void> = [];
const clients: TestWsClient[] = [];

after(async () => {
  await Promise.allSettled(clients.map((c) => c.terminate()));
  for (const c of cleanups.reverse()) await c();
});

let seq = 0;
const uid = (tag: string): string => `${tag}-${++seq}-${process.pid}`;

interface ApiResult {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

async function api(gw: GatewayProcess, method: string, body: unknown): Promise<ApiResult> {
  const r = await httpRequest('POST', `${gw.adminUrl}/im.gateway.v1.IMAGatewayService/${method}`, JSON.stringify(body), { headers: { 'content-type': 'application/json' }, timeoutMs: 20_000 });
  return { status: r.status, body: (r.json ?? {}) as Record<string, unknown> };
}

async function ok(gw: GatewayProcess, method: string, body: unknown): Promise<Record<string, unknown>> {
  const r = await api(gw, method, body);
  assert.equal(r.status, 200, `${method} ${JSON.stringify(body).slice(0, 200)} -> ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const payload = (id: string): string => Buffer.from(JSON.stringify({ id })).toString('base64');

async function pushToRoom(gw: GatewayProcess, room: string, id: string, extra: Record<string, unknown> = {}): Promise<{ delivered: number; instances: number }> {
  const r = await ok(gw, 'PushToRoom', { room, message: { messageId: id, type: 'room.msg', payload: payload(id) }, ...extra });
  return { delivered: Number(r['delivered']), instances: Number(r['instances']) };
}

async function online(gw: GatewayProcess, user: string, device: string, platform = 'ios'): Promise<TestWsClient> {
  const c = await TestWsClient.connect(gw.wsUrl({ token: jwtFor(user), device_id: device, platform }));
  clients.push(c);
  const auth = await c.next('auth');
  assert.equal(auth['ok'], true, JSON.stringify(auth));
  return c;
}

/** The room push with this id (and its room field). */
async function gotRoomPush(c: TestWsClient, id: string, room: string): Promise<Frame> {
  const f = await c.next((x) => x['id'] === id, 5_000);
  assert.equal(f['room'], room);
  assert.deepEqual(f['payload'], { id });
  return f;
}

/** No frame with this id arrives within `ms`. */
async function notReceived(c: TestWsClient, id: string, ms = 300): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
  assert.equal(c.frames.filter((f) => f['id'] === id).length, 0, `${id} was not expected`);
}

async function ack(c: TestWsClient, frame: Record<string, unknown>): Promise<Frame> {
  c.send(frame);
  return c.next((x) => x['type'] === 'ack' && x['id'] === frame['id'], 5_000);
}

async function stats(gw: GatewayProcess): Promise<Record<string, unknown>> {
  const r = await httpGet(`${gw.adminUrl}/stats`);
  return r.json as Record<string, unknown>;
}

async function gateway(env: Record<string, string>, files: Record<string, string> = {}): Promise<GatewayProcess> {
  const cfg = configDir(files);
  const gw = await startGateway({ configDir: cfg.dir, env: { IMA_JWT_SECRET: TEST_JWT_SECRET, ...env } });
  cleanups.push(async () => {
    await gw.stop();
    cfg.cleanup();
  });
  return gw;
}

describe('rooms on one instance', () => {
  let business: TestBusinessService;
  let withBusiness: GatewayProcess;
  let denying: GatewayProcess;
  let allowing: GatewayProcess;

  before(async () => {
    business = await TestBusinessService.start();
    cleanups.push(() => business.stop());
    business.handler = (m) => {
      if (m.type !== 'ima.subscribe') return { code: 0, message: '', replies: [] };
      const room = (JSON.parse(Buffer.from(m.payload).toString('utf8')) as { room: string }).room;
      return room.startsWith('open-') ? { code: 0, message: '', replies: [] } : { code: 403, message: 'members only', replies: [] };
    };
    [withBusiness, denying, allowing] = await Promise.all([
      gateway({ IMA_BUSINESS_ADDR: business.address }, { 'websocket.yml': 'rooms:\n  maxPerConnection: 2\n' }),
      gateway({}),
      gateway({}, { 'websocket.yml': 'rooms:\n  clientSubscribe: allow\n' }),
    ]);
  });

  test('JoinRoom subscribes every connection of the user; a later connection is subscribed at login; LeaveRoom stops them', async () => {
    const gw = withBusiness;
    const alice = uid('alice');
    const room = `group:${uid('g')}`;
    const phone = await online(gw, alice, 'phone', 'ios');
    const pc = await online(gw, alice, 'pc', 'windows');
    assert.equal(Number((await ok(gw, 'JoinRoom', { room, userIds: [alice] }))['connections']), 2);
    assert.deepEqual(await pushToRoom(gw, room, 'r1'), { delivered: 2, instances: 1 });
    await Promise.all([gotRoomPush(phone, 'r1', room), gotRoomPush(pc, 'r1', room)]);

    const web = await online(gw, alice, 'web', 'web');
    assert.deepEqual(await pushToRoom(gw, room, 'r2'), { delivered: 3, instances: 1 });
    await gotRoomPush(web, 'r2', room);

    const st = await ok(gw, 'GetRoomStatus', { rooms: [room, 'nobody-here'] });
    assert.deepEqual(st['rooms'], [
      { room, members: '1', connections: '3' },
      { room: 'nobody-here', members: '0', connections: '0' },
    ]);
    // filters: platform, excluded user
    assert.equal((await pushToRoom(gw, room, 'r3', { platforms: ['web'] })).delivered, 1);
    await gotRoomPush(web, 'r3', room);
    await notReceived(phone, 'r3', 100);
    assert.equal((await pushToRoom(gw, room, 'r4', { excludeUserIds: [alice] })).delivered, 0);
    await notReceived(pc, 'r4');
    // the excluded user's sockets are back in the room at once
    assert.equal((await pushToRoom(gw, room, 'r5')).delivered, 3);
    await gotRoomPush(pc, 'r5', room);

    assert.equal(Number((await ok(gw, 'LeaveRoom', { room, userIds: [alice] }))['connections']), 3);
    assert.deepEqual(await pushToRoom(gw, room, 'r6'), { delivered: 0, instances: 0 });
    await notReceived(phone, 'r6');
    const s = await stats(gw);
    assert.ok(((s['rooms'] as Record<string, number>)['pushes'] ?? 0) >= 6);
  });

  test('subscribe frames with clientSubscribe business: the business service allows (code 0) or refuses (3000); the limit gives 3001', async () => {
    const gw = withBusiness;
    const bob = uid('bob');
    const c = await online(gw, bob, 'phone');
    const openRoom = `open-${uid('r')}`;
    assert.equal((await ack(c, { type: 'subscribe', id: 's1', room: openRoom }))['code'], 0);
    const asked = business.messages.find((m) => m.type === 'ima.subscribe' && m.messageId === 's1');
    assert.ok(asked !== undefined, 'HandleMessage was asked');
    assert.deepEqual(JSON.parse(Buffer.from(asked.payload).toString('utf8')), { room: openRoom });
    assert.equal(asked.userId, bob);
    assert.equal((await pushToRoom(gw, openRoom, 'o1')).delivered, 1);
    await gotRoomPush(c, 'o1', openRoom);

    const refused = await ack(c, { type: 'subscribe', id: 's2', room: `closed-${uid('r')}` });
    assert.equal(refused['code'], 3000);
    assert.equal(refused['message'], 'members only');

    assert.equal((await ack(c, { type: 'subscribe', id: 's3', room: `open-${uid('r')}` }))['code'], 0);
    assert.equal((await ack(c, { type: 'subscribe', id: 's4', room: `open-${uid('r')}` }))['code'], 3001, 'rooms.maxPerConnection is 2');
    assert.equal((await ack(c, { type: 'unsubscribe', id: 's5', room: openRoom }))['code'], 0);
    assert.equal((await pushToRoom(gw, openRoom, 'o2')).delivered, 0);
    assert.equal((await ack(c, { type: 'subscribe', id: 's6', room: `open-${uid('r')}` }))['code'], 0, 'a slot was freed');

    // bad names: ack 1000, the connection stays
    for (const [id, room] of [['b1', ''], ['b2', 'has space'], ['b3', 'x'.repeat(129)], ['b4', 42]] as const) {
      assert.equal((await ack(c, { type: 'subscribe', id, room }))['code'], 1000, `room ${JSON.stringify(room)}`);
    }
    assert.equal((await ack(c, { type: 'unsubscribe', id: 'b5' }))['code'], 1000);
    c.send({ type: 'ping' });
    await c.next('pong');
  });

  test('clientSubscribe deny (default without a business service) answers 3000; allow subscribes', async () => {
    const d = await online(denying, uid('dan'), 'phone');
    assert.equal((await ack(d, { type: 'subscribe', id: 'd1', room: 'lobby' }))['code'], 3000);
    const a = await online(allowing, uid('amy'), 'phone');
    assert.equal((await ack(a, { type: 'subscribe', id: 'a1', room: 'lobby' }))['code'], 0);
    assert.equal((await pushToRoom(allowing, 'lobby', 'l1')).delivered, 1);
    await gotRoomPush(a, 'l1', 'lobby');
    const m = await httpGet(`${allowing.adminUrl}/metrics`);
    assert.match(m.body, /^ima_rooms 1$/m);
    assert.match(m.body, /^ima_room_pushes_total 1$/m);
    assert.match(m.body, /^ima_room_subscriptions_per_connection_bucket\{le="1"\} 1$/m);
  });

  test('bad API arguments get INVALID_ARGUMENT naming the field', async () => {
    const gw = withBusiness;
    const cases: Array<[string, unknown, RegExp]> = [
      ['JoinRoom', { room: '', userIds: ['u'] }, /^room: required/],
      ['JoinRoom', { room: 'bad room', userIds: ['u'] }, /^room: 1 to 128 characters/],
      ['JoinRoom', { room: 'r', userIds: [] }, /^user_ids: required/],
      ['LeaveRoom', { room: 'r', userIds: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, /^user_ids: at most 1000/],
      ['PushToRoom', { room: 'r' }, /^message: required/],
      ['PushToRoom', { room: 'r'.repeat(129), message: { type: 't' } }, /^room: /],
      ['PushToRoom', { room: 'r', message: { type: 't' }, platforms: ['toaster'] }, /^platforms\[0\]: unknown platform/],
      ['GetRoomStatus', { rooms: [] }, /^rooms: required/],
      ['GetRoomStatus', { rooms: ['ok', 'not ok'] }, /^rooms\[1\]: /],
    ];
    for (const [method, body, re] of cases) {
      const r = await api(gw, method, body);
      assert.equal(r.status, 400, `${method} ${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body['status'], 'INVALID_ARGUMENT');
      assert.match(String(r.body['message']), re);
    }
  });
});

describe('rooms across three instances on Redis', () => {
  let redis: TestRedis;
  let admin: Redis;
  let A: GatewayProcess;
  let B: GatewayProcess;
  let C: GatewayProcess;
  const room = `group:${uid('team')}`;
  const alice = uid('alice');
  const bob = uid('bob');
  const carol = uid('carol');
  let alicePhone: TestWsClient;
  let alicePc: TestWsClient;
  let bobPc: TestWsClient;
  let carolPhone: TestWsClient;

  before(async () => {
    redis = await startRedis({ persistent: true });
    cleanups.push(() => redis.stop());
    admin = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    cleanups.push(() => admin.disconnect());
    const files = { 'redis.yml': 'redis:\n  leaseTtlSec: 3\n  leaseRefreshSec: 1\n  sweepEverySec: 1\n  pubsubIngress: true\n' };
    [A, B, C] = await Promise.all(
      ['rm-a', 'rm-b', 'rm-c'].map((id) => gateway({ IMA_REDIS_URL: redis.url, IMA_INSTANCE_ID: id, IMA_ADVERTISE_HOST: '127.0.0.1', IMA_KICK_POLICY: 'allow_all' }, files)),
    ) as [GatewayProcess, GatewayProcess, GatewayProcess];
    await eventually(async () => Number((await ok(A, 'Broadcast', { message: { type: 'probe' }, platforms: ['miniweb'] }))['instances']) === 3, 10_000, 'three instances');
    alicePhone = await online(A, alice, 'phone', 'ios');
    alicePc = await online(B, alice, 'pc', 'windows');
    bobPc = await online(B, bob, 'pc', 'windows');
    carolPhone = await online(C, carol, 'phone', 'ios');
  });

  test('members spread over instances: exact counts summed; an instance without subscribers is not called', async () => {
    assert.equal(Number((await ok(C, 'JoinRoom', { room, userIds: [alice, bob] }))['connections']), 3);
    const before = ((await stats(C))['rooms'] as Record<string, number>)['pushes'];
    assert.deepEqual(await pushToRoom(A, room, 'c1'), { delivered: 3, instances: 2 });
    await Promise.all([gotRoomPush(alicePhone, 'c1', room), gotRoomPush(alicePc, 'c1', room), gotRoomPush(bobPc, 'c1', room)]);
    await notReceived(carolPhone, 'c1');
    assert.equal(((await stats(C))['rooms'] as Record<string, number>)['pushes'], before, 'C has no subscriber: it was not asked to push');
    assert.deepEqual((await ok(A, 'GetRoomStatus', { rooms: [room] }))['rooms'], [{ room, members: '2', connections: '3' }]);

    // a later login of a member on the third instance is subscribed, and C now takes part
    const aliceWeb = await online(C, alice, 'web', 'web');
    assert.deepEqual(await pushToRoom(A, room, 'c2'), { delivered: 4, instances: 3 });
    await gotRoomPush(aliceWeb, 'c2', room);
    assert.equal((await pushToRoom(B, room, 'c3', { excludeUserIds: [bob], platforms: ['ios', 'windows'] })).delivered, 2);
    await aliceWeb.close();
  });

  test('pub/sub ingress: user, room and broadcast channels reach every instance\'s connections; a malformed message is counted', async () => {
    await admin.connect().catch(() => undefined);
    const msg = (id: string): string => JSON.stringify({ messageId: id, type: 'ps', payload: payload(id) });
    await admin.publish(`ima:push:room:${room}`, msg('p1'));
    await Promise.all([gotRoomPush(alicePhone, 'p1', room), gotRoomPush(alicePc, 'p1', room), gotRoomPush(bobPc, 'p1', room)]);
    await admin.publish(`ima:push:user:${alice}`, msg('p2'));
    await Promise.all([alicePhone.next((f) => f['id'] === 'p2'), alicePc.next((f) => f['id'] === 'p2')]);
    await notReceived(bobPc, 'p2', 100);
    await admin.publish('ima:push:broadcast', msg('p3'));
    await Promise.all([alicePhone, alicePc, bobPc, carolPhone].map((c) => c.next((f) => f['id'] === 'p3')));

    await admin.publish(`ima:push:user:${alice}`, '{not json');
    await admin.publish(`ima:push:room:bad room`, msg('p4'));
    await admin.publish(`ima:push:user:${alice}`, JSON.stringify({ type: 'x', payload: 42 }));
    await eventually(async () => {
      const p = ((await stats(A))['rooms'] as { pubsub: { malformed: number; received: number } }).pubsub;
      return p.malformed >= 3 && p.received >= 6;
    }, 5_000, 'malformed messages counted on A');
    // nothing broke: a normal message still arrives
    await admin.publish(`ima:push:user:${carol}`, msg('p5'));
    await carolPhone.next((f) => f['id'] === 'p5');
  });

  test('Redis restarted (with persistence): membership survives; logins subscribe, pushes count right', async () => {
    await redis.restart();
    await eventually(async () => ((await stats(A))['redis'] as { state: string }).state === 'up' && ((await stats(B))['redis'] as { state: string }).state === 'up', 15_000, 'Redis back');
    const bobPhone = await online(A, bob, 'phone', 'ios');
    let last = { delivered: -1, instances: -1 };
    await eventually(async () => (last = await pushToRoom(C, room, `x${++seq}`)).delivered === 4, 10_000, 'four subscribers counted after the restart').catch((e: unknown) => {
      throw new Error(`${String(e)}; last answer ${JSON.stringify(last)}; A ${JSON.stringify(A.jsonLogs().slice(-5))}`);
    });
    assert.deepEqual(await pushToRoom(C, room, 'after'), { delivered: 4, instances: 2 });
    await gotRoomPush(bobPhone, 'after', room);
    assert.equal(Number((await ok(A, 'GetRoomStatus', { rooms: [room] }))['rooms'] !== undefined), 1);
  });
});

describe('a room of 10,000 members', () => {
  test('10,000 users join and one push reaches each of their connections', async () => {
    const gw = await gateway({ IMA_KICK_POLICY: 'allow_all' }, { 'websocket.yml': 'websocket:\n  rateLimit:\n    perSecond: 1000\n' });
    const N = 10_000;
    const room = `live:${uid('show')}`;
    const users = Array.from({ length: N }, (_, i) => `viewer-${i}-${process.pid}`);
    for (let i = 0; i < N; i += 1000) assert.equal(Number((await ok(gw, 'JoinRoom', { room, userIds: users.slice(i, i + 1000) }))['connections']), 0);
    assert.deepEqual((await ok(gw, 'GetRoomStatus', { rooms: [room] }))['rooms'], [{ room, members: String(N), connections: '0' }]);
    // every viewer connects; each one is subscribed at login
    const conns: TestWsClient[] = [];
    for (let i = 0; i < N; i += 500) {
      const batch = await Promise.all(users.slice(i, i + 500).map((u) => TestWsClient.connect(gw.wsUrl({ token: jwtFor(u), device_id: 'd', platform: 'web' }))));
      conns.push(...batch);
      clients.push(...batch);
    }
    await Promise.all(conns.map((c) => c.next('auth', 30_000)));
    const r = await pushToRoom(gw, room, 'big-1');
    assert.equal(r.delivered, N);
    const got = await Promise.all(conns.map((c) => c.next((f) => f['id'] === 'big-1', 30_000).then(() => 1)));
    assert.equal(got.length, N);
    await Promise.all(conns.map((c) => c.terminate()));
  });
});

describe('room pushes and slow consumers', () => {
  test('a subscriber that does not read is closed with 4005 after room pushes; a reading one keeps receiving', async () => {
    const gw = await gateway({ IMA_KICK_POLICY: 'allow_all' }, { 'websocket.yml': 'websocket:\n  maxBackpressureBytes: 65536\nrooms:\n  clientSubscribe: allow\n' });
    const room = `live:${uid('slow')}`;
    const slow = await online(gw, uid('slow'), 'd', 'web');
    const fast = await online(gw, uid('fast'), 'd', 'web');
    for (const c of [slow, fast]) assert.equal((await ack(c, { type: 'subscribe', id: 'sub', room }))['code'], 0);
    const raw = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    const big = Buffer.from(JSON.stringify({ blob: 'x'.repeat(400_000) })).toString('base64');
    let closedSeen = false;
    for (let i = 0; i < 80 && !closedSeen; i++) {
      await ok(gw, 'PushToRoom', { room, message: { messageId: `big-${i}`, type: 'blob', payload: big } });
      await fast.next((f) => f['id'] === `big-${i}`, 10_000);
      closedSeen = gw.logs.some((l) => /"code":4005/.test(l));
    }
    await gw.waitForLog(/"code":4005/, 15_000);
    raw.resume();
    const closed = await slow.waitClosed(15_000);
    assert.ok(closed.code === 4005 || closed.code === 1006, `closed with ${closed.code}`);
    // the reader is still there and still subscribed
    assert.deepEqual(await pushToRoom(gw, room, 'after-slow'), { delivered: 1, instances: 1 });
    await gotRoomPush(fast, 'after-slow', room);
    const s = await stats(gw);
    assert.ok((s['slowConsumers'] as number) >= 1);
  });
});

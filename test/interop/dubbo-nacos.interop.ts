/**
 * Interop, end to end with the real things: a Nacos 3 server (Maven Central artifacts, our
 * launcher), Java Dubbo 3.3 providers of MUCService and BusinessMessageService, a Java Dubbo
 * consumer of IMAGatewayService, a real Redis and two gateway processes between them, found by
 * everyone through Nacos only (no static address anywhere).
 *
 * The steps run in order and build on each other (one scenario): a client authenticates with a
 * token the Java MUC issued; its message reaches the Java business service with its identity; the
 * business service pushes back through Nacos; the Java consumer pushes, broadcasts, queries,
 * manages a room (join, push, status, leave) and kicks, with its bearer token as a Dubbo
 * attachment; a gateway stops and leaves Nacos while the consumer keeps working through the other;
 * the business provider restarts on another port and the gateway follows; the Spring Boot example
 * (examples/java-spring-boot, the jar as built) takes over as business service and pushes through
 * its REST controller; without an MUC provider a new connection gets 4503; after a Nacos restart
 * the gateway is registered again.
 *
 * The Java code uses the project's artifact com.ima:ima-gateway-api (api/java): nothing here
 * generates stubs.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { freePort } from '../support/ports';
import { startRedis } from '../support/redis';
import type { TestRedis } from '../support/redis';
import { TestServerPushService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import { eventually } from '../integration/helpers';
import { providerMetadata } from '../../internal/discovery/dubbo';
import { GATEWAY_METHODS } from '../../internal/rpc/api';
import { startDubbo, startNacos, startSpringExample } from './java-process';
import type { JavaProcess, JsonLine, NacosServer } from './java-process';

const API_TOKEN = 'interop-api-token-0123456789';
const MUC_SECRET = 'interop-muc-secret-0123456789';
const GATEWAY_SERVICE = 'providers:im.gateway.v1.IMAGatewayService::';
const JAVA_READY_MS = 90_000;
/** What every gateway of this suite publishes, but for its address and ids. */
const SELF_TEMPLATE = { service: { interfaceName: 'im.gateway.v1.IMAGatewayService', version: '', group: '' }, application: 'ima-gateway', methods: GATEWAY_METHODS };

let nacos: NacosServer;
let redis: TestRedis;
let muc: JavaProcess;
let business: JavaProcess;
let consumer: JavaProcess;
let gwA: GatewayProcess;
let gwB: GatewayProcess;
/** The business provider started by the restart test, replaced by the Spring Boot example. */
let business2: JavaProcess | undefined;
const extra: JavaProcess[] = [];

interface NacosHost {
  ip: string;
  port: number;
  healthy: boolean;
  metadata: Record<string, string>;
}

/**
 * The instances Nacos holds for a service, from its v3 admin API (the v1 list answers from a cache
 * that Nacos refreshes only when it pushes to subscribers, so it can lag). Nacos indexes a
 * registration asynchronously: callers poll. A service Nacos does not know (yet, or any more)
 * has no instances.
 */
async function nacosHosts(serviceName: string): Promise<NacosHost[]> {
  const q = `serviceName=${encodeURIComponent(serviceName)}&groupName=DEFAULT_GROUP&namespaceId=public`;
  const r = (await nacos.api(`/v3/admin/ns/instance/list?${q}`)) as { code: number; data: unknown; message?: string };
  if (r.code === 0 && Array.isArray(r.data)) return r.data as NacosHost[];
  if (typeof r.data === 'string' && /not found/.test(r.data)) return [];
  throw new Error(`nacos instance list of ${serviceName}: ${JSON.stringify(r)}`);
}

async function nacosPorts(serviceName: string): Promise<string> {
  return (await nacosHosts(serviceName))
    .map((h) => h.port)
    .sort()
    .join();
}

function gatewayEnv(): Record<string, string> {
  return {
    IMA_NACOS_ADDR: nacos.address,
    IMA_REDIS_URL: redis.url,
    IMA_API_TOKEN: API_TOKEN,
    IMA_AUTH_PROVIDER: 'muc',
    IMA_LOG_LEVEL: 'info',
  };
}

/**
 * Registers a provider in Nacos the way a Dubbo provider does (interface-level name, ephemeral,
 * Triple metadata) through the v1 open API, with heartbeats every 5 s, until the returned
 * function deregisters it.
 */
async function registerByHand(serviceName: string, port: number, iface: string): Promise<() => Promise<void>> {
  const metadata = { protocol: 'tri', side: 'provider', category: 'providers', application: 'node-test-push', interface: iface, path: iface };
  const base = `http://${nacos.address}/nacos/v1/ns/instance`;
  const q = new URLSearchParams({ serviceName, groupName: 'DEFAULT_GROUP', ip: '127.0.0.1', port: String(port), ephemeral: 'true', metadata: JSON.stringify(metadata) });
  const r = await fetch(`${base}?${q.toString()}`, { method: 'POST' });
  assert.equal(await r.text(), 'ok');
  const beat = JSON.stringify({ serviceName: `DEFAULT_GROUP@@${serviceName}`, ip: '127.0.0.1', port, cluster: 'DEFAULT', metadata, scheduled: false });
  const timer = setInterval(() => {
    void fetch(`${base}/beat?${new URLSearchParams({ serviceName: `DEFAULT_GROUP@@${serviceName}`, beat }).toString()}`, { method: 'PUT' }).catch(() => undefined);
  }, 5_000);
  return async () => {
    clearInterval(timer);
    const d = new URLSearchParams({ serviceName, groupName: 'DEFAULT_GROUP', ip: '127.0.0.1', port: String(port), ephemeral: 'true' });
    await fetch(`${base}?${d.toString()}`, { method: 'DELETE' });
  };
}

function registryLogs(gw: GatewayProcess): string {
  return gw.logs.filter((l) => /nacos|discovery|regist/i.test(l)).slice(-20).join('\n');
}

async function ready(gw: GatewayProcess, timeoutMs: number): Promise<void> {
  let last = '';
  await eventually(
    async () => {
      const r = await fetch(`${gw.adminUrl}/readyz`);
      last = await r.text();
      return r.status === 200;
    },
    timeoutMs,
    `gateway ${gw.grpcAddress} ready (last /readyz: ${last})`,
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; last /readyz: ${last}`);
  });
}

async function issueToken(userId: string, deviceId: string, platform: string): Promise<string> {
  const before = muc.lines.length;
  muc.send({ cmd: 'issue', userId, deviceId, platform, ttlSec: 600 });
  const reply = await muc.waitFor((l) => l['reply'] === 'issue' && muc.lines.indexOf(l) >= before, 10_000, 'issued token');
  const token = reply['token'];
  assert.equal(typeof token, 'string');
  return token as string;
}

function ok(reply: JsonLine): Record<string, unknown> {
  assert.equal(reply['ok'], true, `Dubbo call failed: ${JSON.stringify(reply)}`);
  return reply['response'] as Record<string, unknown>;
}

before(async () => {
  // Nacos and Redis first (everything registers in / resolves from Nacos), then the providers
  nacos = await startNacos();
  redis = await startRedis();
  const [mucPort, bizPort] = [await freePort(), await freePort()];
  muc = startDubbo('muc', ['--nacos', nacos.address, '--port', String(mucPort), '--secret', MUC_SECRET]);
  business = startDubbo('business', ['--nacos', nacos.address, '--port', String(bizPort), '--api-token', API_TOKEN]);
  await Promise.all([muc.ready(JAVA_READY_MS), business.ready(JAVA_READY_MS)]);
  gwA = await startGateway({ env: { ...gatewayEnv(), IMA_INSTANCE_ID: 'interop-a' } });
  gwB = await startGateway({ env: { ...gatewayEnv(), IMA_INSTANCE_ID: 'interop-b' } });
  // ready = registered in Nacos and MUC + business providers resolved from Nacos
  await Promise.all([ready(gwA, 30_000), ready(gwB, 30_000)]);
});

after(async () => {
  await Promise.allSettled([gwA?.stop(), gwB?.stop()]);
  await Promise.allSettled([consumer?.stop(), muc?.stop(), business?.stop(), ...extra.map((p) => p.stop())]);
  await Promise.allSettled([nacos?.stop(), redis?.stop()]);
});

test('both gateways are in Nacos as Dubbo interface-level providers of IMAGatewayService', async () => {
  const both = [gwA.grpcPort, gwB.grpcPort].sort().join();
  await eventually(async () => (await nacosPorts(GATEWAY_SERVICE)) === both, 5_000, 'both gateways listed in Nacos').catch(async (e: unknown) => {
    assert.fail(`${(e as Error).message}: Nacos lists ${JSON.stringify(await nacosHosts(GATEWAY_SERVICE))}; gateway logs:\n${registryLogs(gwA)}\n${registryLogs(gwB)}`);
  });
  const hosts = await nacosHosts(GATEWAY_SERVICE);
  // the address Dubbo registers for its own providers (the first non-loopback IPv4) is ours too
  const mucHosts = await nacosHosts('providers:im.gateway.v1.MUCService::');
  for (const h of hosts) {
    assert.equal(h.ip, mucHosts[0]?.ip);
    assert.equal(h.healthy, true);
    // Nacos holds exactly what the gateway published (its values are pinned by dubbo.test.ts)
    const md = h.metadata;
    const self = { ...SELF_TEMPLATE, host: h.ip, port: h.port, instanceId: md['ima.instanceId'] ?? '', gatewayVersion: md['ima.version'] ?? '' };
    assert.deepEqual(md, providerMetadata(self, Number(md['timestamp'])));
    assert.equal(md['protocol'], 'tri'); // the one key a Dubbo consumer cannot do without
  }
  // and the Java providers are there under Dubbo's own naming, which the gateways resolved
  assert.equal(mucHosts.length, 1);
  assert.equal((await nacosHosts('providers:im.gateway.v1.BusinessMessageService::')).length, 1);
  // the unmodified Java consumer finds the gateways through Nacos
  consumer = startDubbo('consumer', ['--nacos', nacos.address, '--api-token', API_TOKEN]);
  await consumer.ready(JAVA_READY_MS);
  // it subscribed to the interface-level service (no application-level mapping exists for us) and sees both gateways
  let seen: JsonLine = {};
  await eventually(
    async () => {
      seen = await consumer.call('providers', {});
      return seen['using'] === 'interface' && portsOf(seen['providers']).join() === [gwA.grpcPort, gwB.grpcPort].sort().join();
    },
    10_000,
    'the consumer to list both gateways',
  ).catch((e: unknown) => assert.fail(`${(e as Error).message}: ${JSON.stringify(seen)}`));
});

function portsOf(addresses: unknown): number[] {
  assert.ok(Array.isArray(addresses), JSON.stringify(addresses));
  return (addresses as unknown[]).map((a) => Number(String(a).split(':').pop())).sort();
}

let client: TestWsClient;

test('a client authenticates with a token the Java MUC issued', async () => {
  const token = await issueToken('alice', 'alice-phone', 'ios');
  client = await TestWsClient.connect(gwA.wsUrl({ token, device_id: 'alice-phone', platform: 'ios' }));
  const auth = await client.next('auth', 10_000);
  assert.equal(auth['ok'], true, JSON.stringify(auth));
  assert.equal(auth['userId'], 'alice');
  const v = await muc.waitFor((l) => l['event'] === 'validate' && l['userId'] === 'alice', 5_000, 'ValidateToken at the Java MUC');
  assert.equal(v['valid'], true);
  assert.equal(v['instanceId'], 'interop-a');
  // a forged token is refused by the Java MUC: 4401
  const forged = await TestWsClient.connect(gwA.wsUrl({ token: `${token.slice(0, -4)}AAAA`, device_id: 'x', platform: 'ios' }));
  const refused = await forged.next('auth', 10_000);
  assert.equal(refused['ok'], false);
  assert.equal(refused['code'], 4401);
  assert.equal((await forged.waitClosed()).code, 4401);
});

test('a client message reaches the Java business service with the identity of the connection', async () => {
  client.send({ type: 'chat', id: 'interop-m1', payload: { text: 'hello from alice' } });
  const ack = await client.next('ack', 10_000);
  assert.deepEqual(ack, { type: 'ack', id: 'interop-m1', code: 0 });
  const m = await business.waitFor((l) => l['event'] === 'message' && l['messageId'] === 'interop-m1', 5_000, 'HandleMessage at the Java business service');
  assert.equal(m['userId'], 'alice');
  assert.equal(m['deviceId'], 'alice-phone');
  assert.equal(m['platform'], 'ios');
  assert.equal(m['instanceId'], 'interop-a');
  assert.equal(m['type'], 'chat');
  assert.deepEqual(JSON.parse(Buffer.from(m['payload'] as string, 'base64').toString('utf8')), { text: 'hello from alice' });
  // the connect was reported to OnConnectionStatus too
  const st = await business.waitFor(
    (l) => l['event'] === 'status' && l['userId'] === 'alice' && l['connectionEvent'] === 'CONNECTION_EVENT_CONNECTED',
    5_000,
    'OnConnectionStatus CONNECTED at the Java business service',
  );
  assert.equal(st['deviceId'], 'alice-phone');
  assert.equal(st['instanceId'], 'interop-a');
});

test('the Java business service answers and pushes back through Nacos', async () => {
  client.send({ type: 'chat', id: 'interop-echo', payload: 'echo:ping' });
  assert.deepEqual(await client.next('ack', 10_000), { type: 'ack', id: 'interop-echo', code: 0 });
  const reply = await client.next((f) => f['type'] !== 'ack' && f['replyTo'] === 'interop-echo', 5_000);
  assert.ok(JSON.stringify(reply).includes('ping'), JSON.stringify(reply));

  client.send({ type: 'chat', id: 'interop-pb', payload: 'pushback:pong' });
  assert.deepEqual(await client.next('ack', 10_000), { type: 'ack', id: 'interop-pb', code: 0 });
  const pushed = await client.next((f) => JSON.stringify(f).includes('pong') && f['type'] !== 'ack', 15_000);
  assert.ok(pushed);
  const pb = await business.waitFor((l) => l['event'] === 'pushback', 15_000, 'pushback result');
  assert.equal(pb['delivered'], 1, JSON.stringify(pb));
});

test('the Java consumer pushes to the client through Nacos, whichever gateway it picks', async () => {
  const providers = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const payload = Buffer.from(JSON.stringify({ n: i })).toString('base64');
    const reply = await consumer.call('PushToUser', { userId: 'alice', message: { type: 'notice', payload, messageId: `java-${i}` } });
    const res = ok(reply);
    assert.equal(res['delivered'], 1, JSON.stringify(reply));
    providers.add(String(reply['provider']));
    const frame = await client.next((f) => f['type'] === 'notice' && f['id'] === `java-${i}`, 5_000);
    assert.deepEqual(frame['payload'], { n: i });
  }
  // every call was served by one of the two gateways
  for (const p of providers) assert.ok([gwA.grpcPort, gwB.grpcPort].map(String).includes(p.split(':').pop() ?? ''), p);

  const many = ok(await consumer.call('PushToUsers', { userIds: ['alice', 'nobody'], message: { type: 'notice', payload: Buffer.from('"many"').toString('base64') } }));
  assert.equal(many['delivered'], 1);
  assert.deepEqual(many['offlineUserIds'], ['nobody']);
  await client.next((f) => f['type'] === 'notice' && f['payload'] === 'many', 5_000);

  const b = ok(await consumer.call('Broadcast', { message: { type: 'news', payload: Buffer.from('"all"').toString('base64') } }));
  assert.equal(Number(b['delivered']), 1); // int64: a string in proto3 JSON
  await client.next((f) => f['type'] === 'news', 5_000);

  const st = ok(await consumer.call('GetConnectionStatus', { userIds: ['alice', 'nobody'] }));
  const statuses = st['statuses'] as Array<Record<string, unknown>>;
  const alice = statuses.filter((x) => x['userId'] === 'alice');
  assert.equal(alice.length, 1, JSON.stringify(st));
  assert.equal(alice[0]?.['online'], true);
  assert.equal(alice[0]?.['deviceId'], 'alice-phone');
  assert.equal(alice[0]?.['instanceId'], 'interop-a');
});

test('the plain grpc-java stubs of ima-gateway-api (no Dubbo) push to the client, the bearer token as metadata', async () => {
  // straight to gateway B (no registry): alice is on A, so this also crosses the cluster
  const grpc = startDubbo('grpc', ['--target', gwB.grpcAddress, '--api-token', API_TOKEN]);
  extra.push(grpc);
  try {
    await grpc.ready(JAVA_READY_MS);
    const reply = await grpc.call('PushToUser', { userId: 'alice', message: { type: 'notice', payload: b64({ via: 'grpc-java' }), messageId: 'grpc-java-1' } });
    assert.equal(ok(reply)['delivered'], 1, JSON.stringify(reply));
    assert.deepEqual((await client.next((f) => f['id'] === 'grpc-java-1', 5_000))['payload'], { via: 'grpc-java' });
    const st = ok(await grpc.call('GetConnectionStatus', { userIds: ['alice'] }));
    assert.equal((st['statuses'] as Array<Record<string, unknown>>)[0]?.['instanceId'], 'interop-a', JSON.stringify(st));
  } finally {
    await grpc.stop();
  }
});

function b64(json: unknown): string {
  return Buffer.from(JSON.stringify(json)).toString('base64');
}

// every character class a room name may use (SPEC 9: A-Z a-z 0-9 _ . : @ / -)
const ROOM = 'group:Interop_1@java/live-1.0';

test('the Java consumer manages a room (JoinRoom, PushToRoom, GetRoomStatus, LeaveRoom) and the client gets the room frames', async () => {
  // alice (one connection, on gateway A) joins; the call may land on either gateway
  const join = await consumer.call('JoinRoom', { room: ROOM, userIds: ['alice'] });
  const joined = ok(join);
  assert.equal(joined['success'], true, JSON.stringify(join));
  assert.equal(Number(joined['connections']), 1, JSON.stringify(join)); // int64: a string in proto3 JSON

  // a push to the room reaches her connection, with "room" in the frame, whichever gateway serves it
  const providers = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const reply = await consumer.call('PushToRoom', { room: ROOM, message: { type: 'room-notice', payload: b64({ r: i }), messageId: `room-${i}` } });
    const res = ok(reply);
    assert.equal(res['success'], true, JSON.stringify(reply));
    assert.equal(Number(res['delivered']), 1, JSON.stringify(reply));
    assert.equal(res['instances'], 1, JSON.stringify(reply)); // only gateway A has subscribers
    providers.add(String(reply['provider']));
    // a room push frame is the push frame plus "room" (SPEC 9)
    const frame = await client.next((f) => f['id'] === `room-${i}`, 5_000);
    assert.equal(frame['type'], 'room-notice', JSON.stringify(frame));
    assert.equal(frame['room'], ROOM, JSON.stringify(frame));
    assert.deepEqual(frame['payload'], { r: i });
    assert.equal(typeof frame['ts'], 'number', JSON.stringify(frame));
  }
  for (const p of providers) assert.ok([gwA.grpcPort, gwB.grpcPort].map(String).includes(p.split(':').pop() ?? ''), p);

  // the exclude filter: nobody left to write to
  const excluded = ok(await consumer.call('PushToRoom', { room: ROOM, excludeUserIds: ['alice'], message: { type: 'room-notice', payload: b64('excluded'), messageId: 'room-excluded' } }));
  assert.equal(Number(excluded['delivered']), 0, JSON.stringify(excluded));

  const status = await consumer.call('GetRoomStatus', { rooms: [ROOM] });
  const rooms = ok(status)['rooms'] as Array<Record<string, unknown>>;
  assert.equal(rooms.length, 1, JSON.stringify(status));
  assert.equal(rooms[0]?.['room'], ROOM, JSON.stringify(status));
  assert.equal(Number(rooms[0]?.['members']), 1, JSON.stringify(status));
  assert.equal(Number(rooms[0]?.['connections']), 1, JSON.stringify(status));

  const leave = await consumer.call('LeaveRoom', { room: ROOM, userIds: ['alice'] });
  const left = ok(leave);
  assert.equal(left['success'], true, JSON.stringify(leave));
  assert.equal(Number(left['connections']), 1, JSON.stringify(leave));

  // after LeaveRoom nothing is written, and the client gets nothing
  const afterLeave = await consumer.call('PushToRoom', { room: ROOM, message: { type: 'room-notice', payload: b64('gone'), messageId: 'room-after-leave' } });
  assert.equal(Number(ok(afterLeave)['delivered']), 0, JSON.stringify(afterLeave));
  const statusAfter = await consumer.call('GetRoomStatus', { rooms: [ROOM] });
  for (const r of ok(statusAfter)['rooms'] as Array<Record<string, unknown>>) {
    // an empty room may be listed with zeros or not at all
    assert.equal(Number(r['members']), 0, JSON.stringify(statusAfter));
    assert.equal(Number(r['connections']), 0, JSON.stringify(statusAfter));
  }
  await delay(500);
  assert.equal(client.frames.filter((f) => f['id'] === 'room-excluded' || f['id'] === 'room-after-leave').length, 0, JSON.stringify(client.frames.slice(-5)));
});

test('a ServerPushService provider appearing in Nacos is found by both gateways, which open the stream and run its commands', async () => {
  const push = await TestServerPushService.start();
  const service = 'providers:im.gateway.v1.ServerPushService::';
  const unregister = await registerByHand(service, push.port, 'im.gateway.v1.ServerPushService');
  try {
    // each gateway learns of it from Nacos (UDP push or its 10 s poll) and connects at once
    await eventually(() => new Set(push.heartbeats.map((h) => h.instanceId)).size === 2, 30_000, 'heartbeats from both gateways on the push stream');
    assert.deepEqual([...new Set(push.heartbeats.map((h) => h.instanceId))].sort(), ['interop-a', 'interop-b']);
    assert.ok(push.sendCommand({ commandId: 'c1', push: { userId: 'alice', message: { type: 'cmd', messageId: 'stream-1', payload: Buffer.from('{"v":1}') } } }) >= 1);
    assert.deepEqual((await client.next((f) => f['id'] === 'stream-1', 10_000))['payload'], { v: 1 });
    // room_push runs like PushToRoom (alice joins through the Java consumer first)
    const room = 'interop:stream-room';
    assert.equal(Number(ok(await consumer.call('JoinRoom', { room, userIds: ['alice'] }))['connections']), 1);
    try {
      assert.ok(push.sendCommand({ commandId: 'c2', roomPush: { room, message: { type: 'cmd', messageId: 'stream-room-1', payload: Buffer.from('{"v":2}') } } }) >= 1);
      const frame = await client.next((f) => f['id'] === 'stream-room-1', 10_000);
      assert.equal(frame['room'], room, JSON.stringify(frame));
      assert.deepEqual(frame['payload'], { v: 2 });
    } finally {
      ok(await consumer.call('LeaveRoom', { room, userIds: ['alice'] }));
    }
  } finally {
    await unregister();
    await push.stop();
  }
});

test('the bearer token travels as a Dubbo attachment: a wrong or missing one is refused with UNAUTHENTICATED', async () => {
  for (const apiToken of ['wrong-token', '']) {
    const r = await consumer.call('GetConnectionStatus', { userIds: ['alice'] }, 15_000, { apiToken });
    assert.equal(r['ok'], false, JSON.stringify(r));
    assert.equal(r['code'], 'UNAUTHENTICATED', JSON.stringify(r));
  }
  ok(await consumer.call('GetConnectionStatus', { userIds: ['alice'] }));
});

test('KickUser from Java kicks the client (4002)', async () => {
  const r = ok(await consumer.call('KickUser', { userId: 'alice', reason: 'interop' }));
  assert.equal(r['kicked'], 1, JSON.stringify(r));
  const kick = await client.next('kick', 5_000);
  assert.equal(kick['code'], 4002);
  assert.equal((await client.waitClosed()).code, 4002);
});

test('a stopping gateway leaves Nacos and the Java consumer keeps working through the other', async () => {
  const token = await issueToken('bob', 'bob-pc', 'windows');
  const bob = await TestWsClient.connect(gwA.wsUrl({ token, device_id: 'bob-pc', platform: 'windows' }));
  assert.equal((await bob.next('auth', 10_000))['ok'], true);
  const stopped = await gwB.stop('SIGTERM');
  assert.equal(stopped.code, 0);
  // deregistered before it stopped: Nacos lists only A, and Nacos told the consumer
  await eventually(async () => (await nacosPorts(GATEWAY_SERVICE)) === String(gwA.grpcPort), 2_000, 'Nacos to list only gateway A');
  await eventually(async () => portsOf((await consumer.call('providers', {}))['providers']).join() === String(gwA.grpcPort), 10_000, 'the consumer to list only gateway A');
  for (let i = 0; i < 6; i++) {
    const reply = await consumer.call('PushToUser', { userId: 'bob', message: { type: 'notice', payload: Buffer.from(`${i}`).toString('base64'), messageId: `after-${i}` } });
    assert.equal(ok(reply)['delivered'], 1, JSON.stringify(reply));
    assert.equal(String(reply['provider']).split(':').pop(), String(gwA.grpcPort));
    await bob.next((f) => f['id'] === `after-${i}`, 5_000);
  }
  await bob.close();
});

test('a Java business provider restarting elsewhere is followed by the gateway', async () => {
  const token = await issueToken('carol', 'carol-tab', 'ipad');
  const carol = await TestWsClient.connect(gwA.wsUrl({ token, device_id: 'carol-tab', platform: 'ipad' }));
  assert.equal((await carol.next('auth', 10_000))['ok'], true);
  await business.stop();
  // no provider left: messages are answered at once with 2000 (business unavailable)
  let n = 0;
  await eventually(
    async () => {
      const id = `gap-${n++}`;
      carol.send({ type: 'chat', id, payload: 1 });
      const ack = await carol.next((f) => f['id'] === id, 10_000);
      return ack['code'] === 2000;
    },
    30_000,
    'ack 2000 while no business provider exists',
  );
  const port = await freePort();
  const b2 = startDubbo('business', ['--nacos', nacos.address, '--port', String(port), '--api-token', API_TOKEN]);
  business2 = b2;
  extra.push(b2);
  await b2.ready(JAVA_READY_MS);
  let delivered = '';
  await eventually(
    async () => {
      const id = `after-restart-${n++}`;
      carol.send({ type: 'chat', id, payload: 2 });
      const ack = await carol.next((f) => f['id'] === id, 10_000);
      if (ack['code'] === 0) delivered = id;
      return ack['code'] === 0;
    },
    40_000,
    'the restarted business provider to be used',
  );
  const m = await b2.waitFor((l) => l['event'] === 'message' && l['messageId'] === delivered, 5_000, 'message at the restarted provider');
  assert.equal(m['userId'], 'carol');
  await carol.close();
});

test('the Spring Boot 3 example receives client messages as BusinessMessageService and pushes through its @DubboReference', async () => {
  // the example becomes the only BusinessMessageService in Nacos
  assert.ok(business2, 'the restarted business provider of the previous test');
  await business2.stop();
  await eventually(async () => (await nacosHosts('providers:im.gateway.v1.BusinessMessageService::')).length === 0, 20_000, 'the Dubbo business provider gone from Nacos');
  const [httpPort, triPort] = [await freePort(), await freePort()];
  const spring = startSpringExample([
    `--server.port=${httpPort}`,
    `--dubbo.registry.address=nacos://${nacos.address}`,
    `--dubbo.protocol.port=${triPort}`,
    `--ima.api-token=${API_TOKEN}`,
  ]);
  extra.push(spring);
  try {
    await spring.ready(JAVA_READY_MS);
    // registered under Dubbo's interface-level name (Nacos indexes it asynchronously: poll)
    await eventually(async () => (await nacosPorts('providers:im.gateway.v1.BusinessMessageService::')) === String(triPort), 20_000, 'the example registered in Nacos');
    const [provider] = await nacosHosts('providers:im.gateway.v1.BusinessMessageService::');
    assert.equal(provider?.metadata['application'], 'im-backend', JSON.stringify(provider));
    assert.equal(provider?.metadata['protocol'], 'tri', JSON.stringify(provider));

    const token = await issueToken('erin', 'erin-phone', 'android');
    const erin = await TestWsClient.connect(gwA.wsUrl({ token, device_id: 'erin-phone', platform: 'android' }));
    assert.equal((await erin.next('auth', 10_000))['ok'], true);

    // until the gateway has the new provider from Nacos, a message is acked 2000 (none exists)
    let n = 0;
    let accepted = '';
    await eventually(
      async () => {
        const id = `spring-${n++}`;
        erin.send({ type: 'chat', id, payload: { text: 'hello spring' } });
        const ack = await erin.next((f) => f['type'] === 'ack' && f['id'] === id, 10_000);
        if (ack['code'] === 0) accepted = id;
        else assert.equal(ack['code'], 2000, JSON.stringify(ack));
        return ack['code'] === 0;
      },
      40_000,
      'a message accepted by the Spring Boot BusinessMessageService',
    );
    // the example's reply (only it sends chat.received) and its log line with the connection's identity
    const reply = await erin.next((f) => f['type'] === 'chat.received' && f['replyTo'] === accepted, 5_000);
    assert.deepEqual(reply['payload'], { echo: { text: 'hello spring' } });
    const logged = spring.stdout.find((l) => l.includes(`HandleMessage id=${accepted} `));
    assert.ok(logged, spring.stdout.slice(-10).join('\n'));
    assert.match(logged, /type=chat user=erin device=erin-phone instance=interop-a payload=\{"text":"hello spring"\}/);

    // a push from its REST controller: @DubboReference (retries 0) -> Nacos -> gateway A -> erin
    const push = async (userId: string): Promise<{ status: number; body: Record<string, unknown> }> => {
      const r = await fetch(`http://127.0.0.1:${httpPort}/users/${userId}/push?type=spring.notice`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: 'spring', to: userId }),
      });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const pushed = await push('erin');
    assert.equal(pushed.status, 200, JSON.stringify(pushed));
    assert.deepEqual(pushed.body, { delivered: 1, offlineUserIds: [] });
    const frame = await erin.next((f) => f['type'] === 'spring.notice', 5_000);
    assert.deepEqual(frame['payload'], { from: 'spring', to: 'erin' });
    assert.match(String(frame['id']), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual((await push('nobody')).body, { delivered: 0, offlineUserIds: ['nobody'] });
    await delay(300);
    assert.equal(erin.frames.filter((f) => f['type'] === 'spring.notice').length, 1, 'one push, one frame');
    await erin.close();
  } finally {
    await spring.stop();
  }
});

test('without an MUC provider, a new connection is answered 4503', async () => {
  const token = await issueToken('dave', 'dave-phone', 'android');
  await muc.stop();
  await eventually(async () => (await nacosHosts('providers:im.gateway.v1.MUCService::')).length === 0, 20_000, 'MUC gone from Nacos');
  await eventually(
    async () => {
      const c = await TestWsClient.connect(gwA.wsUrl({ token, device_id: 'dave-phone', platform: 'android' }));
      const auth = await c.next('auth', 10_000);
      await c.waitClosed().catch(() => undefined);
      return auth['ok'] === false && auth['code'] === 4503;
    },
    30_000,
    'auth 4503 without an MUC provider',
  );
});

test('after a Nacos restart (empty, nothing persisted) the gateway is registered again by its heartbeats', async () => {
  await nacos.restart();
  await eventually(async () => (await nacosPorts(GATEWAY_SERVICE)) === String(gwA.grpcPort), 30_000, 'gateway A registered again in the new Nacos');
  const [h] = await nacosHosts(GATEWAY_SERVICE);
  assert.equal(h?.metadata['protocol'], 'tri');
  assert.equal(h?.metadata['ima.instanceId'], 'interop-a');
});

/**
 * IMAGatewayService over gRPC (plain and with Dubbo Triple headers) and its HTTP/JSON form, against
 * a real gateway process with real WebSocket clients and a real MUC: every method and error path,
 * KickUser re-validation, API auth, Triple version/group, health checking and reflection.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { IMAGatewayServiceClient } from '../../api/gen/im/gateway/v1/IMAGatewayService';
import { loadProto } from '../../internal/rpc/proto';
import { httpRequest } from '../support/admin';
import { repoRoot, runGatewayExpectingFailure, startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { TestMucService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import { configDir } from './helpers';

type Client = IMAGatewayServiceClient & grpc.Client;

const TRIPLE_HEADERS: Record<string, string> = {
  'tri-consumer-appname': 'java-im-backend',
  'grpc-accept-encoding': 'gzip,bzip2,snappy',
  'tri-trace-id': 'abc',
  'userattachment': 'lowercased-value',
};

function client(address: string): Client {
  return new (loadProto().grpcType.im.gateway.v1.IMAGatewayService)(address, grpc.credentials.createInsecure()) as Client;
}

function metadata(headers: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  return md;
}

/** A unary call as a promise of { res } or { err }. */
function call<Req, Res>(c: Client, method: keyof IMAGatewayServiceClient, req: Req, headers: Record<string, string> = {}): Promise<{ res?: Res; err?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const fn = (c as unknown as Record<string, (r: Req, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Res) => void) => void>)[method as string];
    assert.ok(fn);
    fn.call(c, req, metadata(headers), { deadline: Date.now() + 5000 }, (e, r) => resolve(e ? { err: e } : { res: r as Res }));
  });
}

let muc: TestMucService;
let gw: GatewayProcess;
let rpc: Client;
let seq = 0;

before(async () => {
  muc = await TestMucService.start();
  gw = await startGateway({ env: { IMA_MUC_ADDR: muc.address, IMA_KICK_POLICY: 'allow_all' } });
  rpc = client(gw.grpcAddress);
});

after(async () => {
  rpc?.close();
  await gw?.stop();
  await muc?.stop();
});

async function online(userId: string, device: string, platform = 'ios', g: GatewayProcess = gw): Promise<TestWsClient> {
  const token = `push-${++seq}`;
  muc.addToken(token, userId);
  const c = await TestWsClient.connect(g.wsUrl({ token, device_id: device, platform }));
  assert.equal((await c.next('auth'))['ok'], true);
  return c;
}

const msg = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'notice', payload: Buffer.from(JSON.stringify({ hello: 'world' })), ...extra });

for (const [label, headers] of [
  ['plain gRPC', {}],
  ['Triple headers', TRIPLE_HEADERS],
] as const) {
  describe(`push API (${label})`, () => {
    test('PushToUser reaches every device of the user; message id generated, timestamp filled', async () => {
      const u = `pu-${++seq}`;
      const a = await online(u, 'a', 'ios');
      const b = await online(u, 'b', 'web');
      const r = await call<unknown, { success: boolean; delivered: number; offlineUserIds: string[] }>(rpc, 'PushToUser', { userId: u, message: msg() }, headers);
      assert.equal(r.err, undefined);
      assert.deepEqual(r.res, { success: true, delivered: 2, offlineUserIds: [] });
      for (const c of [a, b]) {
        const f = await c.next('notice');
        assert.deepEqual(f['payload'], { hello: 'world' });
        assert.match(String(f['id']), /^[0-9A-Z]{23}$/);
        assert.ok(Math.abs(Number(f['ts']) - Date.now()) < 5000);
      }
      await Promise.all([a.close(), b.close()]);
    });

    test('PushToUser filters: device_ids, platforms, exclude_device_ids; an offline user is listed', async () => {
      const u = `pf-${++seq}`;
      const a = await online(u, 'a', 'ios');
      const b = await online(u, 'b', 'web');
      const c = await online(u, 'c', 'android');
      let r = await call<unknown, { delivered: number; offlineUserIds: string[] }>(rpc, 'PushToUser', { userId: u, message: msg({ messageId: 'm1' }), deviceIds: ['a', 'c'], excludeDeviceIds: ['c'] }, headers);
      assert.equal(r.res?.delivered, 1);
      assert.equal((await a.next('notice'))['id'], 'm1');
      r = await call(rpc, 'PushToUser', { userId: u, message: msg({ messageId: 'm2' }), platforms: ['web', 'android'] }, headers);
      assert.equal(r.res?.delivered, 2);
      assert.equal((await b.next('notice'))['id'], 'm2');
      assert.equal((await c.next('notice'))['id'], 'm2');
      r = await call(rpc, 'PushToUser', { userId: u, message: msg(), platforms: ['windows'] }, headers);
      assert.deepEqual(r.res, { success: true, delivered: 0, offlineUserIds: [u] });
      r = await call(rpc, 'PushToUser', { userId: `nobody-${seq}`, message: msg() }, headers);
      assert.deepEqual(r.res, { success: true, delivered: 0, offlineUserIds: [`nobody-${seq}`] });
      assert.equal(a.framesOfType('notice').length, 1);
      await Promise.all([a.close(), b.close(), c.close()]);
    });

    test('PushToUsers counts connections and lists offline users', async () => {
      const u1 = `pus-${++seq}`;
      const u2 = `pus-${++seq}`;
      const a = await online(u1, 'a');
      const b = await online(u2, 'b');
      const c = await online(u2, 'c', 'windows');
      const r = await call(rpc, 'PushToUsers', { userIds: [u1, u2, 'ghost-1', u1], message: msg({ messageId: 'multi', metadata: { k: 'v' } }) }, headers);
      assert.deepEqual(r.res, { success: true, delivered: 3, offlineUserIds: ['ghost-1'] });
      for (const x of [a, b, c]) assert.deepEqual((await x.next('notice'))['metadata'], { k: 'v' });
      await Promise.all([a.close(), b.close(), c.close()]);
    });

    test('Broadcast reaches every connection (platform filter too)', async () => {
      const a = await online(`bc-${++seq}`, 'a', 'ios');
      const b = await online(`bc-${++seq}`, 'b', 'linux');
      let r = await call<unknown, { success: boolean; delivered: number; instances: number }>(rpc, 'Broadcast', { message: msg({ messageId: `all-${seq}` }) }, headers);
      assert.equal(r.res?.success, true);
      assert.ok((r.res?.delivered ?? 0) >= 2);
      assert.equal(r.res?.instances, 1);
      await a.next((f) => f['id'] === `all-${seq}`);
      await b.next((f) => f['id'] === `all-${seq}`);
      r = await call(rpc, 'Broadcast', { message: msg({ messageId: `linux-${seq}` }), platforms: ['linux'] }, headers);
      assert.ok((r.res?.delivered ?? 0) >= 1);
      await b.next((f) => f['id'] === `linux-${seq}`);
      assert.equal(a.frames.filter((f) => f['id'] === `linux-${seq}`).length, 0);
      await Promise.all([a.close(), b.close()]);
    });

    test('GetConnectionStatus: one status per online device', async () => {
      const u = `gs-${++seq}`;
      const a = await online(u, 'a', 'ios');
      const b = await online(u, 'b', 'macos');
      const r = await call<unknown, { statuses: Array<Record<string, unknown>> }>(rpc, 'GetConnectionStatus', { userIds: [u, 'ghost'] }, headers);
      const statuses = r.res?.statuses ?? [];
      assert.equal(statuses.length, 2);
      const byDevice = new Map(statuses.map((s) => [s['deviceId'], s]));
      assert.equal(byDevice.get('a')?.['platform'], 'ios');
      assert.equal(byDevice.get('b')?.['platform'], 'macos');
      for (const s of statuses) {
        assert.equal(s['online'], true);
        assert.equal(s['userId'], u);
        assert.equal(s['clientIp'], '127.0.0.1');
        assert.ok(Number(s['connectedAt']) > 0);
        assert.equal(typeof s['instanceId'], 'string');
      }
      await Promise.all([a.close(), b.close()]);
    });

    test('KickUser: kick 4002, close, and the same token is validated by the MUC again', async () => {
      const u = `kick-${++seq}`;
      const token = `kt-${seq}`;
      muc.addToken(token, u);
      const a = await TestWsClient.connect(gw.wsUrl({ token, device_id: 'a', platform: 'ios' }));
      await a.next('auth');
      const b = await TestWsClient.connect(gw.wsUrl({ token, device_id: 'b', platform: 'web' }));
      await b.next('auth');
      assert.equal(muc.callsFor(token).length, 1);
      let r = await call(rpc, 'KickUser', { userId: u, deviceId: 'a', reason: 'security' }, headers);
      assert.deepEqual(r.res, { success: true, kicked: 1 });
      const kick = await a.next('kick');
      assert.deepEqual(kick, { type: 'kick', code: 4002, reason: 'security' });
      assert.equal((await a.waitClosed()).code, 4002);
      assert.equal(b.isOpen, true);
      r = await call(rpc, 'KickUser', { userId: u }, headers);
      assert.deepEqual(r.res, { success: true, kicked: 1 });
      assert.equal((await b.waitClosed()).code, 4002);
      const again = await TestWsClient.connect(gw.wsUrl({ token, device_id: 'a', platform: 'ios' }));
      assert.equal((await again.next('auth'))['ok'], true);
      assert.equal(muc.callsFor(token).length, 2, 'the cached token was dropped by KickUser');
      r = await call(rpc, 'KickUser', { userId: `nobody-${seq}` }, headers);
      assert.deepEqual(r.res, { success: true, kicked: 0 });
      await again.close();
    });

    test('bad arguments: INVALID_ARGUMENT naming the field', async () => {
      const cases: Array<[keyof IMAGatewayServiceClient, Record<string, unknown>, RegExp]> = [
        ['PushToUser', { message: msg() }, /^user_id: required/],
        ['PushToUser', { userId: 'u' }, /^message: required/],
        ['PushToUser', { userId: 'u', message: { payload: Buffer.from('{}') } }, /^message\.type: required/],
        ['PushToUser', { userId: 'u', message: msg(), platforms: ['ios', 'palm'] }, /^platforms\[1\]: unknown platform/],
        ['PushToUser', { userId: 'x'.repeat(129), message: msg() }, /^user_id: at most 128/],
        ['PushToUser', { userId: 'u', message: msg(), deviceIds: [''] }, /^device_ids\[0\]: required/],
        ['PushToUsers', { message: msg() }, /^user_ids: required/],
        ['PushToUsers', { userIds: ['a', ''], message: msg() }, /^user_ids\[1\]: required/],
        ['PushToUsers', { userIds: Array.from({ length: 1001 }, (_, i) => `u${i}`), message: msg() }, /^user_ids: at most 1000 users per call/],
        ['Broadcast', {}, /^message: required/],
        ['Broadcast', { message: msg(), platforms: ['tv'] }, /^platforms\[0\]: unknown platform/],
        ['KickUser', {}, /^user_id: required/],
        ['GetConnectionStatus', {}, /^user_ids: required/],
      ];
      for (const [method, req, re] of cases) {
        const r = await call(rpc, method, req, headers);
        assert.equal(r.err?.code, grpc.status.INVALID_ARGUMENT, `${method} ${JSON.stringify(req).slice(0, 80)}`);
        assert.match(r.err?.details ?? '', re);
      }
    });
  });
}

test('a broadcast to 2,000 connections reaches all of them; PushToUsers to 1,000 users', async () => {
  const clients: TestWsClient[] = [];
  const run = ++seq;
  try {
    for (let i = 0; i < 2000; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: 100 }, (_, j) => {
          const n = i + j;
          muc.addToken(`bulk-${run}-${n}`, `bulk-${run}-${n}`);
          return TestWsClient.connect(gw.wsUrl({ token: `bulk-${run}-${n}`, device_id: 'd', platform: 'web' }));
        }),
      );
      clients.push(...batch);
    }
    await Promise.all(clients.map((c) => c.next('auth')));
    const id = `bulk-msg-${run}`;
    const r = await call<unknown, { delivered: number }>(rpc, 'Broadcast', { message: { type: 'bulk', messageId: id, payload: Buffer.from('"x"') }, platforms: ['web'] });
    assert.equal(r.res?.delivered, 2000);
    await Promise.all(clients.map((c) => c.next((f) => f['id'] === id, 15_000)));
    const users = Array.from({ length: 1000 }, (_, n) => `bulk-${run}-${n}`);
    const rs = await call<unknown, { delivered: number; offlineUserIds: string[] }>(rpc, 'PushToUsers', { userIds: users, message: { type: 'bulk', messageId: `${id}-2` } });
    assert.equal(rs.res?.delivered, 1000);
    assert.deepEqual(rs.res?.offlineUserIds, []);
    await Promise.all(clients.slice(0, 1000).map((c) => c.next((f) => f['id'] === `${id}-2`, 15_000)));
  } finally {
    await Promise.all(clients.map((c) => c.terminate()));
  }
});

describe('health checking and reflection', () => {
  test('grpc.health.v1 answers SERVING for "" and IMAGatewayService', async () => {
    const def = protoLoader.loadSync(path.join(repoRoot(), 'node_modules/grpc-health-check/proto/health/v1/health.proto'), { enums: String });
    const Health = (grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: typeof grpc.Client } } } }).grpc.health.v1.Health;
    const h = new Health(gw.grpcAddress, grpc.credentials.createInsecure()) as unknown as { Check(req: unknown, cb: (e: grpc.ServiceError | null, r: { status: string }) => void): void; close(): void };
    for (const service of ['', 'im.gateway.v1.IMAGatewayService']) {
      const r = await new Promise<{ status: string }>((resolve, reject) => h.Check({ service }, (e, res) => (e ? reject(e) : resolve(res))));
      assert.equal(r.status, 'SERVING', service);
    }
    const unknown = await new Promise<grpc.ServiceError | null>((resolve) => h.Check({ service: 'nope' }, (e) => resolve(e)));
    assert.equal(unknown?.code, grpc.status.NOT_FOUND);
    h.close();
  });

  test('server reflection lists IMAGatewayService and describes its file', async () => {
    const def = protoLoader.loadSync(path.join(repoRoot(), 'node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto'), { keepCase: true });
    const R = (grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: typeof grpc.Client } } } }).grpc.reflection.v1.ServerReflection;
    const r = new R(gw.grpcAddress, grpc.credentials.createInsecure()) as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, Record<string, unknown>>; close(): void };
    const stream = r.ServerReflectionInfo();
    const answers: Array<Record<string, unknown>> = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (d: Record<string, unknown>) => {
        answers.push(d);
        if (answers.length === 2) stream.end();
      });
      stream.on('end', () => resolve());
      stream.on('error', reject);
    });
    stream.write({ list_services: '' });
    stream.write({ file_containing_symbol: 'im.gateway.v1.IMAGatewayService' });
    await done;
    const list = answers[0]?.['list_services_response'] as { service: Array<{ name: string }> };
    assert.ok(list.service.some((s) => s.name === 'im.gateway.v1.IMAGatewayService'), JSON.stringify(list));
    const files = answers[1]?.['file_descriptor_response'] as { file_descriptor_proto: Buffer[] };
    assert.ok(files.file_descriptor_proto.length >= 1);
    assert.ok(files.file_descriptor_proto.some((b) => b.toString('latin1').includes('IMAGatewayService')));
    r.close();
  });
});

describe('HTTP/JSON form on the admin port', () => {
  test('POST /im.gateway.v1.IMAGatewayService/PushToUser with proto3 JSON (camelCase or proto names)', async () => {
    const u = `json-${++seq}`;
    const a = await online(u, 'a');
    const url = `${gw.adminUrl}/im.gateway.v1.IMAGatewayService/PushToUser`;
    let r = await httpRequest('POST', url, JSON.stringify({ userId: u, message: { type: 'j', messageId: 'j1', payload: Buffer.from('{"n":1}').toString('base64') } }), { headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, { success: true, delivered: 1, offlineUserIds: [] });
    assert.deepEqual((await a.next('j'))['payload'], { n: 1 });
    r = await httpRequest('POST', url, JSON.stringify({ user_id: u, message: { type: 'j', message_id: 'j2' } }), { headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200, r.body);
    assert.equal((await a.next('j'))['id'], 'j2');
    r = await httpRequest('POST', url, JSON.stringify({ message: { type: 'j' } }), { headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
    assert.match(r.body, /user_id: required/);
    r = await httpRequest('POST', `${gw.adminUrl}/im.gateway.v1.IMAGatewayService/Broadcast`, JSON.stringify({ message: { type: 'j', messageId: 'j3' } }), { headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200);
    assert.equal((r.json as { delivered: string }).delivered, '1', 'int64 is a string in proto3 JSON');
    await a.close();
  });
});

describe('API token, Triple version and group', () => {
  let secured: GatewayProcess;
  let sc: Client;
  let cleanup: () => void;
  before(async () => {
    const c = configDir({ 'server.yml': 'server:\n  version: 1.0.0\n  group: im\n' });
    cleanup = c.cleanup;
    secured = await startGateway({ configDir: c.dir, env: { IMA_MUC_ADDR: muc.address, IMA_API_TOKEN: 's3cret-token' } });
    sc = client(secured.grpcAddress);
  });
  after(async () => {
    sc?.close();
    await secured?.stop();
    cleanup?.();
  });

  test('without or with a wrong bearer token: UNAUTHENTICATED; with it: served (a Dubbo attachment works)', async () => {
    let r = await call(sc, 'KickUser', { userId: 'x' });
    assert.equal(r.err?.code, grpc.status.UNAUTHENTICATED);
    r = await call(sc, 'KickUser', { userId: 'x' }, { authorization: 'Bearer wrong' });
    assert.equal(r.err?.code, grpc.status.UNAUTHENTICATED);
    r = await call(sc, 'KickUser', { userId: 'x' }, { authorization: 'Bearer s3cret-token', ...TRIPLE_HEADERS, 'tri-service-version': '1.0.0', 'tri-service-group': 'im' });
    assert.deepEqual(r.res, { success: true, kicked: 0 });
    const http = await httpRequest('POST', `${secured.adminUrl}/im.gateway.v1.IMAGatewayService/KickUser`, '{"userId":"x"}', { headers: { 'content-type': 'application/json' } });
    assert.equal(http.status, 401);
    const ok = await httpRequest('POST', `${secured.adminUrl}/im.gateway.v1.IMAGatewayService/KickUser`, '{"userId":"x"}', {
      headers: { 'content-type': 'application/json', authorization: 'Bearer s3cret-token' },
    });
    assert.equal(ok.status, 200);
  });

  test('a call for another version or group: UNIMPLEMENTED, as Dubbo answers', async () => {
    const auth = { authorization: 'Bearer s3cret-token' };
    let r = await call(sc, 'KickUser', { userId: 'x' }, { ...auth, 'tri-service-version': '2.0.0' });
    assert.equal(r.err?.code, grpc.status.UNIMPLEMENTED);
    r = await call(sc, 'KickUser', { userId: 'x' }, { ...auth, 'tri-service-group': 'other' });
    assert.equal(r.err?.code, grpc.status.UNIMPLEMENTED);
    r = await call(sc, 'KickUser', { userId: 'x' }, { ...auth, 'tri-service-version': '1.0.0', 'tri-service-group': 'im' });
    assert.equal(r.err, undefined);
  });

  test('the prod profile refuses to start with the API open', async () => {
    const r = await runGatewayExpectingFailure({ env: { APP_ENV: 'prod', IMA_JWT_SECRET: 'x' } });
    assert.equal(r.code, 2);
    assert.match(r.output, /server\.apiToken: expected IMA_API_TOKEN/);
  });
});

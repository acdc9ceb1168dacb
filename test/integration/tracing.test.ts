/**
 * OpenTelemetry tracing end to end: a local OTLP/HTTP receiver (test/support/otlp-receiver.ts),
 * two gateway processes with tracing on sharing a real redis-server, a real MUC and business test
 * service (both record the metadata they receive), real WebSocket clients and a grpc-js client of
 * IMAGatewayService; and a third gateway with tracing off (the default) whose OTEL_* variables
 * point at the same receiver, to show it sends nothing and propagates as before.
 *
 * Checked: a PushToUser to A for a user on B is one trace (the caller's): A's server span under
 * the caller's span, A's client span for the hop under it, B's server span under that; an upgrade
 * is a server span with the MUC call as its client child, and the MUC receives that client span's
 * traceparent; a client message is a forward span under the upgrade span, its HandleMessage call a
 * client span under the forward span, and the business service receives that client span's
 * traceparent; no token in any exported byte; spans of a call made just before SIGTERM are
 * exported by the graceful shutdown.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { IMAGatewayServiceClient } from '../../api/gen/im/gateway/v1/IMAGatewayService';
import { loadProto } from '../../internal/rpc/proto';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { OtlpReceiver, SPAN_KIND } from '../support/otlp-receiver';
import type { ReceivedSpan } from '../support/otlp-receiver';
import { startRedis } from '../support/redis';
import type { TestRedis } from '../support/redis';
import { TestBusinessService, TestMucService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import { configDir, eventually } from './helpers';

type Client = IMAGatewayServiceClient & grpc.Client;

const API_TOKEN = `api-token-${randomBytes(6).toString('hex')}`;
const SERVICE = 'im.gateway.v1.IMAGatewayService';
/** Spans are exported every 2 s; the wait covers that with room for a loaded machine. */
const SPAN_WAIT_MS = 15_000;

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

function grpcClient(address: string): Client {
  return new (loadProto().grpcType.im.gateway.v1.IMAGatewayService)(address, grpc.credentials.createInsecure()) as Client;
}

/** A unary call with the API token and, when given, a caller's traceparent. */
function call<Res>(c: Client, method: keyof IMAGatewayServiceClient, req: unknown, traceparent?: string): Promise<Res> {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${API_TOKEN}`);
  if (traceparent !== undefined) md.set('traceparent', traceparent);
  return new Promise((resolve, reject) => {
    const fn = (c as unknown as Record<string, (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Res) => void) => void>)[method as string];
    assert.ok(fn);
    fn.call(c, req, md, { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r as Res)));
  });
}

interface PushRes {
  success: boolean;
  delivered: number;
  offlineUserIds: string[];
}

let receiver: OtlpReceiver;
let redis: TestRedis;
let muc: TestMucService;
let business: TestBusinessService;
let A: GatewayProcess;
let B: GatewayProcess;
let OFF: GatewayProcess;
let rpcA: Client;
let rpcB: Client;
let rpcOff: Client;
const tokens: string[] = [];
const clients: TestWsClient[] = [];
const cleanups: Array<() => void> = [];

function upstreamEnv(): Record<string, string> {
  return { IMA_MUC_ADDR: muc.address, IMA_BUSINESS_ADDR: business.address, IMA_AUTH_PROVIDER: 'muc', IMA_API_TOKEN: API_TOKEN, IMA_ADVERTISE_HOST: '127.0.0.1' };
}

/** A user with an MUC token of its own. */
function user(tag: string): { id: string; token: string } {
  const id = `${tag}-${hex(3)}`;
  const token = `tok-${hex(12)}`;
  muc.addToken(token, id);
  tokens.push(token);
  return { id, token };
}

async function online(gw: GatewayProcess, u: { token: string }, device: string, platform: string, traceparent?: string): Promise<TestWsClient> {
  const c = await TestWsClient.connect(gw.wsUrl({ token: u.token, device_id: device, platform }), traceparent !== undefined ? { headers: { traceparent } } : {});
  clients.push(c);
  const auth = await c.next('auth');
  assert.equal(auth['ok'], true, JSON.stringify(auth));
  return c;
}

function span(pred: (s: ReceivedSpan) => boolean, what: string): Promise<ReceivedSpan> {
  return receiver.waitForSpan(pred, SPAN_WAIT_MS, what);
}

const instanceOf = (s: ReceivedSpan): unknown => s.resource['service.instance.id'];

before(async () => {
  receiver = await OtlpReceiver.start();
  [redis, muc, business] = await Promise.all([startRedis(), TestMucService.start(), TestBusinessService.start()]);
  const cfg = configDir({ 'redis.yml': 'redis:\n  leaseTtlSec: 3\n  leaseRefreshSec: 1\n  sweepEverySec: 1\n' });
  cleanups.push(cfg.cleanup);
  const traced = (id: string): Promise<GatewayProcess> =>
    startGateway({
      configDir: cfg.dir,
      env: { ...upstreamEnv(), IMA_REDIS_URL: redis.url, IMA_INSTANCE_ID: id, IMA_TRACING_ENABLED: 'true', IMA_TRACING_ENDPOINT: receiver.url },
    });
  [A, B, OFF] = await Promise.all([
    traced('tr-a'),
    traced('tr-b'),
    // tracing off (the default), although the standard variable names the receiver
    startGateway({ env: { ...upstreamEnv(), IMA_INSTANCE_ID: 'tr-off', IMA_TRACING_ENABLED: undefined, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url } }),
  ]);
  rpcA = grpcClient(A.grpcAddress);
  rpcB = grpcClient(B.grpcAddress);
  rpcOff = grpcClient(OFF.grpcAddress);
  await eventually(
    async () => (await call<{ instances: number }>(rpcA, 'Broadcast', { message: { type: 'cluster.probe' }, platforms: ['miniweb'] })).instances === 2,
    10_000,
    'a cluster of 2 instances seen from tr-a',
  );
});

after(async () => {
  await Promise.allSettled(clients.map((c) => c.terminate()));
  for (const c of [rpcA, rpcB, rpcOff]) c?.close();
  await Promise.allSettled([A, B, OFF].filter((g) => g !== undefined).map((g) => g.stop()));
  await Promise.allSettled([redis?.stop(), muc?.stop(), business?.stop(), receiver?.close()]);
  for (const c of cleanups) c();
});

describe('tracing on', () => {
  test('the gateways say where spans go', () => {
    for (const g of [A, B]) assert.ok(g.jsonLogs().some((l) => l['msg'] === 'tracing on: OTLP/HTTP exporter' && l['endpoint'] === receiver.url), g.logs.join('\n'));
  });

  test('PushToUser to A for a user on B: A server span (child of the caller) -> A client span (the hop) -> B server span, one trace', async () => {
    const u = user('hop');
    const c = await online(B, u, 'phone', 'ios');
    const traceId = hex(16);
    const callerSpan = hex(8);
    const res = await call<PushRes>(rpcA, 'PushToUser', { userId: u.id, message: { messageId: 'hop-1', type: 'notice', payload: Buffer.from('{"n":1}') } }, `00-${traceId}-${callerSpan}-01`);
    assert.equal(res.delivered, 1);
    await c.next((f) => f['id'] === 'hop-1');

    const aServer = await span((s) => s.traceId === traceId && s.kind === SPAN_KIND.server && instanceOf(s) === 'tr-a', "A's server span");
    assert.equal(aServer.name, `${SERVICE}/PushToUser`);
    assert.equal(aServer.parentSpanId, callerSpan);
    assert.deepEqual(
      [aServer.attributes['rpc.system'], aServer.attributes['rpc.service'], aServer.attributes['rpc.method'], aServer.attributes['rpc.grpc.status_code'], aServer.attributes['user.id'], aServer.attributes['ima.delivered']],
      ['grpc', SERVICE, 'PushToUser', 0, u.id, 1],
    );
    assert.equal(aServer.attributes['ima.forwarded'], undefined);
    assert.equal(aServer.resource['service.name'], 'ima-gateway');

    const aClient = await span((s) => s.traceId === traceId && s.kind === SPAN_KIND.client && instanceOf(s) === 'tr-a', "A's client span for the hop");
    assert.equal(aClient.name, `${SERVICE}/PushToUsers`);
    assert.equal(aClient.parentSpanId, aServer.spanId);
    assert.deepEqual([aClient.attributes['server.address'], aClient.attributes['server.port'], aClient.attributes['rpc.grpc.status_code'], aClient.attributes['ima.user_count']], ['127.0.0.1', B.grpcPort, 0, 1]);

    const bServer = await span((s) => s.traceId === traceId && s.kind === SPAN_KIND.server && instanceOf(s) === 'tr-b', "B's server span");
    assert.equal(bServer.name, `${SERVICE}/PushToUsers`);
    assert.equal(bServer.parentSpanId, aClient.spanId);
    assert.deepEqual([bServer.attributes['ima.forwarded'], bServer.attributes['ima.delivered'], bServer.attributes['rpc.grpc.status_code']], [true, 1, 0]);

    assert.equal(receiver.trace(traceId).length, 3, JSON.stringify(receiver.trace(traceId).map((s) => s.name)));
    assert.equal(new Set([aServer.spanId, aClient.spanId, bServer.spanId]).size, 3);
  });

  test('a call without traceparent starts a trace of its own; a refused call records its gRPC code without failing the server span', async () => {
    const before = new Set(receiver.spans.map((s) => s.spanId));
    await assert.rejects(call(rpcA, 'KickUser', { userId: '' }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
    const s = await span((x) => !before.has(x.spanId) && x.name === `${SERVICE}/KickUser` && instanceOf(x) === 'tr-a', 'the KickUser span');
    assert.equal(s.parentSpanId, '');
    assert.equal(s.attributes['rpc.grpc.status_code'], grpc.status.INVALID_ARGUMENT);
    assert.equal(s.statusCode, 0, 'INVALID_ARGUMENT is the caller\'s failure (semantic conventions)');
  });

  let upgradeSpan: ReceivedSpan;
  let ws: TestWsClient;
  let upgradeTrace: string;

  test('an upgrade is a server span under the request\'s traceparent; the MUC call is its client child and carries that span\'s traceparent', async () => {
    const u = user('up');
    upgradeTrace = hex(16);
    const clientSpan = hex(8);
    ws = await online(A, u, 'tab-1', 'android', `00-${upgradeTrace}-${clientSpan}-01`);

    upgradeSpan = await span((s) => s.traceId === upgradeTrace && s.name === 'ws.upgrade', 'the upgrade span');
    assert.equal(upgradeSpan.kind, SPAN_KIND.server);
    assert.equal(upgradeSpan.parentSpanId, clientSpan);
    assert.deepEqual([upgradeSpan.attributes['user.id'], upgradeSpan.attributes['device.id'], upgradeSpan.attributes['ima.platform'], instanceOf(upgradeSpan)], [u.id, 'tab-1', 'android', 'tr-a']);

    const mucSpan = await span((s) => s.traceId === upgradeTrace && s.name === 'im.gateway.v1.MUCService/ValidateToken', 'the MUC client span');
    assert.equal(mucSpan.kind, SPAN_KIND.client);
    assert.equal(mucSpan.parentSpanId, upgradeSpan.spanId);
    assert.deepEqual([mucSpan.attributes['rpc.system'], mucSpan.attributes['rpc.method'], mucSpan.attributes['user.id'], mucSpan.attributes['rpc.grpc.status_code']], ['grpc', 'ValidateToken', u.id, 0]);

    const i = muc.calls.findIndex((c) => c.token === u.token);
    assert.ok(i >= 0);
    assert.equal(muc.metadata[i]?.['traceparent'], `00-${upgradeTrace}-${mucSpan.spanId}-01`);
  });

  test('a client message: forward span under the upgrade span, HandleMessage client span under it, and the business service gets that client span\'s traceparent', async () => {
    ws.send({ type: 'chat', id: 'fwd-1', payload: { hello: 1 } });
    const ack = await ws.next((f) => f['type'] === 'ack' && f['id'] === 'fwd-1');
    assert.equal(ack['code'], 0, JSON.stringify(ack));
    const msg = await business.waitForMessage((m) => m.messageId === 'fwd-1');
    assert.equal(msg.traceId, upgradeTrace, 'ClientMessage.traceId is the connection\'s trace');
    const md = business.messageMetadata[business.messages.indexOf(msg)];

    const forward = await span((s) => s.traceId === upgradeTrace && s.name === 'ws.forward', 'the forward span');
    assert.equal(forward.kind, SPAN_KIND.server);
    assert.equal(forward.parentSpanId, upgradeSpan.spanId);
    assert.deepEqual([forward.attributes['ima.message.id'], forward.attributes['ima.message.type'], forward.attributes['ima.ack.code']], ['fwd-1', 'chat', 0]);

    const hm = await span((s) => s.traceId === upgradeTrace && s.name === 'im.gateway.v1.BusinessMessageService/HandleMessage', 'the HandleMessage client span');
    assert.equal(hm.kind, SPAN_KIND.client);
    assert.equal(hm.parentSpanId, forward.spanId);
    assert.equal(md?.['traceparent'], `00-${upgradeTrace}-${hm.spanId}-01`);
  });

  test('no token in anything exported: not the users\', not the API token', () => {
    assert.ok(receiver.bodies.length > 0);
    const all = receiver.bodies.join('\n');
    for (const t of [...tokens, API_TOKEN]) assert.ok(!all.includes(t), `a token reached the collector: ${t}`);
  });
});

describe('tracing off (the default)', () => {
  test('nothing is exported, the MUC call carries no traceparent and the business service gets the connection\'s trace id as before', async () => {
    assert.ok(!OFF.jsonLogs().some((l) => l['msg'] === 'tracing on: OTLP/HTTP exporter'));
    const u = user('off');
    const traceId = hex(16);
    const clientSpan = hex(8);
    const c = await online(OFF, u, 'pc-1', 'windows', `00-${traceId}-${clientSpan}-01`);
    const i = muc.calls.findIndex((x) => x.token === u.token);
    assert.ok(i >= 0);
    assert.equal(muc.metadata[i]?.['traceparent'], undefined);

    c.send({ type: 'chat', id: 'off-1', payload: {} });
    await c.next((f) => f['type'] === 'ack' && f['id'] === 'off-1');
    const msg = await business.waitForMessage((m) => m.messageId === 'off-1');
    assert.equal(msg.traceId, traceId);
    const tp = business.messageMetadata[business.messages.indexOf(msg)]?.['traceparent'] ?? '';
    assert.match(tp, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    assert.notEqual(tp.split('-')[2], clientSpan);

    const res = await call<PushRes>(rpcOff, 'PushToUser', { userId: u.id, message: { type: 'notice', payload: Buffer.from('{}') } }, `00-${traceId}-${clientSpan}-01`);
    assert.equal(res.delivered, 1);
    await c.close();
    // a graceful stop would flush any span there was
    const exit = await OFF.stop('SIGTERM');
    assert.equal(exit.code, 0);
    assert.deepEqual(receiver.spans.filter((s) => instanceOf(s) === 'tr-off' || s.traceId === traceId), []);
  });
});

describe('shutdown', () => {
  test('the spans of a call just before SIGTERM are exported by the graceful shutdown', async () => {
    await Promise.all(clients.map((c) => c.close()));
    const traceId = hex(16);
    await call(rpcB, 'GetConnectionStatus', { userIds: ['nobody'] }, `00-${traceId}-${hex(8)}-01`);
    const exit = await B.stop('SIGTERM');
    assert.equal(exit.code, 0, B.logs.slice(-20).join('\n'));
    // no wait: once B has exited, its spans have been received
    assert.ok(receiver.spans.some((s) => s.traceId === traceId && s.name === `${SERVICE}/GetConnectionStatus` && instanceOf(s) === 'tr-b'), 'span exported at shutdown');
  });
});

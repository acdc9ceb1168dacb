/**
 * Tracing through the use cases and their decorators, with a recording `Spans` (no SDK): which
 * spans start under which traceparent, which traceparent each outgoing call carries, how outcomes
 * are recorded; and that without spans the gateway propagates exactly as before.
 */
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import type { ClientMessage } from '../../api/gen/im/gateway/v1/ClientMessage';
import { IdGenerator } from '../../pkg/ids';
import { err, ok } from '../../pkg/result';
import type { Result } from '../../pkg/result';
import { TracedTokenVerifier } from '../auth/muc';
import { TracedPeerForwarder } from '../cluster/traced';
import { FORWARDED_HEADER } from '../cluster/types';
import { ConnectionManager } from '../connection/manager';
import { parseTraceContext } from '../observability/tracing';
import type { SpanAttributes, SpanKindName, Spans, TraceSpan } from '../observability/tracing';
import { MemoryPresenceStore } from '../presence/memory';
import { LocalRoomInstances, MemoryRoomMembers } from '../rooms/memory';
import type { ApiError, CallContext, GatewayApi } from '../rpc/api';
import { TracedApi, TracedBusinessClient } from '../rpc/traced';
import { Gateway } from './gateway';
import type { BusinessClient } from './ports';
import { RoomHub } from './rooms';
import { Rejection, Session } from './session';
import type { Attempt } from './session';
import { GatewayStats } from './stats';
import { FakeBusinessClient, FakeTokenVerifier, FakeTopics, TEST_GATEWAY_SETTINGS, connect, silentLogger } from './testing';
import type { TestClient } from './testing';

/** A span the recording Spans started: what it was given and what happened to it. */
class RecordedSpan implements TraceSpan {
  readonly traceparent: string;
  readonly attrs: Record<string, string | number | boolean>;
  failed: string | null = null;
  ended = 0;

  constructor(
    readonly name: string,
    readonly kind: SpanKindName,
    readonly parent: string,
    attributes: SpanAttributes,
    readonly startTime: number | undefined,
    traceId: string,
    spanId: string,
  ) {
    this.attrs = { ...attributes };
    this.traceparent = `00-${traceId}-${spanId}-01`;
  }

  set(key: string, value: string | number | boolean): void {
    this.attrs[key] = value;
  }

  fail(message: string): void {
    this.failed = message;
  }

  end(): void {
    this.ended++;
  }
}

/** Spans that keep every span; a span continues its parent's trace id, or starts trace 0...0n. */
class RecordingSpans implements Spans {
  readonly spans: RecordedSpan[] = [];
  private n = 0;

  start(name: string, kind: SpanKindName, parent: string, attributes: SpanAttributes, startTime?: number): TraceSpan {
    this.n++;
    const traceId = parseTraceContext(parent)?.traceId ?? this.n.toString(16).padStart(32, 'a');
    const s = new RecordedSpan(name, kind, parent, attributes, startTime, traceId, this.n.toString(16).padStart(16, '0'));
    this.spans.push(s);
    return s;
  }

  named(name: string): RecordedSpan[] {
    return this.spans.filter((s) => s.name === name);
  }

  one(name: string): RecordedSpan {
    const list = this.named(name);
    assert.equal(list.length, 1, `one ${name} span, got ${this.spans.map((s) => s.name).join(', ')}`);
    return list[0] as RecordedSpan;
  }
}

const CALLER = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

function makeGateway(t: TestContext, spans: Spans | null): { gw: Gateway; verifier: FakeTokenVerifier; business: FakeBusinessClient } {
  const verifier = new FakeTokenVerifier([
    ['tok-alice', { userId: 'alice' }],
    ['tok-bad', { invalid: 'signature mismatch' }],
    ['tok-down', 'unavailable'],
  ]);
  const business = new FakeBusinessClient();
  const registry = new ConnectionManager<Session>();
  const stats = new GatewayStats();
  const topics = new FakeTopics();
  const rooms = new RoomHub({
    publisher: topics,
    registry,
    members: new MemoryRoomMembers(),
    instances: new LocalRoomInstances('gw-a'),
    stats,
    log: silentLogger(),
    settings: { clientSubscribe: 'deny', maxPerConnection: 3, maxHeldBytes: 4096 },
  });
  const gw = new Gateway({
    topics,
    instanceId: 'gw-a',
    verifier,
    presence: new MemoryPresenceStore(),
    registry,
    business,
    ids: new IdGenerator('TESTTAG0'),
    stats,
    log: silentLogger(),
    settings: TEST_GATEWAY_SETTINGS,
    events: null,
    remote: null,
    rooms,
    history: null,
    spans,
  });
  t.after(() => gw.stop());
  return { gw, verifier, business };
}

function sessionOf(c: TestClient<Attempt>): Session {
  assert.ok(c.attempt instanceof Session, 'refused');
  return c.attempt;
}

/** Lets the fake business client's answer reach the gateway. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('the gateway with tracing off', () => {
  test('the MUC request carries no traceparent; HandleMessage carries a hand-made one in the connection\'s trace, as before', async (t) => {
    const { gw, verifier, business } = makeGateway(t, null);
    const c = await connect(gw, { traceparent: CALLER });
    assert.equal('traceparent' in (verifier.requests[0] ?? {}), false);
    assert.equal(sessionOf(c).traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(sessionOf(c).spanParent, '');
    c.send({ type: 'chat', id: 'm1', payload: {} });
    const tp = parseTraceContext(business.call(0).traceparent);
    assert.equal(tp?.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.notEqual(tp?.spanId, 'b7ad6b7169203331');
    business.call(0).respond(0);
  });
});

describe('the gateway with tracing on', () => {
  test('upgrade: a server span under the request\'s traceparent; the MUC request and the session carry it', async (t) => {
    const spans = new RecordingSpans();
    const { gw, verifier } = makeGateway(t, spans);
    const c = await connect(gw, { traceparent: CALLER, deviceId: 'phone-9', platform: 'android' });
    const up = spans.one('ws.upgrade');
    assert.deepEqual([up.kind, up.parent, up.ended, up.failed], ['server', CALLER, 1, null]);
    assert.deepEqual([up.attrs['user.id'], up.attrs['device.id'], up.attrs['ima.platform'], up.attrs['client.address']], ['alice', 'phone-9', 'android', '10.0.0.1']);
    assert.equal(verifier.requests[0]?.traceparent, up.traceparent);
    assert.equal(sessionOf(c).spanParent, up.traceparent);
    assert.equal(sessionOf(c).traceId, '0af7651916cd43dd8448eb211c80319c');
  });

  test('a refused token is the client\'s failure (close code only); an unavailable MUC fails the span', async (t) => {
    const spans = new RecordingSpans();
    const { gw } = makeGateway(t, spans);
    const bad = await connect(gw, { token: 'tok-bad' });
    const down = await connect(gw, { token: 'tok-down' });
    assert.ok(bad.attempt instanceof Rejection && down.attempt instanceof Rejection);
    const [first, second] = spans.named('ws.upgrade');
    assert.deepEqual([first?.attrs['ima.close_code'], first?.failed, first?.ended], [4401, null, 1]);
    assert.deepEqual([second?.attrs['ima.close_code'], second?.failed, second?.ended], [4503, 'auth service unavailable', 1]);
  });

  test('forward: a span under the upgrade span from the message\'s arrival; HandleMessage carries its traceparent; the answer ends it', async (t) => {
    const spans = new RecordingSpans();
    const { gw, business } = makeGateway(t, spans);
    const c = await connect(gw, { traceparent: CALLER });
    const up = spans.one('ws.upgrade');
    c.send({ type: 'chat', id: 'm1', payload: {} });
    c.send({ type: 'chat', id: 'm2', payload: {} });
    const f1 = spans.one('ws.forward');
    assert.deepEqual([f1.kind, f1.parent, f1.attrs['ima.message.id'], f1.attrs['ima.message.type'], f1.attrs['user.id']], ['server', up.traceparent, 'm1', 'chat', 'alice']);
    assert.equal(typeof f1.startTime, 'number');
    assert.equal(business.call(0).traceparent, f1.traceparent);
    assert.equal(f1.ended, 0);
    business.call(0).respond(7, 'custom');
    await settle();
    assert.deepEqual([f1.ended, f1.attrs['ima.ack.code'], f1.failed], [1, 7, null]);
    // the second message was queued behind the first: its span starts when it is sent
    const f2 = spans.named('ws.forward')[1];
    assert.ok(f2 !== undefined);
    assert.equal(business.call(1).traceparent, f2.traceparent);
    business.call(1).fail('timeout');
    await settle();
    assert.deepEqual([f2.ended, f2.attrs['ima.ack.code'], f2.failed], [1, 2001, 'business timeout']);
  });
});

/** A GatewayApi answering every call with `answer`, recording the contexts it saw. */
function fakeApi(answer: () => Promise<Result<unknown, ApiError>>): GatewayApi & { contexts: CallContext[] } {
  const contexts: CallContext[] = [];
  const handle = (_req: unknown, ctx: CallContext): Promise<Result<never, ApiError>> => {
    contexts.push(ctx);
    return answer() as Promise<Result<never, ApiError>>;
  };
  return {
    contexts,
    PushToUser: handle,
    PushToUsers: handle,
    Broadcast: handle,
    KickUser: handle,
    GetConnectionStatus: handle,
    JoinRoom: handle,
    LeaveRoom: handle,
    PushToRoom: handle,
    GetRoomStatus: handle,
  };
}

const pushReq = { userId: 'alice', userIds: [], message: null, platforms: [], deviceIds: [], excludeDeviceIds: [] };

describe('the tracing decorators', () => {
  test('TracedApi: a server span under the caller; the call below sees the span\'s traceparent; results and codes recorded', async () => {
    const spans = new RecordingSpans();
    const inner = fakeApi(async () => ok({ success: true, delivered: 2, offlineUserIds: ['bob'] }));
    const api = new TracedApi(inner, spans);
    const ctx: CallContext = { headers: { traceparent: CALLER, authorization: 'Bearer secret', [FORWARDED_HEADER]: '1' }, deadline: 123, dedupeKey: 'k' };
    const r = await api.PushToUser(pushReq, ctx);
    assert.ok(r.ok);
    const s = spans.one('im.gateway.v1.IMAGatewayService/PushToUser');
    assert.deepEqual([s.kind, s.parent, s.ended], ['server', CALLER, 1]);
    assert.deepEqual(
      [s.attrs['rpc.system'], s.attrs['rpc.service'], s.attrs['rpc.method'], s.attrs['user.id'], s.attrs['ima.forwarded'], s.attrs['ima.delivered'], s.attrs['ima.offline_users'], s.attrs['rpc.grpc.status_code']],
      ['grpc', 'im.gateway.v1.IMAGatewayService', 'PushToUser', 'alice', true, 2, 1, 0],
    );
    assert.deepEqual(inner.contexts[0], { ...ctx, headers: { ...ctx.headers, traceparent: s.traceparent } });
    assert.ok(!Object.values(s.attrs).includes('Bearer secret'));
  });

  test('TracedApi: INVALID_ARGUMENT recorded without failing; UNAVAILABLE fails; a throw is INTERNAL and is rethrown', async () => {
    const spans = new RecordingSpans();
    let next: () => Promise<Result<unknown, ApiError>> = async () => err({ code: 3, message: 'user_id: required' });
    const api = new TracedApi(
      fakeApi(() => next()),
      spans,
    );
    await api.KickUser({ userId: '', deviceId: '', reason: '' }, { headers: {}, deadline: Infinity });
    next = async () => err({ code: 14, message: 'room store unavailable' });
    await api.JoinRoom({ room: 'r', userIds: ['a'] }, { headers: {}, deadline: Infinity });
    next = async () => {
      throw new Error('boom');
    };
    await assert.rejects(api.Broadcast({ message: null, platforms: [] }, { headers: {}, deadline: Infinity }), /boom/);
    const [kick, join, bc] = spans.spans;
    assert.deepEqual([kick?.parent, kick?.attrs['rpc.grpc.status_code'], kick?.failed], ['', 3, null]);
    assert.deepEqual([join?.attrs['ima.room'], join?.attrs['rpc.grpc.status_code'], join?.failed], ['r', 14, 'room store unavailable']);
    assert.deepEqual([bc?.attrs['rpc.grpc.status_code'], bc?.failed, bc?.ended], [13, 'internal error', 1]);
  });

  test('TracedPeerForwarder: a client span under the call\'s traceparent; the peer gets the client span\'s', async () => {
    const spans = new RecordingSpans();
    const seen: Array<Readonly<Record<string, string>>> = [];
    const peers = new TracedPeerForwarder(
      {
        call: async <Res>(_a: string, _m: string, _r: unknown, headers: Readonly<Record<string, string>> = {}): Promise<Result<Res, ApiError>> => {
          seen.push(headers);
          return seen.length === 1 ? ok({} as Res) : err({ code: 14, message: 'No connection established' });
        },
      },
      spans,
    );
    await peers.call('10.1.2.3:50051', 'PushToUsers', { userIds: ['a', 'b'] }, { traceparent: CALLER, 'x-ima-seqs': 's' });
    await peers.call('[::1]:50052', 'KickUser', { userId: 'a' }, {});
    const [push, kick] = spans.spans;
    assert.deepEqual([push?.kind, push?.parent, push?.attrs['server.address'], push?.attrs['server.port'], push?.attrs['ima.user_count'], push?.attrs['rpc.grpc.status_code']], ['client', CALLER, '10.1.2.3', 50051, 2, 0]);
    assert.deepEqual(seen[0], { traceparent: push?.traceparent, 'x-ima-seqs': 's' });
    assert.deepEqual([kick?.parent, kick?.attrs['server.address'], kick?.attrs['server.port'], kick?.failed], ['', '::1', 50052, 'No connection established']);
    assert.equal(seen[1]?.['traceparent'], kick?.traceparent);
  });

  test('TracedBusinessClient and TracedTokenVerifier: client spans whose traceparent the call carries; failures by kind', async () => {
    const spans = new RecordingSpans();
    const got: string[] = [];
    const inner: BusinessClient = {
      handleMessage: async (_m: ClientMessage, tp: string) => {
        got.push(tp);
        return got.length === 1 ? ok({ code: 0, message: '', replies: [] }) : err({ kind: 'timeout', message: 'deadline' });
      },
      onConnectionStatus: async () => ok(undefined),
      close: async () => undefined,
    };
    const business = new TracedBusinessClient(inner, spans);
    await business.handleMessage({ messageId: 'm1' }, CALLER);
    await business.handleMessage({ messageId: 'm2' }, CALLER);
    const [h1, h2] = spans.spans;
    assert.deepEqual([h1?.name, h1?.kind, h1?.parent, h1?.attrs['ima.message.id'], got[0]], ['im.gateway.v1.BusinessMessageService/HandleMessage', 'client', CALLER, 'm1', h1?.traceparent]);
    assert.deepEqual([h2?.attrs['rpc.grpc.status_code'], h2?.failed, got[1]], [4, 'deadline', h2?.traceparent]);

    const mucSpans = new RecordingSpans();
    const fake = new FakeTokenVerifier([['tok-alice', { userId: 'alice' }]]);
    const verifier = new TracedTokenVerifier(fake, mucSpans);
    await verifier.verify({ token: 'tok-alice', deviceId: 'd', platform: 'ios', clientIp: '', instanceId: 'gw', traceparent: CALLER });
    await verifier.verify({ token: 'tok-unknown', deviceId: 'd', platform: 'ios', clientIp: '', instanceId: 'gw' });
    fake.down = true;
    await verifier.verify({ token: 'tok-alice', deviceId: 'd', platform: 'ios', clientIp: '', instanceId: 'gw' });
    const [v1, v2, v3] = mucSpans.spans;
    assert.deepEqual([v1?.parent, v1?.attrs['user.id'], v1?.attrs['rpc.grpc.status_code'], fake.requests[0]?.traceparent], [CALLER, 'alice', 0, v1?.traceparent]);
    assert.deepEqual([v2?.parent, v2?.attrs['ima.close_code'], v2?.failed], ['', 0, null]);
    assert.deepEqual([v3?.failed, v3?.ended], ['MUC unreachable', 1]);
    for (const s of mucSpans.spans) assert.ok(!Object.values(s.attrs).includes('tok-alice'), 'no token on a span');
  });
});

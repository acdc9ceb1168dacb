import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import type { ApiError, CallContext, GatewayApi, GatewayMethod } from './api';
import { CallGuard } from './api';
import type { AdminRequest, AdminResponse } from '../transport/http/server';
import { createLogger } from '../observability/logger';
import type { Logger } from '../observability/logger';
import { callHeaders, createJsonApiHandler, DEFAULT_JSON_DEADLINE_MS, JSON_API_PREFIX, parseGrpcTimeout } from './json-api';
import { loadProto, protoPath } from './proto';
import type { Result } from '../../pkg/result';
import { err, ok } from '../../pkg/result';

interface Recorded {
  readonly method: GatewayMethod;
  readonly req: unknown;
  readonly ctx: CallContext;
}

type Answer = (req: unknown, ctx: CallContext) => Promise<Result<unknown, ApiError>>;

/** Records every call; answers from `answers[method]`, else a plain success. */
class FakeApi implements GatewayApi {
  readonly calls: Recorded[] = [];
  readonly answers: Partial<Record<GatewayMethod, Answer>> = {};

  private answer(method: GatewayMethod, req: unknown, ctx: CallContext, fallback: unknown): Promise<Result<never, ApiError>> {
    this.calls.push({ method, req, ctx });
    const a = this.answers[method];
    return (a ? a(req, ctx) : Promise.resolve(ok(fallback))) as Promise<Result<never, ApiError>>;
  }

  PushToUser(req: unknown, ctx: CallContext) {
    return this.answer('PushToUser', req, ctx, { success: true, delivered: 1, offlineUserIds: [] });
  }
  PushToUsers(req: unknown, ctx: CallContext) {
    return this.answer('PushToUsers', req, ctx, { success: true, delivered: 2, offlineUserIds: ['u3'] });
  }
  Broadcast(req: unknown, ctx: CallContext) {
    return this.answer('Broadcast', req, ctx, { success: true, delivered: 5, instances: 2 });
  }
  KickUser(req: unknown, ctx: CallContext) {
    return this.answer('KickUser', req, ctx, { success: true, kicked: 1 });
  }
  GetConnectionStatus(req: unknown, ctx: CallContext) {
    return this.answer('GetConnectionStatus', req, ctx, { statuses: [] });
  }
  JoinRoom(req: unknown, ctx: CallContext) {
    return this.answer('JoinRoom', req, ctx, { success: true, connections: 2 });
  }
  LeaveRoom(req: unknown, ctx: CallContext) {
    return this.answer('LeaveRoom', req, ctx, { success: true, connections: 1 });
  }
  PushToRoom(req: unknown, ctx: CallContext) {
    return this.answer('PushToRoom', req, ctx, { success: true, delivered: 3, instances: 1 });
  }
  GetRoomStatus(req: unknown, ctx: CallContext) {
    return this.answer('GetRoomStatus', req, ctx, { rooms: [] });
  }
}

function captureLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { log: createLogger('info', 'test', stream), lines };
}

interface Setup {
  readonly api: FakeApi;
  readonly lines: string[];
  call(method: string, body: unknown, headers?: IncomingHttpHeaders, httpMethod?: string): Promise<AdminResponse>;
}

function setup(settings: { apiToken?: string; version?: string; group?: string } = {}): Setup {
  const api = new FakeApi();
  const { log, lines } = captureLogger();
  const guard = new CallGuard({ apiToken: settings.apiToken ?? '', version: settings.version ?? '', group: settings.group ?? '' });
  const handler = createJsonApiHandler(api, guard, log);
  return {
    api,
    lines,
    async call(method, body, headers = { 'content-type': 'application/json' }, httpMethod = 'POST') {
      const raw = Buffer.isBuffer(body) ? body : typeof body === 'string' ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
      const req: AdminRequest = { method: httpMethod, path: `${JSON_API_PREFIX}${method}`, query: new URLSearchParams(), headers, body: raw };
      return handler(req);
    },
  };
}

function bodyOf(r: AdminResponse): Record<string, unknown> {
  assert.equal(r.contentType, 'application/json');
  return JSON.parse(r.body) as Record<string, unknown>;
}

function assertError(r: AdminResponse, httpStatus: number, code: grpc.status, includes?: string): Record<string, unknown> {
  assert.equal(r.status, httpStatus, r.body);
  const b = bodyOf(r);
  assert.deepEqual(Object.keys(b).sort(), ['code', 'message', 'status']);
  assert.equal(b['code'], code);
  assert.equal(b['status'], grpc.status[code]);
  assert.equal(typeof b['message'], 'string');
  if (includes !== undefined) assert.ok((b['message'] as string).includes(includes), `"${String(b['message'])}" should mention ${includes}`);
  return b;
}

/** What the gRPC server hands the handler for the same message (proto-loader decode). */
function grpcShape(method: GatewayMethod, typeName: string, obj: Record<string, unknown>): unknown {
  const root = protobuf.loadSync(protoPath());
  const t = root.lookupType(typeName);
  const bytes = Buffer.from(t.encode(t.fromObject(obj)).finish());
  const def = loadProto().def[`im.gateway.v1.IMAGatewayService`] as Record<string, { requestDeserialize(b: Buffer): unknown }>;
  return def[method]!.requestDeserialize(bytes);
}

const CAMEL = {
  userId: 'u1',
  userIds: ['u1', 'u2'],
  message: {
    messageId: 'm-1',
    type: 'chat',
    payload: Buffer.from('{"text":"hi"}').toString('base64'),
    timestamp: '1700000000000',
    replyTo: 'm-0',
    metadata: { trace_id: 't-1', fooBar: 'x', 'Mixed-Key': 'y' },
  },
  deviceIds: ['d1'],
  platforms: ['ios', 'web'],
  excludeDeviceIds: ['d2', 'd3'],
};

const SNAKE = {
  user_id: 'u1',
  user_ids: ['u1', 'u2'],
  message: {
    message_id: 'm-1',
    type: 'chat',
    payload: Buffer.from('{"text":"hi"}').toString('base64'),
    timestamp: 1700000000000,
    reply_to: 'm-0',
    metadata: { trace_id: 't-1', fooBar: 'x', 'Mixed-Key': 'y' },
  },
  device_ids: ['d1'],
  platforms: ['ios', 'web'],
  exclude_device_ids: ['d2', 'd3'],
};

describe('JSON API request conversion', () => {
  test('lowerCamel and snake_case bodies give identical requests, in the proto-loader shape', async () => {
    const s = setup();
    assert.equal((await s.call('PushToUsers', CAMEL)).status, 200);
    assert.equal((await s.call('PushToUsers', SNAKE)).status, 200);
    const [a, b] = s.api.calls;
    assert.deepEqual(a!.req, b!.req);
    const req = a!.req as Record<string, unknown> & { message: Record<string, unknown> };
    assert.equal(req['userId'], 'u1');
    assert.deepEqual(req['excludeDeviceIds'], ['d2', 'd3']);
    assert.equal(req.message['messageId'], 'm-1');
    assert.equal(req.message['replyTo'], 'm-0');
    assert.equal(req.message['timestamp'], 1700000000000);
    assert.ok(Buffer.isBuffer(req.message['payload']));
    assert.equal((req.message['payload'] as Buffer).toString(), '{"text":"hi"}');
    // map keys verbatim, whatever their case
    assert.deepEqual(req.message['metadata'], { trace_id: 't-1', fooBar: 'x', 'Mixed-Key': 'y' });
    // exactly what gRPC would have delivered
    assert.deepEqual(a!.req, grpcShape('PushToUsers', 'im.gateway.v1.PushRequest', { ...CAMEL, message: { ...CAMEL.message, payload: Buffer.from('{"text":"hi"}') } }));
  });

  test('mixed naming in one body and nested repeated messages are normalised', async () => {
    const s = setup();
    const r = await s.call('Broadcast', { message: { message_id: 'b', messageId: undefined, type: 't' }, platforms: ['web'] });
    assert.equal(r.status, 200);
    const req = s.api.calls[0]!.req as { message: { messageId: string; payload: Buffer; timestamp: number; metadata: object }; platforms: string[] };
    assert.equal(req.message.messageId, 'b');
    assert.equal(req.message.timestamp, 0);
    assert.ok(Buffer.isBuffer(req.message.payload));
    assert.equal(req.message.payload.length, 0);
    assert.deepEqual(req.message.metadata, {});
  });

  test('an absent or null message is null; an empty body is {} with every default', async () => {
    const s = setup();
    assert.equal((await s.call('PushToUser', { userId: 'u1' })).status, 200);
    assert.equal((await s.call('PushToUser', { userId: 'u1', message: null })).status, 200);
    assert.equal((await s.call('PushToUser', '')).status, 200);
    assert.equal((await s.call('PushToUser', Buffer.alloc(0), {})).status, 200);
    const [a, b, c, d] = s.api.calls.map((x) => x.req);
    assert.equal((a as { message: unknown }).message, null);
    assert.deepEqual(a, b);
    const empty = { userId: '', userIds: [], message: null, deviceIds: [], platforms: [], excludeDeviceIds: [] };
    assert.deepEqual(c, empty);
    assert.deepEqual(d, empty);
    assert.deepEqual(c, grpcShape('PushToUser', 'im.gateway.v1.PushRequest', {}));
  });

  test('an unknown field is 400 INVALID_ARGUMENT naming it, also inside nested messages', async () => {
    const s = setup();
    assertError(await s.call('PushToUser', { userId: 'u', bogusField: 1 }), 400, grpc.status.INVALID_ARGUMENT, 'bogusField');
    assertError(await s.call('PushToUser', { message: { message_id: 'm', extra_thing: 'x' } }), 400, grpc.status.INVALID_ARGUMENT, 'message.extra_thing');
    assertError(await s.call('KickUser', { user: 'u' }), 400, grpc.status.INVALID_ARGUMENT, '"user"');
    assert.equal(s.api.calls.length, 0);
  });

  test('bodies that are not JSON objects, or wrongly typed values, are 400', async () => {
    const s = setup();
    assertError(await s.call('PushToUser', '{"userId": '), 400, grpc.status.INVALID_ARGUMENT, 'JSON');
    assertError(await s.call('PushToUser', '[1,2]'), 400, grpc.status.INVALID_ARGUMENT, 'object');
    assertError(await s.call('PushToUser', 'null'), 400, grpc.status.INVALID_ARGUMENT, 'object');
    assertError(await s.call('PushToUser', '42'), 400, grpc.status.INVALID_ARGUMENT);
    assertError(await s.call('PushToUser', Buffer.from([0x7b, 0xff, 0x7d])), 400, grpc.status.INVALID_ARGUMENT, 'UTF-8');
    assertError(await s.call('PushToUsers', { userIds: 'u1' }), 400, grpc.status.INVALID_ARGUMENT, 'userIds');
    assertError(await s.call('PushToUsers', { user_ids: ['u1', 7] }), 400, grpc.status.INVALID_ARGUMENT, 'user_ids[1]');
    assertError(await s.call('PushToUser', { userId: 5 }), 400, grpc.status.INVALID_ARGUMENT, 'userId');
    assertError(await s.call('PushToUser', { message: 'hi' }), 400, grpc.status.INVALID_ARGUMENT, 'message');
    assertError(await s.call('PushToUser', { message: { payload: 'not base64!' } }), 400, grpc.status.INVALID_ARGUMENT, 'message.payload');
    assertError(await s.call('PushToUser', { message: { timestamp: '12x' } }), 400, grpc.status.INVALID_ARGUMENT, 'message.timestamp');
    assertError(await s.call('PushToUser', { message: { timestamp: '9223372036854775808' } }), 400, grpc.status.INVALID_ARGUMENT, 'range');
    assertError(await s.call('PushToUser', { message: { metadata: { a: 1 } } }), 400, grpc.status.INVALID_ARGUMENT, 'metadata');
    assertError(await s.call('PushToUser', { userId: 'a', user_id: 'b' }), 400, grpc.status.INVALID_ARGUMENT, 'user_id');
    assert.equal(s.api.calls.length, 0);
  });

  test('bytes accept URL-safe and unpadded base64; int64 accepts strings and numbers', async () => {
    const s = setup();
    const data = Buffer.from([0xfb, 0xff, 0xfe, 0x01]);
    await s.call('PushToUser', { message: { payload: data.toString('base64url'), timestamp: '42' } });
    await s.call('PushToUser', { message: { payload: data.toString('base64'), timestamp: 42 } });
    const [a, b] = s.api.calls.map((c) => (c.req as { message: { payload: Buffer; timestamp: number } }).message);
    assert.deepEqual(a!.payload, data);
    assert.deepEqual(b!.payload, data);
    assert.equal(a!.timestamp, 42);
    assert.equal(b!.timestamp, 42);
  });
});

describe('JSON API transport rules', () => {
  test('content-type must be application/json (charset utf-8 optional) or absent, else 415', async () => {
    const s = setup();
    assertError(await s.call('KickUser', { userId: 'u' }, { 'content-type': 'text/plain' }), 415, grpc.status.INVALID_ARGUMENT, 'content-type');
    assertError(await s.call('KickUser', { userId: 'u' }, { 'content-type': 'application/grpc' }), 415, grpc.status.INVALID_ARGUMENT);
    assertError(await s.call('KickUser', { userId: 'u' }, { 'content-type': 'application/json; charset=latin1' }), 415, grpc.status.INVALID_ARGUMENT);
    assert.equal((await s.call('KickUser', { userId: 'u' }, { 'content-type': 'application/json; charset=UTF-8' })).status, 200);
    assert.equal((await s.call('KickUser', { userId: 'u' }, { 'content-type': 'Application/JSON' })).status, 200);
    assert.equal((await s.call('KickUser', { userId: 'u' }, {})).status, 200);
    assert.equal(s.api.calls.length, 3);
  });

  test('an unknown method is 404 with code 12 UNIMPLEMENTED (the path names no method); not POST is 405', async () => {
    const s = setup();
    assertError(await s.call('NoSuchMethod', {}), 404, grpc.status.UNIMPLEMENTED, 'NoSuchMethod');
    assertError(await s.call('pushToUser', {}), 404, grpc.status.UNIMPLEMENTED);
    assertError(await s.call('PushToUser/extra', {}), 404, grpc.status.UNIMPLEMENTED);
    assertError(await s.call('', {}), 404, grpc.status.UNIMPLEMENTED);
    assertError(await s.call('constructor', {}), 404, grpc.status.UNIMPLEMENTED);
    const r = await s.call('PushToUser', {}, {}, 'GET');
    assertError(r, 405, grpc.status.UNIMPLEMENTED);
    assert.equal(r.headers?.['allow'], 'POST');
    assert.equal(s.api.calls.length, 0);
  });

  test('API token: missing or wrong -> 401 UNAUTHENTICATED, right Bearer -> 200', async () => {
    const s = setup({ apiToken: 's3cret-token' });
    assertError(await s.call('KickUser', { userId: 'u' }), 401, grpc.status.UNAUTHENTICATED);
    const wrong = assertError(await s.call('KickUser', { userId: 'u' }, { 'content-type': 'application/json', authorization: 'Bearer nope' }), 401, grpc.status.UNAUTHENTICATED);
    assert.ok(!(wrong['message'] as string).includes('s3cret'));
    assertError(await s.call('KickUser', { userId: 'u' }, { authorization: 's3cret-token' }), 401, grpc.status.UNAUTHENTICATED);
    // the guard runs before the body is looked at
    assertError(await s.call('KickUser', '{not json', { 'content-type': 'text/plain' }), 401, grpc.status.UNAUTHENTICATED);
    assert.equal(s.api.calls.length, 0);
    const r = await s.call('KickUser', { user_id: 'u' }, { 'content-type': 'application/json', authorization: 'Bearer s3cret-token' });
    assert.equal(r.status, 200);
    assert.equal(s.api.calls.length, 1);
    assert.equal(s.api.calls[0]!.ctx.headers['authorization'], 'Bearer s3cret-token');
  });

  test('tri-service-version / group mismatch -> 501 UNIMPLEMENTED; matching or absent is served', async () => {
    const s = setup({ version: '1.0.0', group: 'im' });
    assertError(await s.call('KickUser', {}, { 'tri-service-version': '2.0.0' }), 501, grpc.status.UNIMPLEMENTED, '2.0.0');
    assertError(await s.call('KickUser', {}, { 'tri-service-group': 'other' }), 501, grpc.status.UNIMPLEMENTED, 'other');
    assert.equal(s.api.calls.length, 0);
    assert.equal((await s.call('KickUser', {}, { 'tri-service-version': '1.0.0', 'tri-service-group': 'im' })).status, 200);
    assert.equal((await s.call('KickUser', {}, {})).status, 200);
    assert.equal(s.api.calls.length, 2);
  });

  test('CallContext headers: lowercased names, first value of each', async () => {
    assert.deepEqual(callHeaders({ 'x-a': ['1', '2'], 'x-b': 'b', 'X-Upper': 'u', 'x-none': undefined }), { 'x-a': '1', 'x-b': 'b', 'x-upper': 'u' });
    const s = setup();
    await s.call('KickUser', {}, { 'x-trace': ['t1', 't2'], 'tri-consumer-appname': 'biz' });
    assert.equal(s.api.calls[0]!.ctx.headers['x-trace'], 't1');
    assert.equal(s.api.calls[0]!.ctx.headers['tri-consumer-appname'], 'biz');
  });
});

describe('JSON API responses', () => {
  test('an ApiError answers its HTTP status with {code, status, message}', async () => {
    const s = setup();
    s.api.answers.PushToUser = () => Promise.resolve(err({ code: grpc.status.INVALID_ARGUMENT, message: 'user_id: required' }));
    const r = await s.call('PushToUser', {});
    assert.deepEqual(bodyOf(r), { code: 3, status: 'INVALID_ARGUMENT', message: 'user_id: required' });
    assert.equal(r.status, 400);
    s.api.answers.Broadcast = () => Promise.resolve(err({ code: grpc.status.UNAVAILABLE, message: 'draining' }));
    assertError(await s.call('Broadcast', {}), 503, grpc.status.UNAVAILABLE, 'draining');
  });

  test('a handler that throws (or rejects) is 500 INTERNAL without its text, and is logged', async () => {
    const s = setup();
    s.api.answers.KickUser = () => Promise.reject(new Error('redis password=hunter2 exploded'));
    const r = await s.call('KickUser', { userId: 'u' });
    const b = assertError(r, 500, grpc.status.INTERNAL);
    assert.equal(b['message'], 'internal error');
    assert.ok(!r.body.includes('hunter2'));
    assert.ok(s.lines.some((l) => l.includes('push API handler failed') && l.includes('KickUser')));
    s.api.answers.KickUser = () => {
      throw new Error('sync secret');
    };
    const r2 = await s.call('KickUser', { userId: 'u' });
    assertError(r2, 500, grpc.status.INTERNAL);
    assert.ok(!r2.body.includes('secret'));
    // a success the contract cannot represent is an internal error too (as gRPC's serializer fails)
    s.api.answers.GetConnectionStatus = () => Promise.resolve(ok({ statuses: 'none' }));
    assertError(await s.call('GetConnectionStatus', {}), 500, grpc.status.INTERNAL);
    s.api.answers.GetConnectionStatus = () => Promise.resolve(ok(undefined));
    assertError(await s.call('GetConnectionStatus', {}), 500, grpc.status.INTERNAL);
    assert.ok(s.lines.some((l) => l.includes('push API response not encodable')));
  });

  test('success is proto3 JSON: lowerCamel, int64 as strings, enums as names, defaults present', async () => {
    const s = setup();
    s.api.answers.PushToUsers = () => Promise.resolve(ok({ success: true, delivered: 3, offlineUserIds: ['u9', 'u8'] }));
    assert.deepEqual(bodyOf(await s.call('PushToUsers', { userIds: ['u1'] })), { success: true, delivered: 3, offlineUserIds: ['u9', 'u8'] });
    s.api.answers.PushToUser = () => Promise.resolve(ok({}));
    assert.deepEqual(bodyOf(await s.call('PushToUser', {})), { success: false, delivered: 0, offlineUserIds: [] });

    s.api.answers.Broadcast = () => Promise.resolve(ok({ success: true, delivered: 12345678901, instances: 2 }));
    const r = await s.call('Broadcast', {});
    assert.equal(r.status, 200);
    assert.deepEqual(bodyOf(r), { success: true, delivered: '12345678901', instances: 2 });
    s.api.answers.Broadcast = () => Promise.resolve(ok({ success: true }));
    assert.deepEqual(bodyOf(await s.call('Broadcast', {})), { success: true, delivered: '0', instances: 0 });

    s.api.answers.GetConnectionStatus = () =>
      Promise.resolve(
        ok({
          statuses: [
            { userId: 'u1', deviceId: 'd1', platform: 'ios', online: true, instanceId: 'gw-1', connectedAt: 1700000000000, clientIp: '10.0.0.1', event: 'CONNECTION_EVENT_CONNECTED', reason: '' },
            { userId: 'u2', event: 3 },
          ],
        }),
      );
    const st = bodyOf(await s.call('GetConnectionStatus', { user_ids: ['u1', 'u2'] }));
    assert.deepEqual(st, {
      statuses: [
        { userId: 'u1', deviceId: 'd1', platform: 'ios', online: true, instanceId: 'gw-1', connectedAt: '1700000000000', clientIp: '10.0.0.1', event: 'CONNECTION_EVENT_CONNECTED', reason: '' },
        { userId: 'u2', deviceId: '', platform: '', online: false, instanceId: '', connectedAt: '0', clientIp: '', event: 'CONNECTION_EVENT_KICKED', reason: '' },
      ],
    });
    assert.deepEqual(s.api.calls.at(-1)!.req, { userIds: ['u1', 'u2'] });
  });
});

describe('JSON API deadlines', () => {
  test('parseGrpcTimeout reads every unit and rejects malformed values', () => {
    assert.equal(parseGrpcTimeout('500m'), 500);
    assert.equal(parseGrpcTimeout('3S'), 3000);
    assert.equal(parseGrpcTimeout('2M'), 120_000);
    assert.equal(parseGrpcTimeout('1H'), 3_600_000);
    assert.equal(parseGrpcTimeout('2500u'), 3);
    assert.equal(parseGrpcTimeout('1000000n'), 1);
    assert.equal(parseGrpcTimeout('1n'), 1);
    assert.equal(parseGrpcTimeout('0m'), 0);
    assert.equal(parseGrpcTimeout('99999999S'), 99_999_999_000);
    for (const bad of ['', '5', 'm', '5s', '5 m', '-5m', '1.5S', '123456789m', '5mm']) assert.equal(parseGrpcTimeout(bad), null, bad);
  });

  test('the deadline comes from grpc-timeout, else 30 s from now; a malformed one is 400', async () => {
    const s = setup();
    const t0 = Date.now();
    await s.call('KickUser', {}, { 'grpc-timeout': '500m' });
    await s.call('KickUser', {}, { 'grpc-timeout': '3S' });
    await s.call('KickUser', {}, {});
    const t1 = Date.now();
    const [a, b, c] = s.api.calls.map((x) => x.ctx.deadline);
    assert.ok(a! >= t0 + 500 && a! <= t1 + 500, String(a));
    assert.ok(b! >= t0 + 3000 && b! <= t1 + 3000, String(b));
    assert.ok(c! >= t0 + DEFAULT_JSON_DEADLINE_MS && c! <= t1 + DEFAULT_JSON_DEADLINE_MS, String(c));
    assert.equal(DEFAULT_JSON_DEADLINE_MS, 30_000);
    assertError(await s.call('KickUser', {}, { 'grpc-timeout': 'soon' }), 400, grpc.status.INVALID_ARGUMENT, 'grpc-timeout');
    assert.equal(s.api.calls.length, 3);
  });

  test('a handler still running at the deadline is answered 504 DEADLINE_EXCEEDED', async () => {
    const s = setup();
    let finish: (() => void) | undefined;
    s.api.answers.Broadcast = () =>
      new Promise((resolve) => {
        finish = () => resolve(ok({ success: true }));
      });
    const started = Date.now();
    assertError(await s.call('Broadcast', {}, { 'grpc-timeout': '30m' }), 504, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 5000);
    finish?.();
    // an already expired deadline never reaches the handler
    const before = s.api.calls.length;
    assertError(await s.call('Broadcast', {}, { 'grpc-timeout': '0m' }), 504, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(s.api.calls.length, before);
  });
});

/**
 * Property-based fuzzing of the push API's HTTP/JSON form (`createJsonApiHandler`, proto3 JSON
 * bodies of PushRequest / BroadcastRequest / KickUserRequest / ConnectionStatusRequest), driven
 * as json-api.test.ts drives it: a recording GatewayApi stub and a real CallGuard. Hostile bodies
 * (random bytes, invalid UTF-8, any JSON, deep nesting, ~1 MB values, prototype keys, edge
 * numbers, garbage base64, wrong types in every field, duplicated and doubly named keys) and
 * hostile headers must always give a well-formed JSON answer with a known HTTP status, never a
 * rejection, and never reach a handler with a request of the wrong shape. No fixed seed.
 */
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import type { BroadcastRequestOutput } from '../../api/gen/im/gateway/v1/BroadcastRequest';
import type { BroadcastResponse } from '../../api/gen/im/gateway/v1/BroadcastResponse';
import type { ConnectionStatusRequestOutput } from '../../api/gen/im/gateway/v1/ConnectionStatusRequest';
import type { ConnectionStatusResponse } from '../../api/gen/im/gateway/v1/ConnectionStatusResponse';
import type { KickUserRequestOutput } from '../../api/gen/im/gateway/v1/KickUserRequest';
import type { KickUserResponse } from '../../api/gen/im/gateway/v1/KickUserResponse';
import type { PushRequestOutput } from '../../api/gen/im/gateway/v1/PushRequest';
import type { RoomMembershipRequestOutput } from '../../api/gen/im/gateway/v1/RoomMembershipRequest';
import type { RoomMembershipResponse } from '../../api/gen/im/gateway/v1/RoomMembershipResponse';
import type { RoomPushRequestOutput } from '../../api/gen/im/gateway/v1/RoomPushRequest';
import type { RoomPushResponse } from '../../api/gen/im/gateway/v1/RoomPushResponse';
import type { RoomStatusRequestOutput } from '../../api/gen/im/gateway/v1/RoomStatusRequest';
import type { RoomStatusResponse } from '../../api/gen/im/gateway/v1/RoomStatusResponse';
import type { PushResponse } from '../../api/gen/im/gateway/v1/PushResponse';
import type { Result } from '../../pkg/result';
import { ok } from '../../pkg/result';
import type { AdminHandler, AdminRequest, AdminResponse } from '../transport/http/server';
import { createLogger } from '../observability/logger';
import type { ApiError, GatewayApi, GatewayMethod } from './api';
import { CallGuard, GATEWAY_METHODS } from './api';
import { createJsonApiHandler, JSON_API_PREFIX } from './json-api';
import { assertNoPrototypePollution } from '../../test/support/pollution';

// The failing assertion goes into fast-check's report (node:test does not print an error's cause).
fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

// ----- harness ---------------------------------------------------------------------------------

interface Call {
  readonly method: GatewayMethod;
  readonly req: unknown;
}

/** Records every request that reaches a handler and answers a plain success. */
class RecordingApi implements GatewayApi {
  readonly calls: Call[] = [];

  PushToUser(req: PushRequestOutput): Promise<Result<PushResponse, ApiError>> {
    this.calls.push({ method: 'PushToUser', req });
    return Promise.resolve(ok({ success: true, delivered: 1, offlineUserIds: [] }));
  }
  PushToUsers(req: PushRequestOutput): Promise<Result<PushResponse, ApiError>> {
    this.calls.push({ method: 'PushToUsers', req });
    return Promise.resolve(ok({ success: true, delivered: 2, offlineUserIds: ['u3'] }));
  }
  Broadcast(req: BroadcastRequestOutput): Promise<Result<BroadcastResponse, ApiError>> {
    this.calls.push({ method: 'Broadcast', req });
    return Promise.resolve(ok({ success: true, delivered: 5, instances: 2 }));
  }
  KickUser(req: KickUserRequestOutput): Promise<Result<KickUserResponse, ApiError>> {
    this.calls.push({ method: 'KickUser', req });
    return Promise.resolve(ok({ success: true, kicked: 1 }));
  }
  GetConnectionStatus(req: ConnectionStatusRequestOutput): Promise<Result<ConnectionStatusResponse, ApiError>> {
    this.calls.push({ method: 'GetConnectionStatus', req });
    return Promise.resolve(ok({ statuses: [] }));
  }
  JoinRoom(req: RoomMembershipRequestOutput): Promise<Result<RoomMembershipResponse, ApiError>> {
    this.calls.push({ method: 'JoinRoom', req });
    return Promise.resolve(ok({ success: true, connections: 2 }));
  }
  LeaveRoom(req: RoomMembershipRequestOutput): Promise<Result<RoomMembershipResponse, ApiError>> {
    this.calls.push({ method: 'LeaveRoom', req });
    return Promise.resolve(ok({ success: true, connections: 1 }));
  }
  PushToRoom(req: RoomPushRequestOutput): Promise<Result<RoomPushResponse, ApiError>> {
    this.calls.push({ method: 'PushToRoom', req });
    return Promise.resolve(ok({ success: true, delivered: 3, instances: 1 }));
  }
  GetRoomStatus(req: RoomStatusRequestOutput): Promise<Result<RoomStatusResponse, ApiError>> {
    this.calls.push({ method: 'GetRoomStatus', req });
    return Promise.resolve(ok({ rooms: [] }));
  }
}

const API_TOKEN = 'fuzz-token';
const logLines: string[] = [];
const log = createLogger(
  'info',
  'json-api-fuzz',
  new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      logLines.push(chunk.toString());
      cb();
    },
  }),
);
const openApi = new RecordingApi();
const guardedApi = new RecordingApi();
const openHandler = createJsonApiHandler(openApi, new CallGuard({ apiToken: '', version: '', group: '' }), log);
const guardedHandler = createJsonApiHandler(guardedApi, new CallGuard({ apiToken: API_TOKEN, version: '1.0.0', group: 'im' }), log);

function request(path: string, body: Uint8Array, headers: IncomingHttpHeaders = { 'content-type': 'application/json' }, method = 'POST'): AdminRequest {
  return { method, path, query: new URLSearchParams(), headers, body: Buffer.from(body.buffer, body.byteOffset, body.byteLength) };
}

/** HTTP status -> the gRPC code its error body must carry. */
const STATUS_CODES: ReadonlyMap<number, readonly grpc.status[]> = new Map([
  [400, [grpc.status.INVALID_ARGUMENT]],
  [401, [grpc.status.UNAUTHENTICATED]],
  [404, [grpc.status.UNIMPLEMENTED]],
  [405, [grpc.status.UNIMPLEMENTED]],
  [413, [grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED]],
  [415, [grpc.status.INVALID_ARGUMENT]],
  [501, [grpc.status.UNIMPLEMENTED]],
  [504, [grpc.status.DEADLINE_EXCEEDED]],
]);

/** A well-formed answer: a JSON object body; an error is exactly {code, status, message} matching the HTTP status. */
function assertWellFormedAnswer(r: AdminResponse): Record<string, unknown> {
  assert.equal(r.contentType, 'application/json');
  const body: unknown = JSON.parse(r.body);
  assert.ok(typeof body === 'object' && body !== null && !Array.isArray(body), r.body);
  const b = body as Record<string, unknown>;
  if (r.status === 200) return b;
  const codes = STATUS_CODES.get(r.status);
  assert.ok(codes !== undefined, `unexpected HTTP status ${r.status}: ${r.body.slice(0, 300)}`);
  assert.deepEqual(Object.keys(b).sort(), ['code', 'message', 'status']);
  assert.ok(codes.includes(b['code'] as grpc.status), `${r.status} with code ${String(b['code'])}`);
  assert.equal(b['status'], grpc.status[b['code'] as grpc.status]);
  assert.ok(typeof b['message'] === 'string' && b['message'].length > 0);
  return b;
}

// ----- what a handler may receive ---------------------------------------------------------------

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function assertKeys(v: unknown, keys: readonly string[], what: string): asserts v is Record<string, unknown> {
  assert.ok(isPlainRecord(v), `${what}: an object`);
  assert.deepEqual(Object.keys(v).sort(), [...keys].sort(), `${what}: keys`);
}

function assertStrings(v: unknown, what: string): void {
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `${what}: an array of strings`);
}

function assertServerMessage(m: unknown): void {
  if (m === null) return;
  assertKeys(m, ['messageId', 'type', 'payload', 'timestamp', 'replyTo', 'metadata'], 'message');
  for (const k of ['messageId', 'type', 'replyTo']) assert.equal(typeof m[k], 'string', `message.${k}`);
  assert.ok(Buffer.isBuffer(m['payload']), 'message.payload: a Buffer');
  assert.ok(Number.isInteger(m['timestamp']), 'message.timestamp: an integer number');
  const md = m['metadata'];
  assert.ok(isPlainRecord(md), 'message.metadata: an object');
  assert.equal(Object.getPrototypeOf(md), Object.prototype, 'message.metadata: a plain prototype');
  for (const v of Object.values(md)) assert.equal(typeof v, 'string', 'message.metadata: string values');
}

/** The proto-loader shape of each method's request (PushRequestOutput, ...), defaults filled. */
const REQUEST_SHAPES: Readonly<Record<GatewayMethod, (req: unknown) => void>> = {
  PushToUser: assertPushRequest,
  PushToUsers: assertPushRequest,
  Broadcast(req) {
    assertKeys(req, ['message', 'platforms'], 'BroadcastRequest');
    assertServerMessage(req['message']);
    assertStrings(req['platforms'], 'platforms');
  },
  KickUser(req) {
    assertKeys(req, ['userId', 'deviceId', 'reason'], 'KickUserRequest');
    for (const k of ['userId', 'deviceId', 'reason']) assert.equal(typeof req[k], 'string', k);
  },
  GetConnectionStatus(req) {
    assertKeys(req, ['userIds'], 'ConnectionStatusRequest');
    assertStrings(req['userIds'], 'userIds');
  },
  JoinRoom: assertMembershipRequest,
  LeaveRoom: assertMembershipRequest,
  PushToRoom(req) {
    assertKeys(req, ['room', 'message', 'excludeUserIds', 'platforms'], 'RoomPushRequest');
    assert.equal(typeof req['room'], 'string', 'room');
    assertServerMessage(req['message']);
    for (const k of ['excludeUserIds', 'platforms']) assertStrings(req[k], k);
  },
  GetRoomStatus(req) {
    assertKeys(req, ['rooms'], 'RoomStatusRequest');
    assertStrings(req['rooms'], 'rooms');
  },
};

function assertMembershipRequest(req: unknown): void {
  assertKeys(req, ['room', 'userIds'], 'RoomMembershipRequest');
  assert.equal(typeof req['room'], 'string', 'room');
  assertStrings(req['userIds'], 'userIds');
}

function assertPushRequest(req: unknown): void {
  assertKeys(req, ['userId', 'userIds', 'message', 'deviceIds', 'platforms', 'excludeDeviceIds'], 'PushRequest');
  assert.equal(typeof req['userId'], 'string', 'userId');
  for (const k of ['userIds', 'deviceIds', 'platforms', 'excludeDeviceIds']) assertStrings(req[k], k);
  assertServerMessage(req['message']);
}

// ----- generators ---------------------------------------------------------------------------------

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'] as const;

const hostileUnit = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.constantFrom('"', '\\', '{', '[', '\u0000', '\n', '\u2028', '\ufeff', '=', '+', '/', '-', '_', '%') },
);
const hostileString = (maxLength = 20): fc.Arbitrary<string> => fc.string({ unit: hostileUnit, maxLength });
const str = (s: string): string => JSON.stringify(s);

const EDGE_NUMBERS = [
  '-0', '0', '1e308', '-1e308', '5e-324', '9007199254740991', '9007199254740992', '9007199254740993', '-9007199254740993', '9223372036854775807',
  '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '18446744073709551616', '1e400', '-1e400', '1.5', '2147483648', '-2147483649', '1E+999999999',
];
/** int64 as proto3 JSON strings, valid and not. */
const INT64_STRINGS = ['"0"', '"-0"', '" 42 "', '"9223372036854775807"', '"9223372036854775808"', '"-9223372036854775808"', '"1e3"', '"0x10"', '"12x"', '""', '"NaN"', '"Infinity"', '"+1"', '"٣"'];
/** Base64 that is valid in some alphabet, and garbage. */
const BASE64ISH = ['""', '"===="', '"A"', '"AB="', '"AB=C"', '"A-_B"', '"AB+_"', '"YWJj"', '"YWJj\\n"', '"YQ"', '"YQ=="', '"YQ==="', '"%%%%"', '"a b c"', '"\\u0000AAA"', '"\\ud800AA"', '"////"', '"____"'];

const pollutionText = fc.constantFrom(...PROTO_KEYS).map((k) => `{${str(k)}:{"polluted":true,"constructor":{"prototype":{"polluted":true}}}}`);

const leafText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...EDGE_NUMBERS, 'true', 'false', 'null', '{}', '[]', '""'),
  fc.double().map((n) => JSON.stringify(n)),
  hostileString().map(str),
  fc.integer({ min: 20, max: 2000 }).map((n) => '8'.repeat(n)),
  pollutionText,
);
const keyText = fc.oneof(fc.constantFrom(...PROTO_KEYS, 'userId', 'user_ids', 'message', 'payload', 'metadata'), hostileString(10)).map(str);
const { json: jsonText } = fc.letrec<{ json: string; arr: string; obj: string }>((tie) => ({
  json: fc.oneof({ depthSize: 'small', maxDepth: 5 }, leafText, tie('arr'), tie('obj')),
  arr: fc.array(tie('json'), { maxLength: 4 }).map((xs) => `[${xs.join(',')}]`),
  obj: fc.array(fc.tuple(keyText, tie('json')), { maxLength: 4 }).map((kv) => `{${kv.map(([k, v]) => `${k}:${v}`).join(',')}}`),
}));

/** Arrays or objects hundreds to thousands of levels deep, as a string. */
const deepText = fc.record({ depth: fc.integer({ min: 50, max: 3000 }), arrays: fc.boolean(), key: fc.constantFrom(...PROTO_KEYS, 'message', 'a') }).map(({ depth, arrays, key }) => {
  const open = arrays ? '[' : `{${str(key)}:`;
  return open.repeat(depth) + '1' + (arrays ? ']' : '}').repeat(depth);
});

const wrongType = fc.oneof(leafText, jsonText, deepText);
const stringValue = fc.oneof({ weight: 4, arbitrary: hostileString().map(str) }, { weight: 1, arbitrary: wrongType });
const stringList = fc.oneof(
  { weight: 4, arbitrary: fc.array(hostileString().map(str), { maxLength: 6 }).map((xs) => `[${xs.join(',')}]`) },
  { weight: 2, arbitrary: fc.array(fc.oneof({ weight: 4, arbitrary: hostileString().map(str) }, { weight: 1, arbitrary: wrongType }), { minLength: 1, maxLength: 5 }).map((xs) => `[${xs.join(',')}]`) },
  { weight: 1, arbitrary: wrongType },
);
const bytesValue = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 48 }).chain((b) => fc.constantFrom(Buffer.from(b).toString('base64'), Buffer.from(b).toString('base64url'), Buffer.from(b).toString('base64').replace(/=+$/, ''))).map(str) },
  { weight: 2, arbitrary: fc.constantFrom(...BASE64ISH) },
  { weight: 1, arbitrary: hostileString().map(str) },
  { weight: 1, arbitrary: wrongType },
);
const int64Value = fc.oneof(
  fc.constantFrom(...EDGE_NUMBERS, ...INT64_STRINGS),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map((n) => `"${n}"`),
  fc.integer({ min: 20, max: 3000 }).map((n) => `"${'9'.repeat(n)}"`),
  wrongType,
);
const objectText = (entries: ReadonlyArray<readonly [string, string]>): string => `{${entries.map(([k, v]) => `${k}:${v}`).join(',')}}`;
const metadataValue = fc.oneof(
  { weight: 3, arbitrary: fc.array(fc.tuple(keyText, hostileString().map(str)), { maxLength: 6 }).map(objectText) },
  { weight: 1, arbitrary: fc.array(fc.tuple(keyText, fc.oneof(leafText, fc.constant('null'))), { minLength: 1, maxLength: 4 }).map(objectText) },
  { weight: 1, arbitrary: wrongType },
);

type Entry = readonly [string, string];
/** A JSON object of `fields` (each name -> its value generator), any subset, duplicates, unknown and prototype keys, any order. */
function objectOf(fields: ReadonlyArray<readonly [readonly string[], fc.Arbitrary<string>]>): fc.Arbitrary<string> {
  const entries = fields.map(([names, value]) => fc.option(fc.tuple(fc.constantFrom(...names).map(str), value), { freq: 3 }));
  const extra = fc.array(fc.oneof(fc.tuple(keyText, wrongType), fc.tuple(fc.constantFrom(...fields.flatMap(([names]) => names)).map(str), wrongType)), { maxLength: 2 });
  return fc.tuple(fc.tuple(...entries), fc.option(extra, { freq: 2 })).chain(([es, more]) => {
    const all: Entry[] = [...es.filter((e): e is [string, string] => e !== null), ...(more ?? [])];
    return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }).map(objectText);
  });
}

const serverMessage = fc.oneof(
  {
    weight: 4,
    arbitrary: objectOf([
      [['messageId', 'message_id'], stringValue],
      [['type'], stringValue],
      [['payload'], bytesValue],
      [['timestamp'], int64Value],
      [['replyTo', 'reply_to'], stringValue],
      [['metadata'], metadataValue],
    ]),
  },
  { weight: 1, arbitrary: wrongType },
);

const BODIES: Readonly<Record<GatewayMethod, fc.Arbitrary<string>>> = {
  PushToUser: pushBody(),
  PushToUsers: pushBody(),
  Broadcast: objectOf([
    [['message'], serverMessage],
    [['platforms'], stringList],
  ]),
  KickUser: objectOf([
    [['userId', 'user_id'], stringValue],
    [['deviceId', 'device_id'], stringValue],
    [['reason'], stringValue],
  ]),
  GetConnectionStatus: objectOf([[['userIds', 'user_ids'], stringList]]),
  JoinRoom: membershipBody(),
  LeaveRoom: membershipBody(),
  PushToRoom: objectOf([
    [['room'], stringValue],
    [['message'], serverMessage],
    [['excludeUserIds', 'exclude_user_ids'], stringList],
    [['platforms'], stringList],
  ]),
  GetRoomStatus: objectOf([[['rooms'], stringList]]),
};

function membershipBody(): fc.Arbitrary<string> {
  return objectOf([
    [['room'], stringValue],
    [['userIds', 'user_ids'], stringList],
  ]);
}

function pushBody(): fc.Arbitrary<string> {
  return objectOf([
    [['userId', 'user_id'], stringValue],
    [['userIds', 'user_ids'], stringList],
    [['message'], serverMessage],
    [['deviceIds', 'device_ids'], stringList],
    [['platforms'], stringList],
    [['excludeDeviceIds', 'exclude_device_ids'], stringList],
  ]);
}

const INVALID_UTF8: readonly (readonly number[])[] = [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf5, 0x80, 0x80, 0x80], [0x80], [0xe2, 0x82], [0xff], [0xfe, 0xff]];

/** Any body for `method`: its hostile JSON, any JSON, broken text, random and invalid UTF-8 bytes. */
function bodyFor(method: GatewayMethod): fc.Arbitrary<Uint8Array> {
  const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
  return fc.oneof(
    { weight: 8, arbitrary: BODIES[method].map(utf8) },
    { weight: 1, arbitrary: jsonText.map(utf8) },
    { weight: 1, arbitrary: deepText.map(utf8) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', '\n', '\ufeff{}', '{}{}', '{"userId":', 'null', '[]', '"{}"', '{"a":1,}').map(utf8) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    {
      weight: 1,
      arbitrary: fc.tuple(BODIES[method], fc.nat(), fc.constantFrom(...INVALID_UTF8)).map(([b, at, seq]) => {
        const bytes = Buffer.from(b, 'utf8');
        const i = at % (bytes.length + 1);
        return new Uint8Array(Buffer.concat([bytes.subarray(0, i), Buffer.from(seq), bytes.subarray(i)]));
      }),
    },
  );
}

const methodArb = fc.constantFrom(...GATEWAY_METHODS);
const methodAndBody = methodArb.chain((method) => bodyFor(method).map((body) => ({ method, body })));

/** One request through `handler`: it resolves, answers well-formed, and what reached the API has the right shape. */
async function exercise(handler: AdminHandler, api: RecordingApi, req: AdminRequest): Promise<{ r: AdminResponse; call: Call | undefined }> {
  const before = api.calls.length;
  const linesBefore = logLines.length;
  const r = await handler(req);
  assertNoPrototypePollution();
  const b = assertWellFormedAnswer(r);
  const calls = api.calls.splice(before);
  if (r.status === 200) {
    assert.equal(calls.length, 1, 'a 200 comes from exactly one handler call');
    const call = calls[0]!;
    assert.equal(`${JSON_API_PREFIX}${call.method}`, req.path);
    REQUEST_SHAPES[call.method](call.req);
    assert.ok(isPlainRecord(b));
  } else {
    assert.equal(calls.length, 0, `an error answer (${r.status} ${r.body.slice(0, 200)}) never reaches the handler`);
  }
  assert.deepEqual(logLines.slice(linesBefore), [], 'no internal error was logged');
  return { r, call: calls[0] };
}

// ----- properties -----------------------------------------------------------------------------------

describe('JSON API fuzz: bodies', () => {
  test('any body of any method answers a well-formed status, never rejects, never passes a mistyped request', async () => {
    await fc.assert(
      fc.asyncProperty(methodAndBody, async ({ method, body }) => {
        await exercise(openHandler, openApi, request(`${JSON_API_PREFIX}${method}`, body));
      }),
      { numRuns: 700 },
    );
  });

  test('~1 MB bodies (huge strings, digit strings, arrays, keys) answer without a throw', async () => {
    const big = fc
      .record({ size: fc.integer({ min: 100_000, max: 1_000_000 }), unit: fc.string({ unit: hostileUnit, minLength: 1, maxLength: 4 }), where: fc.constantFrom('userId', 'userIds', 'timestamp', 'payload', 'metadata', 'key', 'nested') })
      .map(({ size, unit, where }) => {
        const s = unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
        switch (where) {
          case 'userId':
            return { method: 'KickUser' as const, body: `{"userId":${str(s)},"reason":${str(s)}}` };
          case 'userIds':
            return { method: 'PushToUsers' as const, body: `{"user_ids":[${'"u",'.repeat(Math.floor(size / 4))}"u"]}` };
          case 'timestamp':
            return { method: 'PushToUser' as const, body: `{"message":{"timestamp":"${'7'.repeat(size)}"}}` };
          case 'payload':
            return { method: 'Broadcast' as const, body: `{"message":{"payload":"${'QUJD'.repeat(Math.floor(size / 4))}${unit.length % 2 === 0 ? '' : '%'}"}}` };
          case 'metadata':
            return { method: 'Broadcast' as const, body: `{"message":{"metadata":{${Array.from({ length: Math.floor(size / 16) }, (_, i) => `"k${i}":"v"`).join(',')}}}}` };
          case 'key':
            return { method: 'GetConnectionStatus' as const, body: `{${str(s)}:1}` };
          default:
            return { method: 'PushToUser' as const, body: `{"message":${'['.repeat(size / 10)}${']'.repeat(size / 10)}}` };
        }
      });
    await fc.assert(
      fc.asyncProperty(big, async ({ method, body }) => {
        await exercise(openHandler, openApi, request(`${JSON_API_PREFIX}${method}`, new Uint8Array(Buffer.from(body, 'utf8'))));
      }),
      { numRuns: 10 },
    );
  });

  test('a prototype key anywhere never pollutes, and __proto__ in metadata never changes its prototype', async () => {
    const protoBody = fc.tuple(fc.constantFrom(...PROTO_KEYS), fc.constantFrom('"x"', '{"polluted":true}', '["polluted"]', 'null', '1')).chain(([k, v]) =>
      fc.constantFrom(
        { method: 'Broadcast' as const, body: `{"message":{"metadata":{${str(k)}:${v}}}}` },
        { method: 'Broadcast' as const, body: `{"message":{"metadata":{${str(k)}:"s","ok":"v"}}}` },
        { method: 'PushToUser' as const, body: `{${str(k)}:${v}}` },
        { method: 'PushToUser' as const, body: `{"message":{${str(k)}:${v}}}` },
        { method: 'KickUser' as const, body: `{"userId":"u",${str(k)}:${v}}` },
      ),
    );
    await fc.assert(
      fc.asyncProperty(protoBody, async ({ method, body }) => {
        const { r } = await exercise(openHandler, openApi, request(`${JSON_API_PREFIX}${method}`, new Uint8Array(Buffer.from(body, 'utf8'))));
        // only metadata (a string map) may hold such a key; anywhere else it is an unknown field
        if (!body.includes('"metadata"')) assert.equal(r.status, 400);
      }),
      { numRuns: 60 },
    );
  });
});

describe('JSON API fuzz: transport', () => {
  const contentType = fc.option(fc.oneof(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON;charset="UTF8"', 'text/plain', 'application/json; charset=latin1', '', ';;;', 'application/json;charset', 'application/json; charset=utf-16', 'application/grpc'), hostileString()), { freq: 4 });
  const timeout = fc.option(fc.oneof(fc.constantFrom('5S', '0m', '1n', 'soon', '99999999H', '123456789m', ' 5m ', '5', '-1S', '1.5S', '00000001m'), hostileString(6)), { freq: 2 });
  const auth = fc.option(fc.oneof(fc.constantFrom(`Bearer ${API_TOKEN}`, `bearer   ${API_TOKEN}  `, API_TOKEN, 'Bearer ', 'Bearer wrong', `Bearer ${API_TOKEN}x`, 'Basic Zm9v'), hostileString()), { freq: 3 });
  const version = fc.option(fc.constantFrom('1.0.0', '2.0.0', '', '1.0.0 '), { freq: 2 });
  const path = fc.oneof(
    { weight: 6, arbitrary: methodArb.map((m) => `${JSON_API_PREFIX}${m}`) },
    { weight: 1, arbitrary: fc.constantFrom(...PROTO_KEYS, 'pushToUser', 'PushToUser/extra', '', 'PushToUser ', 'PushToUser%00').map((m) => `${JSON_API_PREFIX}${m}`) },
    { weight: 1, arbitrary: hostileString().map((s) => `/${s}`) },
  );
  const httpMethod = fc.oneof({ weight: 8, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'post', 'OPTIONS', '') });

  /** `application/json`, any case, with no charset or a UTF-8 one (quoted or not); or no content-type. */
  function jsonContentType(ct: string | null): boolean {
    if (ct === null || ct.trim() === '') return true;
    const [type = '', ...params] = ct.split(';');
    if (type.trim().toLowerCase() !== 'application/json') return false;
    return params.every((p) => {
      const m = /^\s*charset\s*=(.*)$/i.exec(p);
      return m === null || ['utf-8', 'utf8', '"utf-8"', '"utf8"'].includes((m[1] ?? '').trim().toLowerCase());
    });
  }

  test('any path, method and headers answer a well-formed status consistent with the rules, never reject', async () => {
    await fc.assert(
      fc.asyncProperty(path, httpMethod, contentType, timeout, auth, version, fc.boolean(), methodAndBody, async (p, hm, ct, to, au, ver, guarded, { body }) => {
        const headers: IncomingHttpHeaders = {};
        if (ct !== null) headers['content-type'] = ct;
        if (to !== null) headers['grpc-timeout'] = to;
        if (au !== null) headers['authorization'] = au;
        if (ver !== null) headers['tri-service-version'] = ver;
        const { r } = guarded ? await exercise(guardedHandler, guardedApi, request(p, body, headers, hm)) : await exercise(openHandler, openApi, request(p, body, headers, hm));
        const known = p.startsWith(JSON_API_PREFIX) && (GATEWAY_METHODS as readonly string[]).includes(p.slice(JSON_API_PREFIX.length));
        if (hm !== 'POST') assert.equal(r.status, 405);
        else if (!known) assert.equal(r.status, 404);
        else if (guarded && ver !== null && ver !== '' && ver !== '1.0.0') assert.equal(r.status, 501);
        else if (guarded && /^Bearer\s+(.+)$/i.exec((au ?? '').trim())?.[1] !== API_TOKEN) assert.equal(r.status, 401);
        else if (!jsonContentType(ct)) assert.equal(r.status, 415);
        else if (to !== null && !/^\d{1,8}[HMSmun]$/.test(to.trim())) assert.equal(r.status, 400);
        else if (to?.trim() === '0m') assert.ok(r.status === 400 || r.status === 504, `${r.status}: an expired deadline never reaches the handler`);
      }),
      { numRuns: 500 },
    );
  });
});

// ----- meaning: valid requests arrive intact --------------------------------------------------------

describe('JSON API fuzz: well-formed requests', () => {
  /** Any string, lone surrogates included (JSON carries them as \u escapes). */
  const anyString = fc.string({ unit: hostileUnit, maxLength: 16 });
  const INT64_MIN = -(2n ** 63n);
  const INT64_MAX = 2n ** 63n - 1n;
  /** Metadata keys: any, prototype names included, but `__proto__` (dropped by a JS object map on either transport). */
  const mdKey = fc.oneof(fc.constantFrom('constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'), anyString).filter((k) => k !== '__proto__');
  const message = fc.record(
    {
      messageId: anyString,
      type: anyString,
      payload: fc.uint8Array({ maxLength: 64 }),
      timestamp: fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
      replyTo: anyString,
      metadata: fc.array(fc.tuple(mdKey, anyString), { maxLength: 5 }),
    },
    { requiredKeys: [] },
  );
  const push = fc.record(
    {
      userId: anyString,
      userIds: fc.array(anyString, { maxLength: 5 }),
      message,
      deviceIds: fc.array(anyString, { maxLength: 3 }),
      platforms: fc.array(anyString, { maxLength: 3 }),
      excludeDeviceIds: fc.array(anyString, { maxLength: 3 }),
    },
    { requiredKeys: [] },
  );
  const SNAKE: Readonly<Record<string, string>> = { userId: 'user_id', userIds: 'user_ids', deviceIds: 'device_ids', excludeDeviceIds: 'exclude_device_ids', messageId: 'message_id', replyTo: 'reply_to' };

  type Msg = { messageId?: string; type?: string; payload?: Uint8Array; timestamp?: bigint; replyTo?: string; metadata?: Array<[string, string]> };
  type Push = { userId?: string; userIds?: string[]; message?: Msg; deviceIds?: string[]; platforms?: string[]; excludeDeviceIds?: string[] };

  /** proto3 JSON text of `p`, each field under its lowerCamel or proto name, int64 as a number or a string, bytes in either base64 alphabet. */
  function encode(p: Push, snake: readonly boolean[], style: number): string {
    let i = 0;
    const name = (k: string): string => (snake[i++ % snake.length] === true ? (SNAKE[k] ?? k) : k);
    const parts: string[] = [];
    for (const [k, v] of Object.entries(p) as Array<[keyof Push, Push[keyof Push]]>) {
      if (k !== 'message') {
        parts.push(`${str(name(k))}:${JSON.stringify(v)}`);
        continue;
      }
      const m = v as Msg;
      const mp: string[] = [];
      for (const [mk, mv] of Object.entries(m) as Array<[keyof Msg, Msg[keyof Msg]]>) {
        let text: string;
        if (mk === 'payload') {
          const b = Buffer.from(mv as Uint8Array);
          text = str(style % 3 === 0 ? b.toString('base64') : style % 3 === 1 ? b.toString('base64url') : b.toString('base64').replace(/=+$/, ''));
        } else if (mk === 'timestamp') {
          const n = mv as bigint;
          text = style % 2 === 0 && Number.isSafeInteger(Number(n)) ? String(n) : `"${n}"`;
        } else if (mk === 'metadata') {
          text = objectText((mv as Array<[string, string]>).map(([a, b]) => [str(a), str(b)]));
        } else {
          text = str(mv as string);
        }
        mp.push(`${str(name(mk))}:${text}`);
      }
      parts.push(`"message":{${mp.join(',')}}`);
    }
    return `{${parts.join(',')}}`;
  }

  test('a valid PushRequest in any naming arrives with exactly its values and defaults', async () => {
    await fc.assert(
      fc.asyncProperty(push, fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.nat(), fc.constantFrom<GatewayMethod>('PushToUser', 'PushToUsers'), async (p, snake, style, method) => {
        const body = encode(p, snake, style);
        const { r, call } = await exercise(openHandler, openApi, request(`${JSON_API_PREFIX}${method}`, new Uint8Array(Buffer.from(body, 'utf8'))));
        assert.equal(r.status, 200, r.body);
        assert.equal(call?.method, method);
        const got = call.req as PushRequestOutput;
        assert.equal(got.userId, p.userId ?? '');
        assert.deepEqual(got.userIds, p.userIds ?? []);
        assert.deepEqual(got.deviceIds, p.deviceIds ?? []);
        assert.deepEqual(got.platforms, p.platforms ?? []);
        assert.deepEqual(got.excludeDeviceIds, p.excludeDeviceIds ?? []);
        if (p.message === undefined) {
          assert.equal(got.message, null);
          return;
        }
        const m = p.message;
        const gm = got.message;
        assert.ok(gm !== null);
        assert.equal(gm.messageId, m.messageId ?? '');
        assert.equal(gm.type, m.type ?? '');
        assert.equal(gm.replyTo, m.replyTo ?? '');
        assert.deepEqual(new Uint8Array(gm.payload), m.payload ?? new Uint8Array(0));
        assert.equal(gm.timestamp, Number(m.timestamp ?? 0n));
        const md: Record<string, string> = {};
        for (const [k, v] of m.metadata ?? []) Object.defineProperty(md, k, { value: v, enumerable: true, writable: true, configurable: true });
        assert.deepEqual({ ...gm.metadata }, md);
      }),
      { numRuns: 300 },
    );
  });
});

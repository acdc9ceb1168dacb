/**
 * Generators and oracles for the black-box fuzz suite (test/integration/fuzz.test.ts).
 *
 * Everything is drawn with fast-check arbitraries through `sampleOf` (fc.sample with a seed), so a
 * run is reproducible from its seed. Each generated WebSocket frame comes with what SPEC.md
 * sections 4 and 8 say the gateway answers (`expectFrame`); each generated push API request with
 * whether its arguments are valid under the README's push API rules (`pushApiValidity`). Inputs
 * the contract leaves ambiguous are dropped by the generators rather than guessed.
 */
import fc from 'fast-check';

// ---------------------------------------------------------------------------------------------
// common
// ---------------------------------------------------------------------------------------------

/** n values of arb, reproducible from seed. */
export function sampleOf<T>(arb: fc.Arbitrary<T>, n: number, seed: number): T[] {
  return fc.sample(arb, { numRuns: n, seed });
}

/** A small seeded PRNG (mulberry32) for choices made outside fast-check (pacing, interleaving). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const PLATFORM_NAMES = ['ios', 'android', 'windows', 'macos', 'linux', 'web', 'ipad', 'apad', 'miniweb'] as const;

/** Frame types a client may not send (SPEC.md section 4), besides the `ima.` prefix. */
const RESERVED = new Set(['auth', 'ack', 'ping', 'pong', 'kick', 'error']);

/** Types of server-to-client frames that answer a client frame: never used for generated pushes. */
export const ANSWER_TYPES: ReadonlySet<string> = new Set(['pong', 'error', 'ack']);

/**
 * 'ok' / 'bad' when `s` is (not) `min`..`max` characters whether characters are counted as
 * UTF-16 code units or as code points; 'ambiguous' when the two counts disagree (the contract says
 * "characters" without saying which).
 */
export function lengthValidity(s: string, min: number, max: number): 'ok' | 'bad' | 'ambiguous' {
  const units = s.length;
  const points = [...s].length;
  const a = units >= min && units <= max;
  const b = points >= min && points <= max;
  if (a !== b) return 'ambiguous';
  return a ? 'ok' : 'bad';
}

/** Nesting depth of a parsed JSON value (a scalar is 0, `{}` is 1), without recursion. */
export function jsonDepth(v: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[v, 0]];
  while (stack.length > 0) {
    const top = stack.pop();
    if (top === undefined) break;
    const [x, d] = top;
    if (x === null || typeof x !== 'object') continue;
    const depth = d + 1;
    if (depth > max) max = depth;
    for (const child of Array.isArray(x) ? x : Object.values(x as Record<string, unknown>)) stack.push([child, depth]);
  }
  return max;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Strings meant to break things: empty, control characters, prototype names, boundaries, non-BMP. */
const nastyStrings = fc.constantFrom(
  '',
  ' ',
  '\u0000',
  '\u0000\u0001\u001f',
  '\ufeff',
  '\u2028\u2029',
  '\ud800',
  '\udfff\ud800',
  '😀',
  'é',
  'e\u0301',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
  'null',
  'undefined',
  'NaN',
  '-0',
  '1e309',
  '"',
  '\\',
  '\\u0000',
  '</script>',
  '${x}',
  '%s%s%s%n',
  "'; DROP TABLE users; --",
  'a'.repeat(63),
  'a'.repeat(64),
  'a'.repeat(65),
  'a'.repeat(128),
  'a'.repeat(129),
  'a'.repeat(256),
  'a'.repeat(257),
  '#epoch',
  '##',
  'ima:u:{x}',
  '{x}',
);

/** Any string: ASCII, full Unicode graphemes, raw code units (lone surrogates), or nasty ones. */
export const anyString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 1 },
  { arbitrary: nastyStrings, weight: 3 },
);

/** A JSON value of any shape (no undefined), shallow. */
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 4 },
  { arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -0, 1e308, -1e-308, 2 ** 53 + 1, [], {}, [[]], { '': '' }), weight: 2 },
  { arbitrary: anyString, weight: 2 },
  { arbitrary: fc.double(), weight: 1 },
);

/** Values of the wrong type for a string field (and some strings). */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom<unknown>(null, true, false, 0, 1, -1, 1.5, Infinity, [], {}, [''], ['chat'], { type: 'chat' }), weight: 3 },
  { arbitrary: anyJson, weight: 2 },
  { arbitrary: anyString, weight: 2 },
);

// ---------------------------------------------------------------------------------------------
// WebSocket frames
// ---------------------------------------------------------------------------------------------

export interface WsFrame {
  /** What kind of input this is (for diagnostics). */
  readonly label: string;
  readonly data: string | Buffer;
  readonly binary: boolean;
}

/** What the gateway answers to a frame on an open connection, per SPEC.md sections 4 and 8. */
export type Expectation =
  /** answered at once, in frame order: a pong, or an error with one of these codes */
  | { readonly sync: true; readonly kinds: ReadonlyArray<{ readonly kind: 'pong' } | { readonly kind: 'error'; readonly codes: readonly number[] }> }
  /** forwarded (or refused with an ack code): exactly one ack with this id */
  | {
      readonly sync: false;
      readonly id: string;
      readonly type: string;
      /** UTF-8 JSON of the payload as the business service must receive it. */
      readonly payloadJson: string;
      /** Over forward.maxPayloadBytes: ack 1004, never forwarded. */
      readonly overLimit: boolean;
      readonly metadata: Readonly<Record<string, string>>;
    };

export interface FrameLimits {
  /** websocket.maxPayloadBytes */
  readonly maxFrameBytes: number;
  /** forward.maxPayloadBytes */
  readonly forwardMaxPayloadBytes: number;
}

const MALFORMED = 1000;
const RESERVED_TYPE = 1001;
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

const error = (...codes: number[]): Expectation => ({ sync: true, kinds: [{ kind: 'error', codes }] });
const PONG: Expectation = { sync: true, kinds: [{ kind: 'pong' }] };

/**
 * The answer SPEC.md sections 4 and 8 promise for one frame on an open connection below the rate
 * limit, or null when the contract leaves it open (such frames are not generated) or when the frame
 * closes the connection (over the frame limit, invalid UTF-8 text):
 * - binary frames: the protocol is JSON text, so error 1000;
 * - not JSON, not an object, nesting deeper than 64 levels (the frame object is level 1): error 1000;
 * - `type` not a string of 1..64 characters: error 1000; `ping`: pong (with any other fields);
 * - a reserved type (`auth ack pong kick error`, `ima.*`, case-sensitive like every type): error
 *   1001 (1000 also accepted when the frame has a second problem, the contract naming no order);
 * - `id` not a string of 1..64 characters, `metadata` (when not null) not an object of at most
 *   32 string values: error 1000;
 * - anything else: one ack with its id (1004 when the payload as JSON is over forward.maxPayloadBytes).
 */
export function expectFrame(frame: WsFrame, limits: FrameLimits): Expectation | null {
  const bytes = typeof frame.data === 'string' ? Buffer.from(frame.data, 'utf8') : frame.data;
  if (bytes.length > limits.maxFrameBytes) return null;
  if (frame.binary) return error(MALFORMED);
  let text: string;
  try {
    text = fatalUtf8.decode(bytes);
  } catch {
    return null;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return error(MALFORMED);
  }
  if (jsonDepth(v) > 64) return error(MALFORMED);
  if (!isPlainObject(v)) return error(MALFORMED);
  const type = v['type'];
  if (typeof type !== 'string') return error(MALFORMED);
  const typeLen = lengthValidity(type, 1, 64);
  if (typeLen === 'ambiguous') return null;
  if (typeLen === 'bad') return error(MALFORMED);
  if (type === 'ping') return PONG;
  const rawId = v['id'];
  const idLen = typeof rawId === 'string' ? lengthValidity(rawId, 1, 64) : 'bad';
  if (idLen === 'ambiguous') return null;
  const md = v['metadata'];
  let metadataOk = true;
  if (md !== undefined && md !== null) {
    metadataOk = isPlainObject(md) && Object.keys(md).length <= 32 && Object.values(md).every((x) => typeof x === 'string');
  }
  if (RESERVED.has(type) || type.startsWith('ima.')) return idLen === 'ok' && metadataOk ? error(RESERVED_TYPE) : error(RESERVED_TYPE, MALFORMED);
  if (idLen === 'bad' || !metadataOk) return error(MALFORMED);
  const payload = v['payload'];
  const payloadJson = payload === undefined ? 'null' : JSON.stringify(payload);
  return {
    sync: false,
    id: rawId as string,
    type,
    payloadJson,
    overLimit: Buffer.byteLength(payloadJson, 'utf8') > limits.forwardMaxPayloadBytes,
    metadata: isPlainObject(md) ? (md as Record<string, string>) : {},
  };
}

const text = (label: string, data: string): WsFrame => ({ label, data, binary: false });

/** Short ids, so that repeats (the dedupe path) happen now and then. */
const frameId = fc.oneof(
  { arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 3 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 64 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }), weight: 1 },
  { arbitrary: nastyStrings.filter((s) => s.length > 0), weight: 1 },
);

/** Types a client may send (never reserved), ASCII or not. */
const clientType = fc.oneof(
  { arbitrary: fc.constantFrom('chat', 'chat.msg', 'typing', 'read', 'PING', 'Ping', 'ping ', ' ping', 'Auth', 'ACK', 'IMA.x', 'ima', 'imax', 'x.ima.y'), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 64 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), weight: 1 },
);

const metadataArb = fc.oneof(
  { arbitrary: fc.dictionary(anyString, anyString, { maxKeys: 8 }), weight: 4 },
  { arbitrary: fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { minKeys: 30, maxKeys: 34 }), weight: 1 },
  { arbitrary: fc.constant({ ['__proto__']: 'x', constructor: 'y', toString: 'z' } as Record<string, string>), weight: 1 },
);

/** A well-formed client message frame object (payload of any JSON shape). */
const messageObject = fc.record(
  { type: clientType, id: frameId, payload: anyJson, metadata: metadataArb },
  { requiredKeys: ['type', 'id'] },
);

/** A frame object whose type / id / payload / metadata may be of the wrong type. */
const wrongTypesObject = fc.record(
  { type: fc.oneof(clientType, hostileValue), id: fc.oneof(frameId, hostileValue), payload: anyJson, metadata: fc.oneof(metadataArb, hostileValue) },
  { requiredKeys: [] },
);

/** Nesting `depth` levels of arrays or objects around a scalar, as JSON text. */
function nested(depth: number, useObjects: boolean): string {
  return useObjects ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth) + ']'.repeat(depth);
}

const depthArb = fc.oneof(
  { arbitrary: fc.constantFrom(62, 63, 64, 65, 66), weight: 3 },
  { arbitrary: fc.integer({ min: 1, max: 200 }), weight: 2 },
  { arbitrary: fc.integer({ min: 200, max: 5_000 }), weight: 2 },
  { arbitrary: fc.integer({ min: 5_000, max: 60_000 }), weight: 1 },
);

function deepFrame(limits: FrameLimits): fc.Arbitrary<WsFrame> {
  return fc
    .tuple(depthArb, fc.boolean(), fc.constantFrom('payload', 'metadata', 'top', 'type', 'unclosed'), frameId)
    .map(([depth, objects, where, id]): WsFrame => {
      const inner = nested(depth, objects);
      const idJson = JSON.stringify(id);
      switch (where) {
        case 'payload':
          return text(`deep payload ${depth}`, `{"type":"chat","id":${idJson},"payload":${inner}}`);
        case 'metadata':
          return text(`deep metadata ${depth}`, `{"type":"chat","id":${idJson},"metadata":{"k":${inner}}}`);
        case 'type':
          return text(`deep type ${depth}`, `{"type":${inner},"id":${idJson}}`);
        case 'unclosed':
          return text(`unclosed nesting ${depth}`, `{"type":"chat","id":${idJson},"payload":${objects ? '{"a":'.repeat(depth) : '['.repeat(depth)}`);
        default:
          return text(`deep top ${depth}`, inner);
      }
    })
    .filter((f) => Buffer.byteLength(f.data) <= limits.maxFrameBytes);
}

function hugeFrame(limits: FrameLimits): fc.Arbitrary<WsFrame> {
  const overhead = 200;
  return fc
    .tuple(
      fc.oneof(
        fc.integer({ min: 1_000, max: 100_000 }),
        fc.integer({ min: limits.forwardMaxPayloadBytes - 64, max: limits.forwardMaxPayloadBytes + 64 }),
        fc.integer({ min: limits.forwardMaxPayloadBytes, max: limits.maxFrameBytes - overhead }),
      ),
      fc.constantFrom('ascii', 'escapes', 'multibyte', 'array', 'key'),
      frameId,
    )
    .map(([n, kind, id]): WsFrame => {
      const idJson = JSON.stringify(id);
      switch (kind) {
        case 'escapes':
          // each \n costs 2 bytes in the frame and 2 in the forwarded JSON
          return text(`huge escaped string ${n}`, `{"type":"chat","id":${idJson},"payload":"${'\\n'.repeat(Math.floor(n / 2))}"}`);
        case 'multibyte':
          return text(`huge multibyte string ${n}`, JSON.stringify({ type: 'chat', id, payload: 'é😀'.repeat(Math.floor(n / 6)) }));
        case 'array':
          return text(`huge array ${n}`, `{"type":"chat","id":${idJson},"payload":[${'0,'.repeat(Math.floor(n / 2) - 1)}0]}`);
        case 'key':
          return text(`huge key ${n}`, `{"type":"chat","id":${idJson},"payload":{"${'k'.repeat(n)}":1}}`);
        default:
          return text(`huge string ${n}`, JSON.stringify({ type: 'chat', id, payload: 'x'.repeat(n) }));
      }
    })
    .filter((f) => Buffer.byteLength(f.data) <= limits.maxFrameBytes);
}

/** Prototype-pollution shapes: `__proto__`, `constructor` and friends as keys, in every position. */
const protoFrame: fc.Arbitrary<WsFrame> = fc.tuple(frameId, fc.integer({ min: 0, max: 7 })).map(([id, variant]): WsFrame => {
  const i = JSON.stringify(id);
  const variants = [
    `{"__proto__":{"type":"chat","id":${i}}}`,
    `{"type":"chat","id":${i},"__proto__":{"isAdmin":true},"payload":{"__proto__":{"polluted":1}}}`,
    `{"type":"chat","id":${i},"metadata":{"__proto__":"x","constructor":"y","prototype":"z"}}`,
    `{"type":"chat","id":${i},"metadata":{"__proto__":{"polluted":"1"}}}`,
    `{"constructor":{"prototype":{"polluted":1}},"type":"chat","id":${i}}`,
    `{"type":"__proto__","id":${i}}`,
    `{"type":"chat","id":"__proto__","payload":{"constructor":{"prototype":{"x":1}}}}`,
    `{"type":"toString","id":"hasOwnProperty","metadata":{"valueOf":"1","toString":"2"}}`,
  ];
  return text(`prototype keys ${variant}`, variants[variant] ?? variants[0] ?? '{}');
});

const oddText: fc.Arbitrary<WsFrame> = fc
  .constantFrom(
    '',
    ' ',
    '\n',
    'null',
    '0',
    '-0',
    '1e999',
    '"type"',
    '[]',
    '{}',
    '[{"type":"ping"}]',
    '\ufeff{"type":"ping"}',
    '{"type":"ping"} ',
    ' {"type":"ping"}',
    '{"type":"ping"}{"type":"ping"}',
    '{"type":"ping",}',
    "{'type':'ping'}",
    '{type:"ping"}',
    'NaN',
    '{"type":"ping","type":"chat","id":"dupkey"}',
    '{"type":"chat","id":"dupkey2","type":"ping"}',
    '{"type":"chat","id":"x","payload":1e400}',
    '{"type":"chat","id":"x","payload":-0}',
    '{"type":"chat","id":"x","payload":"\\ud800"}',
    '{"type":"chat","id":"\\u0000","payload":"\\u0000"}',
    '{"type":"chat","id":"x","payload":123456789012345678901234567890}',
    '{"type":"\\u0070ing"}',
    '{"type":"ping","id":{"a":1},"metadata":7}',
    '{"type":"ima.","id":"r"}',
    '{"type":"ima.subscribe"}',
    '{"type":"error","id":5}',
    '{"type":"chat","id":"x","metadata":null}',
    '{"type":"chat","id":"x","metadata":[]}',
    '{"type":"chat","id":"x","metadata":{"k":1}}',
    '{"type":"chat","id":"x","metadata":"s"}',
  )
  .map((s) => text('odd text', s));

function truncatedFrame(): fc.Arbitrary<WsFrame> {
  return fc.tuple(messageObject, fc.double({ min: 0, max: 1, noNaN: true })).map(([obj, at]) => {
    const full = JSON.stringify(obj);
    return text('truncated JSON', full.slice(0, Math.floor(full.length * at)));
  });
}

const binaryFrame: fc.Arbitrary<WsFrame> = fc.oneof(
  fc.uint8Array({ maxLength: 2_000 }).map((b): WsFrame => ({ label: 'binary random', data: Buffer.from(b), binary: true })),
  messageObject.map((o): WsFrame => ({ label: 'binary JSON message', data: Buffer.from(JSON.stringify(o)), binary: true })),
  fc.constant<WsFrame>({ label: 'binary ping', data: Buffer.from('{"type":"ping"}'), binary: true }),
  fc.constant<WsFrame>({ label: 'binary invalid UTF-8', data: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), binary: true }),
);

const pingFrame: fc.Arbitrary<WsFrame> = fc.oneof(
  fc.constant(text('ping', '{"type":"ping"}')),
  frameId.map((id) => text('ping with id', JSON.stringify({ type: 'ping', id }))),
  fc.record({ type: fc.constant('ping'), id: hostileValue, payload: anyJson, metadata: hostileValue }, { requiredKeys: ['type'] }).map((o) => text('ping with junk', JSON.stringify(o))),
);

const reservedFrame: fc.Arbitrary<WsFrame> = fc
  .record(
    {
      type: fc.oneof(fc.constantFrom('auth', 'ack', 'pong', 'kick', 'error', 'ima.', 'ima.subscribe', 'ima.x.y'), fc.string({ maxLength: 20 }).map((s) => `ima.${s}`)),
      id: fc.oneof(frameId, hostileValue),
      payload: anyJson,
      metadata: fc.oneof(metadataArb, hostileValue),
    },
    { requiredKeys: ['type'] },
  )
  .map((o) => text('reserved type', JSON.stringify(o)));

/**
 * Frames for a connection that must stay open: any JSON, truncated JSON, deep nesting (up to tens of
 * thousands of levels), strings up to the frame limit, binary frames (random bytes, invalid UTF-8,
 * valid JSON sent as binary), prototype keys, wrong types in type / id / payload / metadata,
 * reserved types and pings. Frames the contract leaves ambiguous or that close the connection are
 * not generated (see expectFrame).
 */
export function wsFrameArb(limits: FrameLimits): fc.Arbitrary<WsFrame> {
  return fc
    .oneof(
      { arbitrary: messageObject.map((o) => text('message', JSON.stringify(o))), weight: 22 },
      { arbitrary: pingFrame, weight: 8 },
      { arbitrary: fc.jsonValue().map((v) => text('any JSON', JSON.stringify(v) ?? 'null')), weight: 8 },
      { arbitrary: fc.object().map((v) => text('any object', JSON.stringify(v) ?? '{}')), weight: 4 },
      { arbitrary: wrongTypesObject.map((o) => text('wrong types', JSON.stringify(o))), weight: 16 },
      { arbitrary: reservedFrame, weight: 7 },
      { arbitrary: protoFrame, weight: 5 },
      { arbitrary: truncatedFrame(), weight: 8 },
      { arbitrary: deepFrame(limits), weight: 6 },
      { arbitrary: hugeFrame(limits), weight: 2 },
      { arbitrary: oddText, weight: 6 },
      { arbitrary: binaryFrame, weight: 6 },
    )
    .filter((f) => expectFrame(f, limits) !== null);
}

/** Text frames that are not valid UTF-8 (SPEC.md section 8: malformed input gets error 1000, the connection stays). */
export const invalidUtf8Frames: readonly Buffer[] = [
  Buffer.from([0x7b, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), // {"type":"\xff"}
  Buffer.concat([Buffer.from('{"type":"chat","id":"u1","payload":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
  Buffer.concat([Buffer.from('{"type":"chat","id":"u2","payload":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]), // an encoded surrogate
  Buffer.concat([Buffer.from('{"type":"chat","id":"u3","payload":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), // overlong '/'
  Buffer.from([0xfe, 0xff]),
];

// ---------------------------------------------------------------------------------------------
// push API requests (gRPC and HTTP/JSON)
// ---------------------------------------------------------------------------------------------

export type PushMethod = 'PushToUser' | 'PushToUsers' | 'Broadcast' | 'KickUser' | 'GetConnectionStatus';
export const PUSH_METHODS: readonly PushMethod[] = ['PushToUser', 'PushToUsers', 'Broadcast', 'KickUser', 'GetConnectionStatus'];

/** A ServerMessage as the grpc-js client takes it (proto-loader: lowerCamel fields). */
export interface ServerMessageIn {
  messageId?: string | undefined;
  type?: string | undefined;
  payload?: Buffer | undefined;
  timestamp?: number | undefined;
  replyTo?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

export interface PushApiRequest {
  userId?: string | undefined;
  userIds?: string[] | undefined;
  message?: ServerMessageIn | undefined;
  deviceIds?: string[] | undefined;
  platforms?: string[] | undefined;
  excludeDeviceIds?: string[] | undefined;
  deviceId?: string | undefined;
  reason?: string | undefined;
}

export interface ApiCase {
  readonly method: PushMethod;
  readonly request: PushApiRequest;
  /** gRPC metadata / HTTP headers besides the defaults. */
  readonly headers: Readonly<Record<string, string>>;
}

/** Largest push payload (SPEC.md section 8, server.maxPushPayloadBytes default). */
export const MAX_PUSH_PAYLOAD_BYTES = 512 * 1024;

/** Ids for the API: never those of the fuzzing clients' users (those are reached with valid pushes only). */
const apiId = fc.oneof(
  { arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }).map((s) => `ghost-${s}`), weight: 4 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 2 },
  { arbitrary: nastyStrings, weight: 3 },
  { arbitrary: fc.integer({ min: 120, max: 140 }).map((n) => 'u'.repeat(n)), weight: 1 },
);

const platformItem = fc.oneof(
  { arbitrary: fc.constantFrom(...PLATFORM_NAMES), weight: 4 },
  { arbitrary: fc.constantFrom('palm', 'IOS', 'Web', '', ' ios', 'tv', '__proto__'), weight: 1 },
  { arbitrary: fc.string({ maxLength: 8 }), weight: 1 },
);

/** A payload: JSON bytes, random bytes, empty, or large (around the push payload limit, rarely). */
const payloadArb: fc.Arbitrary<Buffer | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 2 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v))), weight: 4 },
  { arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)), weight: 3 },
  { arbitrary: fc.constant(Buffer.from([0xff, 0xfe, 0x00])), weight: 1 },
  {
    arbitrary: fc.constantFrom(MAX_PUSH_PAYLOAD_BYTES - 1, MAX_PUSH_PAYLOAD_BYTES, MAX_PUSH_PAYLOAD_BYTES + 1, 2 * MAX_PUSH_PAYLOAD_BYTES).map((n) => Buffer.alloc(n, 0x61)),
    weight: 1,
  },
);

/** A message type for a push: never one of the answer types the fuzzing clients count. */
const pushType = fc.oneof(
  { arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 }).map((s) => `fz.${s}`), weight: 4 },
  { arbitrary: fc.constantFrom('', 'x'.repeat(64), 'x'.repeat(65), 'kick', 'auth', 'ima.push', '😀'.repeat(32)), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 70 }), weight: 1 },
).filter((t) => !ANSWER_TYPES.has(t));

const messageArb: fc.Arbitrary<ServerMessageIn | undefined> = fc.option(
  fc.record(
    {
      messageId: fc.oneof(fc.constant(''), apiId, fc.integer({ min: 126, max: 130 }).map((n) => 'm'.repeat(n))),
      type: pushType,
      payload: payloadArb,
      timestamp: fc.oneof(fc.constant(0), fc.integer({ min: -5, max: 5 }), fc.integer({ min: 0, max: 2 ** 52 }), fc.constant(-1_000_000)),
      replyTo: fc.oneof(fc.constant(''), anyString),
      metadata: fc.dictionary(anyString, anyString, { maxKeys: 6 }),
    },
    { requiredKeys: [] },
  ).map((m) => {
    const out: ServerMessageIn = {};
    for (const [k, v] of Object.entries(m)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
    return out;
  }),
  { nil: undefined, freq: 6 },
);

const idList = (maxLength: number): fc.Arbitrary<string[]> => fc.array(apiId, { maxLength });

/** Headers owned by HTTP/1.1 or HTTP/2 themselves: a random header never takes these names. */
const TRANSPORT_HEADERS = new Set(['te', 'host', 'content-type', 'content-length', 'user-agent', 'connection', 'transfer-encoding', 'upgrade', 'keep-alive', 'proxy-connection', 'expect', 'trailer', 'accept-encoding', 'authority', 'path', 'method', 'scheme']);

/** Metadata / headers a caller might send: bearer tokens, Triple headers, the cluster's own forwarding headers. */
const headerArb: fc.Arbitrary<Record<string, string>> = fc
  .array(
    fc.oneof(
      fc.tuple(fc.constant('authorization'), fc.constantFrom('Bearer', 'Bearer ', 'Bearer x', 'Basic abc', 'bearer  token', 'x'.repeat(300))),
      fc.tuple(fc.constantFrom('tri-service-version', 'tri-service-group', 'tri-consumer-appname'), fc.constantFrom('', '1.0.0', '*', 'x'.repeat(200))),
      fc.tuple(fc.constant('x-ima-forwarded'), fc.constantFrom('1', '0', 'true', '')),
      fc.tuple(fc.constant('x-ima-kick-code'), fc.constantFrom('4001', '4002', 'NaN', '-1', '99999999999')),
      fc.tuple(fc.constant('x-ima-kick-epoch'), fc.constantFrom('0', '-1', 'NaN', '1e309', '18446744073709551616')),
      fc.tuple(fc.constant('traceparent'), fc.constantFrom('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'garbage', '00-' + '0'.repeat(32) + '-' + '0'.repeat(16) + '-00')),
      fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_.-]{0,15}$/).filter((k) => !k.startsWith('grpc-') && !k.endsWith('-bin') && !TRANSPORT_HEADERS.has(k)), fc.stringMatching(/^[ -~]{0,40}$/)),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => Object.fromEntries(pairs));

function requestArb(method: PushMethod): fc.Arbitrary<PushApiRequest> {
  switch (method) {
    case 'PushToUser':
      return fc.record(
        { userId: apiId, message: messageArb, deviceIds: idList(3), platforms: fc.array(platformItem, { maxLength: 3 }), excludeDeviceIds: idList(3) },
        { requiredKeys: [] },
      );
    case 'PushToUsers':
      return fc.record(
        {
          userIds: fc.oneof({ arbitrary: idList(8), weight: 5 }, { arbitrary: fc.constantFrom(1000, 1001).map((n) => Array.from({ length: n }, (_, i) => `ghost-bulk-${i}`)), weight: 1 }),
          message: messageArb,
          deviceIds: idList(3),
          platforms: fc.array(platformItem, { maxLength: 3 }),
          excludeDeviceIds: idList(3),
          userId: apiId,
        },
        { requiredKeys: [] },
      );
    case 'Broadcast':
      // a broadcast reaches the fuzzing clients: only payloads within the push limit, or far over it
      return fc.record({ message: messageArb, platforms: fc.array(platformItem, { maxLength: 3 }) }, { requiredKeys: [] });
    case 'KickUser':
      return fc.record({ userId: apiId, deviceId: fc.oneof(fc.constant(''), apiId), reason: fc.oneof(anyString, fc.constantFrom('r'.repeat(256), 'r'.repeat(257))) }, { requiredKeys: [] });
    default:
      return fc.record(
        { userIds: fc.oneof({ arbitrary: idList(8), weight: 5 }, { arbitrary: fc.constantFrom(1000, 1001).map((n) => Array.from({ length: n }, (_, i) => `ghost-st-${i}`)), weight: 1 }) },
        { requiredKeys: [] },
      );
  }
}

/** A push API call with hostile arguments and headers (never aimed at the fuzzing clients' users, never kicking them). */
export const apiCaseArb: fc.Arbitrary<ApiCase> = fc
  .constantFrom(...PUSH_METHODS)
  .chain((method) => fc.record({ method: fc.constant(method), request: requestArb(method), headers: headerArb }))
  .filter((c) => pushApiValidity(c) !== 'ambiguous');

/**
 * Whether the arguments are valid under the README's push API rules: ids (user, device, message) 1
 * to 128 characters (a message id may be empty: generated), `message` and `message.type` (1 to 64)
 * required, `timestamp` not negative, every platform known, 1 to 1000 user ids, a payload of at most
 * 512 KiB (SPEC.md section 8), a kick reason of at most 256 characters. 'ambiguous' when a length
 * is valid or not depending on how characters are counted, or a platform is a case variant.
 */
export function pushApiValidity(c: ApiCase): 'valid' | 'invalid' | 'ambiguous' {
  const r = c.request;
  const verdicts: Array<'ok' | 'bad' | 'ambiguous'> = [];
  const id = (s: string | undefined, min = 1): void => {
    verdicts.push(lengthValidity(s ?? '', min, 128));
  };
  const ids = (list: string[] | undefined): void => {
    for (const s of list ?? []) id(s);
  };
  const platforms = (list: string[] | undefined): void => {
    for (const p of list ?? []) {
      if ((PLATFORM_NAMES as readonly string[]).includes(p)) verdicts.push('ok');
      else verdicts.push((PLATFORM_NAMES as readonly string[]).includes(p.trim().toLowerCase()) ? 'ambiguous' : 'bad');
    }
  };
  const message = (m: ServerMessageIn | undefined): void => {
    if (m === undefined) {
      verdicts.push('bad');
      return;
    }
    verdicts.push(lengthValidity(m.type ?? '', 1, 64));
    id(m.messageId, 0);
    verdicts.push((m.timestamp ?? 0) < 0 ? 'bad' : 'ok');
    verdicts.push((m.payload?.length ?? 0) > MAX_PUSH_PAYLOAD_BYTES ? 'bad' : 'ok');
  };
  switch (c.method) {
    case 'PushToUser':
      id(r.userId);
      message(r.message);
      platforms(r.platforms);
      ids(r.deviceIds);
      ids(r.excludeDeviceIds);
      break;
    case 'PushToUsers':
      verdicts.push((r.userIds?.length ?? 0) >= 1 && (r.userIds?.length ?? 0) <= 1000 ? 'ok' : 'bad');
      ids(r.userIds);
      message(r.message);
      platforms(r.platforms);
      ids(r.deviceIds);
      ids(r.excludeDeviceIds);
      break;
    case 'Broadcast':
      message(r.message);
      platforms(r.platforms);
      break;
    case 'KickUser':
      id(r.userId);
      id(r.deviceId, 0);
      verdicts.push(lengthValidity(r.reason ?? '', 0, 256));
      break;
    default:
      verdicts.push((r.userIds?.length ?? 0) >= 1 && (r.userIds?.length ?? 0) <= 1000 ? 'ok' : 'bad');
      ids(r.userIds);
  }
  if (verdicts.includes('bad')) return 'invalid';
  if (verdicts.includes('ambiguous')) return 'ambiguous';
  return 'valid';
}

/** The field an INVALID_ARGUMENT message must start with (README: "a message that starts with the field"). */
export const FIELD_NAMED = /^(user_id|user_ids|message|message\.[a-z_]+|platforms|device_ids|exclude_device_ids|device_id|reason)(\[\d+\])?: /;

/** The request as a proto3 JSON object for the HTTP/JSON form, each field under its lowerCamel or its proto name. */
export function toProto3Json(req: PushApiRequest, snake: (field: string) => boolean): Record<string, unknown> {
  const name = (camel: string): string => (snake(camel) ? camel.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`) : camel);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(req)) {
    if (v === undefined) continue;
    if (k === 'message') {
      const m = v as ServerMessageIn;
      const mj: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries(m)) {
        if (mv === undefined) continue;
        if (mk === 'payload') mj[name(mk)] = (mv as Buffer).toString('base64');
        else if (mk === 'timestamp') mj[name(mk)] = snake('ts-as-string') ? String(mv) : mv;
        else mj[name(mk)] = mv;
      }
      out[name(k)] = mj;
    } else out[name(k)] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// admin HTTP requests
// ---------------------------------------------------------------------------------------------

export interface HttpCase {
  readonly label: string;
  readonly method: string;
  /** Request target: a path with an optional query, as sent on the request line. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | undefined;
  /** For a well-formed push API call: whether its arguments are valid (the answer must be 200 / 400). */
  readonly api?: { readonly method: PushMethod; readonly validity: 'valid' | 'invalid' };
}

const ADMIN_PATHS = ['/healthz', '/readyz', '/stats', '/metrics', '/dashboard', '/'];
const API_PREFIX = '/im.gateway.v1.IMAGatewayService/';

const pathArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...ADMIN_PATHS), weight: 3 },
  { arbitrary: fc.constantFrom(...PUSH_METHODS, '', 'pushToUser', 'PushToUser/x', 'Nope', '..', '%2e%2e', '__proto__', 'constructor').map((m) => API_PREFIX + m), weight: 3 },
  {
    arbitrary: fc.constantFrom(
      '//',
      '//x',
      '//[',
      '///stats',
      '/..',
      '/../../etc/passwd',
      '/%00',
      '/%zz',
      '/%',
      '/stats?',
      '/stats?%zz',
      '/stats?a=1&a=2&' + 'b='.repeat(500),
      '/healthz#frag',
      '/HEALTHZ',
      '/healthz/',
      '/im.gateway.v1.IMAGatewayService',
      '/im.gateway.v1.IMAGatewayService//PushToUser',
      '/im.gateway.v1.IMAGatewayService%2FPushToUser',
      '*',
      'http://example.com/healthz',
      '/' + 'a'.repeat(8_000),
    ),
    weight: 2,
  },
  { arbitrary: fc.array(fc.string({ unit: 'grapheme', maxLength: 12 }), { maxLength: 4 }).map((segs) => '/' + segs.map((s) => encodeURIComponent(s)).join('/')), weight: 2 },
  { arbitrary: fc.webPath(), weight: 1 },
);

const methodArb = fc.oneof(
  { arbitrary: fc.constantFrom('GET', 'POST'), weight: 6 },
  { arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'FOO'), weight: 2 },
);

const contentTypeArb = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset="UTF-8"',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/json;;;',
  'text/plain',
  'application/grpc',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  '',
);

const grpcTimeoutArb = fc.constantFrom('1S', '0m', '0n', '1n', '100m', '5S', 'abc', '-1S', '99999999H', '999999999S', '1 S', '');

const bodyArb: fc.Arbitrary<Buffer | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 2 },
  { arbitrary: fc.constant(Buffer.alloc(0)), weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v))), weight: 4 },
  { arbitrary: fc.uint8Array({ maxLength: 1_000 }).map((b) => Buffer.from(b)), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      '{"userId":',
      '{"__proto__":{"userId":"x"}}',
      '{"constructor":{"prototype":{"x":1}}}',
      '{"userId":"u","user_id":"u","message":{"type":"t"}}',
      '{"userId":"u","message":{"type":"t","metadata":{"__proto__":"x"}}}',
      '{"userId":"u","message":{"type":"t","timestamp":"99999999999999999999"}}',
      '{"userId":"u","message":{"type":"t","timestamp":1e400}}',
      '{"userId":"u","message":{"type":"t","payload":"!!!"}}',
      '{"userId":"u","message":{"type":"t","payload":{"a":1}}}',
      '{"userIds":null,"message":null}',
      '{"userIds":[null]}',
      '{"userIds":"abc"}',
      '{"message":{"type":"t"},"platforms":[1,2]}',
      '[1,2,3]',
      '"string"',
      'null',
      '\ufeff{}',
    ).map((s) => Buffer.from(s)),
    weight: 3,
  },
  { arbitrary: fc.integer({ min: 1_000, max: 100_000 }).map((d) => Buffer.from(`{"userIds":${'['.repeat(d)}${']'.repeat(d)}}`)), weight: 1 },
  { arbitrary: fc.constantFrom(1024 * 1024, 4 * 1024 * 1024 + 1).map((n) => Buffer.concat([Buffer.from('{"userId":"'), Buffer.alloc(n, 0x61), Buffer.from('"}')])), weight: 1 },
);

const randomHttpCase: fc.Arbitrary<HttpCase> = fc
  .record({
    method: methodArb,
    path: pathArb,
    contentType: fc.option(contentTypeArb, { nil: undefined }),
    grpcTimeout: fc.option(grpcTimeoutArb, { nil: undefined, freq: 3 }),
    extra: headerArb,
    body: bodyArb,
  })
  .map(({ method, path, contentType, grpcTimeout, extra, body }): HttpCase => {
    const headers: Record<string, string> = { ...extra };
    if (contentType !== undefined) headers['content-type'] = contentType;
    if (grpcTimeout !== undefined) headers['grpc-timeout'] = grpcTimeout;
    return { label: 'random request', method, path, headers, body: method === 'GET' || method === 'HEAD' ? undefined : body };
  });

/** A well-formed push API call over HTTP/JSON with hostile arguments (its verdict known). */
const apiHttpCase: fc.Arbitrary<HttpCase> = fc
  .tuple(apiCaseArb, fc.func(fc.boolean()))
  .filter(([c]) => !Object.keys(c.headers).some((h) => h === 'tri-service-version' || h === 'tri-service-group' || h === 'authorization'))
  .map(([c, snake]): HttpCase => {
    const validity = pushApiValidity(c) === 'valid' ? 'valid' : 'invalid';
    return {
      label: `HTTP/JSON ${c.method}`,
      method: 'POST',
      path: API_PREFIX + c.method,
      headers: { ...c.headers, 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify(toProto3Json(c.request, (f) => snake(f)))),
      api: { method: c.method, validity },
    };
  });

/** Requests for the admin port: random paths, methods, headers and bodies, and push API calls over HTTP/JSON. */
export const httpCaseArb: fc.Arbitrary<HttpCase> = fc.oneof({ arbitrary: randomHttpCase, weight: 3 }, { arbitrary: apiHttpCase, weight: 2 });

/** Raw bytes for the admin port that no HTTP client library would send. */
export const rawHttpRequests: readonly string[] = [
  'GARBAGE\r\n\r\n',
  'GET\r\n\r\n',
  'GET / HTTP/9.9\r\nHost: a\r\n\r\n',
  'GET /healthz HTTP/1.0\r\n\r\n',
  'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
  `GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
  'POST /im.gateway.v1.IMAGatewayService/KickUser HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{"userId":"x"}',
  'POST /im.gateway.v1.IMAGatewayService/KickUser HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
  'POST /im.gateway.v1.IMAGatewayService/KickUser HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'POST /im.gateway.v1.IMAGatewayService/KickUser HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n',
  'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /stats HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET /healthz HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n',
  'GET /h\u0000ealthz HTTP/1.1\r\nHost: a\r\n\r\n',
  '\r\n\r\n\r\n',
  'GET //x HTTP/1.1\r\nHost: a\r\n\r\n',
];

// ---------------------------------------------------------------------------------------------
// raw protobuf for gRPC
// ---------------------------------------------------------------------------------------------

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}

type RawField = { no: number; wire: 0 | 1 | 2 | 5; value: Buffer | number; lie?: number | undefined };

const rawField: fc.Arbitrary<RawField> = fc.oneof(
  fc.record({ no: fc.integer({ min: 1, max: 12 }), wire: fc.constant<0>(0), value: fc.oneof(fc.integer(), fc.constantFrom(-1, 2 ** 31, 2 ** 53)) }),
  fc.record({ no: fc.integer({ min: 1, max: 12 }), wire: fc.constant<2>(2), value: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)), lie: fc.option(fc.integer({ min: 0, max: 2 ** 31 }), { nil: undefined }) }),
  fc.record({ no: fc.integer({ min: 1, max: 12 }), wire: fc.constantFrom<1 | 5>(1, 5), value: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b)) }),
);

function encodeRaw(fields: RawField[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    parts.push(varint((f.no << 3) | f.wire));
    if (f.wire === 0) parts.push(varint(typeof f.value === 'number' ? f.value : 0));
    else if (f.wire === 2) {
      const b = typeof f.value === 'number' ? Buffer.alloc(0) : f.value;
      parts.push(varint(f.lie ?? b.length), b);
    } else {
      const b = typeof f.value === 'number' ? Buffer.alloc(8) : f.value;
      parts.push(f.wire === 1 ? b.subarray(0, 8) : b.subarray(0, 4));
    }
  }
  return Buffer.concat(parts);
}

export interface RawGrpcCase {
  /** Full method path, e.g. /im.gateway.v1.IMAGatewayService/PushToUser. */
  readonly path: string;
  readonly bytes: Buffer;
}

/**
 * Request bodies no typed client would send: random bytes, fields of random numbers and wire types,
 * length prefixes that lie, nested garbage; on the real methods and on methods that do not exist.
 */
export const rawGrpcCaseArb: fc.Arbitrary<RawGrpcCase> = fc.record({
  path: fc.oneof(
    { arbitrary: fc.constantFrom(...PUSH_METHODS).map((m) => `/im.gateway.v1.IMAGatewayService/${m}`), weight: 5 },
    { arbitrary: fc.constantFrom('/im.gateway.v1.IMAGatewayService/Nope', '/im.gateway.v1.Nope/PushToUser', '/im.gateway.v1.MUCService/ValidateToken', '/x'), weight: 1 },
  ),
  bytes: fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.array(rawField, { maxLength: 8 }).map(encodeRaw),
    fc.array(rawField, { maxLength: 4 }).map((fs) => Buffer.concat([varint((3 << 3) | 2), varint(encodeRaw(fs).length), encodeRaw(fs)])),
    fc.constantFrom(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Buffer.from([0x1a, 0x02, 0x12, 0x05]), Buffer.alloc(0)),
  ),
});

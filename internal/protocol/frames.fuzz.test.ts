/**
 * Property-based fuzzing of the client frame codec's input side (SPEC.md sections 4 and 8):
 * `decodeClientFrame`, `jsonDepthExceeds`, `peekId`, `peekFrameId`, and `closeReason`.
 * Every property feeds hostile input (deep nesting built as strings, ~1 MB frames, any Unicode
 * with lone surrogates, invalid UTF-8 bytes, prototype keys at every level, edge numbers, wrong
 * types, duplicated keys) and checks that nothing throws and that the answer means what the spec
 * says. No fixed seed: a failure prints its seed and the shrunk counterexample.
 */
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { AckCode, closeReason, MAX_CLOSE_REASON_BYTES } from './codes';
import { decodeClientFrame, jsonDepthExceeds, MAX_ID_LENGTH, MAX_JSON_DEPTH, MAX_METADATA_ENTRIES, MAX_TYPE_LENGTH, peekFrameId, peekId, RESERVED_TYPES } from './frames';
import type { ClientFrame } from './frames';
import { assertNoPrototypePollution } from '../../test/support/pollution';

// The failing assertion goes into fast-check's report (node:test does not print an error's cause).
fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

// ----- generators ---------------------------------------------------------------------------

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'] as const;

/** One unit of hostile text: any code point, a lone surrogate, or a character JSON cares about. */
const hostileUnit = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.constantFrom('"', '\\', '{', '}', '[', ']', ':', ',', '\u0000', '\n', '\u2028', '\ufeff', '\ufffd', 'é', '😀', '"id":"x"') },
);
const hostileString = (maxLength = 24): fc.Arbitrary<string> => fc.string({ unit: hostileUnit, maxLength });

/** Number literals at the edges: valid JSON ones, and ones only a lax parser would take. */
const EDGE_NUMBERS = [
  '-0', '0', '-0.0', '1e308', '-1e308', '1.7976931348623157e308', '5e-324', '9007199254740991', '9007199254740992', '9007199254740993',
  '-9007199254740993', '9223372036854775807', '9223372036854775808', '18446744073709551616', '1e400', '-1e400', '1e-400', '1E+999999999',
  '123456789012345678901234567890123456789', '0.0000000000000000000000000000001',
];
const NOT_JSON_NUMBERS = ['NaN', 'Infinity', '-Infinity', '+1', '01', '.5', '1.', '0x10', '1e', '--1'];

const keyText = fc.oneof(fc.constantFrom(...PROTO_KEYS, 'type', 'id', 'payload', 'metadata', 'polluted'), hostileString(12)).map((k) => JSON.stringify(k));

/** An object literal trying to set `polluted` on a prototype through a prototype key. */
const pollutionText = fc.constantFrom(...PROTO_KEYS).map((k) => `{${JSON.stringify(k)}:{"polluted":true,"toString":1,"constructor":{"prototype":{"polluted":true}}}}`);

const leafText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_NUMBERS, 'true', 'false', 'null', '""', '{}', '[]') },
  { weight: 2, arbitrary: fc.double().map((n) => JSON.stringify(n)) },
  { weight: 3, arbitrary: hostileString().map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: fc.integer({ min: 20, max: 2000 }).map((n) => '9'.repeat(n)) },
  { weight: 2, arbitrary: pollutionText },
);

/** `text` with something that is not JSON spliced in: a lax number, a raw string, a stray token. */
function brokenJson(text: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const junk = fc.oneof(fc.constantFrom(...NOT_JSON_NUMBERS, "'single'", ',', '}', ']', ':', '"', '\\', '/*c*/', 'undefined'), hostileString().map((s) => `"${s}"`));
  return fc.tuple(text, fc.nat(), junk).map(([t, at, j]) => {
    const i = at % (t.length + 1);
    return t.slice(0, i) + j + t.slice(i);
  });
}

/** Any JSON text of modest depth, keys from the prototype names and hostile strings. */
const { json: jsonText } = fc.letrec<{ json: string; arr: string; obj: string }>((tie) => ({
  json: fc.oneof({ depthSize: 'small', maxDepth: 6 }, leafText, tie('arr'), tie('obj')),
  arr: fc.array(tie('json'), { maxLength: 4 }).map((xs) => `[${xs.join(',')}]`),
  obj: fc.array(fc.tuple(keyText, tie('json')), { maxLength: 4 }).map((kv) => `{${kv.map(([k, v]) => `${k}:${v}`).join(',')}}`),
}));

type Shape = 'array' | 'object' | 'mixed';

/** `depth` levels around `inner`, built as a string (the generator never recurses). */
function nest(depth: number, shape: Shape, keys: readonly string[], inner: string): string {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    const isArray = shape === 'array' || (shape === 'mixed' && i % 2 === 0);
    open += isArray ? '[' : `{${JSON.stringify(keys[i % keys.length] ?? 'k')}:`;
    close = (isArray ? ']' : '}') + close;
  }
  return open + inner + close;
}

const shapeArb = fc.constantFrom<Shape>('array', 'object', 'mixed');
const nestKeys = fc.array(fc.constantFrom(...PROTO_KEYS, 'a', 'payload', 'id'), { minLength: 1, maxLength: 6 });

/** Values nesting from a few to thousands of levels (sometimes unclosed). */
const deepText = fc
  .record({ depth: fc.integer({ min: 1, max: 3000 }), shape: shapeArb, keys: nestKeys, inner: leafText, cut: fc.nat({ max: 20 }), truncate: fc.nat({ max: 5 }).map((n) => n === 0) })
  .map(({ depth, shape, keys, inner, cut, truncate }) => {
    const s = nest(depth, shape, keys, inner);
    return truncate ? s.slice(0, Math.max(0, s.length - cut)) : s;
  });

const validType = fc.string({ unit: hostileUnit, minLength: 1, maxLength: MAX_TYPE_LENGTH }).filter((t) => t.length <= MAX_TYPE_LENGTH && t !== 'ping' && !RESERVED_TYPES.has(t) && !t.startsWith('ima.'));
const validId = fc.string({ unit: hostileUnit, minLength: 1, maxLength: MAX_ID_LENGTH }).filter((t) => t.length >= 1 && t.length <= MAX_ID_LENGTH);

const typeValue = fc.oneof(
  { weight: 4, arbitrary: validType.map((t) => JSON.stringify(t)) },
  { weight: 2, arbitrary: fc.constantFrom('"auth"', '"ack"', '"ping"', '"pong"', '"kick"', '"error"', '"ima.x"', '"ima."', '""', '"Ping"', JSON.stringify('t'.repeat(MAX_TYPE_LENGTH + 1))) },
  { weight: 1, arbitrary: leafText },
  { weight: 1, arbitrary: jsonText },
);
const idValue = fc.oneof(
  { weight: 4, arbitrary: validId.map((t) => JSON.stringify(t)) },
  { weight: 1, arbitrary: fc.constantFrom('""', JSON.stringify('i'.repeat(MAX_ID_LENGTH + 1)), '1', 'null', '["a"]', '{"id":"a"}') },
  { weight: 1, arbitrary: leafText },
);
const objectText = (entries: ReadonlyArray<readonly [string, string]>): string => `{${entries.map(([k, v]) => `${k}:${v}`).join(',')}}`;
const metadataValue = fc.oneof(
  { weight: 3, arbitrary: fc.array(fc.tuple(keyText, hostileString().map((s) => JSON.stringify(s))), { maxLength: MAX_METADATA_ENTRIES + 4 }).map(objectText) },
  { weight: 1, arbitrary: fc.array(fc.tuple(keyText, leafText), { maxLength: 4 }).map(objectText) },
  { weight: 1, arbitrary: leafText },
  { weight: 1, arbitrary: jsonText },
);
const payloadValue = fc.oneof({ weight: 3, arbitrary: jsonText }, { weight: 1, arbitrary: leafText }, { weight: 1, arbitrary: deepText });

type Entry = readonly [string, string];
const extraEntry: fc.Arbitrary<Entry> = fc.oneof(
  typeValue.map((v): Entry => ['"type"', v]),
  idValue.map((v): Entry => ['"id"', v]),
  payloadValue.map((v): Entry => ['"payload"', v]),
  metadataValue.map((v): Entry => ['"metadata"', v]),
  fc.tuple(keyText, jsonText),
  fc.tuple(fc.constantFrom(...PROTO_KEYS).map((k) => JSON.stringify(k)), pollutionText),
);

/** A frame object as text: each field maybe present with a value of any type, extra and duplicated keys, any order. */
const frameText = fc
  .record({
    type: fc.option(typeValue, { freq: 6 }),
    id: fc.option(idValue, { freq: 6 }),
    payload: fc.option(payloadValue, { freq: 3 }),
    metadata: fc.option(metadataValue, { freq: 2 }),
    extra: fc.array(extraEntry, { maxLength: 3 }),
    space: fc.constantFrom('', ' ', '\n\t', '\r\n  '),
  })
  .chain(({ type, id, payload, metadata, extra, space }) => {
    const entries: Entry[] = [];
    if (type !== null) entries.push(['"type"', type]);
    if (id !== null) entries.push(['"id"', id]);
    if (payload !== null) entries.push(['"payload"', payload]);
    if (metadata !== null) entries.push(['"metadata"', metadata]);
    entries.push(...extra);
    return fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length }).map((es) => `{${es.map(([k, v]) => `${space}${k}${space}:${space}${v}`).join(',')}${space}}`);
  });

/** Byte sequences no UTF-8 decoder may accept. */
const INVALID_UTF8: readonly (readonly number[])[] = [[0xc0, 0x80], [0xc1, 0xbf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0x80], [0xbf], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xff], [0xfe], [0xe0, 0x80, 0xaf]];

/** Text as UTF-8, sometimes with invalid sequences spliced in, sometimes cut short. */
function corruptedBytes(text: fc.Arbitrary<string>): fc.Arbitrary<Uint8Array> {
  return fc
    .record({ text, splices: fc.array(fc.tuple(fc.nat(), fc.constantFrom(...INVALID_UTF8)), { maxLength: 3 }), cut: fc.option(fc.nat(), { freq: 4 }) })
    .map(({ text: t, splices, cut }) => {
      let bytes = Buffer.from(t, 'utf8');
      for (const [at, seq] of splices) {
        const i = bytes.length === 0 ? 0 : at % (bytes.length + 1);
        bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from(seq), bytes.subarray(i)]);
      }
      if (cut !== null && bytes.length > 0) bytes = bytes.subarray(0, cut % bytes.length);
      return new Uint8Array(bytes);
    });
}

/** Frames up to ~1 MB: a huge payload string, a huge id or type, thousands of metadata keys. */
const largeFrameText = fc
  .record({ chunk: fc.string({ unit: hostileUnit, minLength: 1, maxLength: 8 }), size: fc.integer({ min: 100_000, max: 1_000_000 }), where: fc.constantFrom('payload', 'type', 'id', 'metadata', 'digits', 'array') })
  .map(({ chunk, size, where }) => {
    const big = chunk.repeat(Math.ceil(size / chunk.length)).slice(0, size);
    switch (where) {
      case 'payload':
        return `{"type":"chat","id":"big","payload":${JSON.stringify(big)}}`;
      case 'type':
        return `{"type":${JSON.stringify(big)},"id":"big"}`;
      case 'id':
        return `{"type":"chat","id":${JSON.stringify(big)}}`;
      case 'metadata':
        return `{"type":"chat","id":"big","metadata":{${Array.from({ length: Math.floor(size / 20) }, (_, i) => `"k${i}":"v"`).join(',')}}}`;
      case 'digits':
        return `{"type":"chat","id":"big","payload":${'7'.repeat(size)}}`;
      default:
        return `{"type":"chat","id":"big","payload":[${'0,'.repeat(Math.floor(size / 2))}0]}`;
    }
  });

/** Every kind of frame data: hostile frames, corrupted bytes, deep values, random bytes and text. */
const frameBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 12, arbitrary: frameText.map((t) => new Uint8Array(Buffer.from(t, 'utf8'))) },
  { weight: 2, arbitrary: corruptedBytes(frameText) },
  { weight: 1, arbitrary: brokenJson(frameText).map((t) => new Uint8Array(Buffer.from(t, 'utf8'))) },
  { weight: 2, arbitrary: deepText.map((t) => new Uint8Array(Buffer.from(`{"type":"x","id":"deep","payload":${t}}`, 'utf8'))) },
  { weight: 1, arbitrary: deepText.map((t) => new Uint8Array(Buffer.from(t, 'utf8'))) },
  { weight: 1, arbitrary: jsonText.map((t) => new Uint8Array(Buffer.from(t, 'utf8'))) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
  { weight: 1, arbitrary: hostileString(200).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))) },
  { weight: 1, arbitrary: frameText.map((t) => new Uint8Array(Buffer.from(`\ufeff${t}`, 'utf8'))) },
);

// ----- reference model -----------------------------------------------------------------------

/** Nesting depth of a parsed JSON value (objects and arrays count one level each); iterative. */
function refDepth(root: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[root, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) {
      if (d > max) max = d;
      continue;
    }
    const children = Array.isArray(v) ? (v as unknown[]) : Object.values(v as Record<string, unknown>);
    if (d + 1 > max) max = d + 1;
    for (const c of children) stack.push([c, d + 1]);
  }
  return max;
}

/**
 * Nesting depth of a JSON *text* that JSON.parse accepted: strings blanked by a regex, then the
 * running count of brackets. Unlike `refDepth` of the parse result it sees values that a later
 * duplicate key overwrote: the limit is on what the client sent, not on what survives the parse.
 */
function refTextDepth(json: string): number {
  const bare = json.replace(/"(?:[^"\\]|\\[\s\S])*"/g, '""');
  let depth = 0;
  let max = 0;
  for (const c of bare) {
    if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return max;
}

type Expected =
  | { readonly kind: 'ping' }
  | { readonly kind: 'message'; readonly frame: Record<string, unknown> }
  | { readonly kind: 'invalid'; readonly code: number; readonly frame: Record<string, unknown> | undefined };

function isStr(v: unknown, min: number, max: number): v is string {
  return typeof v === 'string' && v.length >= min && v.length <= max;
}

/**
 * SPEC.md sections 4 and 8 as a reference: strict UTF-8 (a leading BOM ignored, as a WHATWG
 * decoder does), JSON, at most MAX_JSON_DEPTH levels, an object with a `type` of 1 to 64
 * characters; `ping`; reserved types 1001; an `id` of 1 to 64 characters; `metadata` absent,
 * null or an object of at most 32 string values.
 */
function expectedOf(bytes: Uint8Array): Expected {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let text = buf.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(buf)) return { kind: 'invalid', code: AckCode.MALFORMED, frame: undefined };
  if (text.startsWith('\ufeff')) text = text.slice(1);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { kind: 'invalid', code: AckCode.MALFORMED, frame: undefined };
  }
  if (refTextDepth(text) > MAX_JSON_DEPTH) return { kind: 'invalid', code: AckCode.MALFORMED, frame: undefined };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { kind: 'invalid', code: AckCode.MALFORMED, frame: undefined };
  const f = v as Record<string, unknown>;
  const type = f['type'];
  if (!isStr(type, 1, MAX_TYPE_LENGTH)) return { kind: 'invalid', code: AckCode.MALFORMED, frame: f };
  if (type === 'ping') return { kind: 'ping' };
  if (['auth', 'ack', 'ping', 'pong', 'kick', 'error'].includes(type) || type.startsWith('ima.')) return { kind: 'invalid', code: AckCode.RESERVED_TYPE, frame: f };
  if (!isStr(f['id'], 1, MAX_ID_LENGTH)) return { kind: 'invalid', code: AckCode.MALFORMED, frame: f };
  const md = f['metadata'];
  if (md !== undefined && md !== null) {
    if (typeof md !== 'object' || Array.isArray(md)) return { kind: 'invalid', code: AckCode.MALFORMED, frame: f };
    const values = Object.values(md as Record<string, unknown>);
    if (values.length > MAX_METADATA_ENTRIES || values.some((x) => typeof x !== 'string')) return { kind: 'invalid', code: AckCode.MALFORMED, frame: f };
  }
  return { kind: 'message', frame: f };
}

/** What a JSON value becomes after one serialisation: -0 is 0, non-finite numbers are null. */
function jsonNormal(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? (Object.is(v, -0) ? 0 : v) : null;
  if (Array.isArray(v)) return v.map(jsonNormal);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: jsonNormal(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

/** The decoder's answer is always one well-formed ClientFrame variant. */
function assertWellFormed(f: ClientFrame): void {
  switch (f.kind) {
    case 'ping':
      return;
    case 'message':
      assert.ok(isStr(f.type, 1, MAX_TYPE_LENGTH) && isStr(f.id, 1, MAX_ID_LENGTH));
      assert.equal(typeof f.payloadJson, 'string');
      if (f.metadata !== undefined) for (const v of Object.values(f.metadata)) assert.equal(typeof v, 'string');
      return;
    case 'invalid':
      assert.ok(f.code === AckCode.MALFORMED || f.code === AckCode.RESERVED_TYPE, `code ${f.code}`);
      assert.ok(f.id === undefined || isStr(f.id, 1, MAX_ID_LENGTH));
      assert.ok(typeof f.message === 'string' && f.message.length > 0);
      return;
    default:
      assert.fail(`unknown frame kind ${JSON.stringify(f)}`);
  }
}

/** A view of `bytes` at a non-zero offset inside a larger buffer, to catch byteOffset mistakes. */
function offsetView(bytes: Uint8Array, prefix: string): Uint8Array {
  const pre = Buffer.from(prefix, 'utf8');
  const all = new Uint8Array(pre.length + bytes.length + 3);
  all.set(pre, 0);
  all.set(bytes, pre.length);
  all.set([0x7b, 0x22, 0x69], pre.length + bytes.length); // trailing bytes outside the view
  return all.subarray(pre.length, pre.length + bytes.length);
}

// ----- properties ------------------------------------------------------------------------------

describe('decodeClientFrame fuzz', () => {
  test('any data gives a well-formed ClientFrame matching the SPEC reference model, never a throw or pollution', () => {
    fc.assert(
      fc.property(frameBytes, fc.boolean(), (bytes, asArrayBuffer) => {
        const input = asArrayBuffer ? bytes.slice().buffer : offsetView(bytes, '{"type":"ping"}');
        const got = decodeClientFrame(input);
        assertNoPrototypePollution();
        assertWellFormed(got);
        const want = expectedOf(bytes);
        assert.equal(got.kind, want.kind, `kind for ${Buffer.from(bytes).toString('utf8').slice(0, 200)}`);
        if (want.kind === 'invalid' && got.kind === 'invalid') {
          assert.equal(got.code, want.code);
          // an error frame carries the frame's id when it has a valid one
          if (want.frame !== undefined) assert.equal(got.id, isStr(want.frame['id'], 1, MAX_ID_LENGTH) ? want.frame['id'] : undefined);
        }
        if (want.kind === 'message' && got.kind === 'message') {
          assert.equal(got.type, want.frame['type']);
          assert.equal(got.id, want.frame['id']);
          assert.deepEqual(JSON.parse(got.payloadJson), jsonNormal(want.frame['payload'] ?? null));
          const md = want.frame['metadata'];
          assert.deepEqual(got.metadata, md === null ? undefined : md);
        }
      }),
      { numRuns: 600 },
    );
  });

  test('~1 MB frames are decoded (or refused) without a throw; peekFrameId stays bounded', () => {
    fc.assert(
      fc.property(largeFrameText, (text) => {
        const bytes = new Uint8Array(Buffer.from(text, 'utf8'));
        const got = decodeClientFrame(bytes);
        assertWellFormed(got);
        assert.equal(got.kind, expectedOf(bytes).kind);
        // the id is found where it leads the frame, and nowhere past the bounded look
        assert.equal(peekId(text), /^\{"type":"chat","id":"big"/.test(text) ? 'big' : undefined);
        assert.equal(peekFrameId(bytes), peekId(text));
      }),
      { numRuns: 8 },
    );
  });

  test('a well-formed frame round-trips its type, id, payload and metadata', () => {
    const payload = fc.jsonValue({ maxDepth: 8 });
    const metadata = fc.dictionary(fc.oneof(fc.constantFrom(...PROTO_KEYS), hostileString(10)), hostileString(), { maxKeys: MAX_METADATA_ENTRIES });
    fc.assert(
      fc.property(validType, validId, fc.option(payload), fc.option(metadata), (type, id, p, md) => {
        const frame: Record<string, unknown> = { type, id };
        if (p !== null) frame['payload'] = p;
        if (md !== null) frame['metadata'] = md;
        const got = decodeClientFrame(new TextEncoder().encode(JSON.stringify(frame)));
        assertNoPrototypePollution();
        if (got.kind !== 'message') assert.fail(`expected a message, got ${JSON.stringify(got)}`);
        // lone surrogates travel as \u escapes in JSON, so even they survive unchanged
        assert.equal(got.type, type);
        assert.equal(got.id, id);
        assert.deepEqual(JSON.parse(got.payloadJson), jsonNormal(p ?? null));
        if (md === null) assert.equal(got.metadata, undefined);
        else assert.deepEqual({ ...got.metadata }, jsonNormal({ ...md }));
      }),
      { numRuns: 300 },
    );
  });

  test(`exactly ${MAX_JSON_DEPTH} levels are accepted; one more is invalid 1000 with the leading id`, () => {
    fc.assert(
      fc.property(shapeArb, nestKeys, validId.filter((i) => JSON.stringify(i) === `"${i}"`), fc.integer({ min: 0, max: 3 }), (shape, keys, id, extra) => {
        // the frame object is level 1, so its payload may nest MAX_JSON_DEPTH - 1 levels
        const frameOf = (payloadDepth: number): Uint8Array => new TextEncoder().encode(`{"id":${JSON.stringify(id)},"type":"t","payload":${nest(payloadDepth, shape, keys, '0')}}`);
        const atLimit = decodeClientFrame(frameOf(MAX_JSON_DEPTH - 1 - extra));
        assert.equal(atLimit.kind, 'message', JSON.stringify(atLimit));
        const over = decodeClientFrame(frameOf(MAX_JSON_DEPTH + extra));
        assert.deepEqual(over.kind === 'invalid' ? [over.code, over.id] : over, [AckCode.MALFORMED, id]);
        assertNoPrototypePollution();
      }),
      { numRuns: 200 },
    );
  });

  test('brackets inside strings do not count as nesting', () => {
    fc.assert(
      fc.property(fc.integer({ min: MAX_JSON_DEPTH, max: 5000 }), fc.constantFrom('[', '{', '[{', '\\"[', '\\\\'), (n, unit) => {
        const got = decodeClientFrame(new TextEncoder().encode(`{"type":"t","id":"s","payload":"${unit.repeat(n)}","metadata":{"k":"${'{'.repeat(n)}"}}`));
        assert.equal(got.kind, 'message', JSON.stringify(got).slice(0, 200));
      }),
      { numRuns: 50 },
    );
  });

  test('a binary frame is invalid 1000 whatever it holds', () => {
    fc.assert(
      fc.property(frameBytes, (bytes) => {
        const got = decodeClientFrame(bytes, true);
        assert.equal(got.kind, 'invalid');
        if (got.kind === 'invalid') assert.equal(got.code, AckCode.MALFORMED);
      }),
      { numRuns: 200 },
    );
  });
});

describe('jsonDepthExceeds fuzz', () => {
  test('agrees with a recursive depth of the JSON.parse result (shallow values, any spacing)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 10 }), fc.integer({ min: 0, max: 12 }), fc.constantFrom<number | undefined>(undefined, 1, 2), (v, limit, indent) => {
        const text = JSON.stringify(v, null, indent);
        assert.equal(jsonDepthExceeds(text, limit), refDepth(JSON.parse(text)) > limit);
      }),
      { numRuns: 500 },
    );
  });

  test('agrees with the bracket depth of generated hostile JSON text (duplicate keys included), thousands of levels deep', () => {
    fc.assert(
      fc.property(fc.oneof(jsonText, deepText, brokenJson(jsonText)), fc.integer({ min: 0, max: 4000 }), (text, limit) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          assert.equal(typeof jsonDepthExceeds(text, limit), 'boolean'); // not JSON: any answer, no throw
          return;
        }
        assert.equal(jsonDepthExceeds(text, limit), refTextDepth(text) > limit);
        assert.ok(refTextDepth(text) >= refDepth(parsed)); // the two references agree but for overwritten duplicates
      }),
      { numRuns: 300 },
    );
  });

  test('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(hostileString(400), fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a'), maxLength: 400 })), fc.integer({ min: -2, max: 100 }), (text, limit) => {
        assert.equal(typeof jsonDepthExceeds(text, limit), 'boolean');
      }),
      { numRuns: 300 },
    );
  });
});

describe('peekId / peekFrameId fuzz', () => {
  const plainId = fc.string({ unit: hostileUnit, minLength: 1, maxLength: MAX_ID_LENGTH }).filter((i) => i.length <= MAX_ID_LENGTH && !i.includes('"') && !i.includes('\\'));

  test('never throw; the answer is undefined or a plain id of 1 to 64 characters', () => {
    fc.assert(
      fc.property(fc.oneof(hostileString(600), frameText, deepText), (text) => {
        const a = peekId(text);
        const b = peekFrameId(new TextEncoder().encode(text));
        for (const id of [a, b]) if (id !== undefined) assert.ok(id.length >= 1 && id.length <= MAX_ID_LENGTH && !id.includes('"') && !id.includes('\\'), id);
      }),
      { numRuns: 300 },
    );
  });

  test('peekFrameId never throws on any bytes (invalid UTF-8, ArrayBuffer, offset views)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 3000 }), corruptedBytes(frameText)), (bytes) => {
        peekFrameId(bytes);
        peekFrameId(bytes.slice().buffer);
        peekFrameId(offsetView(bytes, '{"id":"WRONG"}'));
      }),
      { numRuns: 300 },
    );
  });

  test('a leading "id" is found, whatever follows (garbage, invalid UTF-8, depth)', () => {
    fc.assert(
      fc.property(plainId, fc.constantFrom('', ' ', '\n '), fc.oneof(fc.uint8Array({ maxLength: 200 }), frameBytes), fc.boolean(), (id, sp, rest, offset) => {
        // raw id text: plainId has no quote or backslash, so it needs no escaping
        const bytes = new Uint8Array(Buffer.concat([Buffer.from(`{${sp}"id"${sp}:${sp}"${id}"`, 'utf8'), Buffer.from(rest)]));
        const wellFormedId = Buffer.from(id, 'utf8').toString('utf8'); // lone surrogates arrive as U+FFFD
        assert.equal(peekFrameId(offset ? offsetView(bytes, '{"id":"WRONG"}') : bytes), wellFormedId);
        assert.equal(peekId(Buffer.from(bytes).toString('utf8')), wellFormedId);
        assert.equal(peekId(`{"id":"${id}","type":"t"}`), id);
      }),
      { numRuns: 300 },
    );
  });
});

// ----- closeReason -------------------------------------------------------------------------------

const reasonUnit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('a', ' ', '~') }, // 1 byte
  { weight: 2, arbitrary: fc.constantFrom('é', 'ß', 'ж', '\u07ff') }, // 2 bytes
  { weight: 2, arbitrary: fc.constantFrom('中', '€', '\u0800', '\uffff', '\ufffd') }, // 3 bytes
  { weight: 2, arbitrary: fc.constantFrom('😀', '\u{10000}', '\u{10ffff}', '👩‍👩‍👧') }, // 4 bytes (and a ZWJ sequence)
  { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);
const wellFormedReason = fc.oneof(fc.string({ unit: reasonUnit, maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 0, max: 50_000 }).map((n) => '€'.repeat(n)));

/** The longest-prefix / boundary / size rules of closeReason, for a well-formed input. */
function assertCloseReason(input: string, r: string): void {
  const bytes = Buffer.byteLength(r, 'utf8');
  assert.ok(bytes <= MAX_CLOSE_REASON_BYTES, `${bytes} bytes`);
  assert.equal(Buffer.from(r, 'utf8').toString('utf8'), r, 'valid UTF-8 (no lone surrogate, no cut character)');
  assert.ok(input.startsWith(r), 'a prefix of the input');
  if (Buffer.byteLength(input, 'utf8') <= MAX_CLOSE_REASON_BYTES) {
    assert.equal(r, input, 'a reason that fits is unchanged');
  } else {
    // the longest prefix: the next whole code point would not fit
    const next = input.codePointAt(r.length);
    assert.ok(next !== undefined);
    assert.ok(bytes + Buffer.byteLength(String.fromCodePoint(next), 'utf8') > MAX_CLOSE_REASON_BYTES, 'cut earlier than needed');
  }
}

describe('closeReason fuzz', () => {
  test('a prefix on a character boundary, at most 123 UTF-8 bytes, valid UTF-8, unchanged when it fits', () => {
    fc.assert(
      fc.property(wellFormedReason, (reason) => assertCloseReason(reason, closeReason(reason))),
      { numRuns: 1000 },
    );
  });

  test(
    'a reason with lone surrogates still gives valid UTF-8 (the well-formed prefix): they become U+FFFD',
    () => {
      const withSurrogates = fc.string({ unit: fc.oneof(reasonUnit, fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c))), maxLength: 200 });
      fc.assert(
        fc.property(withSurrogates, (reason) => {
          const wellFormed = Buffer.from(reason, 'utf8').toString('utf8'); // lone surrogates -> U+FFFD, as toWellFormed()
          assertCloseReason(wellFormed, closeReason(reason));
        }),
        { numRuns: 500 },
      );
    },
  );
});

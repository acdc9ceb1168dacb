import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { AckCode } from './codes';
import {
  decodeClientFrame,
  encodeAck,
  encodeAuthFail,
  encodeAuthOk,
  encodeError,
  encodeKick,
  encodePong,
  encodeServerMessage,
  MAX_ID_LENGTH,
  MAX_METADATA_ENTRIES,
  MAX_TYPE_LENGTH,
  RESERVED_TYPES,
} from './frames';
import type { ClientFrame, OutgoingMessage } from './frames';

const utf8 = new TextEncoder();

function bytes(text: string): Uint8Array {
  return utf8.encode(text);
}

function decode(value: unknown): ClientFrame {
  return decodeClientFrame(bytes(typeof value === 'string' ? value : JSON.stringify(value)));
}

function assertInvalid(frame: ClientFrame, code: number, id: string | undefined): string {
  assert.equal(frame.kind, 'invalid', `expected invalid, got ${JSON.stringify(frame)}`);
  if (frame.kind !== 'invalid') throw new Error('unreachable');
  assert.equal(frame.code, code);
  assert.equal(frame.id, id);
  assert.equal(typeof frame.message, 'string');
  assert.ok(frame.message.length > 0);
  return frame.message;
}

function assertMessage(frame: ClientFrame): Extract<ClientFrame, { kind: 'message' }> {
  assert.equal(frame.kind, 'message', `expected message, got ${JSON.stringify(frame)}`);
  if (frame.kind !== 'message') throw new Error('unreachable');
  return frame;
}

describe('decodeClientFrame', () => {
  describe('ping', () => {
    test('{"type":"ping"} is a heartbeat', () => {
      assert.deepEqual(decode({ type: 'ping' }), { kind: 'ping' });
    });

    test('a ping with extra fields (id, payload) is still a heartbeat, never forwarded', () => {
      // `ping` is a reserved type: it is answered with a pong, not forwarded (SPEC.md section 4).
      assert.deepEqual(decode({ type: 'ping', id: 'p-1' }), { kind: 'ping' });
      assert.deepEqual(decode({ type: 'ping', payload: { x: 1 }, ts: 5 }), { kind: 'ping' });
    });

    test('accepts an ArrayBuffer as well as a Uint8Array', () => {
      const u8 = bytes('{"type":"ping"}');
      const ab = new ArrayBuffer(u8.byteLength);
      new Uint8Array(ab).set(u8);
      assert.deepEqual(decodeClientFrame(ab), { kind: 'ping' });
    });

    test('a Uint8Array view into a larger buffer decodes only its own bytes', () => {
      const whole = bytes('garbage{"type":"ping"}garbage');
      const view = whole.subarray(7, 7 + '{"type":"ping"}'.length);
      assert.deepEqual(decodeClientFrame(view), { kind: 'ping' });
    });
  });

  describe('messages', () => {
    test('a message with payload and metadata', () => {
      const m = assertMessage(decode({ type: 'chat.send', id: 'm-1', payload: { to: 'u2', text: 'hi' }, metadata: { a: '1', b: '' } }));
      assert.equal(m.type, 'chat.send');
      assert.equal(m.id, 'm-1');
      assert.equal(m.payloadJson, '{"to":"u2","text":"hi"}');
      assert.deepEqual(m.metadata, { a: '1', b: '' });
    });

    test('a message without payload has payloadJson "null" and no metadata', () => {
      const m = assertMessage(decode({ type: 'chat.read', id: 'm-2' }));
      assert.equal(m.payloadJson, 'null');
      assert.equal(m.metadata, undefined);
    });

    test('an explicit null payload is "null"; null metadata is treated as absent', () => {
      const m = assertMessage(decode({ type: 't', id: 'i', payload: null, metadata: null }));
      assert.equal(m.payloadJson, 'null');
      assert.equal(m.metadata, undefined);
    });

    test('an empty metadata object is accepted', () => {
      const m = assertMessage(decode({ type: 't', id: 'i', metadata: {} }));
      assert.deepEqual(m.metadata, {});
    });

    test('payload of every JSON kind is re-serialised exactly (compact JSON.stringify of the value)', () => {
      const cases: Array<[string, string]> = [
        ['"hello"', '"hello"'],
        ['42', '42'],
        ['-1.5e3', '-1500'],
        ['true', 'true'],
        ['false', 'false'],
        ['[1, 2, {"a" : [ ] }]', '[1,2,{"a":[]}]'],
        ['{ "z": 1, "a": { "nested": "é漢字😀" } }', '{"z":1,"a":{"nested":"é漢字😀"}}'],
        ['"line\\nbreak \\"quoted\\" \\u0041"', '"line\\nbreak \\"quoted\\" A"'],
        ['{}', '{}'],
        ['""', '""'],
      ];
      for (const [payloadText, expected] of cases) {
        const m = assertMessage(decode(`{"type":"t","id":"i","payload":${payloadText}}`));
        assert.equal(m.payloadJson, expected, `payload ${payloadText}`);
        // the result is valid JSON that parses back to the same value
        assert.deepEqual(JSON.parse(m.payloadJson), JSON.parse(payloadText));
      }
    });

    test('the payload is UTF-8 JSON text (multi-byte characters survive a byte round trip)', () => {
      const m = assertMessage(decode({ type: 't', id: 'i', payload: { s: 'Grüße 😀' } }));
      assert.equal(Buffer.from(m.payloadJson, 'utf8').toString('utf8'), '{"s":"Grüße 😀"}');
    });

    test('identity-like fields in the frame are ignored (not part of the decoded frame)', () => {
      const m = assertMessage(decode({ type: 't', id: 'i', userId: 'attacker', deviceId: 'x', platform: 'ios' }));
      assert.deepEqual(Object.keys(m).sort(), ['id', 'kind', 'metadata', 'payloadJson', 'type']);
    });

    test('types and ids at the length limits are accepted', () => {
      const type = 't'.repeat(MAX_TYPE_LENGTH);
      const id = 'i'.repeat(MAX_ID_LENGTH);
      const m = assertMessage(decode({ type, id }));
      assert.equal(m.type, type);
      assert.equal(m.id, id);
      assertMessage(decode({ type: 'x', id: 'y' }));
    });

    test('types that only look reserved are forwarded', () => {
      for (const type of ['ima', 'imax.foo', 'Ping', 'AUTH', 'pings', 'my.ima.thing', 'ack2']) {
        assert.equal(assertMessage(decode({ type, id: 'i' })).type, type);
      }
    });

    test('metadata with exactly the maximum number of entries is accepted', () => {
      const md: Record<string, string> = {};
      for (let i = 0; i < MAX_METADATA_ENTRIES; i++) md[`k${i}`] = `v${i}`;
      const m = assertMessage(decode({ type: 't', id: 'i', metadata: md }));
      assert.deepEqual(m.metadata, md);
    });
  });

  describe('malformed frames (1000)', () => {
    test('invalid UTF-8 bytes', () => {
      // {"type":"t","id":"i","payload":"<0xff 0xfe>"}
      const head = bytes('{"type":"t","id":"i","payload":"');
      const tail = bytes('"}');
      const frame = new Uint8Array([...head, 0xff, 0xfe, ...tail]);
      assertInvalid(decodeClientFrame(frame), AckCode.MALFORMED, undefined);
      // a truncated multi-byte sequence
      assertInvalid(decodeClientFrame(new Uint8Array([0x7b, 0xe6, 0x97])), AckCode.MALFORMED, undefined);
      // an unpaired surrogate encoded as UTF-8 (CESU) is not valid UTF-8
      const cesu = new Uint8Array([...bytes('{"type":"t","id":"i","payload":"'), 0xed, 0xa0, 0x80, ...tail]);
      assertInvalid(decodeClientFrame(cesu), AckCode.MALFORMED, undefined);
    });

    test('non-JSON text', () => {
      for (const text of ['hello', '{type:"t"}', '{"type":"t",}', '', ' ', '{"type":"t"', "{'type':'t'}"]) {
        assertInvalid(decode(text), AckCode.MALFORMED, undefined);
      }
    });

    test('JSON that is not an object: array, number, string, boolean, null', () => {
      for (const text of ['[]', '[{"type":"ping"}]', '42', '"ping"', 'true', 'null']) {
        const msg = assertInvalid(decode(text), AckCode.MALFORMED, undefined);
        assert.match(msg, /object/);
      }
    });

    test('missing, empty, non-string or too-long type', () => {
      for (const type of [undefined, '', 5, null, true, ['ping'], { t: 1 }, 't'.repeat(MAX_TYPE_LENGTH + 1)]) {
        const frame = type === undefined ? { id: 'm-1' } : { type, id: 'm-1' };
        const msg = assertInvalid(decode(frame), AckCode.MALFORMED, 'm-1');
        assert.match(msg, /"type"/);
      }
    });

    test('a bad type with a bad id keeps no id', () => {
      assertInvalid(decode({ id: 7 }), AckCode.MALFORMED, undefined);
      assertInvalid(decode({}), AckCode.MALFORMED, undefined);
    });

    test('missing, empty, non-string or too-long id', () => {
      for (const id of [undefined, '', 12, null, false, ['a'], { a: 'b' }, 'i'.repeat(MAX_ID_LENGTH + 1)]) {
        const frame = id === undefined ? { type: 'chat' } : { type: 'chat', id };
        const msg = assertInvalid(decode(frame), AckCode.MALFORMED, undefined);
        assert.match(msg, /"id"/);
      }
    });

    test('metadata that is not an object keeps the id', () => {
      for (const metadata of ['x', 1, true, ['a', 'b'], []]) {
        const msg = assertInvalid(decode({ type: 't', id: 'm-9', metadata }), AckCode.MALFORMED, 'm-9');
        assert.match(msg, /metadata/);
      }
    });

    test('metadata with non-string values keeps the id', () => {
      for (const v of [1, true, null, { a: 'b' }, ['x']]) {
        const msg = assertInvalid(decode({ type: 't', id: 'm-9', metadata: { ok: 'yes', bad: v } }), AckCode.MALFORMED, 'm-9');
        assert.match(msg, /metadata/);
      }
    });

    test('metadata with too many entries keeps the id', () => {
      const md: Record<string, string> = {};
      for (let i = 0; i <= MAX_METADATA_ENTRIES; i++) md[`k${i}`] = 'v';
      const msg = assertInvalid(decode({ type: 't', id: 'm-9', metadata: md }), AckCode.MALFORMED, 'm-9');
      assert.match(msg, new RegExp(String(MAX_METADATA_ENTRIES)));
    });
  });

  describe('reserved types (1001)', () => {
    test('every reserved control type except ping is refused, keeping the id', () => {
      for (const type of ['auth', 'ack', 'pong', 'kick', 'error']) {
        assert.ok(RESERVED_TYPES.has(type));
        const msg = assertInvalid(decode({ type, id: 'r-1', payload: {} }), AckCode.RESERVED_TYPE, 'r-1');
        assert.match(msg, new RegExp(type));
      }
    });

    test('ima.* types are refused, keeping the id', () => {
      for (const type of ['ima.', 'ima.kick', 'ima.internal.anything']) {
        assertInvalid(decode({ type, id: 'r-2' }), AckCode.RESERVED_TYPE, 'r-2');
      }
    });

    test('a reserved type without a (valid) id is still 1001, with no id', () => {
      assertInvalid(decode({ type: 'auth' }), AckCode.RESERVED_TYPE, undefined);
      assertInvalid(decode({ type: 'ima.x', id: '' }), AckCode.RESERVED_TYPE, undefined);
      assertInvalid(decode({ type: 'kick', id: 5 }), AckCode.RESERVED_TYPE, undefined);
    });

    test('RESERVED_TYPES is the set of SPEC.md sections 4 and 10 (server-to-client control types)', () => {
      assert.deepEqual([...RESERVED_TYPES].sort(), ['ack', 'auth', 'error', 'expiring', 'kick', 'ping', 'pong']);
    });

    test('subscribe, unsubscribe and refresh are control frames: decoded, never forwarded', () => {
      assert.deepEqual(decode({ type: 'subscribe', id: 's1', room: 'a:b' }), { kind: 'subscribe', id: 's1', room: 'a:b' });
      assert.deepEqual(decode({ type: 'subscribe', id: 's2', room: 'bad room' }), { kind: 'subscribe', id: 's2', room: null });
      assert.deepEqual(decode({ type: 'subscribe', id: 's3', room: 'r', recoverSeq: 7, recoverEpoch: 'e1' }), { kind: 'subscribe', id: 's3', room: 'r', recover: { seq: 7, epoch: 'e1' } });
      assertInvalid(decode({ type: 'subscribe', id: 's4', room: 'r', recoverSeq: -1, recoverEpoch: 'e' }), AckCode.MALFORMED, 's4');
      assertInvalid(decode({ type: 'subscribe', id: 's5', room: 'r', recoverSeq: 1 }), AckCode.MALFORMED, 's5');
      assert.deepEqual(decode({ type: 'unsubscribe', id: 'u1', room: 'r' }), { kind: 'unsubscribe', id: 'u1', room: 'r' });
      assert.deepEqual(decode({ type: 'refresh', id: 'f1', token: 't' }), { kind: 'refresh', id: 'f1', token: 't' });
      assertInvalid(decode({ type: 'refresh', id: 'f2', token: '' }), AckCode.MALFORMED, 'f2');
      assertInvalid(decode({ type: 'refresh', id: 'f3', token: 'x'.repeat(8193) }), AckCode.MALFORMED, 'f3');
      assertInvalid(decode({ type: 'expiring', id: 'e1' }), AckCode.RESERVED_TYPE, 'e1');
    });
  });
});

describe('encoders', () => {
  test('encodeAuthOk: documented keys, in order, valid JSON', () => {
    const s = encodeAuthOk({ userId: 'u"1', deviceId: 'd\\1', platform: 'ios', instanceId: 'gw-1', heartbeatIntervalMs: 25000 });
    const o: unknown = JSON.parse(s);
    assert.deepEqual(o, { type: 'auth', ok: true, userId: 'u"1', deviceId: 'd\\1', platform: 'ios', instanceId: 'gw-1', heartbeatIntervalMs: 25000 });
    assert.deepEqual(Object.keys(o as object), ['type', 'ok', 'userId', 'deviceId', 'platform', 'instanceId', 'heartbeatIntervalMs']);
  });

  test('encodeAuthFail', () => {
    const o: unknown = JSON.parse(encodeAuthFail(4401, 'authentication "failed"'));
    assert.deepEqual(o, { type: 'auth', ok: false, code: 4401, reason: 'authentication "failed"' });
  });

  test('encodePong', () => {
    assert.deepEqual(JSON.parse(encodePong(1_700_000_000_123)), { type: 'pong', ts: 1_700_000_000_123 });
    assert.deepEqual(JSON.parse(encodePong(0)), { type: 'pong', ts: 0 });
  });

  test('encodeAck without message', () => {
    const s = encodeAck('m-1', 0);
    assert.deepEqual(JSON.parse(s), { type: 'ack', id: 'm-1', code: 0 });
    assert.ok(!s.includes('message'));
  });

  test('encodeAck with an empty message omits it', () => {
    assert.deepEqual(JSON.parse(encodeAck('m-1', 2000, '')), { type: 'ack', id: 'm-1', code: 2000 });
  });

  test('encodeAck with a message', () => {
    assert.deepEqual(JSON.parse(encodeAck('m-1', 1003, 'rate "limited"\n')), { type: 'ack', id: 'm-1', code: 1003, message: 'rate "limited"\n' });
  });

  test('encodeAck escapes the id', () => {
    const id = 'a"b\\c\u0000\u2028</script>';
    assert.deepEqual(JSON.parse(encodeAck(id, 7, 'x')), { type: 'ack', id, code: 7, message: 'x' });
  });

  test('encodeKick', () => {
    assert.deepEqual(JSON.parse(encodeKick(4002, 'kicked by "admin"')), { type: 'kick', code: 4002, reason: 'kicked by "admin"' });
  });

  test('encodeError with and without id', () => {
    assert.deepEqual(JSON.parse(encodeError(1000, 'bad frame')), { type: 'error', code: 1000, message: 'bad frame' });
    const o: unknown = JSON.parse(encodeError(1001, 'reserved', 'r"1'));
    assert.deepEqual(o, { type: 'error', id: 'r"1', code: 1001, message: 'reserved' });
    assert.deepEqual(Object.keys(o as object), ['type', 'id', 'code', 'message']);
  });
});

describe('encodeServerMessage', () => {
  function msg(over: Partial<OutgoingMessage> = {}): OutgoingMessage {
    return { messageId: 'srv-1', type: 'chat.msg', payload: new Uint8Array(0), timestamp: 1_700_000_000_000, replyTo: '', metadata: {}, ...over };
  }
  function parse(s: string): Record<string, unknown> {
    const o: unknown = JSON.parse(s);
    assert.ok(typeof o === 'object' && o !== null && !Array.isArray(o));
    return o as Record<string, unknown>;
  }

  test('a JSON object payload is embedded as JSON, not re-serialised', () => {
    const s = encodeServerMessage(msg({ payload: bytes('{"b": 1, "a": [true, null]}') }));
    assert.equal(s, '{"type":"chat.msg","id":"srv-1","payload":{"b": 1, "a": [true, null]},"ts":1700000000000}');
    assert.deepEqual(parse(s), { type: 'chat.msg', id: 'srv-1', payload: { b: 1, a: [true, null] }, ts: 1_700_000_000_000 });
  });

  test('a JSON string, number, boolean, array, null payload is embedded as that JSON value', () => {
    const cases: Array<[string, unknown]> = [
      ['"hello"', 'hello'],
      ['12.5', 12.5],
      ['-3', -3],
      ['true', true],
      ['[1,"x"]', [1, 'x']],
      ['null', null],
      ['"漢字 😀"', '漢字 😀'],
    ];
    for (const [text, value] of cases) {
      const o = parse(encodeServerMessage(msg({ payload: bytes(text) })));
      assert.deepEqual(o['payload'], value, text);
      assert.equal(o['payloadEncoding'], undefined, text);
    }
  });

  test('JSON surrounded by whitespace is embedded trimmed', () => {
    const s = encodeServerMessage(msg({ payload: bytes('  \n{"a":1}\t\r\n') }));
    assert.equal(s, '{"type":"chat.msg","id":"srv-1","payload":{"a":1},"ts":1700000000000}');
  });

  test('non-JSON UTF-8 bytes go as base64 with payloadEncoding', () => {
    for (const text of ['hello world', '{"a":1', '1 2', '   ', "{'a':1}"]) {
      const payload = bytes(text);
      const o = parse(encodeServerMessage(msg({ payload })));
      assert.equal(o['payloadEncoding'], 'base64', text);
      assert.equal(o['payload'], Buffer.from(payload).toString('base64'), text);
      assert.equal(Buffer.from(o['payload'] as string, 'base64').toString('utf8'), text);
    }
  });

  test('invalid UTF-8 goes as base64 even when it would otherwise look like JSON', () => {
    const payload = new Uint8Array([0x22, 0xff, 0xfe, 0x22]); // "\xff\xfe"
    const o = parse(encodeServerMessage(msg({ payload })));
    assert.equal(o['payloadEncoding'], 'base64');
    assert.deepEqual([...Buffer.from(o['payload'] as string, 'base64')], [0x22, 0xff, 0xfe, 0x22]);
  });

  test('binary bytes (protobuf-like) round-trip through base64', () => {
    const payload = new Uint8Array(256);
    for (let i = 0; i < 256; i++) payload[i] = i;
    const o = parse(encodeServerMessage(msg({ payload })));
    assert.equal(o['payloadEncoding'], 'base64');
    assert.deepEqual(new Uint8Array(Buffer.from(o['payload'] as string, 'base64')), payload);
  });

  test('a payload that is a view into a larger buffer uses only its own bytes', () => {
    const whole = new Uint8Array([1, 2, 3, 0xff, 0xfe, 4, 5]);
    const o = parse(encodeServerMessage(msg({ payload: whole.subarray(3, 5) })));
    assert.equal(o['payloadEncoding'], 'base64');
    assert.deepEqual([...Buffer.from(o['payload'] as string, 'base64')], [0xff, 0xfe]);

    const json = bytes('xx{"a":1}yy');
    const o2 = parse(encodeServerMessage(msg({ payload: json.subarray(2, 9) })));
    assert.deepEqual(o2['payload'], { a: 1 });
  });

  test('an empty payload is null', () => {
    const s = encodeServerMessage(msg());
    assert.equal(s, '{"type":"chat.msg","id":"srv-1","payload":null,"ts":1700000000000}');
  });

  test('replyTo only when non-empty', () => {
    assert.equal(parse(encodeServerMessage(msg({ replyTo: '' })))['replyTo'], undefined);
    assert.ok(!encodeServerMessage(msg({ replyTo: '' })).includes('replyTo'));
    assert.equal(parse(encodeServerMessage(msg({ replyTo: 'c-1"x' })))['replyTo'], 'c-1"x');
  });

  test('metadata only when non-empty', () => {
    const s = encodeServerMessage(msg({ metadata: {} }));
    assert.ok(!s.includes('metadata'));
    const o = parse(encodeServerMessage(msg({ metadata: { k: 'v"1', 'x-y': '' } })));
    assert.deepEqual(o['metadata'], { k: 'v"1', 'x-y': '' });
  });

  test('full frame: keys in documented order with camelCase names', () => {
    const o = parse(encodeServerMessage(msg({ payload: bytes('{"x":1}'), replyTo: 'c-9', metadata: { a: 'b' } })));
    assert.deepEqual(Object.keys(o), ['type', 'id', 'payload', 'ts', 'replyTo', 'metadata']);
    const b = parse(encodeServerMessage(msg({ payload: bytes('not json'), replyTo: 'c-9', metadata: { a: 'b' } })));
    assert.deepEqual(Object.keys(b), ['type', 'id', 'payload', 'payloadEncoding', 'ts', 'replyTo', 'metadata']);
  });

  test('special characters in type and id are escaped', () => {
    const type = 'weird "type" \\ \n \u0001 \u2028 漢';
    const messageId = '</script>"\'\\\t';
    const o = parse(encodeServerMessage(msg({ type, messageId, payload: bytes('1') })));
    assert.equal(o['type'], type);
    assert.equal(o['id'], messageId);
    assert.equal(o['payload'], 1);
  });

  test('the same message encodes to the same string (fan-out writes one string)', () => {
    const m = msg({ payload: bytes('{"a":1}'), replyTo: 'r', metadata: { k: 'v' } });
    assert.equal(encodeServerMessage(m), encodeServerMessage(m));
  });
});

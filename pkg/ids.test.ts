import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  generateInstanceId,
  IdGenerator,
  INSTANCE_ID_RE,
  MESSAGE_ID_LENGTH,
  MESSAGE_ID_RE,
  messageIdTime,
  sanitizeHostname,
} from './ids';

const N = 100_000;

/** Generates `n` ids and checks each is well formed and strictly greater than the previous one. */
function assertStrictlyIncreasing(gen: IdGenerator, n: number): Set<string> {
  const seen = new Set<string>();
  let prev = '';
  for (let i = 0; i < n; i++) {
    const id = gen.next();
    if (id.length !== MESSAGE_ID_LENGTH) assert.fail(`id ${i} has length ${id.length}: ${id}`);
    if (!(id > prev)) assert.fail(`id ${i} ${id} is not greater than ${prev}`);
    seen.add(id);
    prev = id;
  }
  assert.equal(seen.size, n);
  return seen;
}

test('sanitizeHostname keeps the first label as [a-z0-9-], max 20 chars', () => {
  assert.equal(sanitizeHostname('GW-Pod_01.prod.example.com'), 'gw-pod-01');
  assert.equal(sanitizeHostname('a'.repeat(30)), 'a'.repeat(20));
  assert.equal(sanitizeHostname('abcdefghijklmnopqrs_uvw'), 'abcdefghijklmnopqrs');
  assert.equal(sanitizeHostname('--ünï©ode--'), 'n-ode');
  assert.equal(sanitizeHostname(''), 'host');
  assert.equal(sanitizeHostname('***'), 'host');
  assert.equal(sanitizeHostname('.local'), 'host');
});

test('generateInstanceId differs per call and matches the charset', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = generateInstanceId('My_Host.example.com');
    assert.match(id, INSTANCE_ID_RE);
    assert.match(id, /^[a-z0-9-]+$/);
    assert.ok(id.startsWith('ima-my-host-'), id);
    ids.add(id);
  }
  assert.equal(ids.size, 1000);
  assert.match(generateInstanceId(), INSTANCE_ID_RE);
  assert.match(generateInstanceId('x'.repeat(64)), INSTANCE_ID_RE);
  assert.match(generateInstanceId('%%%'), /^ima-host-/);
});

test('ids are unique and strictly increasing with a clock that stands still', () => {
  const gen = new IdGenerator(undefined, () => 1_700_000_000_000);
  const ids = assertStrictlyIncreasing(gen, N);
  for (const id of ids) assert.equal(messageIdTime(id), 1_700_000_000_000);
});

test('ids are unique and strictly increasing with a clock that goes backwards', () => {
  let t = 1_700_000_000_000;
  let calls = 0;
  // Mostly moves back by 1 ms; jumps forward now and then.
  const gen = new IdGenerator(undefined, () => (++calls % 1000 === 0 ? (t += 5000) : --t));
  assertStrictlyIncreasing(gen, N);
});

test('ids are strictly increasing with a real clock and follow its time', () => {
  const before = Date.now();
  const gen = new IdGenerator();
  const ids = [...assertStrictlyIncreasing(gen, 10_000)];
  const first = messageIdTime(ids[0] as string) as number;
  assert.ok(first >= before && first <= Date.now(), `${first} not in [${before}, ${Date.now()}]`);
});

test('counter overflow borrows the next millisecond and stays monotonic', () => {
  const t0 = 1_000_000;
  let t = t0;
  const gen = new IdGenerator('00000000', () => t);
  let prev = '';
  for (let i = 0; i < 32 ** 4; i++) {
    const id = gen.next();
    if (!(id > prev)) assert.fail(`id ${i} not increasing`);
    prev = id;
  }
  const borrowed = gen.next();
  assert.ok(borrowed > prev);
  assert.equal(messageIdTime(prev), t0);
  assert.equal(messageIdTime(borrowed), t0 + 1);
  // The real clock catching up to the borrowed ms keeps counting on it.
  t = t0 + 1;
  const next = gen.next();
  assert.ok(next > borrowed);
  assert.equal(messageIdTime(next), t0 + 1);
  // Once the clock passes it, the counter starts from 0 again.
  t = t0 + 2;
  assert.equal(gen.next(), messageIdPrefix(t0 + 2) + '0000' + '00000000');
});

/** The 11-char time part of an id for `ms`, built independently of the generator. */
function messageIdPrefix(ms: number): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let out = '';
  for (let i = 0, v = ms; i < 11; i++, v = Math.floor(v / 32)) out = alphabet[v % 32] + out;
  return out;
}

test('id layout: time, counter, node tag', () => {
  const gen = new IdGenerator('abcdefgh', () => 1234.9);
  assert.equal(gen.nodeTag, 'ABCDEFGH');
  assert.equal(gen.next(), messageIdPrefix(1234) + '0000ABCDEFGH');
  assert.equal(gen.next(), messageIdPrefix(1234) + '0001ABCDEFGH');
  const later = new IdGenerator('ZZZZZZZZ', () => 1235);
  assert.ok(later.next() > gen.next(), 'a later millisecond sorts after, whatever the node tag');
});

test('negative or NaN clock values are treated as 0', () => {
  let t = -5;
  const gen = new IdGenerator('00000000', () => t);
  assert.equal(gen.next(), '00000000000' + '0000' + '00000000');
  t = Number.NaN;
  assert.equal(gen.next(), '00000000000' + '0001' + '00000000');
});

test('two generators never collide, even on the same clock', () => {
  const clock = (): number => 42;
  const a = new IdGenerator(undefined, clock);
  const b = new IdGenerator(undefined, clock);
  assert.notEqual(a.nodeTag, b.nodeTag);
  const all = new Set<string>();
  for (let i = 0; i < N / 2; i++) {
    all.add(a.next());
    all.add(b.next());
  }
  assert.equal(all.size, N);
});

test('random node tags are Crockford base32 and differ per generator', () => {
  const tags = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const tag = new IdGenerator().nodeTag;
    assert.match(tag, /^[0-9A-HJKMNP-TV-Z]{8}$/);
    tags.add(tag);
  }
  assert.equal(tags.size, 1000);
});

test('ids have a fixed length and charset', () => {
  const gen = new IdGenerator();
  for (let i = 0; i < 1000; i++) {
    const id = gen.next();
    assert.equal(id.length, 23);
    assert.match(id, MESSAGE_ID_RE);
  }
});

test('an invalid node tag is rejected', () => {
  for (const bad of ['', 'ABCDEFG', 'ABCDEFGHI', 'ABCDEFGI', 'ABCD-FGH', 'ABCDEFGU']) {
    assert.throws(() => new IdGenerator(bad), RangeError, bad);
  }
});

test('messageIdTime rejects malformed ids', () => {
  assert.equal(messageIdTime('short'), undefined);
  assert.equal(messageIdTime('0'.repeat(22) + 'U'), undefined);
  assert.equal(messageIdTime('0'.repeat(23)), 0);
});

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { DedupeWindow } from './dedupe-window';

function clock(start = 1_000): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    set: (ms) => {
      t = ms;
    },
  };
}

test('remembers a value for windowMs after set', () => {
  const c = clock();
  const w = new DedupeWindow<string>({ windowMs: 100, maxEntries: 10 }, c.now);
  assert.equal(w.get('a'), undefined);
  w.set('a', 'ack-a');
  assert.equal(w.get('a'), 'ack-a');
  assert.equal(w.size, 1);
  c.advance(99);
  assert.equal(w.get('a'), 'ack-a');
  c.advance(1);
  assert.equal(w.get('a'), undefined);
  assert.equal(w.size, 0);
});

test('get does not extend the window', () => {
  const c = clock();
  const w = new DedupeWindow<number>({ windowMs: 100, maxEntries: 10 }, c.now);
  w.set('a', 1);
  for (let i = 0; i < 9; i++) {
    c.advance(10);
    assert.equal(w.get('a'), 1);
  }
  c.advance(10);
  assert.equal(w.get('a'), undefined);
});

test('re-set replaces the value and refreshes the window', () => {
  const c = clock();
  const w = new DedupeWindow<number>({ windowMs: 100, maxEntries: 10 }, c.now);
  w.set('a', 1);
  c.advance(80);
  w.set('a', 2);
  assert.equal(w.size, 1);
  c.advance(80);
  assert.equal(w.get('a'), 2);
  c.advance(20);
  assert.equal(w.get('a'), undefined);
});

test('over maxEntries the oldest entries are evicted first', () => {
  const c = clock();
  const w = new DedupeWindow<number>({ windowMs: 10_000, maxEntries: 3 }, c.now);
  w.set('a', 1);
  w.set('b', 2);
  w.set('c', 3);
  w.set('d', 4);
  assert.equal(w.size, 3);
  assert.equal(w.get('a'), undefined);
  assert.deepEqual(['b', 'c', 'd'].map((k) => w.get(k)), [2, 3, 4]);
  w.set('e', 5);
  assert.equal(w.get('b'), undefined);
  assert.equal(w.get('c'), 3);
});

test('a re-set entry becomes the newest for eviction', () => {
  const c = clock();
  const w = new DedupeWindow<number>({ windowMs: 10_000, maxEntries: 3 }, c.now);
  w.set('a', 1);
  w.set('b', 2);
  w.set('c', 3);
  w.set('a', 10); // now b is the oldest
  w.set('d', 4);
  assert.equal(w.get('b'), undefined);
  assert.deepEqual(['a', 'c', 'd'].map((k) => w.get(k)), [10, 3, 4]);
});

test('set prunes expired entries from the front', () => {
  const c = clock();
  const w = new DedupeWindow<number>({ windowMs: 100, maxEntries: 1000 }, c.now);
  for (let i = 0; i < 50; i++) w.set(`old${i}`, i);
  c.advance(50);
  for (let i = 0; i < 50; i++) w.set(`mid${i}`, i);
  c.advance(50); // the old ones expire now
  w.set('new', 0);
  assert.equal(w.size, 51);
  assert.equal(w.get('old0'), undefined);
  assert.equal(w.get('mid49'), 49);
});

test('memory stays bounded under a long stream of distinct keys', () => {
  const c = clock();
  const w = new DedupeWindow<number>({ windowMs: 1_000, maxEntries: 500 }, c.now);
  for (let i = 0; i < 100_000; i++) {
    w.set(`k${i}`, i);
    if (i % 10 === 0) c.advance(1);
    assert.ok(w.size <= 500);
  }
  assert.equal(w.get('k99999'), 99_999);
  assert.equal(w.get('k99499'), undefined);
});

test('expired entries do not count when the clock has moved on', () => {
  const c = clock();
  const w = new DedupeWindow<number>({ windowMs: 100, maxEntries: 2 }, c.now);
  w.set('a', 1);
  w.set('b', 2);
  c.advance(100);
  w.set('c', 3);
  w.set('d', 4);
  assert.equal(w.size, 2);
  assert.deepEqual(['c', 'd'].map((k) => w.get(k)), [3, 4]);
});

test('delete forgets a key', () => {
  const c = clock();
  const w = new DedupeWindow<number>({ windowMs: 100, maxEntries: 10 }, c.now);
  w.set('a', 1);
  w.set('b', 2);
  assert.equal(w.delete('a'), true);
  assert.equal(w.get('a'), undefined);
  assert.equal(w.delete('a'), false);
  assert.equal(w.delete('never'), false);
  assert.equal(w.size, 1);
  c.advance(100);
  assert.equal(w.delete('b'), false, 'an expired entry is removed but reported as not live');
  assert.equal(w.size, 0);
  w.set('a', 3);
  assert.equal(w.get('a'), 3);
});

test('falsy values are remembered', () => {
  const c = clock();
  const w = new DedupeWindow<number | null | string>({ windowMs: 100, maxEntries: 10 }, c.now);
  w.set('zero', 0);
  w.set('null', null);
  w.set('empty', '');
  assert.equal(w.get('zero'), 0);
  assert.equal(w.get('null'), null);
  assert.equal(w.get('empty'), '');
});

test('a clock going backwards never resurrects an expired entry via get', () => {
  const c = clock(1_000);
  const w = new DedupeWindow<number>({ windowMs: 100, maxEntries: 10 }, c.now);
  w.set('a', 1); // expires at 1100
  c.set(500);
  w.set('b', 2); // expires at 600, behind a
  c.set(700);
  assert.equal(w.get('b'), undefined);
  assert.equal(w.get('a'), 1);
});

test('out-of-range options are rejected', () => {
  assert.throws(() => new DedupeWindow({ windowMs: 0, maxEntries: 1 }), RangeError);
  assert.throws(() => new DedupeWindow({ windowMs: Infinity, maxEntries: 1 }), RangeError);
  assert.throws(() => new DedupeWindow({ windowMs: 10, maxEntries: 0 }), RangeError);
  assert.throws(() => new DedupeWindow({ windowMs: 10, maxEntries: 2.5 }), RangeError);
});

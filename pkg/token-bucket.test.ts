import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { TokenBucket } from './token-bucket';

function clock(start = 10_000): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
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

function takeAll(b: TokenBucket, limit = 1000): number {
  let n = 0;
  while (n < limit && b.tryTake()) n++;
  return n;
}

test('starts full: burst tokens, then refusal', () => {
  const c = clock();
  const b = new TokenBucket(10, 5, c.now);
  assert.equal(takeAll(b), 5);
  assert.equal(b.tryTake(), false);
  assert.equal(b.available(), 0);
});

test('refills continuously at ratePerSec', () => {
  const c = clock();
  const b = new TokenBucket(10, 5, c.now); // one token per 100 ms
  takeAll(b);
  c.advance(99);
  assert.equal(b.tryTake(), false);
  c.advance(1);
  assert.equal(b.tryTake(), true);
  assert.equal(b.tryTake(), false);
  c.advance(350);
  assert.equal(takeAll(b), 3);
  // The remaining half token is kept.
  c.advance(50);
  assert.equal(b.tryTake(), true);
});

test('many small refills add up despite floating-point drift', () => {
  const c = clock();
  const b = new TokenBucket(3, 1, c.now); // one token per 333.33 ms
  assert.equal(b.tryTake(), true);
  for (let i = 0; i < 3; i++) {
    c.advance(100);
    assert.equal(b.tryTake(), false);
  }
  c.advance(34);
  assert.equal(b.tryTake(), true);
  // 10 refills of 0.1 token pay for one token.
  const d = new TokenBucket(1, 1, c.now);
  assert.equal(d.tryTake(), true);
  for (let i = 0; i < 10; i++) {
    c.advance(100);
    if (i < 9) assert.equal(d.tryTake(), false, `refill ${i}`);
  }
  assert.equal(d.tryTake(), true);
});

test('tokens are capped at burst', () => {
  const c = clock();
  const b = new TokenBucket(100, 4, c.now);
  c.advance(60_000);
  assert.equal(b.available(), 4);
  assert.equal(takeAll(b), 4);
  c.advance(10_000);
  assert.equal(takeAll(b), 4);
});

test('tryTake(n) takes n tokens or nothing', () => {
  const c = clock();
  const b = new TokenBucket(1, 10, c.now);
  assert.equal(b.tryTake(7), true);
  assert.equal(b.tryTake(4), false);
  assert.equal(b.available(), 3);
  assert.equal(b.tryTake(3), true);
  assert.equal(b.tryTake(11), false, 'more than burst never succeeds');
  c.advance(1_000_000);
  assert.equal(b.tryTake(11), false);
  assert.equal(b.tryTake(10), true);
  assert.equal(b.tryTake(0), true);
  assert.equal(b.tryTake(-1), true);
  assert.equal(b.available(), 0);
});

test('rate 0 never refills', () => {
  const c = clock();
  const b = new TokenBucket(0, 3, c.now);
  assert.equal(takeAll(b), 3);
  c.advance(1e9);
  assert.equal(b.tryTake(), false);
});

test('burst 0 refuses everything', () => {
  const c = clock();
  const b = new TokenBucket(1000, 0, c.now);
  c.advance(1000);
  assert.equal(b.tryTake(), false);
});

test('a clock going backwards refills nothing until it catches up', () => {
  const c = clock(10_000);
  const b = new TokenBucket(10, 2, c.now);
  takeAll(b);
  c.set(5_000);
  assert.equal(b.tryTake(), false);
  c.set(10_050);
  assert.equal(b.tryTake(), false);
  c.set(10_100);
  assert.equal(b.tryTake(), true);
});

test('sustained rate matches ratePerSec', () => {
  const c = clock();
  const b = new TokenBucket(50, 10, c.now);
  let taken = 0;
  for (let ms = 0; ms < 10_000; ms++) {
    c.advance(1);
    while (b.tryTake()) taken++;
  }
  // burst + 10 s * 50/s
  assert.ok(Math.abs(taken - 510) <= 1, `${taken}`);
});

test('out-of-range arguments are rejected', () => {
  assert.throws(() => new TokenBucket(-1, 1), RangeError);
  assert.throws(() => new TokenBucket(Infinity, 1), RangeError);
  assert.throws(() => new TokenBucket(1, -1), RangeError);
  assert.throws(() => new TokenBucket(1, Number.NaN), RangeError);
});

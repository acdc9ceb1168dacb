import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Backoff } from './backoff';

function take(b: Backoff, n: number): number[] {
  return Array.from({ length: n }, () => b.next());
}

test('without jitter the delays grow exponentially up to the cap', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
  assert.deepEqual(take(b, 7), [100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(b.attempts, 7);
});

test('a custom multiplier is used', () => {
  const b = new Backoff({ initialMs: 10, maxMs: 10_000, multiplier: 3, jitter: 0 });
  assert.deepEqual(take(b, 5), [10, 30, 90, 270, 810]);
});

test('default jitter 0.2 shortens the delay proportionally', () => {
  // random() = 0 -> full base; random() -> 1 gives base * 0.8.
  assert.deepEqual(take(new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0), 3), [100, 200, 400]);
  assert.deepEqual(take(new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0.5), 3), [90, 180, 360]);
  assert.deepEqual(take(new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0.999999), 5), [80, 160, 320, 640, 800]);
});

test('full jitter spans (0, base] and never exceeds the cap', () => {
  const values = [0, 0.25, 0.5, 0.75, 0.999];
  let i = 0;
  const b = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 1 }, () => values[i++ % values.length] as number);
  assert.deepEqual(take(b, 5), [1000, 750, 500, 250, 1]);
});

test('delays stay within [base*(1-jitter), min(base, maxMs)] with Math.random', () => {
  const b = new Backoff({ initialMs: 50, maxMs: 5000, multiplier: 2, jitter: 0.3 });
  let base = 50;
  for (let i = 0; i < 200; i++) {
    const d = b.next();
    assert.ok(d >= Math.floor(base * 0.7) && d <= base, `attempt ${i}: ${d} for base ${base}`);
    base = Math.min(5000, base * 2);
  }
});

test('reset starts over from initialMs', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
  take(b, 4);
  assert.equal(b.attempts, 4);
  b.reset();
  assert.equal(b.attempts, 0);
  assert.deepEqual(take(b, 2), [100, 200]);
  assert.equal(b.attempts, 2);
});

test('many attempts do not overflow', () => {
  const b = new Backoff({ initialMs: 1, maxMs: 30_000, jitter: 0 });
  take(b, 10_000);
  assert.equal(b.next(), 30_000);
  assert.equal(b.attempts, 10_001);
});

test('initialMs 0 always yields 0', () => {
  assert.deepEqual(take(new Backoff({ initialMs: 0, maxMs: 0 }), 3), [0, 0, 0]);
});

test('out-of-range options are rejected', () => {
  assert.throws(() => new Backoff({ initialMs: -1, maxMs: 10 }), RangeError);
  assert.throws(() => new Backoff({ initialMs: 10, maxMs: 5 }), RangeError);
  assert.throws(() => new Backoff({ initialMs: 10, maxMs: Infinity }), RangeError);
  assert.throws(() => new Backoff({ initialMs: 10, maxMs: 50, multiplier: 0.5 }), RangeError);
  assert.throws(() => new Backoff({ initialMs: 10, maxMs: 50, jitter: 1.5 }), RangeError);
  assert.throws(() => new Backoff({ initialMs: 10, maxMs: 50, jitter: -0.1 }), RangeError);
  assert.throws(() => new Backoff({ initialMs: 10, maxMs: 50, jitter: Number.NaN }), RangeError);
});

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { CircuitBreaker } from './circuit-breaker';
import type { CircuitBreakerOptions } from './circuit-breaker';

function setup(opts: CircuitBreakerOptions): { cb: CircuitBreaker; advance: (ms: number) => void } {
  let t = 1_000;
  const cb = new CircuitBreaker(opts, () => t);
  return {
    cb,
    advance: (ms) => {
      t += ms;
    },
  };
}

/** Makes `n` acquired calls that fail. */
function fail(cb: CircuitBreaker, n: number): void {
  for (let i = 0; i < n; i++) {
    assert.equal(cb.tryAcquire(), true);
    cb.onFailure();
  }
}

test('starts closed and allows calls', () => {
  const { cb } = setup({ failureThreshold: 3, resetTimeoutMs: 100 });
  assert.equal(cb.state, 'closed');
  assert.equal(cb.openedCount, 0);
  for (let i = 0; i < 10; i++) assert.equal(cb.tryAcquire(), true);
});

test('closed -> open after failureThreshold consecutive failures', () => {
  const { cb } = setup({ failureThreshold: 3, resetTimeoutMs: 100 });
  fail(cb, 2);
  assert.equal(cb.state, 'closed');
  fail(cb, 1);
  assert.equal(cb.state, 'open');
  assert.equal(cb.openedCount, 1);
  assert.equal(cb.tryAcquire(), false);
});

test('a success in closed resets the consecutive failure count', () => {
  const { cb } = setup({ failureThreshold: 3, resetTimeoutMs: 100 });
  fail(cb, 2);
  cb.onSuccess();
  fail(cb, 2);
  assert.equal(cb.state, 'closed');
  fail(cb, 1);
  assert.equal(cb.state, 'open');
});

test('open refuses calls until resetTimeoutMs has passed, then half_open', () => {
  const { cb, advance } = setup({ failureThreshold: 1, resetTimeoutMs: 100 });
  fail(cb, 1);
  advance(99);
  assert.equal(cb.state, 'open');
  assert.equal(cb.tryAcquire(), false);
  advance(1);
  assert.equal(cb.state, 'half_open');
});

test('half_open lets exactly halfOpenMaxCalls probes through (default 1)', () => {
  const { cb, advance } = setup({ failureThreshold: 1, resetTimeoutMs: 100 });
  fail(cb, 1);
  advance(100);
  assert.equal(cb.tryAcquire(), true);
  assert.equal(cb.tryAcquire(), false);
  assert.equal(cb.state, 'half_open');

  const three = setup({ failureThreshold: 1, resetTimeoutMs: 100, halfOpenMaxCalls: 3 });
  fail(three.cb, 1);
  three.advance(100);
  assert.deepEqual([1, 2, 3, 4].map(() => three.cb.tryAcquire()), [true, true, true, false]);
});

test('the first tryAcquire after the timeout moves open -> half_open and takes a probe', () => {
  const { cb, advance } = setup({ failureThreshold: 1, resetTimeoutMs: 100 });
  fail(cb, 1);
  advance(150);
  assert.equal(cb.tryAcquire(), true);
  assert.equal(cb.state, 'half_open');
  assert.equal(cb.tryAcquire(), false);
});

test('half_open -> closed on a probe success', () => {
  const { cb, advance } = setup({ failureThreshold: 2, resetTimeoutMs: 100 });
  fail(cb, 2);
  advance(100);
  assert.equal(cb.tryAcquire(), true);
  cb.onSuccess();
  assert.equal(cb.state, 'closed');
  assert.equal(cb.openedCount, 1);
  for (let i = 0; i < 5; i++) assert.equal(cb.tryAcquire(), true);
  // The failure count starts from zero again.
  fail(cb, 1);
  assert.equal(cb.state, 'closed');
  fail(cb, 1);
  assert.equal(cb.state, 'open');
});

test('half_open -> open on a probe failure, with a new timeout', () => {
  const { cb, advance } = setup({ failureThreshold: 1, resetTimeoutMs: 100 });
  fail(cb, 1);
  advance(100);
  assert.equal(cb.tryAcquire(), true);
  advance(30);
  cb.onFailure();
  assert.equal(cb.state, 'open');
  assert.equal(cb.openedCount, 2);
  advance(99);
  assert.equal(cb.tryAcquire(), false);
  advance(1);
  assert.equal(cb.tryAcquire(), true);
  assert.equal(cb.state, 'half_open');
});

test('with several probes the first outcome decides', () => {
  const { cb, advance } = setup({ failureThreshold: 1, resetTimeoutMs: 100, halfOpenMaxCalls: 2 });
  fail(cb, 1);
  advance(100);
  assert.equal(cb.tryAcquire(), true);
  assert.equal(cb.tryAcquire(), true);
  cb.onFailure();
  assert.equal(cb.state, 'open');
  cb.onSuccess(); // the second probe's late outcome is ignored while open
  assert.equal(cb.state, 'open');
  assert.equal(cb.openedCount, 2);
});

test('outcomes reported while open are ignored', () => {
  const { cb, advance } = setup({ failureThreshold: 1, resetTimeoutMs: 100 });
  fail(cb, 1);
  advance(50);
  cb.onFailure();
  cb.onSuccess();
  assert.equal(cb.state, 'open');
  assert.equal(cb.openedCount, 1);
  advance(50); // the timeout was not restarted by the late failure
  assert.equal(cb.state, 'half_open');
});

test('lost probes: a new round is allowed after resetTimeoutMs without an outcome', () => {
  const { cb, advance } = setup({ failureThreshold: 1, resetTimeoutMs: 100 });
  fail(cb, 1);
  advance(100);
  assert.equal(cb.tryAcquire(), true); // never reported
  advance(99);
  assert.equal(cb.tryAcquire(), false);
  advance(1);
  assert.equal(cb.tryAcquire(), true);
  assert.equal(cb.tryAcquire(), false);
  cb.onSuccess();
  assert.equal(cb.state, 'closed');
});

test('out-of-range options are rejected', () => {
  assert.throws(() => new CircuitBreaker({ failureThreshold: 0, resetTimeoutMs: 1 }), RangeError);
  assert.throws(() => new CircuitBreaker({ failureThreshold: 1.5, resetTimeoutMs: 1 }), RangeError);
  assert.throws(() => new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: -1 }), RangeError);
  assert.throws(() => new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: Number.NaN }), RangeError);
  assert.throws(() => new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 1, halfOpenMaxCalls: 0 }), RangeError);
});

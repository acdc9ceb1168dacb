import assert from 'node:assert/strict';
import test from 'node:test';
import { LATE, answerBy, beforeDeadline } from './deadline';

void test('answerBy keeps a tenth of the time left, at most 100 ms, for the answer', () => {
  const now = Date.now();
  assert.equal(answerBy(Infinity), Infinity);
  assert.ok(Math.abs(answerBy(now + 500) - (now + 450)) <= 5);
  assert.ok(Math.abs(answerBy(now + 10_000) - (now + 9_900)) <= 5);
  assert.ok(answerBy(now - 10) <= now - 10);
});

void test('beforeDeadline: the value when in time, LATE when not, rejections passed on', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  assert.equal(await beforeDeadline(Promise.resolve(7), Date.now() + 1000), 7);
  await assert.rejects(beforeDeadline(Promise.reject(new Error('down')), Date.now() + 1000), /down/);
  const never = new Promise<number>(() => undefined);
  const r = beforeDeadline(never, Date.now() + 1000);
  t.mock.timers.tick(900);
  assert.equal(await r, LATE);
  let rejectLate: (e: Error) => void = () => undefined;
  const lateFailure = new Promise<number>((_, reject) => (rejectLate = reject));
  const r2 = beforeDeadline(lateFailure, Date.now() + 1000);
  t.mock.timers.tick(900);
  assert.equal(await r2, LATE);
  rejectLate(new Error('after the deadline')); // must not become an unhandled rejection
  assert.equal(await beforeDeadline(Promise.resolve('x'), Infinity), 'x');
});

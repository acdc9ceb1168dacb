import assert from 'node:assert/strict';
import test from 'node:test';
import { connectionCap, openFileLimit } from './fd-limit';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
`;

void test('openFileLimit reads the soft limit from /proc/self/limits text', () => {
  assert.equal(openFileLimit(LIMITS), 20000);
  assert.equal(openFileLimit(LIMITS.replace('20000                20000', '1024                 4096')), 1024);
  assert.equal(openFileLimit(LIMITS.replace('20000                20000', 'unlimited            unlimited')), null);
  assert.equal(openFileLimit('no such line'), null);
});

void test('openFileLimit of this process is a positive number on Linux', () => {
  const n = openFileLimit();
  if (process.platform === 'linux') assert.ok(n !== null && n > 0, `got ${n}`);
});

void test('connectionCap keeps the reserve free and never goes below 1', () => {
  assert.deepEqual(connectionCap(100_000, 20_000, 512), { cap: 19_488, limited: true });
  assert.deepEqual(connectionCap(1000, 20_000, 512), { cap: 1000, limited: false });
  assert.deepEqual(connectionCap(1000, null, 512), { cap: 1000, limited: false });
  assert.deepEqual(connectionCap(1000, 300, 512), { cap: 1, limited: true });
});

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import test from 'node:test';
import pino from 'pino';
import { runShutdown } from './shutdown';

const silent = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));

void test('steps run in order; a failing step is logged and the next one runs; 0 when all finished', async () => {
  const order: string[] = [];
  const code = await runShutdown(
    [
      { name: 'a', run: () => void order.push('a') },
      {
        name: 'b',
        run: async () => {
          order.push('b');
          throw new Error('broken resource');
        },
      },
      { name: 'c', run: async () => void order.push('c') },
    ],
    1000,
    silent,
  );
  assert.equal(code, 0);
  assert.deepEqual(order, ['a', 'b', 'c']);
});

void test('the deadline covers all steps: past it, 1 and the remaining steps are abandoned', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const order: string[] = [];
  let release: () => void = () => undefined;
  const result = runShutdown(
    [
      { name: 'slow', run: () => new Promise<void>((r) => (release = r)) },
      { name: 'after', run: () => void order.push('after') },
    ],
    5000,
    silent,
  );
  await Promise.resolve();
  t.mock.timers.tick(5000);
  assert.equal(await result, 1);
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [], 'no step starts after the deadline');
});

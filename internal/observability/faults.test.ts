import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import test from 'node:test';
import pino from 'pino';
import { FaultCounter } from './faults';

function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

void test('an escaped error is counted by kind and logged at error level with its stack', () => {
  const { log, lines } = capture();
  const f = new FaultCounter(log);
  f.record('unhandled_rejection', new Error('boom'));
  f.handlerError('message', new RangeError('Maximum call stack size exceeded'));
  f.record('uncaught_exception', 'not an Error');
  assert.deepEqual(f.counts, { uncaught_exception: 1, unhandled_rejection: 1, handler_error: 1 });
  assert.equal(lines.length, 3);
  for (const l of lines) {
    assert.equal(l['level'], 50);
    assert.match(String(l['msg']), /^internal error \(bug\)/);
  }
  const err = lines[1]?.['err'] as { message: string; stack: string };
  assert.equal(lines[1]?.['where'], 'message');
  assert.match(err.stack, /RangeError: Maximum call stack size exceeded/);
});

void test('process handlers catch uncaught exceptions and unhandled rejections, and are removable', () => {
  const { log } = capture();
  const f = new FaultCounter(log);
  const proc = new EventEmitter() as unknown as NodeJS.Process;
  const remove = f.installProcessHandlers(proc);
  proc.emit('uncaughtException', new Error('x'));
  proc.emit('unhandledRejection', new Error('y'), Promise.resolve());
  assert.deepEqual(f.counts, { uncaught_exception: 1, unhandled_rejection: 1, handler_error: 0 });
  remove();
  assert.equal((proc as unknown as EventEmitter).listenerCount('uncaughtException'), 0);
  assert.equal((proc as unknown as EventEmitter).listenerCount('unhandledRejection'), 0);
});

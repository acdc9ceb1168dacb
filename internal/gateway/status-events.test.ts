import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import pino from 'pino';
import type { ConnectionStatus } from '../../api/gen/im/gateway/v1/ConnectionStatus';
import type { Result } from '../../pkg/result';
import type { Logger } from '../observability/logger';
import type { UpstreamError } from './ports';
import { DROP_LOG_INTERVAL_MS, StatusEventQueue } from './status-events';
import type { StatusEventSettings, StatusEventTimers } from './status-events';

type CallResult = Result<void, UpstreamError>;

const OK: CallResult = { ok: true, value: undefined };
const DOWN: CallResult = { ok: false, error: { kind: 'unavailable', message: 'down' } };

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

interface Call {
  readonly event: ConnectionStatus;
  readonly answer: Deferred<CallResult>;
}

/**
 * A controllable business client. mode 'hold': every call waits for the test to answer it through
 * `calls[i].answer`; 'ok' / 'fail': answered at once; 'throw': throws synchronously; 'reject':
 * returns a rejected promise (both break the BusinessClient contract on purpose).
 */
class FakeClient {
  readonly calls: Call[] = [];
  mode: 'hold' | 'ok' | 'fail' | 'throw' | 'reject' = 'ok';

  onConnectionStatus(event: ConnectionStatus): Promise<CallResult> {
    const answer = deferred<CallResult>();
    this.calls.push({ event, answer });
    switch (this.mode) {
      case 'hold':
        break;
      case 'ok':
        answer.resolve(OK);
        break;
      case 'fail':
        answer.resolve(DOWN);
        break;
      case 'throw':
        throw new Error('client exploded');
      case 'reject':
        return Promise.reject(new Error('client rejected'));
    }
    return answer.promise;
  }

  /** Users of the calls made so far, in call order. */
  users(): string[] {
    return this.calls.map((c) => `${c.event.userId}/${c.event.reason}`);
  }

  call(i: number): Call {
    const c = this.calls[i];
    assert.ok(c, `call #${i} was not made; calls: ${this.users().join(', ')}`);
    return c;
  }
}

/** Manual clock: timers fire only when the test advances time. */
class FakeTimers implements StatusEventTimers {
  now = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { at: number; ms: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.set(id, { at: this.now + ms, ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Delays (as requested) of the timers not fired yet, in creation order. */
  delays(): number[] {
    return [...this.pending.values()].map((t) => t.ms);
  }

  get count(): number {
    return this.pending.size;
  }

  /** Moves the clock forward, firing due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      let dueId: number | undefined;
      let due: { at: number; fn: () => void } | undefined;
      for (const [id, t] of this.pending) {
        if (t.at <= until && (due === undefined || t.at < due.at)) {
          dueId = id;
          due = t;
        }
      }
      if (due === undefined || dueId === undefined) break;
      this.pending.delete(dueId);
      this.now = due.at;
      due.fn();
      await settle();
    }
    this.now = until;
    await settle();
  }
}

/** Lets microtasks and promise continuations run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function capturingLogger(level = 'debug'): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

function warnings(lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return lines.filter((l) => l['level'] === 40);
}

let seq = 0;
function ev(userId: string, deviceId = 'd1', event: ConnectionStatus['event'] = 'CONNECTION_EVENT_CONNECTED'): ConnectionStatus {
  return { userId, deviceId, platform: 'ios', online: event === 'CONNECTION_EVENT_CONNECTED', instanceId: 'gw-1', connectedAt: 1, clientIp: '127.0.0.1', event, reason: `r${++seq}` };
}

const BASE: StatusEventSettings = { maxQueue: 100, concurrency: 1, retryInitialMs: 100, retryMaxMs: 1_000, maxAttempts: 0 };

function setup(settings: Partial<StatusEventSettings> = {}, mode: FakeClient['mode'] = 'ok') {
  const client = new FakeClient();
  client.mode = mode;
  const timers = new FakeTimers();
  const { log, lines } = capturingLogger();
  // random() = 0: the jittered delay is the full base delay, so delays are predictable
  const queue = new StatusEventQueue(client, { ...BASE, ...settings }, log, { timers, random: () => 0 });
  return { client, timers, queue, lines };
}

describe('StatusEventQueue', () => {
  test('publish returns at once; events are sent later, in publish order', async () => {
    const { client, queue } = setup({ concurrency: 1 });
    const events = ['u1', 'u2', 'u3', 'u4', 'u5'].map((u) => ev(u));
    for (const e of events) queue.publish(e);
    assert.equal(client.calls.length, 0, 'no call is made inside publish()');
    assert.equal(queue.stats.published, 5);
    assert.equal(queue.stats.depth, 5);
    await settle();
    assert.deepEqual(
      client.calls.map((c) => c.event),
      events,
    );
    assert.equal(queue.stats.sent, 5);
    assert.equal(queue.stats.depth, 0);
    assert.equal(queue.stats.dropped, 0);
    assert.equal(queue.inFlight, 0);
  });

  test('at most `concurrency` calls are in flight', async () => {
    const { client, queue } = setup({ concurrency: 3 }, 'hold');
    for (let i = 0; i < 10; i++) queue.publish(ev(`u${i}`));
    await settle();
    assert.equal(client.calls.length, 3);
    assert.equal(queue.inFlight, 3);
    assert.equal(queue.stats.depth, 7);
    client.call(1).answer.resolve(OK);
    await settle();
    assert.equal(client.calls.length, 4);
    assert.equal(queue.inFlight, 3);
    assert.deepEqual(
      client.calls.map((c) => c.event.userId),
      ['u0', 'u1', 'u2', 'u3'],
    );
    // answer everything as it comes
    for (let i = 0; i < 10; i++) {
      client.call(i).answer.resolve(OK);
      await settle();
      assert.ok(queue.inFlight <= 3);
    }
    assert.equal(client.calls.length, 10);
    assert.equal(queue.stats.sent, 10);
    assert.equal(queue.stats.depth, 0);
  });

  test('events of one (user, device) are never in flight together and keep their order; others skip ahead', async () => {
    const { client, queue } = setup({ concurrency: 4 }, 'hold');
    const a1 = ev('a', 'd1', 'CONNECTION_EVENT_CONNECTED');
    const a2 = ev('a', 'd1', 'CONNECTION_EVENT_DISCONNECTED');
    const b1 = ev('b');
    const a3 = ev('a', 'd1', 'CONNECTION_EVENT_CONNECTED');
    const a4 = ev('a', 'd2'); // another device of the same user is another key
    const c1 = ev('c');
    for (const e of [a1, a2, b1, a3, a4, c1]) queue.publish(e);
    await settle();
    assert.deepEqual(
      client.calls.map((c) => c.event),
      [a1, b1, a4, c1],
    );
    assert.equal(queue.stats.depth, 2);
    client.call(1).answer.resolve(OK); // b1: a2 still waits for a1
    await settle();
    assert.equal(client.calls.length, 4);
    client.call(0).answer.resolve(OK); // a1 -> a2
    await settle();
    assert.equal(client.calls[4]?.event, a2);
    assert.equal(client.calls.length, 5);
    client.call(4).answer.resolve(OK); // a2 -> a3
    await settle();
    assert.equal(client.calls[5]?.event, a3);
    for (const c of client.calls) c.answer.resolve(OK);
    await settle();
    assert.equal(queue.stats.sent, 6);
    assert.deepEqual(
      client.calls.filter((c) => c.event.userId === 'a' && c.event.deviceId === 'd1').map((c) => c.event),
      [a1, a2, a3],
    );
  });

  test('a failed call is retried after a backoff, before later events; no call starts while backing off', async () => {
    const { client, queue, timers, lines } = setup({ concurrency: 2, retryInitialMs: 100, retryMaxMs: 1_000 }, 'hold');
    const a1 = ev('a');
    const b1 = ev('b');
    queue.publish(a1);
    queue.publish(b1);
    await settle();
    assert.equal(client.calls.length, 2);
    client.call(0).answer.resolve(DOWN);
    await settle();
    assert.equal(queue.backingOff, true);
    assert.deepEqual(timers.delays(), [100]);
    assert.equal(queue.stats.retried, 1);
    // publish keeps accepting while backing off, but nothing is sent
    const c1 = ev('c');
    const a2 = ev('a');
    queue.publish(c1);
    queue.publish(a2);
    client.call(1).answer.resolve(DOWN); // a failure during the backoff does not lengthen it
    await settle();
    assert.deepEqual(timers.delays(), [100]);
    assert.equal(client.calls.length, 2);
    assert.equal(queue.stats.depth, 4);
    await timers.advance(99);
    assert.equal(client.calls.length, 2);
    await timers.advance(1);
    // one probe call, with the oldest event
    assert.equal(client.calls.length, 3);
    assert.equal(client.call(2).event, a1);
    client.call(2).answer.resolve(DOWN);
    await settle();
    assert.deepEqual(timers.delays(), [200], 'the backoff grows');
    await timers.advance(200);
    assert.equal(client.calls.length, 4);
    assert.equal(client.call(3).event, a1);
    client.call(3).answer.resolve(OK);
    await settle();
    // success: full concurrency again, oldest first; a2 waits for nothing now that a1 is sent
    assert.deepEqual(
      client.calls.slice(4).map((c) => c.event),
      [b1, c1],
    );
    client.call(4).answer.resolve(OK);
    await settle();
    assert.equal(client.call(6).event, a2);
    client.call(5).answer.resolve(DOWN); // c1 fails: the backoff starts again from its first delay
    await settle();
    assert.deepEqual(timers.delays(), [100]);
    client.call(6).answer.resolve(OK);
    await timers.advance(100);
    client.call(7).answer.resolve(OK);
    await settle();
    assert.equal(client.call(7).event, c1);
    assert.deepEqual(
      { sent: queue.stats.sent, retried: queue.stats.retried, dropped: queue.stats.dropped, depth: queue.stats.depth },
      { sent: 4, retried: 4, dropped: 0, depth: 0 },
    );
    assert.equal(queue.backingOff, false);
    // one debug line per failed call, no warning (nothing was dropped)
    assert.equal(lines.filter((l) => l['msg'] === 'status event call failed').length, 4);
    assert.equal(warnings(lines).length, 0);
  });

  test('a later event of a (user, device) waits while an earlier one waits for its retry', async () => {
    const { client, queue, timers } = setup({ concurrency: 4 }, 'hold');
    const a1 = ev('a');
    const a2 = ev('a');
    queue.publish(a1);
    queue.publish(a2);
    await settle();
    client.call(0).answer.resolve(DOWN);
    await settle();
    await timers.advance(100);
    assert.equal(client.calls.length, 2);
    assert.equal(client.call(1).event, a1, 'a1 is retried before a2 is sent');
    client.call(1).answer.resolve(OK);
    await settle();
    assert.equal(client.call(2).event, a2);
  });

  test('the queue bound drops the oldest queued events, counts them and warns once per 10 s', async () => {
    const { client, queue, timers, lines } = setup({ maxQueue: 3, concurrency: 1 }, 'hold');
    const events = Array.from({ length: 6 }, (_, i) => ev(`u${i}`));
    queue.publish(events[0]!);
    await settle(); // u0 in flight (not counted in the bound)
    for (const e of events.slice(1)) queue.publish(e);
    assert.equal(queue.stats.depth, 3);
    assert.equal(queue.stats.dropped, 2);
    assert.equal(queue.stats.published, 6);
    const first = warnings(lines);
    assert.equal(first.length, 1);
    assert.equal(first[0]?.['msg'], 'status events are being dropped');
    // many more drops within the window: no more lines
    for (let i = 0; i < 1000; i++) queue.publish(ev(`x${i}`));
    assert.equal(queue.stats.dropped, 1002);
    assert.equal(queue.stats.depth, 3);
    assert.equal(warnings(lines).length, 1);
    await timers.advance(DROP_LOG_INTERVAL_MS);
    const summary = warnings(lines);
    assert.equal(summary.length, 2);
    assert.equal(summary[1]?.['dropped'], 1001, 'every drop after the first warning');
    assert.equal(summary[1]?.['droppedTotal'], 1002);
    // a quiet window ends the summaries
    await timers.advance(DROP_LOG_INTERVAL_MS);
    assert.equal(warnings(lines).length, 2);
    assert.equal(timers.count, 0);
    // the newest events survive, in order
    client.mode = 'ok';
    client.call(0).answer.resolve(OK);
    await settle();
    assert.deepEqual(
      client.calls.map((c) => c.event.userId),
      ['u0', 'x997', 'x998', 'x999'],
    );
    assert.equal(queue.stats.sent, 4);
    assert.equal(queue.stats.published, queue.stats.sent + queue.stats.dropped);
  });

  test('events waiting for a retry count in the bound and are dropped first (oldest)', async () => {
    const { client, queue, timers } = setup({ maxQueue: 2, concurrency: 1 }, 'fail');
    queue.publish(ev('a'));
    await settle(); // a failed, waits for retry
    assert.equal(queue.stats.depth, 1);
    queue.publish(ev('b'));
    queue.publish(ev('c')); // a is the oldest: dropped
    assert.equal(queue.stats.dropped, 1);
    client.mode = 'ok';
    await timers.advance(100);
    assert.deepEqual(
      client.calls.map((c) => c.event.userId),
      ['a', 'b', 'c'],
    );
    assert.equal(queue.stats.sent, 2);
  });

  test('a failed event coming back to a full queue is the oldest and is dropped', async () => {
    const { client, queue, timers } = setup({ maxQueue: 2, concurrency: 1 }, 'hold');
    queue.publish(ev('a'));
    await settle(); // a in flight
    queue.publish(ev('b'));
    queue.publish(ev('c'));
    assert.equal(queue.stats.depth, 2);
    client.call(0).answer.resolve(DOWN);
    await settle();
    assert.equal(queue.stats.depth, 2);
    assert.equal(queue.stats.dropped, 1);
    client.mode = 'ok';
    await timers.advance(100);
    assert.deepEqual(
      client.calls.map((c) => c.event.userId),
      ['a', 'b', 'c'],
    );
    assert.equal(queue.stats.sent, 2);
  });

  test('an event failing maxAttempts times is dropped and counted', async () => {
    const { client, queue, timers, lines } = setup({ maxAttempts: 2, concurrency: 1 }, 'fail');
    const a = ev('a');
    const b = ev('b');
    queue.publish(a);
    queue.publish(b);
    await settle();
    assert.equal(client.calls.length, 1);
    assert.equal(queue.stats.retried, 1);
    await timers.advance(100); // second attempt of a fails: dropped
    assert.equal(client.calls.length, 2);
    assert.equal(client.call(1).event, a);
    assert.equal(queue.stats.dropped, 1);
    assert.equal(queue.stats.depth, 1);
    const w = warnings(lines);
    assert.equal(w.length, 1);
    assert.equal(w[0]?.['maxAttempts'], 1);
    client.mode = 'ok';
    await timers.advance(200);
    assert.equal(client.call(2).event, b);
    assert.deepEqual(
      { sent: queue.stats.sent, retried: queue.stats.retried, dropped: queue.stats.dropped, depth: queue.stats.depth },
      { sent: 1, retried: 1, dropped: 1, depth: 0 },
    );
  });

  test('flush resolves once everything pending is delivered, before its timeout', async () => {
    const { client, queue, timers } = setup({ concurrency: 2 }, 'hold');
    await queue.flush(1_000); // nothing pending: at once
    for (let i = 0; i < 4; i++) queue.publish(ev(`u${i}`));
    let done = false;
    const p = queue.flush(1_000).then(() => {
      done = true;
    });
    await settle();
    for (let i = 0; i < 4; i++) {
      assert.equal(done, false);
      client.call(i).answer.resolve(OK);
      await settle();
    }
    await p;
    assert.equal(done, true);
    assert.equal(timers.now, 0, 'no time passed');
    assert.equal(timers.count, 0, 'the flush timer is cleared');
    assert.equal(queue.stats.sent, 4);
  });

  test('flush returns after its timeout when the service is down', async () => {
    const { queue, timers } = setup({ concurrency: 2, retryInitialMs: 100, retryMaxMs: 100 }, 'fail');
    queue.publish(ev('a'));
    queue.publish(ev('b'));
    let done = false;
    const p = queue.flush(500).then(() => {
      done = true;
    });
    await timers.advance(499);
    assert.equal(done, false);
    await timers.advance(1);
    await p;
    assert.equal(done, true);
    assert.equal(queue.stats.depth, 2, 'the events are still queued');
    assert.equal(queue.stats.sent, 0);
    queue.close();
  });

  test('close discards queued events (counted), lets in-flight calls finish and resolves flush', async () => {
    const { client, queue, timers, lines } = setup({ concurrency: 1 }, 'hold');
    for (let i = 0; i < 5; i++) queue.publish(ev(`u${i}`));
    await settle();
    let flushed = false;
    const p = queue.flush(60_000).then(() => {
      flushed = true;
    });
    queue.close();
    await p;
    assert.equal(flushed, true);
    assert.equal(queue.stats.depth, 0);
    assert.equal(queue.stats.dropped, 4);
    assert.equal(warnings(lines).at(-1)?.['closed'], 4);
    client.call(0).answer.resolve(OK);
    await settle();
    assert.equal(queue.stats.sent, 1);
    assert.equal(client.calls.length, 1, 'nothing is sent after close');
    queue.publish(ev('late'));
    await settle();
    assert.equal(client.calls.length, 1);
    assert.equal(queue.stats.published, 6);
    assert.equal(queue.stats.dropped, 5);
    assert.equal(queue.stats.published, queue.stats.sent + queue.stats.dropped);
    queue.close(); // idempotent
    await queue.flush(1_000); // at once after close
    // the log window timer of the late drop is the only timer left, and it ends by itself
    await timers.advance(DROP_LOG_INTERVAL_MS * 2);
    assert.equal(timers.count, 0);
  });

  test('a failed in-flight call after close is dropped, not retried', async () => {
    const { client, queue, timers } = setup({ concurrency: 1 }, 'hold');
    queue.publish(ev('a'));
    await settle();
    queue.close();
    client.call(0).answer.resolve(DOWN);
    await settle();
    assert.equal(queue.stats.dropped, 1);
    assert.equal(queue.stats.retried, 0);
    assert.equal(queue.backingOff, false);
    await timers.advance(10_000);
    assert.equal(client.calls.length, 1);
  });

  test('publish never throws, even when the client throws or rejects', async () => {
    for (const mode of ['throw', 'reject'] as const) {
      const { client, queue, timers } = setup({ concurrency: 2 }, mode);
      assert.doesNotThrow(() => queue.publish(ev('a')));
      assert.doesNotThrow(() => queue.publish({}));
      await settle();
      assert.equal(client.calls.length, 2, mode);
      assert.equal(queue.stats.retried, 2, mode);
      assert.equal(queue.backingOff, true, mode);
      client.mode = 'ok';
      await timers.advance(100);
      await settle();
      assert.equal(queue.stats.sent, 2, mode);
      assert.equal(queue.stats.depth, 0, mode);
    }
  });

  test('a logger that throws does not make publish throw', () => {
    const log = pino({ level: 'debug' }, { write: () => { throw new Error('disk full'); } });
    const queue = new StatusEventQueue(new FakeClient(), { ...BASE, maxQueue: 1 }, log, { timers: new FakeTimers() });
    assert.doesNotThrow(() => {
      queue.publish(ev('a'));
      queue.publish(ev('b')); // drop -> warn -> logger throws
    });
    assert.equal(queue.stats.dropped, 1);
    queue.close();
  });

  test('invalid settings are rejected', () => {
    const log = pino({ level: 'silent' });
    const c = new FakeClient();
    assert.throws(() => new StatusEventQueue(c, { ...BASE, maxQueue: 0 }, log), RangeError);
    assert.throws(() => new StatusEventQueue(c, { ...BASE, concurrency: 0 }, log), RangeError);
    assert.throws(() => new StatusEventQueue(c, { ...BASE, maxAttempts: -1 }, log), RangeError);
    assert.throws(() => new StatusEventQueue(c, { ...BASE, retryInitialMs: 10, retryMaxMs: 5 }, log), RangeError);
  });

  test('with the real timers, a failed call is retried after the backoff and flush waits for it', async () => {
    const calls: ConnectionStatus[] = [];
    // the first call fails, the next ones succeed
    const client = { onConnectionStatus: (e: ConnectionStatus) => (calls.push(e), Promise.resolve(calls.length === 1 ? DOWN : OK)) };
    const queue = new StatusEventQueue(client, { ...BASE, retryInitialMs: 20, retryMaxMs: 20 }, pino({ level: 'silent' }));
    const a = ev('a');
    queue.publish(a);
    await queue.flush(5_000);
    assert.deepEqual(calls, [a, a]);
    assert.equal(queue.stats.sent, 1);
    assert.equal(queue.stats.retried, 1);
    queue.close();
  });
});

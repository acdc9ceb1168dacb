/**
 * StatusEventQueue against a real BusinessMessageService over gRPC (GrpcBusinessClient over an
 * UpstreamPool): delivery and per-(user, device) order, retries while the service answers
 * UNAVAILABLE, and delivery after the service is stopped and restarted on the same port.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, test } from 'node:test';
import pino from 'pino';
import type { ConnectionStatus } from '../../api/gen/im/gateway/v1/ConnectionStatus';
import { StatusEventQueue } from '../../internal/gateway/status-events';
import type { StatusEventSettings } from '../../internal/gateway/status-events';
import { GrpcBusinessClient } from '../../internal/rpc/business';
import type { BusinessClient } from '../../internal/rpc/business';
import { loadProto } from '../../internal/rpc/proto';
import { UpstreamPool } from '../../internal/rpc/upstream';
import type { UpstreamError } from '../../internal/rpc/upstream';
import type { Result } from '../../pkg/result';
import { TestBusinessService } from '../support/test-services';
import type { ConnectionStatusOutput } from '../support/test-services';

const SETTINGS: StatusEventSettings = { maxQueue: 1_000, concurrency: 4, retryInitialMs: 50, retryMaxMs: 500, maxAttempts: 0 };

let biz: TestBusinessService;
const cleanups: Array<() => Promise<void> | void> = [];

before(async () => {
  biz = await TestBusinessService.start();
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  await biz?.stop();
});

/** Passes calls to the real client and records each outcome, so tests can await failures. */
class RecordingClient implements Pick<BusinessClient, 'onConnectionStatus'> {
  readonly outcomes: Array<{ readonly userId: string; readonly ok: boolean }> = [];
  private readonly emitter = new EventEmitter();

  constructor(private readonly inner: BusinessClient) {}

  async onConnectionStatus(status: ConnectionStatus): Promise<Result<void, UpstreamError>> {
    const r = await this.inner.onConnectionStatus(status);
    this.outcomes.push({ userId: status.userId ?? '', ok: r.ok });
    this.emitter.emit('outcome');
    return r;
  }

  failures(prefix: string): number {
    return this.outcomes.filter((o) => !o.ok && o.userId.startsWith(prefix)).length;
  }

  /** Resolves once at least n calls of users starting with prefix have failed. */
  waitForFailures(prefix: string, n: number, timeoutMs = 5_000): Promise<void> {
    if (this.failures(prefix) >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.failures(prefix) < n) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${n} failed calls of ${prefix}*; got ${this.failures(prefix)}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.emitter.off('outcome', check);
      };
      this.emitter.on('outcome', check);
    });
  }
}

/** A real GrpcBusinessClient for the service at `address`, wrapped in a recorder, and a queue over it. */
function queueFor(address: string): { queue: StatusEventQueue; client: RecordingClient } {
  const pool = new UpstreamPool('BusinessMessageService', loadProto().grpcType.im.gateway.v1.BusinessMessageService, [address]);
  const grpcClient = new GrpcBusinessClient(pool, { version: '', group: '', appName: 'test' }, 500);
  const client = new RecordingClient(grpcClient);
  const queue = new StatusEventQueue(client, SETTINGS, pino({ level: 'silent' }));
  cleanups.push(async () => {
    queue.close();
    await grpcClient.close();
  });
  return { queue, client };
}

let seq = 0;
function status(userId: string, deviceId: string, event: NonNullable<ConnectionStatus['event']>): ConnectionStatus {
  return {
    userId,
    deviceId,
    platform: 'ios',
    online: event === 'CONNECTION_EVENT_CONNECTED',
    instanceId: 'gw-it',
    connectedAt: Date.now(),
    clientIp: '10.0.0.1',
    event,
    reason: `#${++seq}`,
  };
}

/** connect, disconnect, kick for each user and device, in that order per (user, device). */
function lifecycleEvents(prefix: string, users: number, devices: readonly string[]): ConnectionStatus[] {
  const out: ConnectionStatus[] = [];
  for (const event of ['CONNECTION_EVENT_CONNECTED', 'CONNECTION_EVENT_DISCONNECTED', 'CONNECTION_EVENT_KICKED'] as const) {
    for (let u = 0; u < users; u++) for (const d of devices) out.push(status(`${prefix}${u}`, d, event));
  }
  return out;
}

const pairOf = (s: { userId?: string; deviceId?: string }): string => `${s.userId}/${s.deviceId}`;

/** Every published event was accepted exactly once, and per (user, device) in publish order. */
function assertDeliveredInOrder(published: readonly ConnectionStatus[], accepted: readonly ConnectionStatusOutput[]): void {
  assert.deepEqual(
    accepted.map((s) => s.reason).sort(),
    published.map((s) => s.reason).sort(),
    'each event accepted exactly once',
  );
  for (const pair of new Set(published.map(pairOf))) {
    assert.deepEqual(
      accepted.filter((s) => pairOf(s) === pair).map((s) => `${s.event} ${s.reason}`),
      published.filter((s) => pairOf(s) === pair).map((s) => `${s.event} ${s.reason}`),
      `order of ${pair}`,
    );
  }
}

test('published events reach OnConnectionStatus, in order per (user, device), with the Triple headers', async () => {
  const { queue } = queueFor(biz.address);
  const events = lifecycleEvents('it1-', 5, ['phone', 'pc']);
  for (const e of events) queue.publish(e);
  const accepted = await biz.waitForStatuses((s) => s.userId.startsWith('it1-'), 5_000, events.length);
  assertDeliveredInOrder(events, accepted);
  const first = accepted[0];
  assert.equal(first?.instanceId, 'gw-it');
  assert.equal(first?.clientIp, '10.0.0.1');
  const i = biz.statusAttempts.findIndex((s) => s.userId.startsWith('it1-'));
  assert.equal(biz.statusMetadata[i]?.['tri-consumer-appname'], 'test');
  await queue.flush(2_000);
  assert.deepEqual(
    { published: queue.stats.published, sent: queue.stats.sent, dropped: queue.stats.dropped, depth: queue.stats.depth },
    { published: events.length, sent: events.length, dropped: 0, depth: 0 },
  );
});

test('while the service answers UNAVAILABLE the events are retried, and arrive once it is back', async () => {
  const { queue, client } = queueFor(biz.address);
  biz.statusMode = 'unavailable';
  try {
    const events = lifecycleEvents('it2-', 2, ['phone', 'pc']);
    for (const e of events) queue.publish(e);
    // the first calls (one per (user, device), 4 at once) fail, then one probe per backoff
    await client.waitForFailures('it2-', 6);
    await new Promise((r) => setImmediate(r)); // the queue sees the last outcome after the recorder
    assert.equal(biz.statuses.filter((s) => s.userId.startsWith('it2-')).length, 0);
    assert.ok(queue.stats.retried >= 6, `retried ${queue.stats.retried}`);
    assert.equal(queue.stats.dropped, 0);
    assert.equal(queue.stats.sent, 0);
    biz.statusMode = 'ok';
    const accepted = await biz.waitForStatuses((s) => s.userId.startsWith('it2-'), 5_000, events.length);
    assertDeliveredInOrder(events, accepted);
    await queue.flush(2_000);
    assert.equal(queue.stats.sent, events.length);
    assert.equal(queue.stats.depth, 0);
    // nothing was sent for a (user, device) while an earlier event of it was still unaccepted
    const attempts = biz.statusAttempts.filter((s) => s.userId.startsWith('it2-'));
    for (const pair of new Set(events.map(pairOf))) {
      const seen = attempts.filter((s) => pairOf(s) === pair).map((s) => s.reason);
      const order = events.filter((s) => pairOf(s) === pair).map((s) => s.reason);
      const firstIndex = order.map((r) => seen.indexOf(r ?? ''));
      assert.deepEqual([...firstIndex].sort((a, b) => a - b), firstIndex, `attempt order of ${pair}: ${seen.join(' ')}`);
    }
  } finally {
    biz.statusMode = 'ok';
  }
});

test('events published while the service is stopped arrive after it restarts on the same port', async () => {
  const port = biz.port;
  const { queue, client } = queueFor(biz.address);
  // a first event while it is up, so the channel is connected before the service goes away
  queue.publish(status('it3-warm', 'phone', 'CONNECTION_EVENT_CONNECTED'));
  await biz.waitForStatuses((s) => s.userId === 'it3-warm', 5_000);
  await biz.stop();
  const events = lifecycleEvents('it3-', 2, ['phone', 'pad']);
  for (const e of events) queue.publish(e);
  await client.waitForFailures('it3-', 2);
  assert.ok(queue.stats.depth > 0 || queue.inFlight > 0);
  biz = await TestBusinessService.start(port);
  const accepted = await biz.waitForStatuses((s) => s.userId.startsWith('it3-') && s.userId !== 'it3-warm', 10_000, events.length);
  assertDeliveredInOrder(events, accepted);
  await queue.flush(2_000);
  assert.equal(queue.stats.dropped, 0);
  assert.equal(queue.stats.depth, 0);
  assert.equal(queue.stats.sent, events.length + 1);
});

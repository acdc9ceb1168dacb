/**
 * Status events (SPEC.md section 6): connect, disconnect and kick are reported to
 * `BusinessMessageService.OnConnectionStatus` asynchronously, through a bounded queue with retries,
 * so that a slow or absent business service never blocks or slows a connection.
 */
import type { ConnectionStatus } from '../../api/gen/im/gateway/v1/ConnectionStatus';
import { Backoff } from '../../pkg/backoff';
import type { Result } from '../../pkg/result';
import { err } from '../../pkg/result';
import type { Logger } from '../observability/logger';
import type { BusinessClient } from './ports';
import type { UpstreamError } from './ports';

export interface StatusEventSettings {
  /** Bound on queued events (waiting to be sent or waiting for a retry; in-flight calls are not counted). When full, the OLDEST queued event is dropped (counted). >= 1. */
  readonly maxQueue: number;
  /** OnConnectionStatus calls in flight at once. >= 1. */
  readonly concurrency: number;
  /** First backoff after a failed call, in ms. */
  readonly retryInitialMs: number;
  /** Largest backoff, in ms (>= retryInitialMs). */
  readonly retryMaxMs: number;
  /** An event whose call failed this many times is dropped (counted); 0 = retry until the bound drops it. */
  readonly maxAttempts: number;
}

/** Counters since construction. `published = sent + dropped + depth + (calls in flight)`. */
export interface StatusEventStats {
  /** Events given to publish(), including those dropped at once (after close()). */
  published: number;
  /** Events the business service accepted (the call succeeded). */
  sent: number;
  /** Failed calls whose event was queued again for another attempt. */
  retried: number;
  /** Events given up: queue bound (oldest first), maxAttempts, close(), publish after close(). */
  dropped: number;
  /** Events queued now: waiting to be sent or waiting for a retry (not those in flight). */
  readonly depth: number;
}

/** Where the gateway reports connection status changes. */
export interface StatusEventSink {
  /** Fire and forget: O(1), synchronous, never throws, never waits for the business service. */
  publish(event: ConnectionStatus): void;
}

/**
 * Timer functions, injectable for tests. The default ones `unref()` every timer except those with
 * `keepAlive` (the flush() deadline: a caller awaiting flush() wants the process to wait for it).
 */
export interface StatusEventTimers {
  setTimeout(fn: () => void, ms: number, keepAlive?: boolean): unknown;
  clearTimeout(handle: unknown): void;
}

export interface StatusEventQueueOptions {
  /** Default: the global timers, unref()ed so that they never keep the process alive. */
  readonly timers?: StatusEventTimers;
  /** Random source of the backoff jitter, [0, 1); default Math.random. */
  readonly random?: () => number;
}

/** Minimum interval between two "status events dropped" warnings. */
export const DROP_LOG_INTERVAL_MS = 10_000;
/** Jitter of the retry backoff (fraction of the delay that is randomised). */
const RETRY_JITTER = 0.5;
/**
 * How many queued entries one pump looks at while skipping entries whose (user, device) is busy.
 * Only entries of busy keys (at most `concurrency` keys) are ever skipped, so this is reached only
 * when a handful of devices have thousands of queued events; sending then resumes as soon as one of
 * them completes.
 */
const SCAN_LIMIT = 4096;

const realTimers: StatusEventTimers = {
  setTimeout(fn, ms, keepAlive = false) {
    const t = setTimeout(fn, ms);
    if (!keepAlive) t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

type DropReason = 'queueFull' | 'maxAttempts' | 'closed';

/** A queued event: a node of the intrusive doubly linked list (O(1) push, shift and unlink). */
interface Entry {
  readonly event: ConnectionStatus;
  /** (userId, deviceId): events of one key are sent one at a time, in publish order. */
  readonly key: string;
  /** Publish order. */
  readonly seq: number;
  /** Failed calls so far. */
  attempts: number;
  prev: Entry | null;
  next: Entry | null;
}

class Counters implements StatusEventStats {
  published = 0;
  sent = 0;
  retried = 0;
  dropped = 0;
  constructor(private readonly depthOf: () => number) {}
  get depth(): number {
    return this.depthOf();
  }
}

interface FlushWaiter {
  readonly resolve: () => void;
  timer: unknown;
}

/**
 * Bounded, retrying, ordered queue of status events in front of a business client.
 *
 * Contract:
 * - `publish()` only appends to memory and schedules a pump on the microtask queue: it is O(1),
 *   synchronous, never throws and never waits for the business service.
 * - Events are sent in publish order, up to `concurrency` calls at once. Events of one
 *   (userId, deviceId) are delivered in publish order: none is sent while an earlier one of the
 *   same pair is in flight or waiting for a retry; other pairs skip ahead of it.
 * - A failed call (Result not ok, or a client that throws or rejects, which is guarded) puts its
 *   event back in the queue at its publish position and starts a backoff (exponential with jitter,
 *   reset by the next success). While backing off no call starts; when it ends one probe call is
 *   made, and full concurrency resumes after a success. Failures of calls that were already in
 *   flight while backing off do not lengthen the backoff.
 * - Memory is bounded: at most `maxQueue` queued events (plus `concurrency` in flight); beyond it
 *   the oldest queued event is dropped. An event that failed `maxAttempts` times is dropped.
 *   Drops are counted in `stats.dropped` and logged as a warning when they start, then as at most
 *   one summary per 10 s (never one line per event). Each failed call is logged at debug level.
 * - Delivery is at-least-once per successful call as seen by this queue: an event whose call timed
 *   out may have reached the service and is sent again.
 * - Retry and log timers are unref()ed: the queue never keeps the process alive, except for the
 *   deadline of a pending flush(), which is bounded by its timeout.
 */
export class StatusEventQueue implements StatusEventSink {
  readonly stats: StatusEventStats;
  private readonly counters: Counters;
  private readonly timers: StatusEventTimers;
  private readonly backoff: Backoff;
  // queued entries, oldest first
  private head: Entry | null = null;
  private tail: Entry | null = null;
  private length = 0;
  private seq = 0;
  /** key -> the entry of that key that is in flight or waiting for a retry. */
  private readonly busy = new Map<string, Entry>();
  private inFlightCount = 0;
  private pumpScheduled = false;
  /** Pending backoff timer: while set, no call starts. */
  private backoffTimer: unknown = undefined;
  /** After a backoff, one call at a time until a call succeeds. */
  private probing = false;
  private closed = false;
  private readonly waiters = new Set<FlushWaiter>();
  // drop logging: a warning at the first drop, then one summary per DROP_LOG_INTERVAL_MS
  private dropLogTimer: unknown = undefined;
  private readonly droppedSinceLog: Record<DropReason, number> = { queueFull: 0, maxAttempts: 0, closed: 0 };

  constructor(
    private readonly client: Pick<BusinessClient, 'onConnectionStatus'>,
    private readonly settings: StatusEventSettings,
    private readonly log: Logger,
    options: StatusEventQueueOptions = {},
  ) {
    if (!Number.isInteger(settings.maxQueue) || settings.maxQueue < 1) {
      throw new RangeError(`StatusEventQueue: maxQueue must be an integer >= 1, got ${settings.maxQueue}`);
    }
    if (!Number.isInteger(settings.concurrency) || settings.concurrency < 1) {
      throw new RangeError(`StatusEventQueue: concurrency must be an integer >= 1, got ${settings.concurrency}`);
    }
    if (!Number.isInteger(settings.maxAttempts) || settings.maxAttempts < 0) {
      throw new RangeError(`StatusEventQueue: maxAttempts must be an integer >= 0, got ${settings.maxAttempts}`);
    }
    this.backoff = new Backoff({ initialMs: settings.retryInitialMs, maxMs: settings.retryMaxMs, jitter: RETRY_JITTER }, options.random);
    this.timers = options.timers ?? realTimers;
    this.counters = new Counters(() => this.length);
    this.stats = this.counters;
  }

  /** Calls in flight now. */
  get inFlight(): number {
    return this.inFlightCount;
  }

  /** True while a backoff after a failed call is pending (no call starts). */
  get backingOff(): boolean {
    return this.backoffTimer !== undefined;
  }

  /**
   * Queues the event for delivery. O(1), synchronous, never throws, never awaits. When the queue is
   * full the oldest queued event is dropped; after close() the event is dropped (counted).
   */
  publish(event: ConnectionStatus): void {
    try {
      this.counters.published++;
      if (this.closed) {
        this.noteDrop('closed', 1);
        return;
      }
      const entry: Entry = { event, key: keyOf(event), seq: this.seq++, attempts: 0, prev: null, next: null };
      this.append(entry);
      if (this.length > this.settings.maxQueue) this.dropOldest();
      this.schedulePump();
    } catch (e) {
      // nothing above is expected to throw; never let it reach the connection path
      this.safeLog('error', { err: e }, 'status event publish failed');
    }
  }

  /**
   * Tries to deliver everything queued or in flight within timeoutMs (for shutdown). Resolves when
   * nothing is left, when timeoutMs has elapsed (e.g. the service is down) or when close() is
   * called, whichever comes first. Never rejects. Backoff still applies.
   */
  flush(timeoutMs: number): Promise<void> {
    if (this.closed || this.idle()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const waiter: FlushWaiter = { resolve, timer: undefined };
      waiter.timer = this.timers.setTimeout(() => {
        this.waiters.delete(waiter);
        resolve();
      }, Math.max(0, timeoutMs), true);
      this.waiters.add(waiter);
      this.schedulePump();
    });
  }

  /**
   * Stops sending: queued events are discarded (counted as dropped), timers are cleared and pending
   * flush() calls resolve. Calls in flight finish (counted as sent or dropped) but are not retried.
   * Later publish() calls drop their event (counted). Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.backoffTimer !== undefined) {
      this.timers.clearTimeout(this.backoffTimer);
      this.backoffTimer = undefined;
    }
    const discarded = this.length;
    this.head = null;
    this.tail = null;
    this.length = 0;
    this.busy.clear();
    if (discarded > 0) this.noteDrop('closed', discarded);
    // report what the current window holds now rather than in up to 10 s
    this.flushDropLog('status events dropped');
    if (this.dropLogTimer !== undefined) {
      this.timers.clearTimeout(this.dropLogTimer);
      this.dropLogTimer = undefined;
    }
    this.resolveWaiters();
  }

  // ----- queue --------------------------------------------------------------------------------

  private append(e: Entry): void {
    e.prev = this.tail;
    e.next = null;
    if (this.tail === null) this.head = e;
    else this.tail.next = e;
    this.tail = e;
    this.length++;
  }

  /** Inserts a failed entry back at its publish position (it is normally at or near the head). */
  private reinsert(e: Entry): void {
    let at = this.head;
    while (at !== null && at.seq < e.seq) at = at.next;
    if (at === null) {
      this.append(e);
      return;
    }
    e.next = at;
    e.prev = at.prev;
    if (at.prev === null) this.head = e;
    else at.prev.next = e;
    at.prev = e;
    this.length++;
  }

  private unlink(e: Entry): void {
    if (e.prev === null) this.head = e.next;
    else e.prev.next = e.next;
    if (e.next === null) this.tail = e.prev;
    else e.next.prev = e.prev;
    e.prev = null;
    e.next = null;
    this.length--;
  }

  /** Drops queued entries, oldest first, down to the bound. */
  private dropOldest(): void {
    while (this.length > this.settings.maxQueue && this.head !== null) {
      const e = this.head;
      this.unlink(e);
      this.release(e);
      this.noteDrop('queueFull', 1);
    }
  }

  /** Frees the entry's key if the entry held it. */
  private release(e: Entry): void {
    if (this.busy.get(e.key) === e) this.busy.delete(e.key);
  }

  // ----- sending ------------------------------------------------------------------------------

  private schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    queueMicrotask(this.runScheduledPump);
  }

  private readonly runScheduledPump = (): void => {
    this.pumpScheduled = false;
    this.pump();
  };

  /** Starts calls for queued entries, oldest first, skipping entries whose key is busy. */
  private pump(): void {
    if (this.closed || this.backoffTimer !== undefined) return;
    const limit = this.probing ? 1 : this.settings.concurrency;
    let e = this.head;
    for (let scanned = 0; e !== null && this.inFlightCount < limit && scanned < SCAN_LIMIT; scanned++) {
      const next = e.next;
      const owner = this.busy.get(e.key);
      if (owner === undefined || owner === e) {
        this.unlink(e);
        this.busy.set(e.key, e);
        this.inFlightCount++;
        void this.send(e);
      }
      e = next;
    }
  }

  private async send(e: Entry): Promise<void> {
    let r: Result<void, UpstreamError>;
    try {
      // BusinessClient never rejects by contract; a throwing or rejecting one is a failure too
      r = await this.client.onConnectionStatus(e.event);
    } catch (thrown) {
      r = err({ kind: 'failed', code: 2 /* UNKNOWN */, message: thrown instanceof Error ? thrown.message : String(thrown) });
    }
    try {
      this.complete(e, r);
    } catch (thrown) {
      this.safeLog('error', { err: thrown }, 'status event completion failed');
    }
  }

  private complete(e: Entry, r: Result<void, UpstreamError>): void {
    this.inFlightCount--;
    if (r.ok) {
      this.counters.sent++;
      this.release(e);
      this.backoff.reset();
      this.probing = false;
    } else {
      e.attempts++;
      this.safeLog(
        'debug',
        { userId: e.event.userId, deviceId: e.event.deviceId, event: e.event.event, attempt: e.attempts, error: r.error.kind, detail: r.error.message },
        'status event call failed',
      );
      if (this.closed) {
        this.release(e);
        this.noteDrop('closed', 1);
      } else if (this.settings.maxAttempts > 0 && e.attempts >= this.settings.maxAttempts) {
        this.release(e);
        this.noteDrop('maxAttempts', 1);
      } else {
        // keeps its key: later events of the same (user, device) wait behind it
        this.counters.retried++;
        this.reinsert(e);
        if (this.length > this.settings.maxQueue) this.dropOldest();
      }
      if (!this.closed && this.backoffTimer === undefined) {
        this.backoffTimer = this.timers.setTimeout(this.endBackoff, this.backoff.next());
      }
    }
    if (this.closed) return;
    this.pump();
    if (this.idle()) this.resolveWaiters();
  }

  private readonly endBackoff = (): void => {
    this.backoffTimer = undefined;
    this.probing = true;
    this.pump();
  };

  private idle(): boolean {
    return this.length === 0 && this.inFlightCount === 0;
  }

  private resolveWaiters(): void {
    for (const w of this.waiters) {
      this.timers.clearTimeout(w.timer);
      w.resolve();
    }
    this.waiters.clear();
  }

  // ----- drop accounting ----------------------------------------------------------------------

  private noteDrop(reason: DropReason, n: number): void {
    this.counters.dropped += n;
    this.droppedSinceLog[reason] += n;
    if (this.dropLogTimer !== undefined) return; // summarised when the window ends
    this.flushDropLog('status events are being dropped');
    this.dropLogTimer = this.timers.setTimeout(this.endDropLogWindow, DROP_LOG_INTERVAL_MS);
  }

  private readonly endDropLogWindow = (): void => {
    this.dropLogTimer = undefined;
    if (this.flushDropLog('status events dropped in the last 10 s')) {
      this.dropLogTimer = this.timers.setTimeout(this.endDropLogWindow, DROP_LOG_INTERVAL_MS);
    }
  };

  /** Logs the drops not logged yet, if any; returns whether it logged. */
  private flushDropLog(msg: string): boolean {
    const d = this.droppedSinceLog;
    const n = d.queueFull + d.maxAttempts + d.closed;
    if (n === 0) return false;
    this.safeLog(
      'warn',
      { dropped: n, queueFull: d.queueFull, maxAttempts: d.maxAttempts, closed: d.closed, droppedTotal: this.counters.dropped, depth: this.length, maxQueue: this.settings.maxQueue },
      msg,
    );
    d.queueFull = 0;
    d.maxAttempts = 0;
    d.closed = 0;
    return true;
  }

  private safeLog(level: 'debug' | 'warn' | 'error', obj: object, msg: string): void {
    try {
      this.log[level](obj, msg);
    } catch {
      // a failing logger must not break publish() or the queue state; nowhere left to report it
      return;
    }
  }
}

function keyOf(event: ConnectionStatus): string {
  return `${event.userId ?? ''}\u0000${event.deviceId ?? ''}`;
}

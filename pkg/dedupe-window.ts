/** A bounded, time-windowed memory of recent keys (e.g. client message ids -> server ack). */

export interface DedupeWindowOptions {
  /** How long a value is remembered after `set`, in ms (> 0). */
  readonly windowMs: number;
  /** Most entries kept (integer >= 1); the oldest are evicted first beyond it. */
  readonly maxEntries: number;
}

interface Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
}

/**
 * Remembers `key -> value` for `windowMs` after the `set` call, for at most `maxEntries` keys.
 *
 * - `get` returns the value while `now < setTime + windowMs`, `undefined` after (or if never set or
 *   evicted). It does not extend the entry's life.
 * - `set` on an existing key replaces its value and restarts its window: the entry becomes the newest.
 * - `delete` forgets a key at once.
 * - When a `set` makes it hold more than `maxEntries` entries, the oldest-set entries are evicted first.
 *
 * Entries live in a `Map` in set order, so the oldest is always at the front: `set` (and `size`) prune
 * expired entries from the front, each entry is deleted at most once, hence O(1) amortised per call and
 * memory bounded by `maxEntries`. If the clock goes backwards an expired entry may sit behind a live one
 * for a while; `get` still never returns it.
 */
export class DedupeWindow<V> {
  private readonly windowMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry<V>>();

  /**
   * @param now clock in ms; defaults to `Date.now`.
   * Throws a `RangeError` if an option is out of range (see `DedupeWindowOptions`).
   */
  constructor(opts: DedupeWindowOptions, now: () => number = Date.now) {
    const { windowMs, maxEntries } = opts;
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      throw new RangeError(`DedupeWindow: windowMs must be a finite number > 0, got ${windowMs}`);
    }
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`DedupeWindow: maxEntries must be an integer >= 1, got ${maxEntries}`);
    }
    this.windowMs = windowMs;
    this.maxEntries = maxEntries;
    this.now = now;
  }

  /** Number of live entries (expired ones at the front are pruned first). */
  get size(): number {
    this.pruneExpired(this.now());
    return this.entries.size;
  }

  /** The value set for `key` within the last `windowMs`, or `undefined`. */
  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (this.now() >= e.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  /** Remembers `value` for `key` for `windowMs` from now, replacing any previous value. */
  set(key: string, value: V): void {
    const t = this.now();
    this.entries.delete(key); // re-insert at the back: newest
    this.entries.set(key, { value, expiresAt: t + this.windowMs });
    this.pruneExpired(t);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  /** Forgets `key` (e.g. a failed operation that may be retried). Returns whether a live entry was removed. */
  delete(key: string): boolean {
    const e = this.entries.get(key);
    if (e === undefined) return false;
    this.entries.delete(key);
    return this.now() < e.expiresAt;
  }

  /** Deletes expired entries from the front, stopping at the first live one. */
  private pruneExpired(t: number): void {
    for (const [key, e] of this.entries) {
      if (t < e.expiresAt) return;
      this.entries.delete(key);
    }
  }
}

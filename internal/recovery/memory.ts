import { randomBytes } from 'node:crypto';
import type { AppendItem, HistoryEntry, HistorySettings, HistoryStore, RecoverResult } from './types';
import { withSeq } from './types';

interface Stream {
  readonly epoch: string;
  seq: number;
  /** the last historySize entries, oldest first, with when they were written */
  readonly entries: Array<HistoryEntry & { readonly at: number }>;
  lastWrite: number;
}

/** Idempotency keys are remembered this long. */
const KEY_TTL_MS = 60_000;

export function newEpoch(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/**
 * One instance's history in memory. Bounded whatever the traffic: at most `historySize` entries
 * per stream, a stream idle for `historyTtlMs` is dropped, and at most `maxStreams` streams are
 * kept (the least recently written goes first; its next use starts a new epoch, so a client that
 * relied on it learns that with `recovered:false`).
 */
export class MemoryHistoryStore implements HistoryStore {
  /** insertion order = least recently written first */
  private readonly streams = new Map<string, Stream>();
  private readonly keys = new Map<string, { seq: number; at: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly settings: HistorySettings & { readonly maxStreams: number },
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.sweep(), Math.max(1_000, Math.min(60_000, settings.historyTtlMs / 2)));
    this.timer.unref();
  }

  get size(): number {
    return this.streams.size;
  }

  async append(items: readonly AppendItem[]): Promise<number[]> {
    const now = this.now();
    return items.map((item) => {
      const keyId = item.key === undefined ? undefined : `${item.stream}\n${item.key}`;
      if (keyId !== undefined) {
        const k = this.keys.get(keyId);
        if (k !== undefined && now - k.at < KEY_TTL_MS) return k.seq;
      }
      const s = this.touch(item.stream, now);
      s.seq++;
      s.entries.push({ seq: s.seq, frame: withSeq(item.framePrefix, s.seq), filter: item.filter, at: now });
      if (s.entries.length > this.settings.historySize) s.entries.splice(0, s.entries.length - this.settings.historySize);
      if (keyId !== undefined) this.keys.set(keyId, { seq: s.seq, at: now });
      return s.seq;
    });
  }

  async recover(stream: string, since: number | null, epoch: string | null): Promise<RecoverResult> {
    const now = this.now();
    let s = this.streams.get(stream);
    if (s !== undefined && now - s.lastWrite > this.settings.historyTtlMs) {
      this.streams.delete(stream);
      s = undefined;
    }
    if (s === undefined) {
      s = { epoch: newEpoch(), seq: 0, entries: [], lastWrite: now };
      this.streams.set(stream, s);
      this.evict();
    }
    if (since === null) return { epoch: s.epoch, lastSeq: s.seq, recovered: null, entries: [] };
    if (epoch !== s.epoch || since > s.seq || since < 0) return { epoch: s.epoch, lastSeq: s.seq, recovered: false, entries: [] };
    const fresh = s.entries.filter((e) => e.seq > since && now - e.at <= this.settings.historyTtlMs);
    const missed = s.seq - since;
    if (fresh.length !== missed) return { epoch: s.epoch, lastSeq: s.seq, recovered: false, entries: [] };
    return { epoch: s.epoch, lastSeq: s.seq, recovered: true, entries: fresh.map(({ seq, frame, filter }) => ({ seq, frame, filter })) };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }

  private touch(stream: string, now: number): Stream {
    let s = this.streams.get(stream);
    if (s !== undefined && now - s.lastWrite > this.settings.historyTtlMs) s = undefined;
    if (s === undefined) s = { epoch: newEpoch(), seq: 0, entries: [], lastWrite: now };
    // move to the end: the least recently written stream stays first
    this.streams.delete(stream);
    s.lastWrite = now;
    this.streams.set(stream, s);
    this.evict();
    return s;
  }

  private evict(): void {
    while (this.streams.size > this.settings.maxStreams) {
      const oldest = this.streams.keys().next().value;
      if (oldest === undefined) break;
      this.streams.delete(oldest);
    }
  }

  /** Drops streams idle past their TTL and expired idempotency keys. */
  sweep(): void {
    const now = this.now();
    for (const [name, s] of this.streams) {
      if (now - s.lastWrite <= this.settings.historyTtlMs) break; // the rest were written later
      this.streams.delete(name);
    }
    for (const [k, v] of this.keys) if (now - v.at >= KEY_TTL_MS) this.keys.delete(k);
  }
}

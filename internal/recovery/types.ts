/**
 * Recovery (SPEC.md section 10): pushes to a user and to a room are numbered (`seq`, per stream,
 * without gaps across the cluster) and the last `recovery.historySize` of each stream are kept for
 * `recovery.historyTtlSec`, so a client that reconnects (or resubscribes) with its last seq and the
 * stream's epoch gets exactly what it missed. The epoch names one unbroken sequence: it changes
 * when the history behind the numbers was lost (Redis restarted without persistence, a stream
 * idle past its TTL, a memory stream evicted).
 *
 * A stream is `u:<userId>` or `r:<room>`.
 */

/** Who a stored push was for, beyond its stream: the push's own filters (compact JSON, '' = none). */
export interface PushFilter {
  /** device_ids (user pushes) */
  readonly d?: readonly string[];
  /** platforms */
  readonly p?: readonly string[];
  /** exclude_device_ids (user pushes) */
  readonly x?: readonly string[];
  /** exclude_user_ids (room pushes) */
  readonly xu?: readonly string[];
}

export interface AppendItem {
  readonly stream: string;
  /** The frame without its closing `}`: the stored and delivered frame is `${framePrefix},"seq":N}`. */
  readonly framePrefix: string;
  /** The push's filters as compact JSON ('' = none). */
  readonly filter: string;
  /**
   * Idempotency: a second append with the same key within a minute returns the first one's seq and
   * stores nothing (the pub/sub ingress, where every instance receives the same message).
   */
  readonly key?: string;
}

export interface HistoryEntry {
  readonly seq: number;
  readonly frame: string;
  readonly filter: string;
}

export interface RecoverResult {
  /** The stream's epoch (created with the stream when it did not exist). */
  readonly epoch: string;
  /** The stream's last seq at the read (0 when none yet). */
  readonly lastSeq: number;
  /** null when no position was asked; true when every push after it is still held; false otherwise. */
  readonly recovered: boolean | null;
  /** The pushes after the position asked, in order (empty unless recovered). */
  readonly entries: readonly HistoryEntry[];
}

export interface HistoryStore {
  /** Allocates the next seq of each item's stream and stores the frame, in one batch; the seqs in item order. */
  append(items: readonly AppendItem[]): Promise<number[]>;
  /**
   * The stream's epoch and last seq and, when `since` is given and `epoch` is the stream's, the
   * entries after `since` if the window still covers them all.
   */
  recover(stream: string, since: number | null, epoch: string | null): Promise<RecoverResult>;
  close(): Promise<void>;
}

export interface HistorySettings {
  readonly historySize: number;
  readonly historyTtlMs: number;
}

export const userStream = (userId: string): string => `u:${userId}`;
export const roomStream = (room: string): string => `r:${room}`;

/** `${prefix},"seq":N}` */
export function withSeq(framePrefix: string, seq: number): string {
  return `${framePrefix},"seq":${seq}}`;
}

/** Whether a stored push with this filter is for a connection of (user, device, platform). */
export function filterMatches(filter: string, userId: string, deviceId: string, platform: string): boolean {
  if (filter === '') return true;
  let f: PushFilter;
  try {
    f = JSON.parse(filter) as PushFilter;
  } catch {
    return true;
  }
  if (f.d !== undefined && f.d.length > 0 && !f.d.includes(deviceId)) return false;
  if (f.p !== undefined && f.p.length > 0 && !f.p.includes(platform)) return false;
  if (f.x !== undefined && f.x.includes(deviceId)) return false;
  if (f.xu !== undefined && f.xu.includes(userId)) return false;
  return true;
}

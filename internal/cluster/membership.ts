import type { Logger } from '../observability/logger';
import type { LeaseInfo } from '../presence/redis';
import type { PresenceEntry } from '../presence/types';

/** The lease side of the shared store (the Redis presence store implements it). */
export interface LeaseStore {
  /** Writes this instance's lease; false when the previous one had lapsed (mappings may be gone). */
  refreshLease(info: LeaseInfo): Promise<boolean>;
  /** Writes this instance's mappings back; how many were written. */
  reRegister(entries: readonly PresenceEntry[]): Promise<number>;
  /** Deletes the mappings of instances whose lease expired; how many. */
  sweep(): Promise<number>;
  /** Deletes this instance's mappings and lease; how many mappings. */
  removeInstanceMappings(): Promise<number>;
}

/** What the presence fallback left to write back (the resilient presence store implements it). */
export interface PendingSync {
  /** Whether a write-back is due; cleared by the call. */
  takePendingSync(): boolean;
  /** Replays removals that failed while the store was unreachable. */
  retryRemovals(): Promise<void>;
}

export interface MembershipSettings {
  readonly leaseRefreshMs: number;
  readonly sweepEveryMs: number;
}

export type RedisState = 'up' | 'down';

/**
 * This instance's membership of the cluster: refreshes its lease every few seconds, sweeps the
 * mappings of instances whose lease expired, watches Redis and, when Redis comes back (or lost
 * its data, or this instance's lease lapsed), writes the local mappings back. On stop it removes
 * its mappings and its lease.
 */
export class ClusterMembership {
  private timer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private ticking = false;
  private sweeping = false;
  private writeBackAgain = false;
  state: RedisState = 'up';
  lastError = '';
  reRegistrations = 0;
  swept = 0;

  constructor(
    private readonly store: LeaseStore,
    private readonly resilient: PendingSync,
    private readonly lease: () => LeaseInfo,
    private readonly localEntries: () => PresenceEntry[],
    private readonly settings: MembershipSettings,
    private readonly log: Logger,
  ) {}

  /** First lease; when Redis cannot be reached at start, the instance starts degraded and keeps trying. */
  async start(): Promise<void> {
    // A process restarted under the same instance id renews the same lease: the mappings of its
    // predecessor (whose connections died with it) would never expire. Nothing is local yet, so
    // everything indexed under this id is stale.
    try {
      const n = await this.store.removeInstanceMappings();
      if (n > 0) this.log.info({ removed: n }, 'removed mappings left by an earlier process with this instance id');
    } catch (e) {
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not clear earlier mappings of this instance id');
    }
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.settings.leaseRefreshMs);
    this.timer.unref();
    this.sweepTimer = setInterval(() => void this.sweep(), this.settings.sweepEveryMs);
    this.sweepTimer.unref();
  }

  /** One lease refresh; exposed for tests and the stats reporter. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const continuous = await this.store.refreshLease(this.lease());
      const wasDown = this.state === 'down';
      const pending = this.resilient.takePendingSync();
      // after a discontinuity the write-back is done twice, one tick apart: a sweep of this
      // instance that was already purging while the first one ran cannot leave mappings missing
      const repeat = this.writeBackAgain;
      this.writeBackAgain = wasDown || !continuous;
      if (wasDown || !continuous || pending || repeat) {
        await this.resilient.retryRemovals();
        const entries = this.localEntries();
        const n = await this.store.reRegister(entries);
        this.reRegistrations++;
        this.log.info({ mappings: entries.length, written: n, leaseWasContinuous: continuous, redisWasDown: wasDown }, 'local mappings written back to Redis');
      }
      if (wasDown) this.log.info('redis reachable again');
      this.state = 'up';
      this.lastError = '';
    } catch (e) {
      if (this.state === 'up') this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'redis unreachable: serving local connections only');
      this.state = 'down';
      this.lastError = e instanceof Error ? e.message : String(e);
    } finally {
      this.ticking = false;
    }
  }

  private async sweep(): Promise<void> {
    if (this.state === 'down' || this.sweeping) return;
    this.sweeping = true;
    try {
      const n = await this.store.sweep();
      if (n > 0) {
        this.swept += n;
        this.log.info({ removed: n }, 'swept mappings of expired instances');
      }
    } catch (e) {
      this.log.debug({ err: e instanceof Error ? e.message : String(e) }, 'sweep failed');
    } finally {
      this.sweeping = false;
    }
  }

  /** Stops the timers, removes this instance's mappings and lease (best effort). */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.timer = null;
    this.sweepTimer = null;
    try {
      const n = await this.store.removeInstanceMappings();
      this.log.info({ removed: n }, 'removed this instance\'s mappings from Redis');
    } catch (e) {
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not remove mappings from Redis');
    }
  }
}

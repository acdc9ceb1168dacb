import type { Logger } from '../observability/logger';
import type { PresenceEntry } from '../presence/types';
import type { LeaseInfo } from './types';

/** The leases (RedisInstanceLeases implements it). */
export interface LeaseStore {
  /** Writes this instance's lease; false when the previous one had lapsed (mappings may be gone). */
  refreshLease(info: LeaseInfo): Promise<boolean>;
  /** Deletes this instance's lease. */
  removeLease(): Promise<void>;
  /** Other instances whose lease expired. */
  expired(): Promise<string[]>;
  /** Takes an expired instance out of the directory unless it renewed meanwhile; true when gone. */
  forgetExpired(instanceId: string): Promise<boolean>;
  /** Deletes a forgotten instance's lease key. */
  deleteLease(instanceId: string): Promise<void>;
}

/** The mappings side of the shared store (the Redis presence store implements it). */
export interface MappingStore {
  /** Writes these mappings back; how many were written. */
  reRegister(entries: readonly PresenceEntry[]): Promise<number>;
  /** Deletes every mapping of an instance (and its index); how many. */
  removeInstanceMappings(instanceId: string): Promise<number>;
}

/**
 * Other per-instance state in the shared store beside the presence mappings (the rooms' instance
 * registrations): removed with its instance, written back with the mappings.
 */
export interface InstanceState {
  readonly name: string;
  /** Deletes everything `instanceId` registered; how many entries. */
  removeInstance(instanceId: string): Promise<number>;
  /** Writes this instance's entries back; how many. */
  writeBack(): Promise<number>;
  /** Something failed to reach the store meanwhile: the next tick writes back even without an outage. */
  pending?(): boolean;
}

/**
 * Deletes the mappings of every other instance whose lease expired. Each expired instance is first
 * taken out of the directory (only while its lease is still expired), then purged: an owner
 * renewing after that finds its lease gone and writes its mappings back (twice, see
 * ClusterMembership.tick), so a purge racing that write-back loses nothing for long; an owner that
 * renewed before it is never purged. Safe to run concurrently from several instances (each
 * mapping is counted by the one that deleted it). Resolves with how many mappings this call removed.
 */
export async function sweepExpired(leases: LeaseStore, mappings: MappingStore, log?: Logger, extras: readonly InstanceState[] = []): Promise<number> {
  const expired = await leases.expired();
  let removed = 0;
  for (const id of expired) {
    if (!(await leases.forgetExpired(id))) {
      log?.info({ instance: id }, 'instance renewed its lease before the sweep; not swept');
      continue;
    }
    removed += await mappings.removeInstanceMappings(id);
    for (const x of extras) await x.removeInstance(id);
    await leases.deleteLease(id);
  }
  return removed;
}

/** Deletes this instance's mappings, index and lease (shutdown, or a restart under the same id). Resolves with how many mappings. */
export async function leaveCluster(instanceId: string, leases: LeaseStore, mappings: MappingStore, extras: readonly InstanceState[] = []): Promise<number> {
  const removed = await mappings.removeInstanceMappings(instanceId);
  for (const x of extras) await x.removeInstance(instanceId);
  await leases.removeLease();
  return removed;
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
    private readonly instanceId: string,
    private readonly leases: LeaseStore,
    private readonly mappings: MappingStore,
    private readonly resilient: PendingSync,
    private readonly lease: () => LeaseInfo,
    private readonly localEntries: () => PresenceEntry[],
    private readonly settings: MembershipSettings,
    private readonly log: Logger,
    private readonly extras: readonly InstanceState[] = [],
  ) {}

  /** First lease; when Redis cannot be reached at start, the instance starts degraded and keeps trying. */
  async start(): Promise<void> {
    // A process restarted under the same instance id renews the same lease: the mappings of its
    // predecessor (whose connections died with it) would never expire. Nothing is local yet, so
    // everything indexed under this id is stale.
    try {
      const n = await leaveCluster(this.instanceId, this.leases, this.mappings, this.extras);
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
      const continuous = await this.leases.refreshLease(this.lease());
      const wasDown = this.state === 'down';
      const pending = this.resilient.takePendingSync() || this.extras.some((x) => x.pending?.() === true);
      // after a discontinuity the write-back is done twice, one tick apart: a sweep of this
      // instance that was already purging while the first one ran cannot leave mappings missing
      const repeat = this.writeBackAgain;
      this.writeBackAgain = wasDown || !continuous;
      if (wasDown || !continuous || pending || repeat) {
        await this.resilient.retryRemovals();
        const entries = this.localEntries();
        const n = await this.mappings.reRegister(entries);
        for (const x of this.extras) await x.writeBack();
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
      const n = await sweepExpired(this.leases, this.mappings, this.log, this.extras);
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
      const n = await leaveCluster(this.instanceId, this.leases, this.mappings, this.extras);
      this.log.info({ removed: n }, 'removed this instance\'s mappings from Redis');
    } catch (e) {
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not remove mappings from Redis');
    }
  }
}

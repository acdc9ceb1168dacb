import { LATE, beforeDeadline } from '../../pkg/deadline';
import { decide } from '../policy/policy';
import type { ExistingSession, PolicySettings } from '../policy/policy';
import type { Logger } from '../observability/logger';
import type { NewLogin, PresenceEntry, PresenceStore, RegisterResult } from './types';

/**
 * Keeps logins working while the shared store (Redis) is unreachable: a failed `register` falls
 * back to the policy applied to this instance's own sessions (cluster-wide rules cannot be checked
 * then) with an epoch taken from the clock in microseconds, the same scale the Redis store seeds
 * its epochs with, so a later login still outnumbers it; a failed `unregister` is remembered and
 * retried; `sessions` falls back to the local ones. `pendingSync` says the local mappings must be
 * written back (reRegister) once the store answers again; the membership loop takes it with
 * `takePendingSync()`.
 */
export class ResilientPresenceStore implements PresenceStore {
  private lastFallbackEpoch = 0;
  private readonly failedRemovals = new Map<string, { userId: string; deviceId: string; epoch: number }>();
  private unsynced = false;
  fallbacks = 0;

  constructor(
    private readonly primary: PresenceStore,
    private readonly localSessions: (userId: string) => PresenceEntry[],
    private readonly log: Logger,
    private readonly nowMicros: () => number = () => Date.now() * 1000,
  ) {}

  async register(login: NewLogin, settings: PolicySettings): Promise<RegisterResult> {
    try {
      return await this.primary.register(login, settings);
    } catch (e) {
      this.fallbacks++;
      this.unsynced = true;
      this.log.warn({ userId: login.userId, err: errText(e) }, 'presence store unreachable: login policy applied to this instance only');
      const existing: ExistingSession[] = this.localSessions(login.userId);
      const decision = decide(existing, login, settings);
      if (!decision.admit) return { admitted: false, conflicts: decision.conflicts };
      this.lastFallbackEpoch = Math.max(this.lastFallbackEpoch + 1, this.nowMicros());
      return { admitted: true, epoch: this.lastFallbackEpoch, victims: decision.victims };
    }
  }

  async unregister(userId: string, deviceId: string, epoch: number): Promise<boolean> {
    try {
      return await this.primary.unregister(userId, deviceId, epoch);
    } catch (e) {
      this.unsynced = true;
      this.failedRemovals.set(`${userId}\n${deviceId}\n${epoch}`, { userId, deviceId, epoch });
      this.log.debug({ userId, deviceId, err: errText(e) }, 'presence unregister failed: retried when the store is back');
      return false;
    }
  }

  async sessions(userId: string): Promise<PresenceEntry[]> {
    try {
      return await this.primary.sessions(userId);
    } catch {
      return this.localSessions(userId);
    }
  }

  /**
   * The shared store's answer, or the local sessions when it fails or has not answered shortly
   * before `deadline` (a stalled Redis must not make the caller's call run past its deadline).
   */
  async sessionsMany(userIds: readonly string[], deadline = Infinity): Promise<Map<string, PresenceEntry[]>> {
    const answer = await beforeDeadline(this.primary.sessionsMany(userIds), deadline).catch((): typeof LATE => LATE);
    return answer !== LATE ? answer : new Map(userIds.map((u) => [u, this.localSessions(u)]));
  }

  /** True after any fallback: the cluster view misses some of this instance's mappings. */
  get pendingSync(): boolean {
    return this.unsynced;
  }

  /** Whether a write-back is due (see pendingSync); the caller is about to do it, so it is cleared. */
  takePendingSync(): boolean {
    const due = this.unsynced;
    this.unsynced = false;
    return due;
  }

  /** Retries the removals that failed while the store was unreachable. */
  async retryRemovals(): Promise<void> {
    for (const [k, r] of [...this.failedRemovals]) {
      await this.primary.unregister(r.userId, r.deviceId, r.epoch);
      this.failedRemovals.delete(k);
    }
  }

  async close(): Promise<void> {
    await this.primary.close();
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

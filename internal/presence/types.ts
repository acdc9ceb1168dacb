import type { ExistingSession, PolicySettings, Victim } from '../policy/policy';
import type { Platform } from '../protocol/codes';

/** One (user, device) login as the cluster sees it. */
export interface PresenceEntry extends ExistingSession {
  readonly userId: string;
  readonly clientIp: string;
}

export interface NewLogin {
  readonly userId: string;
  readonly deviceId: string;
  readonly platform: Platform;
  readonly instanceId: string;
  readonly connectedAt: number;
  readonly clientIp: string;
}

export type RegisterResult =
  | { readonly admitted: true; readonly epoch: number; readonly victims: readonly Victim[] }
  | { readonly admitted: false; readonly conflicts: readonly ExistingSession[] };

/**
 * Who is online where. `register` applies the multi-device policy and records the new login in
 * one atomic step (the memory store trivially; the Redis store with one Lua script), so two
 * concurrent logins can never both pass a single-slot policy. Each login gets an epoch that grows
 * for every registration; `unregister` removes a mapping only when it still carries that epoch,
 * so an old connection closing late never erases a newer login.
 */
export interface PresenceStore {
  register(login: NewLogin, settings: PolicySettings): Promise<RegisterResult>;
  unregister(userId: string, deviceId: string, epoch: number): Promise<boolean>;
  /** The user's current logins on every instance. */
  sessions(userId: string): Promise<PresenceEntry[]>;
  /**
   * `sessions` of many users in one batch (one round trip to Redis, never one wait per user): a
   * map with an entry, possibly empty, for every distinct user asked. `deadline` (unix ms) is the
   * caller's: a store that falls back (ResilientPresenceStore) answers by then from what it has.
   */
  sessionsMany(userIds: readonly string[], deadline?: number): Promise<Map<string, PresenceEntry[]>>;
  close(): Promise<void>;
}

/** Whether an instance holding a mapping is alive: `unknown` when the liveness source has never heard of it. */
export type Liveness = 'live' | 'dead' | 'unknown';

/** A snapshot of which instances are alive (evaluated at the time of each call). */
export interface LivenessView {
  of(instanceId: string): Liveness;
  /** Every instance the view knows, split by liveness now. */
  split(): { live: string[]; dead: string[] };
}

/**
 * Where the Redis presence store learns which instances are alive (the cluster's leases implement
 * it; presence imports nothing of cluster/). A mapping of a dead instance counts as offline.
 */
export interface InstanceLiveness {
  /** A view at most about a second old. */
  current(): Promise<LivenessView>;
  /** A view read now. */
  fresh(): Promise<LivenessView>;
}

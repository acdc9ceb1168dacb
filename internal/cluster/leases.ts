/**
 * The cluster's instance leases in Redis (keys `<p>inst:<instanceId>` and `<p>instances`, see
 * redis/keys.ts). Each instance writes its lease every few seconds; an instance whose lease
 * expired is dead: its mappings count as offline at once and the sweep (membership.ts) deletes
 * them. Lease times are the clock of the Redis node holding `<p>instances` (TIME inside the
 * scripts), so the gateways' own clocks may disagree.
 *
 * `RedisInstanceLeases` is the cluster's `InstanceDirectory` (live instances and their addresses)
 * and presence's `InstanceLiveness` (a cached view of every lease's expiry).
 */
import type { RedisClient } from '../redis/client';
import type { RedisKeys } from '../redis/keys';
import { asStrings, defineScripts, luaFiles, runScript } from '../redis/lua';
import type { InstanceLiveness, Liveness, LivenessView } from '../presence/types';
import type { InstanceDirectory, InstanceLease, LeaseInfo } from './types';

/** How old the cached view of `<p>instances` may be before `current()` reads it again. */
export const VIEW_MAX_AGE_MS = 1_000;

const lua = luaFiles(__dirname);
const NOW_MS = lua('now-ms');
const COMMANDS = {
  imaLeaseRefresh: `${NOW_MS}\n${lua('lease')}`,
  imaLeaseView: `${NOW_MS}\n${lua('view')}`,
  imaLeaseLive: `${NOW_MS}\n${lua('live')}`,
  imaLeaseExpired: `${NOW_MS}\n${lua('expired')}`,
  imaLeaseForgetExpired: `${NOW_MS}\n${lua('forget-expired')}`,
} as const;
type CommandName = keyof typeof COMMANDS;

/** Lua sources, exported for documentation and tests. */
export const LEASE_LUA: Readonly<Record<CommandName, string>> = COMMANDS;

export interface LeaseOptions {
  /** This gateway instance (always live in its own view). */
  readonly instanceId: string;
  /** Lease time to live; refresh well within it (e.g. every ttl / 3). */
  readonly leaseTtlMs: number;
}

/** Every lease's expiry as read at one moment, with the Redis clock's offset from ours. */
class ExpiryView implements LivenessView {
  constructor(
    private readonly self: string,
    /** local Date.now() when read */
    readonly readAt: number,
    /** Redis time minus local time at the read */
    private readonly offset: number,
    /** instanceId -> lease expiry (Redis clock) */
    private readonly expiry: ReadonlyMap<string, number>,
  ) {}

  of(instanceId: string): Liveness {
    if (instanceId === this.self) return 'live';
    const exp = this.expiry.get(instanceId);
    if (exp === undefined) return 'unknown';
    return exp >= Date.now() + this.offset ? 'live' : 'dead';
  }

  /** This instance counts as live even before its first lease is in the view. */
  split(): { live: string[]; dead: string[] } {
    const live: string[] = [this.self];
    const dead: string[] = [];
    for (const id of this.expiry.keys()) if (id !== this.self) (this.of(id) === 'live' ? live : dead).push(id);
    return { live, dead };
  }
}

export class RedisInstanceLeases implements InstanceDirectory, InstanceLiveness {
  private readonly instanceId: string;
  private readonly leaseTtlMs: number;
  private view: ExpiryView | undefined;
  private viewLoading: Promise<ExpiryView> | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    options: LeaseOptions,
  ) {
    if (!(options.leaseTtlMs > 0)) throw new RangeError(`leaseTtlMs must be > 0, got ${options.leaseTtlMs}`);
    this.instanceId = options.instanceId;
    this.leaseTtlMs = Math.ceil(options.leaseTtlMs);
    defineScripts(redis, COMMANDS);
  }

  private script(name: CommandName, ...args: string[]): Promise<unknown> {
    return runScript(this.redis, name, this.keys.instances(), ...args);
  }

  /**
   * Writes this instance's lease (`<p>inst:<id>` with PX = leaseTtlMs, and its `<p>instances`
   * score = Redis now + leaseTtlMs), then refreshes the cached view. Resolves true when the
   * previous lease was still valid; false when it was missing or expired (first start, Redis lost
   * its data, or other instances may have swept this one's mappings): the caller should then
   * write its local mappings back.
   */
  async refreshLease(info: LeaseInfo): Promise<boolean> {
    const lease = {
      instanceId: this.instanceId,
      address: info.address,
      connections: info.connections,
      users: info.users,
      startedAt: info.startedAt,
      version: info.version,
      updatedAt: Date.now(),
    };
    const [reply] = await Promise.all([
      this.script('imaLeaseRefresh', this.instanceId, String(this.leaseTtlMs)),
      this.redis.set(this.keys.lease(this.instanceId), JSON.stringify(lease), 'PX', this.leaseTtlMs),
    ]);
    const [continuous] = asStrings(reply, 'lease');
    await this.fresh();
    return continuous === '1';
  }

  /** Deletes this instance's lease (key and `<p>instances` member). */
  async removeLease(): Promise<void> {
    await Promise.all([this.redis.del(this.keys.lease(this.instanceId)), this.redis.zrem(this.keys.instances(), this.instanceId)]);
    this.view = undefined;
  }

  /** Instances whose lease has not expired (Redis clock), this one included; a lease whose key is gone is skipped. */
  async liveInstances(): Promise<InstanceLease[]> {
    const reply = asStrings(await this.script('imaLeaseLive'), 'lease');
    const ids: Array<[string, number]> = [];
    for (let j = 1; j + 1 < reply.length; j += 2) ids.push([reply[j] ?? '', Number(reply[j + 1])]);
    const leases = await Promise.all(ids.map(([id]) => this.redis.get(this.keys.lease(id))));
    const out: InstanceLease[] = [];
    ids.forEach(([instanceId, expiresAt], k) => {
      const lease = parseLease(leases[k]);
      if (lease === undefined) return;
      out.push({ ...lease, instanceId, expiresAt });
    });
    return out;
  }

  // ---- sweeping (see membership.ts) -----------------------------------------------------------

  /** Instances whose lease expired (this one excluded). */
  async expired(): Promise<string[]> {
    return asStrings(await this.script('imaLeaseExpired'), 'lease').filter((id) => id !== this.instanceId);
  }

  /**
   * Takes an expired instance out of `<p>instances`, only while its lease is still expired.
   * True when it is gone (now or before); false when it renewed its lease meanwhile.
   */
  async forgetExpired(instanceId: string): Promise<boolean> {
    return Number(await this.script('imaLeaseForgetExpired', instanceId)) === 1;
  }

  /** Deletes the lease key of a forgotten instance. */
  async deleteLease(instanceId: string): Promise<void> {
    await this.redis.del(this.keys.lease(instanceId));
  }

  // ---- InstanceLiveness ----------------------------------------------------------------------

  async current(): Promise<LivenessView> {
    const v = this.view;
    if (v !== undefined && Date.now() - v.readAt <= VIEW_MAX_AGE_MS) return v;
    return this.fresh();
  }

  /** Re-reads `<p>instances` (every member and its expiry); concurrent callers share one read. */
  async fresh(): Promise<LivenessView> {
    if (this.viewLoading !== undefined) return this.viewLoading;
    const loading = (async () => {
      const readAt = Date.now();
      const reply = asStrings(await this.script('imaLeaseView'), 'lease');
      const redisNow = Number(reply[0]);
      const expiry = new Map<string, number>();
      for (let j = 1; j + 1 < reply.length; j += 2) expiry.set(reply[j] ?? '', Number(reply[j + 1]));
      const view = new ExpiryView(this.instanceId, readAt, Number.isFinite(redisNow) ? redisNow - readAt : 0, expiry);
      this.view = view;
      return view;
    })();
    this.viewLoading = loading;
    try {
      return await loading;
    } finally {
      this.viewLoading = undefined;
    }
  }
}

function parseLease(json: string | null | undefined): Omit<InstanceLease, 'instanceId' | 'expiresAt'> | undefined {
  if (json === null || json === undefined) return undefined;
  try {
    const o = JSON.parse(json) as Record<string, unknown>;
    return {
      address: typeof o.address === 'string' ? o.address : '',
      connections: typeof o.connections === 'number' ? o.connections : 0,
      users: typeof o.users === 'number' ? o.users : 0,
      startedAt: typeof o.startedAt === 'number' ? o.startedAt : 0,
      version: typeof o.version === 'string' ? o.version : '',
      updatedAt: typeof o.updatedAt === 'number' ? o.updatedAt : 0,
    };
  } catch {
    return undefined;
  }
}

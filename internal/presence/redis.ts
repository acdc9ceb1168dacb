/**
 * The cluster presence store: who is online on which gateway instance, in Redis (ioredis, a single
 * server or Redis Cluster).
 *
 * Key schema (`<p>` = `keyPrefix`, default `ima:`; every key starts with it):
 *
 * | key                    | type   | content                                                          |
 * |------------------------|--------|------------------------------------------------------------------|
 * | `<p>u:{<userId>}`      | HASH   | field `<deviceId>` -> `{"p":platform,"i":instanceId,"e":epoch,"t":connectedAt,"ip":clientIp}`; field `#epoch` -> the user's epoch counter |
 * | `<p>inst:<instanceId>` | STRING | the instance lease, JSON `{"instanceId","address","connections","users","startedAt","version","updatedAt"}`, PX = lease TTL |
 * | `<p>instances`         | ZSET   | member instanceId, score = lease expiry (unix ms, Redis clock)   |
 * | `<p>iu:<instanceId>`   | SET    | userIds that have (or had) a mapping owned by that instance      |
 *
 * - User keys carry a hash tag (`{<userId>}`), so everything of one user lives in one Redis Cluster
 *   slot and each Lua script touches exactly one key (or one slot). No script ever spans users or
 *   instances, which is what makes the schema Redis-Cluster safe.
 * - A device id starting with `#` is stored as `#<deviceId>` (so `#x` becomes `##x`); a field with
 *   exactly one leading `#` is store metadata (`#epoch`). Device ids round-trip unchanged.
 * - Mappings have no TTL: they live until `unregister`, a policy eviction, `removeInstanceMappings`
 *   (shutdown) or the sweep of an expired instance removes them. Liveness comes from the
 *   instance leases instead: an entry whose instance lease expired counts as offline at once
 *   (`sessions()` hides it, `register()` purges it) and `sweep()` deletes it eventually. When a
 *   user's last device field goes, the whole user key (with its epoch counter) is deleted.
 * - Epochs: `#epoch` is seeded with the Redis server time in microseconds when the user key is
 *   created, then HINCRBY 1 per admitted login. Epochs therefore strictly increase per user, also
 *   across the key being deleted (user fully offline) or lost (Redis restarted without
 *   persistence): a new login always outnumbers a mapping written back by `reRegister`. (This
 *   assumes the Redis clock does not jump back and a user does not log in more than once per
 *   microsecond, sustained.) Epochs stay below 2^53, exact in JS and in Lua.
 * - Lease times (scores of `<p>instances`) use the clock of the Redis node holding that key (TIME
 *   inside the lease scripts), so the gateways' own clocks may disagree.
 * - `<p>iu:<instanceId>` is a best-effort superset: the user is added BEFORE the registration
 *   script runs (so a mapping never exists without its index entry, short of a failed SADD) and
 *   is never removed on unregister (an unregister racing a registration of the same user could
 *   otherwise drop a live index entry); the set is deleted when its instance is swept or shuts
 *   down.
 * - Nothing secret is stored: no token, no token hash, only what the table lists.
 *
 * The store never creates connections: it receives a client (`createRedisClient` builds one with
 * the expected options) and does not close it. Every method rejects with the ioredis error when
 * Redis cannot be reached; callers decide what to do (serve locally, re-register later). The
 * client must not have ioredis' own `keyPrefix` option set (this store prefixes its keys itself).
 */
import { Cluster } from 'ioredis';
import type { RedisClient } from '../redis/client';
import type { Logger } from '../observability/logger';
import { isConflictMode, isPolicyName } from '../policy/policy';
import type { PolicySettings, Victim, VictimReason } from '../policy/policy';
import { isPlatform } from '../protocol/codes';
import { luaFile } from './lua';
import type { NewLogin, PresenceEntry, PresenceStore, RegisterResult } from './types';

export const DEFAULT_KEY_PREFIX = 'ima:';
/** The user-hash field holding the user's epoch counter. */
export const EPOCH_FIELD = '#epoch';
/** How old the cached view of `<p>instances` may be before `register`/`sessions` refresh it. */
export const VIEW_MAX_AGE_MS = 1_000;
/** Users handled concurrently by `sweep`, `removeInstanceMappings` and `reRegister`. */
const BATCH = 100;


export interface RedisPresenceOptions {
  /** Prefix of every key; default `ima:`. */
  readonly keyPrefix?: string;
  /** This gateway instance. */
  readonly instanceId: string;
  /** Lease time to live; the lease must be refreshed well within it (e.g. every ttl / 3). */
  readonly leaseTtlMs: number;
}

/** What an instance publishes in its lease. */
export interface LeaseInfo {
  /** host:port of its gRPC server, reachable by the other instances. */
  readonly address: string;
  readonly connections: number;
  readonly users: number;
  /** unix ms */
  readonly startedAt: number;
  readonly version: string;
}

/** A live instance: its lease content and when the lease expires (unix ms, Redis clock). */
export interface InstanceLease extends LeaseInfo {
  readonly instanceId: string;
  readonly updatedAt: number;
  readonly expiresAt: number;
}

// ---------------------------------------------------------------------------------------------
// Lua scripts. Each one touches one key only (Redis Cluster safe). Numbers go back as strings.
// ---------------------------------------------------------------------------------------------

/**
 * The Lua scripts, one file each under lua/ (read once when this module loads). Each script touches
 * one key (or one slot): the schema stays Redis-Cluster safe. Scripts starting with the shared
 * helpers (common.lua, now-ms.lua) get them prepended.
 */
const LUA_COMMON = luaFile('common');
const LUA_NOW_MS = luaFile('now-ms');
const LUA_REGISTER = `${LUA_COMMON}\n${luaFile('register')}`;
const LUA_UNREGISTER = `${LUA_COMMON}\n${luaFile('unregister')}`;
const LUA_PURGE_INSTANCE = `${LUA_COMMON}\n${luaFile('purge-instance')}`;
const LUA_REREGISTER = `${LUA_COMMON}\n${luaFile('reregister')}`;
const LUA_LEASE = `${LUA_NOW_MS}\n${luaFile('lease')}`;
const LUA_VIEW = `${LUA_NOW_MS}\n${luaFile('view')}`;
const LUA_LIVE = `${LUA_NOW_MS}\n${luaFile('live')}`;
const LUA_EXPIRED = `${LUA_NOW_MS}\n${luaFile('expired')}`;
const LUA_FORGET_EXPIRED = `${LUA_NOW_MS}\n${luaFile('forget-expired')}`;

const COMMANDS = {
  imaPresenceRegister: LUA_REGISTER,
  imaPresenceUnregister: LUA_UNREGISTER,
  imaPresencePurgeInstance: LUA_PURGE_INSTANCE,
  imaPresenceReRegister: LUA_REREGISTER,
  imaPresenceLease: LUA_LEASE,
  imaPresenceView: LUA_VIEW,
  imaPresenceLive: LUA_LIVE,
  imaPresenceExpired: LUA_EXPIRED,
  imaPresenceForgetExpired: LUA_FORGET_EXPIRED,
} as const;
type CommandName = keyof typeof COMMANDS;
type ScriptFn = (...keysThenArgs: string[]) => Promise<unknown>;

/** Lua sources, exported for documentation and tests. */
export const PRESENCE_LUA: Readonly<Record<CommandName, string>> = COMMANDS;

// ---------------------------------------------------------------------------------------------

interface View {
  /** local Date.now() when read */
  readonly readAt: number;
  /** Redis time minus local time at the read */
  readonly offset: number;
  /** instanceId -> lease expiry (Redis clock) */
  readonly expiry: ReadonlyMap<string, number>;
}

type Liveness = 'live' | 'dead' | 'unknown';

/** deviceId -> hash field (device ids starting with '#' get one more '#'). */
export function deviceField(deviceId: string): string {
  return deviceId.startsWith('#') ? `#${deviceId}` : deviceId;
}

/** hash field -> deviceId, or undefined for a metadata field such as `#epoch`. */
export function fieldDevice(field: string): string | undefined {
  if (!field.startsWith('#')) return field;
  return field.startsWith('##') ? field.slice(1) : undefined;
}

/** The stored JSON of an entry: `{"p","i","e","t","ip"}` in that order. */
export function encodeEntry(e: Pick<PresenceEntry, 'platform' | 'instanceId' | 'epoch' | 'connectedAt' | 'clientIp'>): string {
  return JSON.stringify({ p: e.platform, i: e.instanceId, e: e.epoch, t: e.connectedAt, ip: e.clientIp });
}

/** Parses a stored entry; undefined when it is not one. */
export function decodeEntry(userId: string, field: string, json: string): PresenceEntry | undefined {
  const deviceId = fieldDevice(field);
  if (deviceId === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const { p, i, e, t, ip } = o;
  if (typeof p !== 'string' || !isPlatform(p) || typeof i !== 'string' || typeof e !== 'number' || typeof t !== 'number') return undefined;
  return { userId, deviceId, platform: p, instanceId: i, epoch: e, connectedAt: t, clientIp: typeof ip === 'string' ? ip : '' };
}

function finiteNumber(name: string, n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`${name} must be a finite number, got ${n}`);
  return String(n);
}

/**
 * The Redis presence store (see the key schema above). One instance per gateway; several stores
 * (one per instance) share the same Redis. Call `refreshLease` before the first `register` (and
 * every few seconds, well within `leaseTtlMs`): entries of an instance unknown to `<p>instances`
 * count as dead. It is also the cluster's instance directory (the leases): `liveInstances`
 * satisfies cluster/'s InstanceDirectory structurally, so presence imports nothing of cluster/.
 */
export class RedisPresenceStore implements PresenceStore {
  private readonly prefix: string;
  private readonly instanceId: string;
  private readonly leaseTtlMs: number;
  private view: View | undefined;
  private viewLoading: Promise<View> | undefined;

  constructor(
    private readonly redis: RedisClient,
    options: RedisPresenceOptions,
    private readonly log?: Logger,
  ) {
    this.prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.instanceId = options.instanceId;
    if (!(options.leaseTtlMs > 0)) throw new RangeError(`leaseTtlMs must be > 0, got ${options.leaseTtlMs}`);
    this.leaseTtlMs = Math.ceil(options.leaseTtlMs);
    // Local definitions only (no I/O): EVALSHA, falling back to EVAL on NOSCRIPT.
    for (const [name, lua] of Object.entries(COMMANDS)) {
      redis.defineCommand(name, { lua, numberOfKeys: 1 });
    }
  }

  // ---- keys ----------------------------------------------------------------------------------

  /** `<p>u:{<userId>}` */
  userKey(userId: string): string {
    return `${this.prefix}u:{${userId}}`;
  }
  /** `<p>inst:<instanceId>` */
  leaseKey(instanceId: string = this.instanceId): string {
    return `${this.prefix}inst:${instanceId}`;
  }
  /** `<p>instances` */
  instancesKey(): string {
    return `${this.prefix}instances`;
  }
  /** `<p>iu:<instanceId>` */
  indexKey(instanceId: string = this.instanceId): string {
    return `${this.prefix}iu:${instanceId}`;
  }

  private script(name: CommandName, key: string, ...args: string[]): Promise<unknown> {
    const fn = (this.redis as unknown as Record<string, ScriptFn | undefined>)[name];
    if (fn === undefined) return Promise.reject(new Error(`redis script ${name} is not defined`));
    return fn.call(this.redis, key, ...args);
  }

  // ---- PresenceStore -------------------------------------------------------------------------

  async register(login: NewLogin, settings: PolicySettings): Promise<RegisterResult> {
    if (!isPolicyName(settings.policy)) throw new TypeError(`unknown multi-device policy ${String(settings.policy)}`);
    if (!isConflictMode(settings.onConflict)) throw new TypeError(`unknown onConflict ${String(settings.onConflict)}`);
    const max = settings.maxConnectionsPerUser;
    const maxArg = max > 0 && Number.isFinite(max) ? String(max) : '0';
    const connectedAt = finiteNumber('connectedAt', login.connectedAt);
    const field = deviceField(login.deviceId);
    const prefix = `{"p":${JSON.stringify(login.platform)},"i":${JSON.stringify(login.instanceId)},"e":`;
    const suffix = `,"t":${connectedAt},"ip":${JSON.stringify(login.clientIp)}}`;
    const key = this.userKey(login.userId);

    let view = await this.currentView();
    // Entries of dead instances are purged by the script: never on a cached view, which may
    // still call an instance dead whose lease has just been renewed.
    if (this.split(view).dead.length > 0) view = await this.loadView();
    // The index entry is sent before the script (on one connection Redis runs them in that
    // order), so a mapping does not exist without it; a failed SADD must not fail a registration
    // whose script succeeded, it is only logged.
    const indexed = this.redis.sadd(this.indexKey(login.instanceId), login.userId).then(
      () => true,
      (err: unknown) => err,
    );
    const run = (v: View, strict: boolean): Promise<unknown> => {
      const { live, dead } = this.split(v);
      return this.script(
        'imaPresenceRegister',
        key,
        field,
        login.platform,
        login.instanceId,
        prefix,
        suffix,
        settings.policy,
        maxArg,
        settings.onConflict,
        strict ? '1' : '0',
        this.instanceId,
        String(dead.length),
        ...dead,
        String(live.length),
        ...live,
      );
    };
    let reply = asStrings(await run(view, false));
    if (reply[0] === 'unknown') {
      view = await this.loadView();
      reply = asStrings(await run(view, true));
    }
    const sadd = await indexed;
    if (sadd !== true) {
      this.log?.warn({ err: errText(sadd), userId: login.userId }, 'presence: could not index the user under its instance');
    }
    return this.parseRegister(login.userId, reply);
  }

  private parseRegister(userId: string, reply: string[]): RegisterResult {
    const kind = reply[0];
    if (kind === 'admit') {
      const epoch = Number(reply[1]);
      this.logPurged(userId, reply[2]);
      const victims: Victim[] = [];
      for (let j = 3; j + 2 < reply.length; j += 3) {
        const f = reply[j];
        const reason = reply[j + 1];
        const json = reply[j + 2];
        if (f === undefined || reason === undefined || json === undefined) break;
        const session = decodeEntry(userId, f, json);
        if (session === undefined) {
          // Already deleted by the script; nothing a caller could kick.
          this.log?.warn({ userId, field: f }, 'presence: removed an undecodable mapping');
          continue;
        }
        victims.push({ session, reason: reason as VictimReason });
      }
      return { admitted: true, epoch, victims };
    }
    if (kind === 'reject') {
      this.logPurged(userId, reply[1]);
      const conflicts: PresenceEntry[] = [];
      for (let j = 2; j + 1 < reply.length; j += 2) {
        const session = decodeEntry(userId, reply[j] ?? '', reply[j + 1] ?? '');
        if (session === undefined) {
          this.log?.warn({ userId, field: reply[j] }, 'presence: undecodable conflicting mapping');
          continue;
        }
        conflicts.push(session);
      }
      return { admitted: false, conflicts };
    }
    throw new Error(`presence: unexpected register reply ${JSON.stringify(reply.slice(0, 2))}`);
  }

  private logPurged(userId: string, purged: string | undefined): void {
    const n = Number(purged);
    if (n > 0) this.log?.debug({ userId, purged: n }, 'presence: purged mappings of dead instances');
  }

  async unregister(userId: string, deviceId: string, epoch: number): Promise<boolean> {
    if (!Number.isFinite(epoch)) return false;
    const n = await this.script('imaPresenceUnregister', this.userKey(userId), deviceField(deviceId), String(epoch));
    return Number(n) === 1;
  }

  /**
   * The user's mappings whose instance is live (per the cached view, at most 1 s old; an instance
   * the view does not know triggers one fresh read). Mappings of dead instances are left for
   * `register`/`sweep` to delete.
   */
  async sessions(userId: string): Promise<PresenceEntry[]> {
    return (await this.sessionsMany([userId])).get(userId) ?? [];
  }

  /** `sessions` of many users: their hashes read in one pipeline (in parallel on Redis Cluster, where they live in different slots). */
  async sessionsMany(userIds: readonly string[]): Promise<Map<string, PresenceEntry[]>> {
    const unique = [...new Set(userIds)];
    const [raws, view] = await Promise.all([this.readHashes(unique.map((u) => this.userKey(u))), this.currentView()]);
    const byUser = new Map<string, PresenceEntry[]>();
    let unknown = false;
    unique.forEach((userId, i) => {
      const entries: PresenceEntry[] = [];
      for (const [field, json] of Object.entries(raws[i] ?? {})) {
        if (fieldDevice(field) === undefined) continue;
        const e = decodeEntry(userId, field, json);
        if (e === undefined) {
          this.log?.warn({ userId, field }, 'presence: ignoring an undecodable mapping');
          continue;
        }
        if (this.liveness(view, e.instanceId) === 'unknown') unknown = true;
        entries.push(e);
      }
      byUser.set(userId, entries);
    });
    const v = unknown ? await this.loadView() : view;
    for (const [userId, entries] of byUser) byUser.set(userId, entries.filter((e) => this.liveness(v, e.instanceId) === 'live'));
    return byUser;
  }

  private async readHashes(keys: readonly string[]): Promise<Array<Record<string, string>>> {
    if (keys.length === 0) return [];
    if (this.redis instanceof Cluster) return Promise.all(keys.map((k) => this.redis.hgetall(k)));
    const pipe = this.redis.pipeline();
    for (const k of keys) pipe.hgetall(k);
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([e, value]) => {
      if (e !== null) throw e;
      return value as Record<string, string>;
    });
  }

  /** Forgets the cached view. Neither removes mappings (see `removeInstanceMappings`) nor closes the shared client. */
  async close(): Promise<void> {
    this.view = undefined;
  }

  // ---- leases --------------------------------------------------------------------------------

  /**
   * Writes this instance's lease (`<p>inst:<id>` with PX = leaseTtlMs, and its `<p>instances`
   * score = Redis now + leaseTtlMs), then refreshes the cached view. Resolves true when the
   * previous lease was still valid; false when it was missing or expired (first start, Redis lost
   * its data, or other instances may have swept this one's mappings): the caller should then
   * `reRegister` its local mappings.
   */
  async refreshLease(info: LeaseInfo): Promise<boolean> {
    const now = Date.now();
    const lease = {
      instanceId: this.instanceId,
      address: info.address,
      connections: info.connections,
      users: info.users,
      startedAt: info.startedAt,
      version: info.version,
      updatedAt: now,
    };
    const [reply] = await Promise.all([
      this.script('imaPresenceLease', this.instancesKey(), this.instanceId, String(this.leaseTtlMs)),
      this.redis.set(this.leaseKey(), JSON.stringify(lease), 'PX', this.leaseTtlMs),
    ]);
    const [continuous] = asStrings(reply);
    await this.refreshView();
    return continuous === '1';
  }

  /** Deletes this instance's lease (key and `<p>instances` member). */
  async removeLease(): Promise<void> {
    await Promise.all([this.redis.del(this.leaseKey()), this.redis.zrem(this.instancesKey(), this.instanceId)]);
    this.view = undefined;
  }

  /** Instances whose lease has not expired (Redis clock), this one included; a lease whose key is gone is skipped. */
  async liveInstances(): Promise<InstanceLease[]> {
    const reply = asStrings(await this.script('imaPresenceLive', this.instancesKey()));
    const ids: Array<[string, number]> = [];
    for (let j = 1; j + 1 < reply.length; j += 2) ids.push([reply[j] ?? '', Number(reply[j + 1])]);
    const leases = await Promise.all(ids.map(([id]) => this.redis.get(this.leaseKey(id))));
    const out: InstanceLease[] = [];
    ids.forEach(([instanceId, expiresAt], k) => {
      const lease = parseLease(leases[k]);
      if (lease === undefined) return;
      out.push({ ...lease, instanceId, expiresAt });
    });
    return out;
  }

  /** Re-reads `<p>instances` (every member and its expiry) into the cached view. */
  async refreshView(): Promise<void> {
    await this.loadView();
  }

  private async loadView(): Promise<View> {
    if (this.viewLoading !== undefined) return this.viewLoading;
    const loading = (async () => {
      const readAt = Date.now();
      const reply = asStrings(await this.script('imaPresenceView', this.instancesKey()));
      const redisNow = Number(reply[0]);
      const expiry = new Map<string, number>();
      for (let j = 1; j + 1 < reply.length; j += 2) expiry.set(reply[j] ?? '', Number(reply[j + 1]));
      const view: View = { readAt, offset: Number.isFinite(redisNow) ? redisNow - readAt : 0, expiry };
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

  private async currentView(): Promise<View> {
    const v = this.view;
    if (v !== undefined && Date.now() - v.readAt <= VIEW_MAX_AGE_MS) return v;
    return this.loadView();
  }

  private liveness(v: View, instanceId: string): Liveness {
    if (instanceId === this.instanceId) return 'live';
    const exp = v.expiry.get(instanceId);
    if (exp === undefined) return 'unknown';
    return exp >= Date.now() + v.offset ? 'live' : 'dead';
  }

  private split(v: View): { live: string[]; dead: string[] } {
    const live: string[] = [];
    const dead: string[] = [];
    for (const id of v.expiry.keys()) (this.liveness(v, id) === 'live' ? live : dead).push(id);
    return { live, dead };
  }

  // ---- cleanup -------------------------------------------------------------------------------

  /**
   * Deletes the mappings of every other instance whose lease expired, using their `<p>iu:` index;
   * then the index and the `<p>instances` member (only if the lease is still expired). Safe to
   * run concurrently from several instances (each mapping is counted by the one that deleted it).
   * Resolves with how many mappings this call removed.
   */
  async sweep(): Promise<number> {
    const expired = asStrings(await this.script('imaPresenceExpired', this.instancesKey()));
    let removed = 0;
    for (const id of expired) {
      if (id === this.instanceId) continue;
      // Take the instance out of <p>instances first (only while its lease is still expired), then
      // purge: an owner renewing after this finds its lease gone and writes its mappings back
      // (twice, see ClusterMembership), so a purge racing that write-back loses nothing for long;
      // an owner that renewed before it is never purged.
      const gone = Number(await this.script('imaPresenceForgetExpired', this.instancesKey(), id));
      if (gone !== 1) {
        this.log?.info({ instance: id }, 'presence: instance renewed its lease before the sweep; not swept');
        continue;
      }
      removed += await this.purgeInstance(id);
      await Promise.all([this.redis.del(this.indexKey(id)), this.redis.del(this.leaseKey(id))]);
    }
    if (removed > 0) this.log?.info({ removed, instances: expired.length }, 'presence: swept mappings of expired instances');
    return removed;
  }

  /** Shutdown: deletes every mapping this instance owns (via its index), the index and the lease. Resolves with the count. */
  async removeInstanceMappings(): Promise<number> {
    const removed = await this.purgeInstance(this.instanceId);
    await this.redis.del(this.indexKey());
    await this.removeLease();
    return removed;
  }

  private async purgeInstance(instanceId: string): Promise<number> {
    const index = this.indexKey(instanceId);
    let removed = 0;
    let cursor = '0';
    do {
      const [next, users] = await this.redis.sscan(index, cursor, 'COUNT', BATCH);
      cursor = next;
      const counts = await Promise.all(users.map((u) => this.script('imaPresencePurgeInstance', this.userKey(u), instanceId)));
      for (const c of counts) removed += Number(c);
    } while (cursor !== '0');
    return removed;
  }

  /**
   * After Redis lost its data (restart without persistence, failover): writes the given local
   * mappings back with their own epochs. A mapping is written only when its field is absent or
   * carries an older epoch (a newer login elsewhere wins); `#epoch` is raised to at least the
   * epoch; the user is added to the owner's `<p>iu:` index. The multi-device policy is not
   * re-applied. Resolves with how many mappings were written.
   */
  async reRegister(entries: readonly PresenceEntry[]): Promise<number> {
    let written = 0;
    for (let k = 0; k < entries.length; k += BATCH) {
      const batch = entries.slice(k, k + BATCH);
      const results = await Promise.all(
        batch.map(async (e) => {
          const epoch = finiteNumber('epoch', e.epoch);
          finiteNumber('connectedAt', e.connectedAt);
          await this.redis.sadd(this.indexKey(e.instanceId), e.userId);
          return this.script('imaPresenceReRegister', this.userKey(e.userId), deviceField(e.deviceId), encodeEntry(e), epoch);
        }),
      );
      for (const r of results) written += Number(r);
    }
    return written;
  }
}

function asStrings(reply: unknown): string[] {
  if (!Array.isArray(reply)) throw new Error(`presence: unexpected Redis reply ${JSON.stringify(reply)}`);
  return reply.map((x) => (typeof x === 'string' ? x : String(x)));
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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

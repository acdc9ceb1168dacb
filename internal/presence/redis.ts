/**
 * The cluster presence store: who is online on which gateway instance, in Redis (ioredis, a single
 * server or Redis Cluster). Its keys are `<p>u:{<userId>}` (one hash per user) and
 * `<p>iu:<instanceId>` (the users an instance holds), see redis/keys.ts; the field codec is
 * codec.ts. Which instances are alive comes from an injected `InstanceLiveness` (the cluster's
 * leases).
 *
 * - Mappings have no TTL: they live until `unregister`, a policy eviction, or
 *   `removeInstanceMappings` (this instance shutting down, or the cluster sweeping an instance
 *   whose lease expired) removes them. An entry whose instance is dead counts as offline at once
 *   (`sessions()` hides it, `register()` purges it). When a user's last device field goes, the
 *   whole user key (with its epoch counter) is deleted.
 * - Epochs: `#epoch` is seeded with the Redis server time in microseconds when the user key is
 *   created, then HINCRBY 1 per admitted login. Epochs therefore strictly increase per user, also
 *   across the key being deleted (user fully offline) or lost (Redis restarted without
 *   persistence): a new login always outnumbers a mapping written back by `reRegister`. (This
 *   assumes the Redis clock does not jump back and a user does not log in more than once per
 *   microsecond, sustained.) Epochs stay below 2^53, exact in JS and in Lua.
 * - `<p>iu:<instanceId>` is a best-effort superset: the user is added BEFORE the registration
 *   script runs (so a mapping never exists without its index entry, short of a failed SADD) and
 *   is never removed on unregister (an unregister racing a registration of the same user could
 *   otherwise drop a live index entry); the set is deleted with its instance's mappings.
 * - Nothing secret is stored: no token, no token hash.
 *
 * The store never creates connections: it receives a client (`createRedisClient` builds one with
 * the expected options) and does not close it. Every method rejects with the ioredis error when
 * Redis cannot be reached; callers decide what to do (serve locally, re-register later). The
 * client must not have ioredis' own `keyPrefix` option set (the keys carry their prefix).
 */
import { Cluster } from 'ioredis';
import type { RedisClient } from '../redis/client';
import { RedisKeys } from '../redis/keys';
import { asStrings, defineScripts, luaFiles, runScript } from '../redis/lua';
import type { Logger } from '../observability/logger';
import { isConflictMode, isPolicyName } from '../policy/policy';
import type { PolicySettings, Victim, VictimReason } from '../policy/policy';
import { decodeEntry, deviceField, encodeEntry, fieldDevice } from './codec';
import type { InstanceLiveness, LivenessView, NewLogin, PresenceEntry, PresenceStore, RegisterResult } from './types';

/** Users handled concurrently by `removeInstanceMappings` and `reRegister`. */
const BATCH = 100;

/**
 * The Lua scripts, one file each under lua/ (read once when this module loads). Each script touches
 * one key (one user hash): the schema stays Redis-Cluster safe. Numbers go back as strings.
 */
const lua = luaFiles(__dirname);
const LUA_COMMON = lua('common');
const COMMANDS = {
  imaPresenceRegister: `${LUA_COMMON}\n${lua('register')}`,
  imaPresenceUnregister: `${LUA_COMMON}\n${lua('unregister')}`,
  imaPresencePurgeInstance: `${LUA_COMMON}\n${lua('purge-instance')}`,
  imaPresenceReRegister: `${LUA_COMMON}\n${lua('reregister')}`,
} as const;
type CommandName = keyof typeof COMMANDS;

/** Lua sources, exported for documentation and tests. */
export const PRESENCE_LUA: Readonly<Record<CommandName, string>> = COMMANDS;

function finiteNumber(name: string, n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`${name} must be a finite number, got ${n}`);
  return String(n);
}

/**
 * The Redis presence store. One per gateway instance; the stores of all instances share one
 * Redis. Mappings of instances the liveness source calls dead are invisible and get purged.
 */
export class RedisPresenceStore implements PresenceStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly liveness: InstanceLiveness,
    private readonly log?: Logger,
  ) {
    defineScripts(redis, COMMANDS);
  }

  private script(name: CommandName, key: string, ...args: string[]): Promise<unknown> {
    return runScript(this.redis, name, key, ...args);
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
    const key = this.keys.user(login.userId);

    let view = await this.liveness.current();
    // Entries of dead instances are purged by the script: never on a cached view, which may
    // still call an instance dead whose lease has just been renewed.
    if (view.split().dead.length > 0) view = await this.liveness.fresh();
    // The index entry is sent before the script (on one connection Redis runs them in that
    // order), so a mapping does not exist without it; a failed SADD must not fail a registration
    // whose script succeeded, it is only logged.
    const indexed = this.redis.sadd(this.keys.instanceUsers(login.instanceId), login.userId).then(
      () => true,
      (err: unknown) => err,
    );
    const run = (v: LivenessView, strict: boolean): Promise<unknown> => {
      const { live, dead } = v.split();
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
        login.instanceId,
        String(dead.length),
        ...dead,
        String(live.length),
        ...live,
      );
    };
    let reply = asStrings(await run(view, false), 'presence');
    if (reply[0] === 'unknown') {
      view = await this.liveness.fresh();
      reply = asStrings(await run(view, true), 'presence');
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
    const n = await this.script('imaPresenceUnregister', this.keys.user(userId), deviceField(deviceId), String(epoch));
    return Number(n) === 1;
  }

  /**
   * The user's mappings whose instance is live (per a liveness view at most about 1 s old; an
   * instance the view does not know triggers one fresh read). Mappings of dead instances are left
   * for `register` or the cluster's sweep to delete.
   */
  async sessions(userId: string): Promise<PresenceEntry[]> {
    return (await this.sessionsMany([userId])).get(userId) ?? [];
  }

  /** `sessions` of many users: their hashes read in one pipeline (in parallel on Redis Cluster, where they live in different slots). */
  async sessionsMany(userIds: readonly string[]): Promise<Map<string, PresenceEntry[]>> {
    const unique = [...new Set(userIds)];
    const [raws, view] = await Promise.all([this.readHashes(unique.map((u) => this.keys.user(u))), this.liveness.current()]);
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
        if (view.of(e.instanceId) === 'unknown') unknown = true;
        entries.push(e);
      }
      byUser.set(userId, entries);
    });
    const v = unknown ? await this.liveness.fresh() : view;
    for (const [userId, entries] of byUser) byUser.set(userId, entries.filter((e) => v.of(e.instanceId) === 'live'));
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

  /** Nothing to release: the store neither removes mappings (see `removeInstanceMappings`) nor closes the shared client. */
  async close(): Promise<void> {
    // the client belongs to the composition root
  }

  // ---- whole instances -----------------------------------------------------------------------

  /**
   * Deletes every mapping owned by `instanceId` (found through its `<p>iu:` index), then the
   * index. Used for this instance at shutdown and for an instance whose lease expired (the
   * cluster's sweep). Safe to run concurrently (each mapping is counted by the call that deleted
   * it). Resolves with how many mappings this call removed.
   */
  async removeInstanceMappings(instanceId: string): Promise<number> {
    const index = this.keys.instanceUsers(instanceId);
    let removed = 0;
    let cursor = '0';
    do {
      const [next, users] = await this.redis.sscan(index, cursor, 'COUNT', BATCH);
      cursor = next;
      const counts = await Promise.all(users.map((u) => this.script('imaPresencePurgeInstance', this.keys.user(u), instanceId)));
      for (const c of counts) removed += Number(c);
    } while (cursor !== '0');
    await this.redis.del(index);
    return removed;
  }

  /**
   * After Redis lost its data (restart without persistence, failover) or this instance's lease
   * lapsed: writes the given local mappings back with their own epochs. A mapping is written only
   * when its field is absent or carries an older epoch (a newer login elsewhere wins); `#epoch`
   * is raised to at least the epoch; the user is added to the owner's `<p>iu:` index. The
   * multi-device policy is not re-applied. Resolves with how many mappings were written.
   */
  async reRegister(entries: readonly PresenceEntry[]): Promise<number> {
    let written = 0;
    for (let k = 0; k < entries.length; k += BATCH) {
      const batch = entries.slice(k, k + BATCH);
      const results = await Promise.all(
        batch.map(async (e) => {
          const epoch = finiteNumber('epoch', e.epoch);
          finiteNumber('connectedAt', e.connectedAt);
          await this.redis.sadd(this.keys.instanceUsers(e.instanceId), e.userId);
          return this.script('imaPresenceReRegister', this.keys.user(e.userId), deviceField(e.deviceId), encodeEntry(e), epoch);
        }),
      );
      for (const r of results) written += Number(r);
    }
    return written;
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The Redis key schema shared by presence and the cluster leases (`<p>` = the prefix, default
 * `ima:`; every key starts with it):
 *
 * | key                    | type   | owner     | content                                                  |
 * |------------------------|--------|-----------|----------------------------------------------------------|
 * | `<p>u:{<userId>}`      | HASH   | presence  | field `<deviceId>` -> `{"p":platform,"i":instanceId,"e":epoch,"t":connectedAt,"ip":clientIp}`; field `#epoch` -> the user's epoch counter |
 * | `<p>iu:<instanceId>`   | SET    | presence  | userIds that have (or had) a mapping owned by that instance |
 * | `<p>inst:<instanceId>` | STRING | cluster   | the instance lease, JSON `{"instanceId","address","connections","users","startedAt","version","updatedAt"}`, PX = lease TTL |
 * | `<p>instances`         | ZSET   | cluster   | member instanceId, score = lease expiry (unix ms, Redis clock) |
 *
 * User keys carry a hash tag (`{<userId>}`), so everything of one user lives in one Redis Cluster
 * slot; every Lua script touches exactly one key, which keeps the schema Redis-Cluster safe.
 */
export const DEFAULT_KEY_PREFIX = 'ima:';

export class RedisKeys {
  constructor(readonly prefix: string = DEFAULT_KEY_PREFIX) {}

  /** `<p>u:{<userId>}` */
  user(userId: string): string {
    return `${this.prefix}u:{${userId}}`;
  }
  /** `<p>iu:<instanceId>` */
  instanceUsers(instanceId: string): string {
    return `${this.prefix}iu:${instanceId}`;
  }
  /** `<p>inst:<instanceId>` */
  lease(instanceId: string): string {
    return `${this.prefix}inst:${instanceId}`;
  }
  /** `<p>instances` */
  instances(): string {
    return `${this.prefix}instances`;
  }
}

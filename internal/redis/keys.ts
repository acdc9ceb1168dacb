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
 * | `<p>rm:{<room>}`       | SET    | rooms     | user ids with membership of the room (JoinRoom)           |
 * | `<p>ur:{<userId>}`     | SET    | rooms     | rooms the user is a member of                             |
 * | `<p>ri:{<room>}`       | SET    | rooms     | instance ids holding subscribed connections of the room   |
 * | `<p>ir:<instanceId>`   | SET    | rooms     | rooms that instance registered in `ri` (for its cleanup)  |
 * | `<p>rq:{<stream>}`     | HASH   | recovery  | a push stream's epoch (e) and last seq (s); expires with the stream |
 * | `<p>rh:{<stream>}`     | STREAM | recovery  | the stream's last pushes (MAXLEN historySize), entry id `<seq>-1`, fields f (frame), l (filter), t (ms) |
 * | `<p>rk:{<stream>}:<k>` | STRING | recovery  | seq of an idempotent append (pub/sub ingress), 60 s |
 * | `<p>push:user:<userId>`, `<p>push:room:<room>`, `<p>push:broadcast` | channel | ingress | pub/sub ingress (`redis.pubsubIngress`) |
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
  /** `<p>rm:{<room>}` */
  roomMembers(room: string): string {
    return `${this.prefix}rm:{${room}}`;
  }
  /** `<p>ur:{<userId>}` (same slot as the user's presence hash) */
  userRooms(userId: string): string {
    return `${this.prefix}ur:{${userId}}`;
  }
  /** `<p>ri:{<room>}` */
  roomInstances(room: string): string {
    return `${this.prefix}ri:{${room}}`;
  }
  /** `<p>ir:<instanceId>` */
  instanceRooms(instanceId: string): string {
    return `${this.prefix}ir:${instanceId}`;
  }
  /** The pub/sub ingress channels: `<p>push:user:`, `<p>push:room:` (followed by the id) and `<p>push:broadcast`. */
  pushChannelPrefix(kind: 'user' | 'room'): string {
    return `${this.prefix}push:${kind}:`;
  }
  pushBroadcastChannel(): string {
    return `${this.prefix}push:broadcast`;
  }
  /** `<p>rq:{<stream>}` (stream = `u:<userId>` or `r:<room>`) */
  historyMeta(stream: string): string {
    return `${this.prefix}rq:{${stream}}`;
  }
  /** `<p>rh:{<stream>}` */
  history(stream: string): string {
    return `${this.prefix}rh:{${stream}}`;
  }
  /** `<p>rk:{<stream>}:<key>` */
  historyKey(stream: string, key: string): string {
    return `${this.prefix}rk:{${stream}}:${key}`;
  }
  /** `<p>instances` */
  instances(): string {
    return `${this.prefix}instances`;
  }
}

import type { RedisClient } from '../redis/client';
import type { RedisKeys } from '../redis/keys';
import type { RoomInstances, RoomMembers } from './types';

/**
 * Room membership in Redis (see redis/keys.ts): `<p>rm:{<room>}` holds the room's users,
 * `<p>ur:{<userId>}` the user's rooms. The two sides live in different slots (Redis Cluster), so
 * they are written one after the other, room side first on join and last on leave: a crash in
 * between leaves at worst a room listing a user whose login does not subscribe it (repaired by
 * the next join or leave). No TTL: membership lasts until LeaveRoom and survives a Redis restart
 * with persistence. Commands issued together go out back to back on the one connection.
 */
export class RedisRoomMembers implements RoomMembers {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  async join(room: string, userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    await this.redis.sadd(this.keys.roomMembers(room), ...userIds);
    await Promise.all(userIds.map((u) => this.redis.sadd(this.keys.userRooms(u), room)));
  }

  async leave(room: string, userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    await Promise.all(userIds.map((u) => this.redis.srem(this.keys.userRooms(u), room)));
    await this.redis.srem(this.keys.roomMembers(room), ...userIds);
  }

  async roomsOf(userId: string): Promise<string[]> {
    return this.redis.smembers(this.keys.userRooms(userId));
  }

  async memberCounts(rooms: readonly string[]): Promise<Map<string, number>> {
    const counts = await Promise.all(rooms.map((r) => this.redis.scard(this.keys.roomMembers(r))));
    return new Map(rooms.map((r, i) => [r, counts[i] ?? 0]));
  }
}

/**
 * Which instances hold subscribers of a room: `<p>ri:{<room>}` (instance ids) with the index
 * `<p>ir:<instanceId>` (its rooms) for the instance's shutdown and the sweep of a dead instance.
 * Entries of a dead instance are harmless meanwhile (a push filters by the live leases).
 */
export class RedisRoomInstances implements RoomInstances {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly instanceId: string,
  ) {}

  // Both commands of add / remove are sent at once (index first on add, last on remove), so calls
  // made one after the other reach Redis in that order: the last of add / remove wins.
  async add(room: string): Promise<void> {
    await Promise.all([this.redis.sadd(this.keys.instanceRooms(this.instanceId), room), this.redis.sadd(this.keys.roomInstances(room), this.instanceId)]);
  }

  async remove(room: string): Promise<void> {
    await Promise.all([this.redis.srem(this.keys.roomInstances(room), this.instanceId), this.redis.srem(this.keys.instanceRooms(this.instanceId), room)]);
  }

  async instancesOf(rooms: readonly string[]): Promise<Map<string, string[]>> {
    const lists = await Promise.all(rooms.map((r) => this.redis.smembers(this.keys.roomInstances(r))));
    return new Map(rooms.map((r, i) => [r, lists[i] ?? []]));
  }

  async removeInstance(instanceId: string): Promise<number> {
    const index = this.keys.instanceRooms(instanceId);
    let removed = 0;
    let cursor = '0';
    do {
      const [next, rooms] = await this.redis.sscan(index, cursor, 'COUNT', 200);
      cursor = next;
      const n = await Promise.all(rooms.map((r) => this.redis.srem(this.keys.roomInstances(r), instanceId)));
      for (const x of n) removed += x;
    } while (cursor !== '0');
    await this.redis.del(index);
    return removed;
  }

  async writeBack(rooms: readonly string[]): Promise<number> {
    if (rooms.length === 0) return 0;
    await this.redis.sadd(this.keys.instanceRooms(this.instanceId), ...rooms);
    await Promise.all(rooms.map((r) => this.redis.sadd(this.keys.roomInstances(r), this.instanceId)));
    return rooms.length;
  }
}

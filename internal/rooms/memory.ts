import type { RoomInstances, RoomMembers } from './types';

/** User membership of one instance, in memory (no cluster, nothing survives a restart). */
export class MemoryRoomMembers implements RoomMembers {
  private readonly members = new Map<string, Set<string>>();
  private readonly roomsByUser = new Map<string, Set<string>>();

  async join(room: string, userIds: readonly string[]): Promise<void> {
    let set = this.members.get(room);
    if (set === undefined) this.members.set(room, (set = new Set()));
    for (const u of userIds) {
      set.add(u);
      let rooms = this.roomsByUser.get(u);
      if (rooms === undefined) this.roomsByUser.set(u, (rooms = new Set()));
      rooms.add(room);
    }
  }

  async leave(room: string, userIds: readonly string[]): Promise<void> {
    const set = this.members.get(room);
    for (const u of userIds) {
      set?.delete(u);
      const rooms = this.roomsByUser.get(u);
      rooms?.delete(room);
      if (rooms?.size === 0) this.roomsByUser.delete(u);
    }
    if (set?.size === 0) this.members.delete(room);
  }

  async roomsOf(userId: string): Promise<string[]> {
    return [...(this.roomsByUser.get(userId) ?? [])];
  }

  async memberCounts(rooms: readonly string[]): Promise<Map<string, number>> {
    return new Map(rooms.map((r) => [r, this.members.get(r)?.size ?? 0]));
  }
}

/** One instance: it is the only one that can have subscribers. */
export class LocalRoomInstances implements RoomInstances {
  private readonly rooms = new Set<string>();
  constructor(private readonly instanceId: string) {}

  async add(room: string): Promise<void> {
    this.rooms.add(room);
  }
  async remove(room: string): Promise<void> {
    this.rooms.delete(room);
  }
  async instancesOf(rooms: readonly string[]): Promise<Map<string, string[]>> {
    return new Map(rooms.map((r) => [r, this.rooms.has(r) ? [this.instanceId] : []]));
  }
  async removeInstance(instanceId: string): Promise<number> {
    if (instanceId !== this.instanceId) return 0;
    const n = this.rooms.size;
    this.rooms.clear();
    return n;
  }
  async writeBack(rooms: readonly string[]): Promise<number> {
    for (const r of rooms) this.rooms.add(r);
    return rooms.length;
  }
}

import type { DeliveryFilter, RegisteredConnection } from './types';
import { matches } from './types';

/**
 * The local registry: user -> device -> connection, on this instance only. Single-threaded (the
 * event loop), so every operation is atomic. At most one connection per (user, device): the
 * multi-device policy decides who goes before a new one is registered.
 */
export class ConnectionManager<C extends RegisteredConnection = RegisteredConnection> {
  /**
   * A user's connections: the connection itself while the user has one here (the usual case: no
   * Map per user, about 250 bytes less per connection), a Map by device id from the second on.
   */
  private readonly users = new Map<string, C | Map<string, C>>();
  private connections = 0;
  private readonly platformCounts = new Map<string, number>();

  /**
   * Registers `conn`. A connection already registered for the same (user, device) is removed
   * from the registry and returned; the caller closes it (the same-device rule).
   */
  register(conn: C): C | undefined {
    const slot = this.users.get(conn.userId);
    if (slot === undefined) {
      this.users.set(conn.userId, conn);
      this.countUp(conn);
      return undefined;
    }
    if (!(slot instanceof Map)) {
      if (slot === conn) return undefined;
      if (slot.deviceId === conn.deviceId) {
        this.countDown(slot);
        this.users.set(conn.userId, conn);
        this.countUp(conn);
        return slot;
      }
      this.users.set(
        conn.userId,
        new Map([
          [slot.deviceId, slot],
          [conn.deviceId, conn],
        ]),
      );
      this.countUp(conn);
      return undefined;
    }
    const devices = slot;
    const previous = devices.get(conn.deviceId);
    if (previous === conn) return undefined;
    if (previous !== undefined) this.countDown(previous);
    devices.set(conn.deviceId, conn);
    this.countUp(conn);
    return previous;
  }

  /** Removes `conn` only if it is still the registered connection of its (user, device). */
  unregister(conn: C): boolean {
    const slot = this.users.get(conn.userId);
    if (slot === undefined) return false;
    if (!(slot instanceof Map)) {
      if (slot !== conn) return false;
      this.users.delete(conn.userId);
    } else {
      if (slot.get(conn.deviceId) !== conn) return false;
      slot.delete(conn.deviceId);
      if (slot.size === 1) this.users.set(conn.userId, slot.values().next().value as C);
      else if (slot.size === 0) this.users.delete(conn.userId);
    }
    this.countDown(conn);
    return true;
  }

  /** The connections of one user here (none, one, or a Map's values). */
  private devicesOf(userId: string): Iterable<C> {
    const slot = this.users.get(userId);
    if (slot === undefined) return [];
    return slot instanceof Map ? slot.values() : [slot];
  }

  /** The connection of one device of a user. */
  get(userId: string, deviceId: string): C | undefined {
    const slot = this.users.get(userId);
    if (slot === undefined) return undefined;
    if (slot instanceof Map) return slot.get(deviceId);
    return slot.deviceId === deviceId ? slot : undefined;
  }

  /** The connection of (user, device) only if it carries this epoch. */
  getConnection(userId: string, deviceId: string, epoch: number): C | undefined {
    const c = this.get(userId, deviceId);
    return c !== undefined && c.epoch === epoch ? c : undefined;
  }

  /** The device ids of a user on this instance (empty when offline here). */
  getUserDevices(userId: string): string[] {
    return [...this.devicesOf(userId)].map((c) => c.deviceId);
  }

  /** The connections of a user on this instance. */
  getUserConnections(userId: string): C[] {
    return [...this.devicesOf(userId)];
  }

  /** Every user on this instance with their device ids. */
  getAllUserDevices(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [userId, slot] of this.users) out.set(userId, slot instanceof Map ? [...slot.keys()] : [slot.deviceId]);
    return out;
  }

  /** Users with at least one connection here. */
  getOnlineCount(): number {
    return this.users.size;
  }

  getConnectionCount(): number {
    return this.connections;
  }

  /** Connections per platform (only platforms with at least one). */
  getPlatformCounts(): Record<string, number> {
    return Object.fromEntries(this.platformCounts);
  }

  /**
   * Writes `frame` to every matching connection of a user, synchronously.
   * Returns how many connections it was written to and how many matched.
   */
  broadcastToUser(userId: string, frame: string | Uint8Array, filter?: DeliveryFilter): { delivered: number; matched: number } {
    const slot = this.users.get(userId);
    let delivered = 0;
    let matched = 0;
    if (slot === undefined) return { delivered, matched };
    if (!(slot instanceof Map)) {
      if (!matches(slot, filter)) return { delivered, matched };
      return { delivered: slot.send(frame) ? 1 : 0, matched: 1 };
    }
    for (const c of slot.values()) {
      if (!matches(c, filter)) continue;
      matched++;
      if (c.send(frame)) delivered++;
    }
    return { delivered, matched };
  }

  /** Writes `frame` to every matching connection here; a slow socket is closed by its send(), never awaited. */
  broadcast(frame: string | Uint8Array, filter?: DeliveryFilter): number {
    let delivered = 0;
    for (const slot of this.users.values()) {
      if (!(slot instanceof Map)) {
        if (matches(slot, filter) && slot.send(frame)) delivered++;
        continue;
      }
      for (const c of slot.values()) {
        if (matches(c, filter) && c.send(frame)) delivered++;
      }
    }
    return delivered;
  }

  /** Every registered connection (a snapshot). */
  all(): C[] {
    const out: C[] = [];
    for (const slot of this.users.values()) {
      if (slot instanceof Map) for (const c of slot.values()) out.push(c);
      else out.push(slot);
    }
    return out;
  }

  /**
   * Closes every connection with `close`. With `spreadMs` > 0 the closes are spread evenly over
   * that window (a fleet restart must not make every client reconnect at once); resolves when the
   * last close was issued.
   */
  async closeAll(close: (c: C) => void, spreadMs = 0): Promise<void> {
    const snapshot = this.all();
    if (snapshot.length === 0) return;
    if (spreadMs <= 0) {
      for (const c of snapshot) close(c);
      return;
    }
    const slices = Math.max(1, Math.min(snapshot.length, Math.ceil(spreadMs / 20)));
    const perSlice = Math.ceil(snapshot.length / slices);
    const interval = spreadMs / slices;
    for (let i = 0; i < snapshot.length; i += perSlice) {
      for (const c of snapshot.slice(i, i + perSlice)) close(c);
      if (i + perSlice < snapshot.length) await new Promise((r) => setTimeout(r, interval));
    }
  }

  private countUp(c: C): void {
    this.connections++;
    this.platformCounts.set(c.platform, (this.platformCounts.get(c.platform) ?? 0) + 1);
  }

  private countDown(c: C): void {
    this.connections--;
    const n = (this.platformCounts.get(c.platform) ?? 1) - 1;
    if (n <= 0) this.platformCounts.delete(c.platform);
    else this.platformCounts.set(c.platform, n);
  }
}

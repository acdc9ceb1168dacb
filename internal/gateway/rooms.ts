import type { ConnectionManager } from '../connection/manager';
import type { Logger } from '../observability/logger';
import { AckCode, CLOSE_REASON, CloseCode } from '../protocol/codes';
import type { RoomInstances, RoomMembers } from '../rooms/types';
import type { TopicPublisher } from './ports';
import type { Session } from './session';
import type { GatewayStats } from './stats';

export type ClientSubscribeMode = 'deny' | 'business' | 'allow';

export interface RoomSettings {
  readonly clientSubscribe: ClientSubscribeMode;
  /** Rooms a connection may subscribe itself (member rooms do not count). */
  readonly maxPerConnection: number;
  /** What a recovering subscription may hold while its history is read (the send-buffer limit); beyond it: 4005. */
  readonly maxHeldBytes: number;
}

export interface RoomHubDeps {
  readonly publisher: TopicPublisher;
  readonly registry: ConnectionManager<Session>;
  readonly members: RoomMembers;
  readonly instances: RoomInstances;
  readonly stats: GatewayStats;
  readonly log: Logger;
  readonly settings: RoomSettings;
}

/** The transport topic of a room. */
export function roomTopic(room: string): string {
  return `r:${room}`;
}

/**
 * This instance's side of rooms: which local connections are subscribed to which room and why,
 * the transport topics behind them (one native publish per room push), and the registration of
 * this instance in `RoomInstances` when a room gets its first local subscriber (and leaves it when
 * the last one goes), so a push contacts only instances with subscribers.
 */
export class RoomHub {
  /** room -> its subscribed open sessions on this instance */
  private readonly local = new Map<string, Set<Session>>();
  /** subscriptions (connection, room) on this instance */
  subscriptions = 0;
  /** room -> sessions joining it with recovery: their room pushes are held until `release` */
  private readonly catching = new Map<string, Map<Session, Uint8Array[]>>();
  /** Sessions whose member rooms could not be read at login (the store was unreachable): read again by `retryMissed`. */
  private readonly missed = new Set<Session>();

  constructor(private readonly d: RoomHubDeps) {}

  get settings(): RoomSettings {
    return this.d.settings;
  }

  /** Rooms with at least one subscribed connection here. */
  get roomCount(): number {
    return this.local.size;
  }

  /** Subscribed connections of `room` on this instance. */
  connections(room: string): number {
    return this.local.get(room)?.size ?? 0;
  }

  /** Every room with local subscribers (written back after Redis lost them). */
  localRooms(): string[] {
    return [...this.local.keys()];
  }

  /** How many rooms each open connection is subscribed to (for the metrics histogram). */
  subscriptionsPerConnection(): number[] {
    return this.d.registry.all().map((s) => s.rooms.size);
  }

  /** The user's member rooms, read while the connection upgrades; null (logged) when the store cannot answer. */
  async roomsAtLogin(userId: string): Promise<string[] | null> {
    try {
      return await this.d.members.roomsOf(userId);
    } catch (e) {
      this.d.log.warn({ userId, err: e instanceof Error ? e.message : String(e) }, 'rooms: could not read the user\'s rooms at login; connected without them until the store answers');
      return null;
    }
  }

  /**
   * Marks member rooms on a session not open yet; `null` (the store did not answer) remembers the
   * session for `retryMissed`.
   */
  preset(s: Session, rooms: readonly string[] | null): void {
    if (rooms === null) {
      this.missed.add(s);
      return;
    }
    for (const room of rooms) {
      const sub = s.rooms.get(room);
      if (sub === undefined) s.roomsForWrite().set(room, { member: true, client: false });
      else sub.member = true;
    }
  }

  /** At open: subscribes the socket to every room the session holds. */
  attach(s: Session): void {
    for (const room of s.rooms.keys()) this.addLocal(s, room);
  }

  /** Whether some login is still missing its member rooms. */
  hasMissed(): boolean {
    return this.missed.size > 0;
  }

  /**
   * Reads the member rooms of the logins that could not read them (the store was unreachable)
   * and subscribes them; called when the store is reachable again. Resolves with how many
   * sessions were completed; one the store still cannot answer for stays for the next call.
   */
  async retryMissed(): Promise<number> {
    let done = 0;
    for (const s of [...this.missed]) {
      if (s.ended) {
        this.missed.delete(s);
        continue;
      }
      const rooms = await this.d.members.roomsOf(s.userId);
      this.missed.delete(s);
      if (s.ended) continue;
      for (const room of rooms) {
        const sub = s.rooms.get(room);
        if (sub !== undefined) {
          sub.member = true;
          continue;
        }
        s.roomsForWrite().set(room, { member: true, client: false });
        if (s.socket !== null) this.addLocal(s, room);
      }
      done++;
    }
    if (done > 0) this.d.log.info({ sessions: done }, 'rooms: member rooms of logins made while the store was unreachable now subscribed');
    return done;
  }

  /** At close: the session leaves every room (its socket is gone: uWS dropped its topics). */
  detach(s: Session): void {
    this.missed.delete(s);
    for (const room of s.rooms.keys()) this.stopCatching(s, room);
    for (const room of s.rooms.keys()) this.removeLocal(s, room, false);
    s.clearRooms();
    s.clientRooms = 0;
  }

  /**
   * JoinRoom on this instance: every connection of the users here (open, or still upgrading) is
   * subscribed by membership. Returns the connections newly subscribed (not already subscribed).
   */
  joinLocal(room: string, userIds: readonly string[], pending: (userId: string) => Session[]): number {
    let n = 0;
    for (const u of userIds) {
      for (const s of [...this.d.registry.getUserConnections(u), ...pending(u)]) {
        if (s.ended) continue;
        const sub = s.rooms.get(room);
        if (sub === undefined) {
          s.roomsForWrite().set(room, { member: true, client: false });
          if (s.socket !== null) this.addLocal(s, room);
          n++;
        } else if (!sub.member) {
          sub.member = true;
        }
      }
    }
    return n;
  }

  /** LeaveRoom on this instance: membership ends; a connection's own subscription stays. Returns the connections unsubscribed. */
  leaveLocal(room: string, userIds: readonly string[], pending: (userId: string) => Session[]): number {
    let n = 0;
    for (const u of userIds) {
      for (const s of [...this.d.registry.getUserConnections(u), ...pending(u)]) {
        const sub = s.rooms.get(room);
        if (sub === undefined || !sub.member) continue;
        sub.member = false;
        if (!sub.client) {
          s.roomsForWrite().delete(room);
          if (s.socket !== null) this.removeLocal(s, room, true);
          n++;
        }
      }
    }
    return n;
  }

  /**
   * A client's own subscription (already allowed): 0, or 3001 over `rooms.maxPerConnection`.
   * `hold`: the connection counts as subscribed but its room pushes are kept aside (not in the
   * topic) until `release`, while its recovery is read.
   */
  subscribeClient(s: Session, room: string, hold = false): number {
    const sub = s.rooms.get(room);
    if (sub?.client === true) return AckCode.ACCEPTED;
    if (s.clientRooms >= this.d.settings.maxPerConnection) return AckCode.TOO_MANY_ROOMS;
    s.clientRooms++;
    if (sub !== undefined) {
      sub.client = true;
      return AckCode.ACCEPTED;
    }
    s.roomsForWrite().set(room, { member: false, client: true });
    this.addLocal(s, room, hold);
    return AckCode.ACCEPTED;
  }

  /**
   * Ends the hold of a recovering subscription: writes the held room pushes not already replayed
   * (seq > lastSeq; all when lastSeq < 0) and joins the topic. No-op when not holding.
   */
  release(s: Session, room: string, lastSeq: number): void {
    const held = this.catching.get(room)?.get(s);
    if (held === undefined) return;
    this.stopCatching(s, room);
    for (const f of held) {
      const seq = roomSeqOf(f);
      if (seq !== undefined && lastSeq >= 0 && seq <= lastSeq) continue;
      s.send(f);
    }
    if (s.rooms.has(room)) s.socket?.subscribe(roomTopic(room));
  }

  private stopCatching(s: Session, room: string): void {
    const m = this.catching.get(room);
    if (m === undefined) return;
    m.delete(s);
    if (m.size === 0) this.catching.delete(room);
  }

  /** Whether a subscribe frame for `room` would be over the limit (checked before asking the business service). */
  wouldExceed(s: Session, room: string): boolean {
    return s.rooms.get(room)?.client !== true && s.clientRooms >= this.d.settings.maxPerConnection;
  }

  /** Ends the client's own subscription (membership, if any, stays). Idempotent. */
  unsubscribeClient(s: Session, room: string): void {
    const sub = s.rooms.get(room);
    if (sub === undefined || !sub.client) return;
    sub.client = false;
    s.clientRooms--;
    if (!sub.member) {
      s.roomsForWrite().delete(room);
      this.removeLocal(s, room, true);
    }
  }

  /**
   * Writes `frame` to every local subscriber of `room`, skipping the users in `exclude` and, with
   * `platforms`, connections of other platforms. Without a platform filter this is one native
   * publish (excluded users' sockets leave the topic for that publish and rejoin right after, all
   * in one synchronous step); with one, the room's local connections are written one by one.
   * Returns the connections written.
   */
  publish(room: string, frame: Uint8Array, exclude: ReadonlySet<string>, platforms: ReadonlySet<string>): number {
    this.d.stats.roomPushes++;
    const subs = this.local.get(room);
    if (subs === undefined) return 0;
    let delivered = 0;
    const catching = this.catching.get(room);
    if (catching !== undefined) {
      // recovering subscriptions: not in the topic yet, their pushes wait for `release`
      for (const [s, held] of catching) {
        if (exclude.has(s.userId) || (platforms.size > 0 && !platforms.has(s.platform))) continue;
        if (held.reduce((n, f) => n + f.byteLength, frame.byteLength) > this.d.settings.maxHeldBytes) {
          // as a send buffer over its limit: not written, closed as a slow consumer
          this.stopCatching(s, room);
          s.close(CloseCode.SLOW_CONSUMER, CLOSE_REASON[CloseCode.SLOW_CONSUMER]);
          continue;
        }
        held.push(frame);
        delivered++;
      }
    }
    if (platforms.size > 0) {
      for (const s of subs) {
        if (!platforms.has(s.platform) || exclude.has(s.userId) || catching?.has(s) === true) continue;
        if (s.send(frame)) delivered++;
      }
    } else {
      const topic = roomTopic(room);
      const held: Session[] = [];
      if (exclude.size > 0) {
        for (const u of exclude) {
          for (const s of this.d.registry.getUserConnections(u)) {
            if (s.rooms.has(room) && s.socket !== null && catching?.has(s) !== true) {
              s.socket.unsubscribe(topic);
              held.push(s);
            }
          }
        }
      }
      delivered += this.d.publisher.publish(topic, frame);
      for (const s of held) s.socket?.subscribe(topic);
    }
    this.d.stats.messagesOut += delivered;
    return delivered;
  }

  private addLocal(s: Session, room: string, hold = false): void {
    let set = this.local.get(room);
    if (set === undefined) {
      this.local.set(room, (set = new Set()));
      this.register(room, true);
    }
    if (set.has(s)) return;
    set.add(s);
    this.subscriptions++;
    if (!hold) {
      s.socket?.subscribe(roomTopic(room));
      return;
    }
    let m = this.catching.get(room);
    if (m === undefined) this.catching.set(room, (m = new Map()));
    m.set(s, []);
  }

  private removeLocal(s: Session, room: string, unsubscribeSocket: boolean): void {
    const set = this.local.get(room);
    if (set === undefined || !set.delete(s)) return;
    this.subscriptions--;
    this.stopCatching(s, room);
    if (unsubscribeSocket) s.socket?.unsubscribe(roomTopic(room));
    if (set.size === 0) {
      this.local.delete(room);
      this.register(room, false);
    }
  }

  /** Tells the cluster this instance has (or no longer has) subscribers of `room`; failures are logged (the write-back repairs them). */
  private register(room: string, present: boolean): void {
    const op = present ? this.d.instances.add(room) : this.d.instances.remove(room);
    op.catch((e: unknown) => this.d.log.warn({ room, present, err: e instanceof Error ? e.message : String(e) }, 'rooms: could not update the room\'s instances'));
  }
}

/** The seq of a numbered room push frame (`..."room":R,"seq":N}`), else undefined. */
const ROOM_SEQ_RE = /,"room":"[A-Za-z0-9_.:@/-]{1,128}","seq":(\d+)\}$/;
function roomSeqOf(frame: Uint8Array): number | undefined {
  const tail = Buffer.from(frame.buffer, frame.byteOffset + Math.max(0, frame.byteLength - 200), Math.min(200, frame.byteLength)).toString('utf8');
  const m = ROOM_SEQ_RE.exec(tail);
  return m === null ? undefined : Number(m[1]);
}

import type { BroadcastRequestOutput } from '../../api/gen/im/gateway/v1/BroadcastRequest';
import type { BroadcastResponse } from '../../api/gen/im/gateway/v1/BroadcastResponse';
import type { ConnectionStatusRequestOutput } from '../../api/gen/im/gateway/v1/ConnectionStatusRequest';
import type { ConnectionStatusResponse } from '../../api/gen/im/gateway/v1/ConnectionStatusResponse';
import type { KickUserRequestOutput } from '../../api/gen/im/gateway/v1/KickUserRequest';
import type { KickUserResponse } from '../../api/gen/im/gateway/v1/KickUserResponse';
import type { PushRequestOutput } from '../../api/gen/im/gateway/v1/PushRequest';
import type { PushResponse } from '../../api/gen/im/gateway/v1/PushResponse';
import type { RoomMembershipRequestOutput } from '../../api/gen/im/gateway/v1/RoomMembershipRequest';
import type { RoomMembershipResponse } from '../../api/gen/im/gateway/v1/RoomMembershipResponse';
import type { RoomPushRequestOutput } from '../../api/gen/im/gateway/v1/RoomPushRequest';
import type { RoomPushResponse } from '../../api/gen/im/gateway/v1/RoomPushResponse';
import type { RoomStatusRequestOutput } from '../../api/gen/im/gateway/v1/RoomStatusRequest';
import type { RoomStatusResponse } from '../../api/gen/im/gateway/v1/RoomStatusResponse';
import type { Result } from '../../pkg/result';
import { LATE, beforeDeadline } from '../../pkg/deadline';
import { err, ok } from '../../pkg/result';
import type { Logger } from '../observability/logger';
import type { PresenceEntry, PresenceStore } from '../presence/types';
import type { RoomInstances } from '../rooms/types';
import type { ApiError, CallContext, GatewayApi } from '../rpc/api';
import type { PeerForwarder } from './forwarder';
import type { InstanceDirectory, InstanceInfo } from './types';
import { CloseCode } from '../protocol/codes';
import { FORWARDED_HEADER, KICK_CODE_HEADER, KICK_EPOCH_HEADER, NUMBERED_CHUNK, SEQS_HEADER } from './types';

/** The local push API and the two local operations the cluster needs beyond it. */
export interface LocalApi extends GatewayApi {
  /** The checks of PushToUsers without sending anything (validated once, before routing). */
  validatePushToUsers(req: PushRequestOutput): ApiError | null;
  /** Kicks one connection (user, device, epoch) with 4001; how many were kicked (0 or 1). */
  kickReplaced(userId: string, deviceId: string, epoch: number, reason: string): number;
  validateRoomMembership(req: RoomMembershipRequestOutput): ApiError | null;
  validateRoomPush(req: RoomPushRequestOutput): ApiError | null;
  validateRoomStatus(req: RoomStatusRequestOutput): ApiError | null;
  /** Writes a membership change to the room store; an API error when it cannot be reached. */
  storeMembership(op: 'join' | 'leave', room: string, userIds: readonly string[]): Promise<ApiError | null>;
  /** Subscribes / unsubscribes this instance's connections of the users (membership already stored); how many. */
  joinLocal(room: string, userIds: readonly string[]): number;
  leaveLocal(room: string, userIds: readonly string[]): number;
  /** Allocates a push's seqs once for the cluster (null: recovery off; empty: the history failed, no one numbers it again). */
  numberUserPush(req: PushRequestOutput, ctx: CallContext): Promise<ReadonlyMap<string, number> | null>;
  numberRoomPush(req: RoomPushRequestOutput, ctx: CallContext): Promise<ReadonlyMap<string, number> | null>;
}

function encodeSeqs(seqs: ReadonlyMap<string, number>, streams: readonly string[]): string {
  const o: Record<string, number> = {};
  for (const s of streams) {
    const n = seqs.get(s);
    if (n !== undefined) o[s] = n;
  }
  return encodeURIComponent(JSON.stringify(o));
}

function decodeSeqs(header: string | undefined): ReadonlyMap<string, number> | undefined {
  if (header === undefined || header === '') return undefined;
  try {
    const o = JSON.parse(decodeURIComponent(header)) as unknown;
    if (typeof o !== 'object' || o === null) return undefined;
    const out = new Map<string, number>();
    for (const [k, v] of Object.entries(o)) if (typeof v === 'number' && Number.isSafeInteger(v)) out.set(k, v);
    return out;
  } catch {
    return undefined;
  }
}

function chunks<T>(list: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += n) out.push(list.slice(i, i + n));
  return out;
}


/**
 * The cluster decorator around the local push API. A call arriving from a backend is routed:
 * PushToUser / PushToUsers go to the instances that own the users' devices (per the presence
 * store), batched one call per instance; Broadcast and KickUser go to every live instance (a
 * kick also drops the user's cached tokens everywhere); GetConnectionStatus reads the presence
 * store, which is cluster-wide. Counts are summed. A forwarded call (FORWARDED_HEADER) is executed
 * locally only, so nothing is forwarded twice.
 */
export class ClusterApi implements GatewayApi {
  constructor(
    private readonly selfId: string,
    private readonly local: LocalApi,
    private readonly presence: PresenceStore,
    private readonly directory: InstanceDirectory,
    private readonly peers: Pick<PeerForwarder, 'call'>,
    private readonly log: Logger,
    /** Which instances hold subscribers of a room. */
    private readonly roomInstances: Pick<RoomInstances, 'instancesOf'>,
  ) {}

  private forwarded(ctx: CallContext): boolean {
    return ctx.headers[FORWARDED_HEADER] === '1';
  }

  /** A forwarded call's context with the seqs its sender allocated. */
  private received(ctx: CallContext): CallContext {
    const numbered = decodeSeqs(ctx.headers[SEQS_HEADER]);
    return numbered === undefined ? ctx : { ...ctx, numbered };
  }

  async PushToUser(req: PushRequestOutput, ctx: CallContext): Promise<Result<PushResponse, ApiError>> {
    if (this.forwarded(ctx) || req.userId === '' || req.userId.length > 128) return this.local.PushToUser(req, this.received(ctx));
    return this.PushToUsers({ ...req, userIds: [req.userId] }, ctx, 'PushToUser');
  }

  async PushToUsers(req: PushRequestOutput, ctx: CallContext, as: 'PushToUser' | 'PushToUsers' = 'PushToUsers'): Promise<Result<PushResponse, ApiError>> {
    if (this.forwarded(ctx) || req.userIds.length === 0) return as === 'PushToUser' ? this.local.PushToUser(req, this.received(ctx)) : this.local.PushToUsers(req, this.received(ctx));
    const invalid = this.local.validatePushToUsers(req);
    if (invalid !== null) return err(invalid);
    // numbered once here for every user, offline ones included (they recover it on reconnect),
    // while the owners are looked up: a stalled Redis costs one wait, not two
    const [seqs, owners] = await Promise.all([this.local.numberUserPush(req, ctx), this.owners(req.userIds, ctx.deadline)]);
    if (seqs !== null) ctx = { ...ctx, numbered: seqs };
    const localUsers: string[] = [];
    const byInstance = new Map<string, string[]>();
    for (const u of new Set(req.userIds)) {
      const inst = owners.get(u);
      if (inst === undefined || inst.has(this.selfId)) localUsers.push(u);
      if (inst !== undefined) {
        for (const i of inst) {
          if (i === this.selfId) continue;
          let list = byInstance.get(i);
          if (list === undefined) byInstance.set(i, (list = []));
          list.push(u);
        }
      }
    }
    const localCall: Promise<Result<PushResponse, ApiError>> =
      localUsers.length > 0 ? this.local.PushToUsers({ ...req, userId: '', userIds: localUsers }, ctx) : Promise.resolve(ok({ success: true, delivered: 0, offlineUserIds: [] }));
    // the live instances are only read when some user lives elsewhere (a stalled Redis costs one wait, not two)
    const addresses = byInstance.size > 0 ? await this.addresses(ctx.deadline) : new Map<string, string>();
    const calls: Array<[string, string[]]> = [];
    for (const [instanceId, users] of byInstance) for (const part of seqs === null ? [users] : chunks(users, NUMBERED_CHUNK)) calls.push([instanceId, part]);
    const remote = calls.map(async ([instanceId, users]) => {
      const address = addresses.get(instanceId);
      if (address === undefined) return { users, res: null };
      const headers = this.passThrough(ctx);
      if (seqs !== null) headers[SEQS_HEADER] = encodeSeqs(seqs, users.map((u) => `u:${u}`));
      const r = await this.peers.call<PushResponse>(address, 'PushToUsers', { ...req, userId: '', userIds: users }, headers, ctx.deadline);
      if (!r.ok) this.log.warn({ instanceId, code: r.error.code, error: r.error.message }, 'forwarded PushToUsers failed');
      return { users, res: r.ok ? r.value : null };
    });
    const l = await localCall;
    if (!l.ok) return l; // invalid argument: nothing was sent anywhere that matters
    let delivered = l.value.delivered ?? 0;
    // a user is offline when no asked instance matched a connection of theirs
    const online = new Set<string>();
    const localOffline = new Set(l.value.offlineUserIds ?? []);
    for (const u of localUsers) if (!localOffline.has(u)) online.add(u);
    for (const { users, res } of await Promise.all(remote)) {
      if (res === null) continue;
      delivered += res.delivered ?? 0;
      const off = new Set(res.offlineUserIds ?? []);
      for (const u of users) if (!off.has(u)) online.add(u);
    }
    const offline = [...new Set(req.userIds)].filter((u) => !online.has(u));
    return ok({ success: true, delivered, offlineUserIds: offline });
  }

  async Broadcast(req: BroadcastRequestOutput, ctx: CallContext): Promise<Result<BroadcastResponse, ApiError>> {
    if (this.forwarded(ctx)) return this.local.Broadcast(req, ctx);
    const l = await this.local.Broadcast(req, ctx);
    if (!l.ok) return l;
    const answers = await this.toOthers<BroadcastResponse>('Broadcast', req, ctx);
    let delivered = Number(l.value.delivered ?? 0);
    for (const r of answers) delivered += Number(r.delivered ?? 0);
    return ok({ success: true, delivered, instances: 1 + answers.length });
  }

  async KickUser(req: KickUserRequestOutput, ctx: CallContext): Promise<Result<KickUserResponse, ApiError>> {
    if (this.forwarded(ctx)) {
      // another instance kicking a victim of the login policy (PeerKicker): 4001, that connection only
      if (ctx.headers[KICK_CODE_HEADER] === String(CloseCode.REPLACED)) {
        const epoch = Number(ctx.headers[KICK_EPOCH_HEADER]);
        return ok({ success: true, kicked: Number.isFinite(epoch) ? this.local.kickReplaced(req.userId, req.deviceId, epoch, req.reason) : 0 });
      }
      return this.local.KickUser(req, ctx);
    }
    const l = await this.local.KickUser(req, ctx);
    if (!l.ok) return l;
    let kicked = l.value.kicked ?? 0;
    for (const r of await this.toOthers<KickUserResponse>('KickUser', req, ctx)) kicked += r.kicked ?? 0;
    return ok({ success: true, kicked });
  }

  /** Sends the call to every other live instance at once; the answers of those that succeeded. */
  private async toOthers<Res>(method: 'Broadcast' | 'KickUser', req: unknown, ctx: CallContext): Promise<Res[]> {
    const others = (await this.live(ctx.deadline)).filter((i) => i.instanceId !== this.selfId);
    const results = await Promise.all(others.map((i) => this.peers.call<Res>(i.address, method, req, this.passThrough(ctx), ctx.deadline)));
    const answers: Res[] = [];
    results.forEach((r, idx) => {
      if (r.ok) answers.push(r.value);
      else this.log.warn({ instanceId: others[idx]?.instanceId, code: r.error.code, error: r.error.message }, `forwarded ${method} failed`);
    });
    return answers;
  }

  GetConnectionStatus(req: ConnectionStatusRequestOutput, ctx: CallContext): Promise<Result<ConnectionStatusResponse, ApiError>> {
    return this.local.GetConnectionStatus(req, ctx);
  }

  // ----- rooms ------------------------------------------------------------------------------

  /**
   * JoinRoom / LeaveRoom: the membership is stored once (by the instance the backend called), then
   * the users' connections are (un)subscribed on every instance holding one (per presence), in
   * one call per instance; `connections` is summed.
   */
  JoinRoom(req: RoomMembershipRequestOutput, ctx: CallContext): Promise<Result<RoomMembershipResponse, ApiError>> {
    return this.membership('JoinRoom', req, ctx);
  }

  LeaveRoom(req: RoomMembershipRequestOutput, ctx: CallContext): Promise<Result<RoomMembershipResponse, ApiError>> {
    return this.membership('LeaveRoom', req, ctx);
  }

  private async membership(method: 'JoinRoom' | 'LeaveRoom', req: RoomMembershipRequestOutput, ctx: CallContext): Promise<Result<RoomMembershipResponse, ApiError>> {
    const invalid = this.local.validateRoomMembership(req);
    if (invalid !== null) return err(invalid);
    const users = [...new Set(req.userIds)];
    const local = (list: readonly string[]): number => (method === 'JoinRoom' ? this.local.joinLocal(req.room, list) : this.local.leaveLocal(req.room, list));
    if (this.forwarded(ctx)) return ok({ success: true, connections: local(users) });
    const stored = await this.local.storeMembership(method === 'JoinRoom' ? 'join' : 'leave', req.room, users);
    if (stored !== null) return err(stored);
    const owners = await this.owners(users, ctx.deadline);
    const byInstance = new Map<string, string[]>();
    for (const u of users) {
      for (const i of owners.get(u) ?? []) {
        if (i === this.selfId) continue;
        let list = byInstance.get(i);
        if (list === undefined) byInstance.set(i, (list = []));
        list.push(u);
      }
    }
    // this instance always applies it: a user connecting here right now is covered too
    let connections = local(users);
    if (byInstance.size > 0) {
      const addresses = await this.addresses(ctx.deadline);
      const answers = await Promise.all(
        [...byInstance].map(async ([instanceId, list]) => {
          const address = addresses.get(instanceId);
          if (address === undefined) return 0;
          const r = await this.peers.call<RoomMembershipResponse>(address, method, { room: req.room, userIds: list }, this.passThrough(ctx), ctx.deadline);
          if (!r.ok) this.log.warn({ instanceId, code: r.error.code, error: r.error.message }, `forwarded ${method} failed`);
          return r.ok ? Number(r.value.connections ?? 0) : 0;
        }),
      );
      for (const n of answers) connections += n;
    }
    return ok({ success: true, connections });
  }

  /**
   * PushToRoom: executed here when this instance has subscribers, and sent to every other live
   * instance that registered subscribers of the room (RoomInstances), nowhere else; `delivered`
   * is summed and `instances` counts those that had subscribers and answered.
   */
  async PushToRoom(req: RoomPushRequestOutput, ctx: CallContext): Promise<Result<RoomPushResponse, ApiError>> {
    if (this.forwarded(ctx)) return this.local.PushToRoom(req, this.received(ctx));
    const invalid = this.local.validateRoomPush(req);
    if (invalid !== null) return err(invalid);
    const seqs = await this.local.numberRoomPush(req, ctx);
    if (seqs !== null) ctx = { ...ctx, numbered: seqs };
    const others = await this.roomPeers([req.room], ctx.deadline);
    const localCall = this.local.PushToRoom(req, ctx);
    const headers = this.passThrough(ctx);
    if (seqs !== null) headers[SEQS_HEADER] = encodeSeqs(seqs, [`r:${req.room}`]);
    const remote = others.map(async (i) => {
      const r = await this.peers.call<RoomPushResponse>(i.address, 'PushToRoom', req, headers, ctx.deadline);
      if (!r.ok) this.log.warn({ instanceId: i.instanceId, code: r.error.code, error: r.error.message }, 'forwarded PushToRoom failed');
      return r.ok ? r.value : null;
    });
    const l = await localCall;
    if (!l.ok) return l;
    let delivered = Number(l.value.delivered ?? 0);
    let instances = l.value.instances ?? 0;
    for (const r of await Promise.all(remote)) {
      if (r === null) continue;
      delivered += Number(r.delivered ?? 0);
      instances += r.instances ?? 0;
    }
    return ok({ success: true, delivered, instances });
  }

  /** GetRoomStatus: members from the cluster-wide store, connections summed over the instances with subscribers. */
  async GetRoomStatus(req: RoomStatusRequestOutput, ctx: CallContext): Promise<Result<RoomStatusResponse, ApiError>> {
    if (this.forwarded(ctx)) return this.local.GetRoomStatus(req, ctx);
    const invalid = this.local.validateRoomStatus(req);
    if (invalid !== null) return err(invalid);
    const rooms = [...new Set(req.rooms)];
    const others = await this.roomPeers(rooms, ctx.deadline);
    const remote = others.map(async (i) => {
      const r = await this.peers.call<RoomStatusResponse>(i.address, 'GetRoomStatus', { rooms }, this.passThrough(ctx), ctx.deadline);
      if (!r.ok) this.log.warn({ instanceId: i.instanceId, code: r.error.code, error: r.error.message }, 'forwarded GetRoomStatus failed');
      return r.ok ? r.value : null;
    });
    const l = await this.local.GetRoomStatus({ rooms }, ctx);
    if (!l.ok) return l;
    const connections = new Map<string, number>();
    for (const st of l.value.rooms ?? []) connections.set(st.room ?? '', Number(st.connections ?? 0));
    for (const r of await Promise.all(remote)) {
      for (const st of r?.rooms ?? []) connections.set(st.room ?? '', (connections.get(st.room ?? '') ?? 0) + Number(st.connections ?? 0));
    }
    return ok({ rooms: (l.value.rooms ?? []).map((st) => ({ room: st.room ?? '', members: st.members ?? 0, connections: connections.get(st.room ?? '') ?? 0 })) });
  }

  /** The other live instances that registered subscribers of any of `rooms`; none when that cannot be read in time (act locally). */
  private async roomPeers(rooms: readonly string[], deadline: number): Promise<InstanceInfo[]> {
    let registered: Map<string, string[]>;
    try {
      const r = await beforeDeadline(this.roomInstances.instancesOf(rooms), deadline);
      if (r === LATE) {
        this.log.warn('room instances not read before the call\'s deadline: acting locally');
        return [];
      }
      registered = r;
    } catch (e) {
      this.log.warn({ err: e }, 'cannot read the room\'s instances: acting locally');
      return [];
    }
    const wanted = new Set<string>();
    for (const list of registered.values()) for (const id of list) if (id !== this.selfId) wanted.add(id);
    if (wanted.size === 0) return [];
    return (await this.live(deadline)).filter((i) => wanted.has(i.instanceId));
  }

  private passThrough(ctx: CallContext): Record<string, string> {
    const out: Record<string, string> = {};
    const tp = ctx.headers['traceparent'];
    if (tp !== undefined) out['traceparent'] = tp;
    return out;
  }

  /** The instances holding each user's devices, read in one batch; unreachable presence = this instance (deliver locally at least). */
  private async owners(userIds: readonly string[], deadline: number): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    const unique = [...new Set(userIds)];
    let byUser: Map<string, PresenceEntry[]>;
    try {
      byUser = await this.presence.sessionsMany(unique, deadline);
    } catch {
      for (const u of unique) out.set(u, new Set([this.selfId]));
      return out;
    }
    for (const u of unique) {
      const sessions = byUser.get(u) ?? [];
      if (sessions.length > 0) out.set(u, new Set(sessions.map((s) => s.instanceId)));
    }
    return out;
  }

  /** The live instances; none (act locally) when they cannot be read before the call's deadline. */
  private async live(deadline: number): Promise<InstanceInfo[]> {
    try {
      const r = await beforeDeadline(this.directory.liveInstances(), deadline);
      if (r !== LATE) return r;
      this.log.warn('live instances not read before the call\'s deadline: acting locally');
    } catch (e) {
      this.log.warn({ err: e }, 'cannot list live instances: acting locally');
    }
    return [];
  }

  private async addresses(deadline: number): Promise<Map<string, string>> {
    return new Map((await this.live(deadline)).map((i) => [i.instanceId, i.address]));
  }
}

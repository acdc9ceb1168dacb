import type { BroadcastRequestOutput } from '../../api/gen/im/gateway/v1/BroadcastRequest';
import type { BroadcastResponse } from '../../api/gen/im/gateway/v1/BroadcastResponse';
import type { ConnectionStatus } from '../../api/gen/im/gateway/v1/ConnectionStatus';
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
import type { RoomStatus } from '../../api/gen/im/gateway/v1/RoomStatus';
import type { RoomStatusRequestOutput } from '../../api/gen/im/gateway/v1/RoomStatusRequest';
import type { RoomStatusResponse } from '../../api/gen/im/gateway/v1/RoomStatusResponse';
import * as grpc from '@grpc/grpc-js';
import type { ServerMessageOutput } from '../../api/gen/im/gateway/v1/ServerMessage';
import type { IdGenerator } from '../../pkg/ids';
import { LATE, beforeDeadline } from '../../pkg/deadline';
import type { Result } from '../../pkg/result';
import { err, ok } from '../../pkg/result';
import type { ConnectionManager } from '../connection/manager';
import type { DeliveryFilter } from '../connection/types';
import type { Logger } from '../observability/logger';
import type { PresenceStore } from '../presence/types';
import type { RoomMembers } from '../rooms/types';
import type { AppendItem, HistoryStore } from '../recovery/types';
import { roomStream, userStream, withSeq } from '../recovery/types';
import { isRoomName } from '../rooms/types';
import { CloseCode, isPlatform } from '../protocol/codes';
import { encodeServerMessage } from '../protocol/frames';
import type { ApiError, CallContext, GatewayApi } from './ports';
import { invalidArgument } from './ports';
import type { Gateway } from './gateway';
import type { RoomHub } from './rooms';
import type { Session } from './session';
import type { GatewayStats } from './stats';

export interface PushSettings {
  /** Cap on user_ids in one PushToUsers / GetConnectionStatus call. */
  readonly maxUsersPerCall: number;
  /** Largest message.payload a push may carry (bytes). */
  readonly maxPayloadBytes: number;
}

export interface PushDeps {
  readonly instanceId: string;
  readonly gateway: Pick<Gateway, 'kick' | 'kickEpoch' | 'pendingOf' | 'broadcast'>;
  readonly rooms: RoomHub;
  /** User membership of rooms (memory, or Redis in a cluster). */
  readonly members: RoomMembers;
  /** Numbered pushes and their history (recovery); null = `recovery.enabled: false`. */
  readonly history: HistoryStore | null;
  readonly registry: ConnectionManager<Session>;
  readonly presence: PresenceStore;
  /** Drops a user's cached tokens (KickUser), so a reconnect is validated again. */
  readonly invalidateUser: (userId: string) => void;
  readonly ids: IdGenerator;
  readonly stats: GatewayStats;
  readonly log: Logger;
  readonly settings: PushSettings;
}

const MAX_ID = 128;
const MAX_TYPE = 64;
const MAX_FILTER_ITEMS = 1000;

/**
 * The push API use cases (IMAGatewayService), transport-neutral: validation naming the field,
 * message ids and timestamps filled, one frame encoded per call and written to every matching
 * connection in one synchronous pass (a slow socket is closed by its own send, never awaited).
 *
 * `success` is true when the call was valid and carried out; who was reached is in `delivered`
 * (connections written) and `offline_user_ids` (users with no matching connection).
 */
export class PushService implements GatewayApi {
  constructor(private readonly d: PushDeps) {}

  async PushToUser(req: PushRequestOutput, ctx: CallContext): Promise<Result<PushResponse, ApiError>> {
    const userErr = checkId('user_id', req.userId);
    if (userErr !== null) return this.fail('PushToUser', userErr);
    const prepared = this.prepare(req, ctx);
    if (!prepared.ok) return this.fail('PushToUser', prepared.error);
    const r = await this.deliverToUsers([req.userId], prepared.value, ctx);
    this.count('PushToUser');
    return ok({ success: true, ...r });
  }

  async PushToUsers(req: PushRequestOutput, ctx: CallContext): Promise<Result<PushResponse, ApiError>> {
    const users = this.checkUsers(req.userIds);
    if (!users.ok) return this.fail('PushToUsers', users.error);
    const prepared = this.prepare(req, ctx);
    if (!prepared.ok) return this.fail('PushToUsers', prepared.error);
    const r = await this.deliverToUsers(users.value, prepared.value, ctx);
    this.count('PushToUsers');
    return ok({ success: true, ...r });
  }

  /**
   * Numbers the push per user (unless the calling instance did, `ctx.numbered`) and writes it to
   * each user's matching connections here: one frame per user (its seq differs), one pass.
   */
  private async deliverToUsers(users: readonly string[], p: PreparedPush, ctx: CallContext): Promise<{ delivered: number; offlineUserIds: string[] }> {
    const seqs = await this.number(users.map((u) => ({ stream: userStream(u), framePrefix: p.prefix, filter: p.filterJson })), ctx);
    const plain = seqs === null ? Buffer.from(`${p.prefix}}`) : null;
    let delivered = 0;
    const offline: string[] = [];
    for (const u of users) {
      const seq = seqs?.get(userStream(u));
      const frame = plain ?? Buffer.from(seq === undefined ? `${p.prefix}}` : withSeq(p.prefix, seq));
      const r = this.d.registry.broadcastToUser(u, frame, p.filter);
      delivered += r.delivered;
      if (r.matched === 0) offline.push(u);
    }
    this.d.stats.messagesOut += delivered;
    return { delivered, offlineUserIds: offline };
  }

  /**
   * Seqs for the items' streams: those the calling instance allocated (`ctx.numbered`), else one
   * batch appended to the history here. null when recovery is off, or when the history cannot be
   * written (the push still goes out, without seq; counted and logged).
   */
  private async number(items: AppendItem[], ctx: CallContext): Promise<ReadonlyMap<string, number> | null> {
    if (this.d.history === null) return null;
    if (ctx.numbered !== undefined) return ctx.numbered;
    const keyed = ctx.dedupeKey === undefined ? items : items.map((it) => ({ ...it, key: ctx.dedupeKey }));
    try {
      // a stalled history must not take the call past its deadline: a third of the time left
      // (at most 1 s), then the push goes out without seq
      const budget = Math.min(1_000, Number.isFinite(ctx.deadline) ? (ctx.deadline - Date.now()) / 3 : 1_000);
      const seqs = await beforeDeadline(this.d.history.append(keyed as AppendItem[]), Date.now() + Math.max(0, budget));
      if (seqs === LATE) throw new Error(`history not written within ${Math.round(budget)} ms`);
      this.d.stats.numbered += seqs.length;
      return new Map(items.map((it, i) => [it.stream, seqs[i] ?? 0]));
    } catch (e) {
      this.d.stats.numberingErrors += items.length;
      this.d.log.warn({ err: e instanceof Error ? e.message : String(e), streams: items.length }, 'recovery: history not written; pushing without seq');
      return null;
    }
  }

  /**
   * Allocates the seqs of a user push once for the whole cluster (the instance the backend
   * called). null when recovery is off; an empty map when the history could not be written in
   * time: the push then goes out without seq everywhere, and nobody tries to number it again
   * (a second wait on a stalled history would take the call past its deadline).
   */
  async numberUserPush(req: PushRequestOutput, ctx: CallContext): Promise<ReadonlyMap<string, number> | null> {
    const prepared = this.prepare(req, ctx);
    if (!prepared.ok) return null;
    const users = req.userIds.length > 0 ? [...new Set(req.userIds)] : [req.userId];
    return this.numberOnce(users.map((u) => ({ stream: userStream(u), framePrefix: prepared.value.prefix, filter: prepared.value.filterJson })), ctx);
  }

  private async numberOnce(items: AppendItem[], ctx: CallContext): Promise<ReadonlyMap<string, number> | null> {
    if (this.d.history === null) return null;
    return (await this.number(items, ctx)) ?? new Map<string, number>();
  }

  /** The same for a room push. */
  async numberRoomPush(req: RoomPushRequestOutput, ctx: CallContext): Promise<ReadonlyMap<string, number> | null> {
    const checked = this.checkRoomPush(req);
    if (!checked.ok) return null;
    const prefix = this.encodePrefix(checked.value.message, ctx, req.room);
    return this.numberOnce([{ stream: roomStream(req.room), framePrefix: prefix, filter: roomFilterJson(checked.value.exclude, checked.value.platforms) }], ctx);
  }

  async Broadcast(req: BroadcastRequestOutput, _ctx: CallContext): Promise<Result<BroadcastResponse, ApiError>> {
    const msg = checkMessage(req.message, this.d.settings.maxPayloadBytes);
    if (!msg.ok) return this.fail('Broadcast', msg.error);
    const platforms = checkPlatforms('platforms', req.platforms);
    if (!platforms.ok) return this.fail('Broadcast', platforms.error);
    const frame = this.encode(msg.value);
    // all platforms: one native topic publish; a platform filter: the registry, connection by connection
    const delivered = platforms.value.size > 0 ? this.d.registry.broadcast(frame, { platforms: platforms.value }) : this.d.gateway.broadcast(frame);
    this.d.stats.messagesOut += delivered;
    this.count('Broadcast');
    return ok({ success: true, delivered, instances: 1 });
  }

  async KickUser(req: KickUserRequestOutput, _ctx: CallContext): Promise<Result<KickUserResponse, ApiError>> {
    const userErr = checkId('user_id', req.userId);
    if (userErr !== null) return this.fail('KickUser', userErr);
    if (req.deviceId !== '' && req.deviceId.length > MAX_ID) return this.fail('KickUser', invalidArgument('device_id', `at most ${MAX_ID} characters`));
    if (req.reason.length > 256) return this.fail('KickUser', invalidArgument('reason', 'at most 256 characters'));
    const reason = req.reason !== '' ? req.reason : 'kicked by the server';
    const targets = req.deviceId !== '' ? [this.d.registry.get(req.userId, req.deviceId)].filter((s): s is Session => s !== undefined) : this.d.registry.getUserConnections(req.userId);
    for (const s of targets) this.d.gateway.kick(s, CloseCode.KICKED, reason);
    this.d.invalidateUser(req.userId);
    this.d.log.info({ userId: req.userId, deviceId: req.deviceId, kicked: targets.length, reason }, 'KickUser');
    this.count('KickUser');
    return ok({ success: true, kicked: targets.length });
  }

  async GetConnectionStatus(req: ConnectionStatusRequestOutput, ctx: CallContext): Promise<Result<ConnectionStatusResponse, ApiError>> {
    const users = this.checkUsers(req.userIds);
    if (!users.ok) return this.fail('GetConnectionStatus', users.error);
    const statuses: ConnectionStatus[] = [];
    // one batch for every user: a stalled Redis costs one command timeout, not one per user
    const byUser = await this.d.presence.sessionsMany(users.value, ctx.deadline);
    for (const u of users.value) {
      for (const e of byUser.get(u) ?? []) {
        statuses.push({
          userId: e.userId,
          deviceId: e.deviceId,
          platform: e.platform,
          online: true,
          instanceId: e.instanceId,
          connectedAt: e.connectedAt,
          clientIp: e.clientIp,
          event: 'CONNECTION_EVENT_UNSPECIFIED',
          reason: '',
        });
      }
    }
    this.count('GetConnectionStatus');
    return ok({ statuses });
  }

  /**
   * Kicks the one connection (user, device, epoch) with 4001: a victim of the login policy named by
   * another instance. Returns how many were kicked (0 or 1).
   */
  kickReplaced(userId: string, deviceId: string, epoch: number, reason: string): number {
    return this.d.gateway.kickEpoch(userId, deviceId, epoch, CloseCode.REPLACED, reason !== '' ? reason : 'replaced by another login');
  }

  // ----- rooms ------------------------------------------------------------------------------

  async JoinRoom(req: RoomMembershipRequestOutput, _ctx: CallContext): Promise<Result<RoomMembershipResponse, ApiError>> {
    const bad = this.validateRoomMembership(req);
    if (bad !== null) return this.fail('JoinRoom', bad);
    const users = [...new Set(req.userIds)];
    const stored = await this.storeMembership('join', req.room, users);
    if (stored !== null) return this.fail('JoinRoom', stored);
    const connections = this.joinLocal(req.room, users);
    this.count('JoinRoom');
    return ok({ success: true, connections });
  }

  async LeaveRoom(req: RoomMembershipRequestOutput, _ctx: CallContext): Promise<Result<RoomMembershipResponse, ApiError>> {
    const bad = this.validateRoomMembership(req);
    if (bad !== null) return this.fail('LeaveRoom', bad);
    const users = [...new Set(req.userIds)];
    const stored = await this.storeMembership('leave', req.room, users);
    if (stored !== null) return this.fail('LeaveRoom', stored);
    const connections = this.leaveLocal(req.room, users);
    this.count('LeaveRoom');
    return ok({ success: true, connections });
  }

  async PushToRoom(req: RoomPushRequestOutput, ctx: CallContext): Promise<Result<RoomPushResponse, ApiError>> {
    const checked = this.checkRoomPush(req);
    if (!checked.ok) return this.fail('PushToRoom', checked.error);
    const prefix = this.encodePrefix(checked.value.message, ctx, req.room);
    const stream = roomStream(req.room);
    const seqs = await this.number([{ stream, framePrefix: prefix, filter: roomFilterJson(checked.value.exclude, checked.value.platforms) }], ctx);
    const seq = seqs?.get(stream);
    const frame = Buffer.from(seq === undefined ? `${prefix}}` : withSeq(prefix, seq));
    const had = this.d.rooms.connections(req.room) > 0;
    const delivered = this.d.rooms.publish(req.room, frame, checked.value.exclude, checked.value.platforms);
    this.count('PushToRoom');
    return ok({ success: true, delivered, instances: had ? 1 : 0 });
  }

  async GetRoomStatus(req: RoomStatusRequestOutput, _ctx: CallContext): Promise<Result<RoomStatusResponse, ApiError>> {
    const bad = this.validateRoomStatus(req);
    if (bad !== null) return this.fail('GetRoomStatus', bad);
    const rooms = [...new Set(req.rooms)];
    let members: Map<string, number>;
    try {
      members = await this.d.members.memberCounts(rooms);
    } catch (e) {
      return this.fail('GetRoomStatus', storeUnavailable(e));
    }
    this.count('GetRoomStatus');
    return ok({ rooms: rooms.map((room): RoomStatus => ({ room, members: members.get(room) ?? 0, connections: this.d.rooms.connections(room) })) });
  }

  /** The argument checks of JoinRoom / LeaveRoom. */
  validateRoomMembership(req: RoomMembershipRequestOutput): ApiError | null {
    const room = checkRoom('room', req.room);
    if (room !== null) return room;
    const users = this.checkUsers(req.userIds);
    return users.ok ? null : users.error;
  }

  /** The argument checks of PushToRoom. */
  validateRoomPush(req: RoomPushRequestOutput): ApiError | null {
    const r = this.checkRoomPush(req);
    return r.ok ? null : r.error;
  }

  /** The argument checks of GetRoomStatus. */
  validateRoomStatus(req: RoomStatusRequestOutput): ApiError | null {
    if (req.rooms.length === 0) return invalidArgument('rooms', 'required (at least one room)');
    if (req.rooms.length > this.d.settings.maxUsersPerCall) return invalidArgument('rooms', `at most ${this.d.settings.maxUsersPerCall} rooms per call, got ${req.rooms.length}`);
    for (let i = 0; i < req.rooms.length; i++) {
      const e = checkRoom(`rooms[${i}]`, req.rooms[i] ?? '');
      if (e !== null) return e;
    }
    return null;
  }

  /** Subscribes this instance's connections of the users (membership already stored); how many were newly subscribed. */
  joinLocal(room: string, userIds: readonly string[]): number {
    return this.d.rooms.joinLocal(room, userIds, (u) => this.d.gateway.pendingOf(u));
  }

  /** Unsubscribes this instance's connections of the users from their membership; how many. */
  leaveLocal(room: string, userIds: readonly string[]): number {
    return this.d.rooms.leaveLocal(room, userIds, (u) => this.d.gateway.pendingOf(u));
  }

  /** Writes the membership change to the room store; an API error when the store cannot be reached. */
  async storeMembership(op: 'join' | 'leave', room: string, userIds: readonly string[]): Promise<ApiError | null> {
    try {
      if (op === 'join') await this.d.members.join(room, userIds);
      else await this.d.members.leave(room, userIds);
      return null;
    } catch (e) {
      return storeUnavailable(e);
    }
  }

  private checkRoomPush(req: RoomPushRequestOutput): Result<{ message: ServerMessageOutput; exclude: Set<string>; platforms: Set<string> }, ApiError> {
    const room = checkRoom('room', req.room);
    if (room !== null) return err(room);
    const msg = checkMessage(req.message, this.d.settings.maxPayloadBytes);
    if (!msg.ok) return msg;
    const exclude = checkIdList('exclude_user_ids', req.excludeUserIds);
    if (!exclude.ok) return exclude;
    const platforms = checkPlatforms('platforms', req.platforms);
    if (!platforms.ok) return platforms;
    return ok({ message: msg.value, exclude: exclude.value, platforms: platforms.value });
  }

  /** The checks of PushToUsers without sending anything (the cluster decorator validates once). */
  validatePushToUsers(req: PushRequestOutput): ApiError | null {
    const users = this.checkUsers(req.userIds);
    if (!users.ok) return users.error;
    const prepared = this.prepare(req, { headers: {}, deadline: Infinity });
    return prepared.ok ? null : prepared.error;
  }

  private prepare(req: PushRequestOutput, ctx: CallContext): Result<PreparedPush, ApiError> {
    const msg = checkMessage(req.message, this.d.settings.maxPayloadBytes);
    if (!msg.ok) return msg;
    const platforms = checkPlatforms('platforms', req.platforms);
    if (!platforms.ok) return platforms;
    const deviceIds = checkIdList('device_ids', req.deviceIds);
    if (!deviceIds.ok) return deviceIds;
    const exclude = checkIdList('exclude_device_ids', req.excludeDeviceIds);
    if (!exclude.ok) return exclude;
    const none = platforms.value.size + deviceIds.value.size + exclude.value.size === 0;
    const filter: DeliveryFilter | undefined = none ? undefined : { platforms: platforms.value, deviceIds: deviceIds.value, excludeDeviceIds: exclude.value };
    const filterJson = none ? '' : JSON.stringify({ d: [...deviceIds.value], p: [...platforms.value], x: [...exclude.value] });
    return ok({ prefix: this.encodePrefix(msg.value, ctx), filter, filterJson });
  }

  /**
   * The frame as UTF-8 bytes, encoded once per call: uWS would otherwise convert a JS string again
   * for every recipient.
   */
  private encode(m: ServerMessageOutput): Buffer {
    return Buffer.from(encodeServerMessage(this.outgoing(m)));
  }

  /**
   * The frame without its closing brace (the seq goes there). An empty message id is generated,
   * or, for an idempotent push (pub/sub ingress), derived from its dedupe key so that every
   * instance writes the same frame.
   */
  private encodePrefix(m: ServerMessageOutput, ctx: CallContext, room?: string): string {
    const out = this.outgoing(m, room, ctx.dedupeKey);
    return encodeServerMessage(out).slice(0, -1);
  }

  private outgoing(m: ServerMessageOutput, room?: string, dedupeKey?: string) {
    return {
      messageId: m.messageId !== '' ? m.messageId : dedupeKey !== undefined ? `ps-${dedupeKey.slice(0, 20)}` : this.d.ids.next(),
      type: m.type,
      payload: m.payload,
      timestamp: m.timestamp !== 0 ? m.timestamp : Date.now(),
      replyTo: m.replyTo,
      metadata: m.metadata,
      ...(room !== undefined ? { room } : {}),
    };
  }

  private checkUsers(userIds: readonly string[]): Result<string[], ApiError> {
    if (userIds.length === 0) return err(invalidArgument('user_ids', 'required (at least one user id)'));
    if (userIds.length > this.d.settings.maxUsersPerCall) return err(invalidArgument('user_ids', `at most ${this.d.settings.maxUsersPerCall} users per call, got ${userIds.length}`));
    for (let i = 0; i < userIds.length; i++) {
      const e = checkId(`user_ids[${i}]`, userIds[i] ?? '');
      if (e !== null) return err(e);
    }
    return ok([...new Set(userIds)]);
  }

  private count(method: string): void {
    this.d.stats.pushes.set(method, (this.d.stats.pushes.get(method) ?? 0) + 1);
  }

  private fail<T>(method: string, e: ApiError): Result<T, ApiError> {
    this.d.stats.pushErrors.set(method, (this.d.stats.pushErrors.get(method) ?? 0) + 1);
    return err(e);
  }
}

function checkId(field: string, v: string): ApiError | null {
  if (v === '') return invalidArgument(field, 'required');
  if (v.length > MAX_ID) return invalidArgument(field, `at most ${MAX_ID} characters`);
  return null;
}

/** A user push prepared once per call: the frame without its closing brace, the delivery filter and its stored form. */
interface PreparedPush {
  readonly prefix: string;
  readonly filter: DeliveryFilter | undefined;
  readonly filterJson: string;
}

function roomFilterJson(exclude: ReadonlySet<string>, platforms: ReadonlySet<string>): string {
  return exclude.size + platforms.size === 0 ? '' : JSON.stringify({ xu: [...exclude], p: [...platforms] });
}

function checkRoom(field: string, v: string): ApiError | null {
  if (v === '') return invalidArgument(field, 'required');
  if (!isRoomName(v)) return invalidArgument(field, '1 to 128 characters of A-Z a-z 0-9 _ . : @ / -');
  return null;
}

function storeUnavailable(e: unknown): ApiError {
  return { code: grpc.status.UNAVAILABLE, message: `room store unavailable: ${e instanceof Error ? e.message : String(e)}` };
}

function checkMessage(m: ServerMessageOutput | null, maxPayloadBytes: number): Result<ServerMessageOutput, ApiError> {
  if (m === null) return err(invalidArgument('message', 'required'));
  if (m.payload.byteLength > maxPayloadBytes) return err(invalidArgument('message.payload', `at most ${maxPayloadBytes} bytes (server.maxPushPayloadBytes), got ${m.payload.byteLength}`));
  if (m.type === '') return err(invalidArgument('message.type', 'required'));
  if (m.type.length > MAX_TYPE) return err(invalidArgument('message.type', `at most ${MAX_TYPE} characters`));
  if (m.messageId.length > MAX_ID) return err(invalidArgument('message.message_id', `at most ${MAX_ID} characters`));
  if (m.timestamp < 0) return err(invalidArgument('message.timestamp', 'must not be negative'));
  return ok(m);
}

function checkPlatforms(field: string, list: readonly string[]): Result<Set<string>, ApiError> {
  if (list.length > MAX_FILTER_ITEMS) return err(invalidArgument(field, `at most ${MAX_FILTER_ITEMS} items`));
  for (let i = 0; i < list.length; i++) {
    const p = list[i] ?? '';
    if (!isPlatform(p)) return err(invalidArgument(`${field}[${i}]`, `unknown platform ${JSON.stringify(p)}`));
  }
  return ok(new Set(list));
}

function checkIdList(field: string, list: readonly string[]): Result<Set<string>, ApiError> {
  if (list.length > MAX_FILTER_ITEMS) return err(invalidArgument(field, `at most ${MAX_FILTER_ITEMS} items`));
  for (let i = 0; i < list.length; i++) {
    const e = checkId(`${field}[${i}]`, list[i] ?? '');
    if (e !== null) return err(e);
  }
  return ok(new Set(list));
}

/**
 * ClusterApi routing in-process: a fake local API, a memory (or failing) presence store, a fake
 * instance directory and a fake peer channel. No Redis, no gRPC.
 */
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
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
import { LocalRoomInstances, MemoryRoomMembers } from '../rooms/memory';
import type { RoomInstances } from '../rooms/types';
import type { Result } from '../../pkg/result';
import { err, ok } from '../../pkg/result';
import { silentLogger } from '../gateway/testing';
import { MemoryPresenceStore } from '../presence/memory';
import type { PresenceEntry, PresenceStore } from '../presence/types';
import type { Platform } from '../protocol/codes';
import type { ApiError, CallContext, GatewayMethod } from '../rpc/api';
import { invalidArgument } from '../rpc/api';
import { ClusterApi } from './api';
import type { LocalApi } from './api';
import type { PeerForwarder } from './forwarder';
import type { InstanceDirectory, InstanceInfo } from './types';
import { FORWARDED_HEADER, KICK_CODE_HEADER, KICK_EPOCH_HEADER } from './types';

const SELF = 'gw-a';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
/** A backend's call: a trace header (passed on), an API token and another header (not passed on). */
const CTX: CallContext = { headers: { traceparent: TRACEPARENT, authorization: 'Bearer secret', 'x-other': 'y' }, deadline: Infinity };
const FORWARDED_CTX: CallContext = { headers: { [FORWARDED_HEADER]: '1' }, deadline: Infinity };
const PASSED: Readonly<Record<string, string>> = { traceparent: TRACEPARENT };

const MESSAGE = { messageId: 'msg-1', type: 'notice', payload: Buffer.from('{"n":1}'), timestamp: 1, replyTo: '', metadata: {} };

function pushRequest(userIds: string[], userId = ''): PushRequestOutput {
  return { userId, userIds, message: MESSAGE, deviceIds: [], platforms: [], excludeDeviceIds: [] };
}

// ----- fakes ----------------------------------------------------------------------------------

interface LocalCall {
  readonly method: GatewayMethod | 'kickReplaced' | 'joinLocal' | 'leaveLocal';
  readonly req: unknown;
  readonly ctx: CallContext;
}

/**
 * This instance's push API: users connected here with their number of matching connections; a
 * push answers delivered = the sum and offline = the users with none. Records every call.
 */
class FakeLocalApi implements LocalApi {
  readonly calls: LocalCall[] = [];
  readonly connections = new Map<string, number>();
  broadcastDelivered = 0;
  kicked = 0;
  /** What kickReplaced answers. */
  replaced = 1;
  invalid: ApiError | null = null;

  constructor(connections: Record<string, number> = {}) {
    for (const [u, n] of Object.entries(connections)) this.connections.set(u, n);
  }

  validatePushToUsers(_req: PushRequestOutput): ApiError | null {
    return this.invalid;
  }

  kickReplaced(userId: string, deviceId: string, epoch: number, reason: string): number {
    this.calls.push({ method: 'kickReplaced', req: { userId, deviceId, epoch, reason }, ctx: { headers: {}, deadline: Infinity } });
    return this.replaced;
  }

  async PushToUser(req: PushRequestOutput, ctx: CallContext): Promise<Result<PushResponse, ApiError>> {
    this.calls.push({ method: 'PushToUser', req, ctx });
    return ok(pushAnswer(this.connections, [req.userId]));
  }

  async PushToUsers(req: PushRequestOutput, ctx: CallContext): Promise<Result<PushResponse, ApiError>> {
    this.calls.push({ method: 'PushToUsers', req, ctx });
    if (this.invalid !== null) return err(this.invalid);
    return ok(pushAnswer(this.connections, req.userIds));
  }

  async Broadcast(req: BroadcastRequestOutput, ctx: CallContext): Promise<Result<BroadcastResponse, ApiError>> {
    this.calls.push({ method: 'Broadcast', req, ctx });
    return ok({ success: true, delivered: this.broadcastDelivered, instances: 1 });
  }

  async KickUser(req: KickUserRequestOutput, ctx: CallContext): Promise<Result<KickUserResponse, ApiError>> {
    this.calls.push({ method: 'KickUser', req, ctx });
    return ok({ success: true, kicked: this.kicked });
  }

  async GetConnectionStatus(req: ConnectionStatusRequestOutput, ctx: CallContext): Promise<Result<ConnectionStatusResponse, ApiError>> {
    this.calls.push({ method: 'GetConnectionStatus', req, ctx });
    return ok({ statuses: [] });
  }

  // rooms: `roomConnections` are this instance's subscribers per room; membership in `members`
  readonly roomConnections = new Map<string, number>();
  readonly members = new MemoryRoomMembers();

  /** What the numbering answers (null: recovery off). */
  seqs: ReadonlyMap<string, number> | null = null;
  async numberUserPush(): Promise<ReadonlyMap<string, number> | null> {
    return this.seqs;
  }
  async numberRoomPush(): Promise<ReadonlyMap<string, number> | null> {
    return this.seqs;
  }

  validateRoomMembership(): ApiError | null {
    return this.invalid;
  }
  validateRoomPush(): ApiError | null {
    return this.invalid;
  }
  validateRoomStatus(): ApiError | null {
    return this.invalid;
  }
  async storeMembership(op: 'join' | 'leave', room: string, userIds: readonly string[]): Promise<ApiError | null> {
    if (op === 'join') await this.members.join(room, userIds);
    else await this.members.leave(room, userIds);
    return null;
  }
  joinLocal(room: string, userIds: readonly string[]): number {
    this.calls.push({ method: 'joinLocal', req: { room, userIds }, ctx: { headers: {}, deadline: Infinity } });
    return userIds.reduce((n, u) => n + (this.connections.get(u) ?? 0), 0);
  }
  leaveLocal(room: string, userIds: readonly string[]): number {
    this.calls.push({ method: 'leaveLocal', req: { room, userIds }, ctx: { headers: {}, deadline: Infinity } });
    return userIds.reduce((n, u) => n + (this.connections.get(u) ?? 0), 0);
  }
  async JoinRoom(req: RoomMembershipRequestOutput, ctx: CallContext): Promise<Result<RoomMembershipResponse, ApiError>> {
    this.calls.push({ method: 'JoinRoom', req, ctx });
    return ok({ success: true, connections: this.joinLocal(req.room, req.userIds) });
  }
  async LeaveRoom(req: RoomMembershipRequestOutput, ctx: CallContext): Promise<Result<RoomMembershipResponse, ApiError>> {
    this.calls.push({ method: 'LeaveRoom', req, ctx });
    return ok({ success: true, connections: this.leaveLocal(req.room, req.userIds) });
  }
  async PushToRoom(req: RoomPushRequestOutput, ctx: CallContext): Promise<Result<RoomPushResponse, ApiError>> {
    this.calls.push({ method: 'PushToRoom', req, ctx });
    const n = this.roomConnections.get(req.room) ?? 0;
    return ok({ success: true, delivered: n, instances: n > 0 ? 1 : 0 });
  }
  async GetRoomStatus(req: RoomStatusRequestOutput, ctx: CallContext): Promise<Result<RoomStatusResponse, ApiError>> {
    this.calls.push({ method: 'GetRoomStatus', req, ctx });
    const members = await this.members.memberCounts(req.rooms);
    return ok({ rooms: req.rooms.map((room) => ({ room, members: members.get(room) ?? 0, connections: this.roomConnections.get(room) ?? 0 })) });
  }

  /** `method users...` of each call. */
  summary(): string[] {
    return this.calls.map((c) => (c.method === 'PushToUsers' ? `${c.method} ${(c.req as PushRequestOutput).userIds.join(',')}` : c.method));
  }
}

function pushAnswer(connections: ReadonlyMap<string, number>, users: readonly string[]): PushResponse {
  let delivered = 0;
  const offlineUserIds: string[] = [];
  for (const u of users) {
    const n = connections.get(u) ?? 0;
    delivered += n;
    if (n === 0) offlineUserIds.push(u);
  }
  return { success: true, delivered, offlineUserIds };
}

interface PeerCall {
  readonly address: string;
  readonly method: GatewayMethod;
  readonly req: unknown;
  readonly headers: Readonly<Record<string, string>>;
}

/** What another instance answers: its connections per user, what a broadcast reaches, how many a kick closes, its room subscribers. */
interface PeerState {
  readonly connections?: Record<string, number>;
  readonly rooms?: Record<string, number>;
  readonly broadcast?: number;
  readonly kicked?: number;
}

/**
 * The peer channel (the shape of PeerForwarder.call): records each call and answers it as the
 * instance at that address would; an address with no state fails as unreachable (UNAVAILABLE).
 */
class FakePeers implements Pick<PeerForwarder, 'call'> {
  readonly calls: PeerCall[] = [];
  readonly peers = new Map<string, PeerState>();

  async call<Res>(address: string, method: GatewayMethod, req: unknown, headers: Readonly<Record<string, string>> = {}): Promise<Result<Res, ApiError>> {
    this.calls.push({ address, method, req, headers });
    const p = this.peers.get(address);
    if (p === undefined) return err({ code: grpc.status.UNAVAILABLE, message: `${address} unreachable` });
    const connections = new Map(Object.entries(p.connections ?? {}));
    let answer: unknown;
    switch (method) {
      case 'PushToUsers':
        answer = pushAnswer(connections, (req as PushRequestOutput).userIds);
        break;
      case 'Broadcast':
        answer = { success: true, delivered: p.broadcast ?? 0, instances: 1 } satisfies BroadcastResponse;
        break;
      case 'KickUser':
        answer = { success: true, kicked: p.kicked ?? 0 } satisfies KickUserResponse;
        break;
      case 'JoinRoom':
      case 'LeaveRoom':
        answer = { success: true, connections: pushAnswer(connections, (req as RoomMembershipRequestOutput).userIds).delivered ?? 0 } satisfies RoomMembershipResponse;
        break;
      case 'PushToRoom': {
        const n = p.rooms?.[(req as RoomPushRequestOutput).room] ?? 0;
        answer = { success: true, delivered: n, instances: n > 0 ? 1 : 0 } satisfies RoomPushResponse;
        break;
      }
      case 'GetRoomStatus':
        answer = { rooms: (req as RoomStatusRequestOutput).rooms.map((room) => ({ room, members: 0, connections: p.rooms?.[room] ?? 0 })) } satisfies RoomStatusResponse;
        break;
      default:
        return err({ code: grpc.status.UNIMPLEMENTED, message: `${method} is never forwarded` });
    }
    return ok(answer as Res);
  }

  /** `address method users...` of each call. */
  summary(): string[] {
    return this.calls.map((c) => (c.method === 'PushToUsers' ? `${c.address} ${c.method} ${(c.req as PushRequestOutput).userIds.join(',')}` : `${c.address} ${c.method}`));
  }
}

class FakeDirectory implements InstanceDirectory {
  lookups = 0;
  failing = false;

  constructor(public instances: InstanceInfo[]) {}

  async liveInstances(): Promise<InstanceInfo[]> {
    this.lookups++;
    if (this.failing) throw new Error('redis down');
    return [...this.instances];
  }
}

/** A presence store whose reads fail (Redis down) and that counts them. */
class UnreachablePresence implements PresenceStore {
  reads = 0;

  async register(): Promise<never> {
    throw new Error('redis down');
  }
  async unregister(): Promise<boolean> {
    throw new Error('redis down');
  }
  async sessions(): Promise<PresenceEntry[]> {
    this.reads++;
    throw new Error('redis down');
  }
  async sessionsMany(): Promise<Map<string, PresenceEntry[]>> {
    this.reads++;
    throw new Error('redis down');
  }
  async close(): Promise<void> {}
}

/** A memory store holding `userId -> instances` (one device per instance); reads are counted. */
class SeededPresence extends MemoryPresenceStore {
  reads = 0;

  constructor(owners: Record<string, readonly string[]>) {
    super();
    for (const [userId, instances] of Object.entries(owners)) {
      instances.forEach((instanceId, i) => {
        const platform: Platform = 'ios';
        this.registerSync({ userId, deviceId: `${userId}-d${i}`, platform, instanceId, connectedAt: 1, clientIp: '' }, { policy: 'allow_all', maxConnectionsPerUser: 0, onConflict: 'kick_old' });
      });
    }
  }

  override async sessionsMany(userIds: readonly string[]): Promise<Map<string, PresenceEntry[]>> {
    this.reads++;
    return super.sessionsMany(userIds);
  }
}

const LIVE: InstanceInfo[] = [
  { instanceId: 'gw-a', address: 'a:1' },
  { instanceId: 'gw-b', address: 'b:1' },
  { instanceId: 'gw-c', address: 'c:1' },
  { instanceId: 'gw-d', address: 'd:1' },
];

interface Setup {
  readonly api: ClusterApi;
  readonly local: FakeLocalApi;
  readonly peers: FakePeers;
  readonly directory: FakeDirectory;
}

/** The one place a ClusterApi is built: adjust here when its constructor changes. */
function makeCluster(o: { local?: FakeLocalApi; presence: PresenceStore; peers?: Record<string, PeerState>; live?: InstanceInfo[]; roomInstances?: Pick<RoomInstances, 'instancesOf'> }): Setup {
  const local = o.local ?? new FakeLocalApi();
  const peers = new FakePeers();
  for (const [address, state] of Object.entries(o.peers ?? {})) peers.peers.set(address, state);
  const directory = new FakeDirectory(o.live ?? LIVE);
  // ClusterApi takes the PeerForwarder class (private members): a structural fake needs this cast
  const api = new ClusterApi(SELF, local, o.presence, directory, peers, silentLogger(), o.roomInstances ?? new LocalRoomInstances(SELF));
  return { api, local, peers, directory };
}

function value<T>(r: Result<T, ApiError>): T {
  assert.ok(r.ok, `expected success, got ${r.ok ? '' : `${r.error.code} ${r.error.message}`}`);
  return r.value;
}

// ----- PushToUsers ----------------------------------------------------------------------------

describe('PushToUsers routing', () => {
  test('goes only to the owning instances, one call per instance with exactly its users; counts summed', async () => {
    const presence = new SeededPresence({ u1: ['gw-a'], u2: ['gw-b'], u3: ['gw-b', 'gw-c'], u4: ['gw-c'] });
    const c = makeCluster({
      local: new FakeLocalApi({ u1: 1 }),
      presence,
      peers: { 'b:1': { connections: { u2: 1, u3: 1 } }, 'c:1': { connections: { u3: 2, u4: 1 } }, 'd:1': {} },
    });
    const req = pushRequest(['u1', 'u2', 'u3', 'u4', 'u2']);
    const res = value(await c.api.PushToUsers(req, CTX));
    assert.deepEqual(res, { success: true, delivered: 6, offlineUserIds: [] });
    assert.deepEqual(c.local.summary(), ['PushToUsers u1']);
    assert.deepEqual(c.local.calls[0]?.req, { ...req, userId: '', userIds: ['u1'] });
    assert.deepEqual(c.peers.calls, [
      { address: 'b:1', method: 'PushToUsers', req: { ...req, userId: '', userIds: ['u2', 'u3'] }, headers: PASSED },
      { address: 'c:1', method: 'PushToUsers', req: { ...req, userId: '', userIds: ['u3', 'u4'] }, headers: PASSED },
    ]);
    assert.equal(presence.reads, 1);
    assert.equal(c.directory.lookups, 1);
  });

  test('users with no mapping are tried locally and reported offline only when nobody matched', async () => {
    const c = makeCluster({ local: new FakeLocalApi({ fresh: 1 }), presence: new SeededPresence({ u2: ['gw-b'] }), peers: { 'b:1': { connections: { u2: 1 } } } });
    // 'fresh' connected here but its mapping is not visible yet; 'ghost' is nowhere
    const res = value(await c.api.PushToUsers(pushRequest(['ghost', 'fresh', 'u2']), CTX));
    assert.deepEqual(res, { success: true, delivered: 2, offlineUserIds: ['ghost'] });
    assert.deepEqual(c.local.summary(), ['PushToUsers ghost,fresh']);
    assert.deepEqual(c.peers.summary(), ['b:1 PushToUsers u2']);
  });

  test('a user is offline when every instance asked reports it offline', async () => {
    const presence = new SeededPresence({ u1: ['gw-a'], u2: ['gw-b'], u3: ['gw-b', 'gw-c'] });
    const c = makeCluster({
      local: new FakeLocalApi({}),
      presence,
      // b: u2 and u3 gone (mappings stale); c: u3 still there
      peers: { 'b:1': { connections: {} }, 'c:1': { connections: { u3: 1 } } },
    });
    const res = value(await c.api.PushToUsers(pushRequest(['u1', 'u2', 'u3']), CTX));
    assert.deepEqual(res, { success: true, delivered: 1, offlineUserIds: ['u1', 'u2'] });
  });

  test('a failing peer drops only its own count and its users (unless another instance matched them); the call succeeds', async () => {
    const presence = new SeededPresence({ u1: ['gw-a'], u2: ['gw-b'], u3: ['gw-b', 'gw-c'], u4: ['gw-c'] });
    const c = makeCluster({ local: new FakeLocalApi({ u1: 2 }), presence, peers: { 'c:1': { connections: { u3: 1, u4: 1 } } } }); // b:1 unreachable
    const res = value(await c.api.PushToUsers(pushRequest(['u1', 'u2', 'u3', 'u4']), CTX));
    assert.deepEqual(res, { success: true, delivered: 4, offlineUserIds: ['u2'] });
    assert.deepEqual(c.peers.summary(), ['b:1 PushToUsers u2,u3', 'c:1 PushToUsers u3,u4']);
  });

  test('an owner whose lease expired (not live) is not called and its users count as offline', async () => {
    const presence = new SeededPresence({ u2: ['gw-b'], u4: ['gw-c'] });
    const c = makeCluster({ presence, peers: { 'b:1': { connections: { u2: 1 } }, 'c:1': { connections: { u4: 1 } } }, live: LIVE.filter((i) => i.instanceId !== 'gw-c') });
    const res = value(await c.api.PushToUsers(pushRequest(['u2', 'u4']), CTX));
    assert.deepEqual(res, { success: true, delivered: 1, offlineUserIds: ['u4'] });
    assert.deepEqual(c.peers.summary(), ['b:1 PushToUsers u2']);
    assert.deepEqual(c.local.calls, []);
  });

  test('the live instances cannot be listed: delivered locally only, remote users offline', async () => {
    const c = makeCluster({ local: new FakeLocalApi({ u1: 1 }), presence: new SeededPresence({ u1: ['gw-a'], u2: ['gw-b'] }), peers: { 'b:1': { connections: { u2: 1 } } } });
    c.directory.failing = true;
    const res = value(await c.api.PushToUsers(pushRequest(['u1', 'u2']), CTX));
    assert.deepEqual(res, { success: true, delivered: 1, offlineUserIds: ['u2'] });
    assert.deepEqual(c.peers.calls, []);
  });

  test('presence unreachable: every user is delivered locally only, no peer or directory is asked', async () => {
    const presence = new UnreachablePresence();
    const c = makeCluster({ local: new FakeLocalApi({ u1: 1, u2: 3 }), presence, peers: { 'b:1': { connections: { u3: 1 } } } });
    const res = value(await c.api.PushToUsers(pushRequest(['u1', 'u2', 'u3']), CTX));
    assert.deepEqual(res, { success: true, delivered: 4, offlineUserIds: ['u3'] });
    assert.deepEqual(c.local.summary(), ['PushToUsers u1,u2,u3']);
    assert.equal(presence.reads, 1);
    assert.equal(c.directory.lookups, 0);
    assert.deepEqual(c.peers.calls, []);
  });

  test('the live-instances lookup is skipped when every user is local (or unmapped)', async () => {
    const c = makeCluster({ local: new FakeLocalApi({ u1: 1, u5: 1 }), presence: new SeededPresence({ u1: ['gw-a'] }) });
    const res = value(await c.api.PushToUsers(pushRequest(['u1', 'u5', 'nobody']), CTX));
    assert.deepEqual(res, { success: true, delivered: 2, offlineUserIds: ['nobody'] });
    assert.equal(c.directory.lookups, 0);
    assert.deepEqual(c.peers.calls, []);
  });

  test('PushToUser is routed like PushToUsers of one user', async () => {
    const c = makeCluster({ presence: new SeededPresence({ u2: ['gw-b'] }), peers: { 'b:1': { connections: { u2: 2 } } } });
    const req = pushRequest([], 'u2');
    const res = value(await c.api.PushToUser(req, CTX));
    assert.deepEqual(res, { success: true, delivered: 2, offlineUserIds: [] });
    assert.deepEqual(c.local.calls, []);
    assert.deepEqual(c.peers.calls, [{ address: 'b:1', method: 'PushToUsers', req: { ...req, userId: '', userIds: ['u2'] }, headers: PASSED }]);
  });

  test('an invalid request is refused before any lookup or forward', async () => {
    const presence = new SeededPresence({ u2: ['gw-b'] });
    const local = new FakeLocalApi();
    local.invalid = invalidArgument('user_ids', 'too many users');
    const c = makeCluster({ local, presence, peers: { 'b:1': {} } });
    const r = await c.api.PushToUsers(pushRequest(['u2']), CTX);
    assert.deepEqual(r, { ok: false, error: { code: grpc.status.INVALID_ARGUMENT, message: 'user_ids: too many users' } });
    assert.equal(presence.reads, 0);
    assert.equal(c.directory.lookups, 0);
    assert.deepEqual(c.peers.calls, []);
  });
});

// ----- forwarded calls ------------------------------------------------------------------------

describe('forwarded calls (x-ima-forwarded: 1) are executed locally only', () => {
  const CALLS: ReadonlyArray<{ readonly method: GatewayMethod; readonly run: (api: ClusterApi) => Promise<Result<unknown, ApiError>> }> = [
    { method: 'PushToUser', run: (api) => api.PushToUser(pushRequest([], 'u2'), FORWARDED_CTX) },
    { method: 'PushToUsers', run: (api) => api.PushToUsers(pushRequest(['u1', 'u2']), FORWARDED_CTX) },
    { method: 'Broadcast', run: (api) => api.Broadcast({ message: MESSAGE, platforms: [] }, FORWARDED_CTX) },
    { method: 'KickUser', run: (api) => api.KickUser({ userId: 'u2', deviceId: '', reason: '' }, FORWARDED_CTX) },
  ];
  for (const call of CALLS) {
    test(call.method, async () => {
      const presence = new SeededPresence({ u1: ['gw-a'], u2: ['gw-b'] });
      const c = makeCluster({ local: new FakeLocalApi({ u1: 1 }), presence, peers: { 'b:1': { connections: { u2: 1 }, broadcast: 5, kicked: 1 } } });
      value(await call.run(c.api));
      assert.deepEqual(
        c.local.calls.map((l) => [l.method, l.ctx]),
        [[call.method, FORWARDED_CTX]],
      );
      assert.equal(presence.reads, 0);
      assert.equal(c.directory.lookups, 0);
      assert.deepEqual(c.peers.calls, []);
    });
  }
});

describe('a forwarded KickUser of a policy victim (kick code 4001 and an epoch)', () => {
  const victimCtx = (epoch: string): CallContext => ({ headers: { [FORWARDED_HEADER]: '1', [KICK_CODE_HEADER]: '4001', [KICK_EPOCH_HEADER]: epoch }, deadline: Infinity });

  test('kicks that one connection locally (kickReplaced), nothing else', async () => {
    const c = makeCluster({ presence: new SeededPresence({}), peers: { 'b:1': { kicked: 1 } } });
    const res = value(await c.api.KickUser({ userId: 'u1', deviceId: 'phone-1', reason: 'replaced by another login' }, victimCtx('1700000000000001')));
    assert.deepEqual(res, { success: true, kicked: 1 });
    assert.deepEqual(
      c.local.calls.map((l) => [l.method, l.req]),
      [['kickReplaced', { userId: 'u1', deviceId: 'phone-1', epoch: 1700000000000001, reason: 'replaced by another login' }]],
    );
    assert.deepEqual(c.peers.calls, []);
  });

  test('an epoch that is not a number kicks nothing', async () => {
    const c = makeCluster({ presence: new SeededPresence({}) });
    const res = value(await c.api.KickUser({ userId: 'u1', deviceId: 'phone-1', reason: '' }, victimCtx('latest')));
    assert.deepEqual(res, { success: true, kicked: 0 });
    assert.deepEqual(c.local.calls, []);
  });
});

// ----- Broadcast and KickUser -----------------------------------------------------------------

describe('Broadcast and KickUser', () => {
  test('Broadcast goes to every other live instance and sums delivered and instances', async () => {
    const local = new FakeLocalApi();
    local.broadcastDelivered = 3;
    const c = makeCluster({ local, presence: new SeededPresence({}), peers: { 'b:1': { broadcast: 4 }, 'c:1': { broadcast: 5 }, 'd:1': { broadcast: 0 } } });
    const req: BroadcastRequestOutput = { message: MESSAGE, platforms: ['ios'] };
    const res = value(await c.api.Broadcast(req, CTX));
    assert.deepEqual(res, { success: true, delivered: 12, instances: 4 });
    assert.deepEqual(c.local.calls, [{ method: 'Broadcast', req, ctx: CTX }]);
    assert.deepEqual(c.peers.calls, ['b:1', 'c:1', 'd:1'].map((address) => ({ address, method: 'Broadcast', req, headers: PASSED })));
  });

  test('Broadcast: an unreachable instance counts nothing and the call succeeds', async () => {
    const local = new FakeLocalApi();
    local.broadcastDelivered = 1;
    const c = makeCluster({ local, presence: new SeededPresence({}), peers: { 'c:1': { broadcast: 2 } } }); // b:1 and d:1 unreachable
    const res = value(await c.api.Broadcast({ message: MESSAGE, platforms: [] }, CTX));
    assert.deepEqual(res, { success: true, delivered: 3, instances: 2 });
    assert.deepEqual(c.peers.summary(), ['b:1 Broadcast', 'c:1 Broadcast', 'd:1 Broadcast']);
  });

  test('KickUser goes to every other live instance and sums kicked', async () => {
    const local = new FakeLocalApi();
    local.kicked = 1;
    const c = makeCluster({ local, presence: new SeededPresence({}), peers: { 'b:1': { kicked: 2 }, 'c:1': { kicked: 0 } } }); // d:1 unreachable
    const req: KickUserRequestOutput = { userId: 'u2', deviceId: '', reason: 'banned' };
    const res = value(await c.api.KickUser(req, CTX));
    assert.deepEqual(res, { success: true, kicked: 3 });
    assert.deepEqual(c.local.calls, [{ method: 'KickUser', req, ctx: CTX }]);
    assert.deepEqual(c.peers.calls, ['b:1', 'c:1', 'd:1'].map((address) => ({ address, method: 'KickUser', req, headers: PASSED })));
  });

  test('with the live instances unknown, Broadcast and KickUser act locally', async () => {
    const local = new FakeLocalApi();
    local.broadcastDelivered = 2;
    local.kicked = 1;
    const c = makeCluster({ local, presence: new SeededPresence({}), peers: { 'b:1': { broadcast: 4, kicked: 1 } } });
    c.directory.failing = true;
    assert.deepEqual(value(await c.api.Broadcast({ message: MESSAGE, platforms: [] }, CTX)), { success: true, delivered: 2, instances: 1 });
    assert.deepEqual(value(await c.api.KickUser({ userId: 'u2', deviceId: '', reason: '' }, CTX)), { success: true, kicked: 1 });
    assert.deepEqual(c.peers.calls, []);
  });

  test('GetConnectionStatus is answered by the local API (presence is cluster-wide)', async () => {
    const c = makeCluster({ presence: new SeededPresence({ u2: ['gw-b'] }), peers: { 'b:1': {} } });
    value(await c.api.GetConnectionStatus({ userIds: ['u2'] }, CTX));
    assert.deepEqual(c.local.summary(), ['GetConnectionStatus']);
    assert.deepEqual(c.peers.calls, []);
    assert.equal(c.directory.lookups, 0);
  });
});

// ----- rooms ----------------------------------------------------------------------------------

/** Which instances registered subscribers, per room (what Redis would hold). */
class SeededRoomInstances implements Pick<RoomInstances, 'instancesOf'> {
  reads = 0;
  constructor(private readonly byRoom: Record<string, readonly string[]>) {}
  async instancesOf(rooms: readonly string[]): Promise<Map<string, string[]>> {
    this.reads++;
    return new Map(rooms.map((r) => [r, [...(this.byRoom[r] ?? [])]]));
  }
}

function roomPush(room: string): RoomPushRequestOutput {
  return { room, message: MESSAGE, excludeUserIds: [], platforms: [] };
}

describe('room routing', () => {
  test('PushToRoom goes only to live instances that registered subscribers; delivered and instances summed', async () => {
    const local = new FakeLocalApi();
    local.roomConnections.set('g1', 2);
    const c = makeCluster({
      local,
      presence: new SeededPresence({}),
      // gw-d registered but its lease expired (not live); gw-c has no subscribers of g1
      roomInstances: new SeededRoomInstances({ g1: ['gw-a', 'gw-b', 'gw-d'] }),
      live: LIVE.filter((i) => i.instanceId !== 'gw-d'),
      peers: { 'b:1': { rooms: { g1: 3 } }, 'c:1': { rooms: { g1: 9 } } },
    });
    const r = value(await c.api.PushToRoom(roomPush('g1'), { headers: {}, deadline: Date.now() + 5_000 }));
    assert.equal(r.delivered, 5);
    assert.equal(r.instances, 2);
    assert.deepEqual(c.peers.summary(), ['b:1 PushToRoom']);
  });

  test('PushToRoom with no other instance registered contacts nobody (not even the directory)', async () => {
    const c = makeCluster({ presence: new SeededPresence({}), roomInstances: new SeededRoomInstances({ g1: ['gw-a'] }) });
    const r = value(await c.api.PushToRoom(roomPush('g1'), { headers: {}, deadline: Date.now() + 5_000 }));
    assert.equal(r.delivered, 0);
    assert.deepEqual(c.peers.calls, []);
    assert.equal(c.directory.lookups, 0);
  });

  test('a forwarded PushToRoom runs locally only', async () => {
    const local = new FakeLocalApi();
    local.roomConnections.set('g1', 4);
    const c = makeCluster({ local, presence: new SeededPresence({}), roomInstances: new SeededRoomInstances({ g1: ['gw-a', 'gw-b'] }), peers: { 'b:1': { rooms: { g1: 3 } } } });
    const r = value(await c.api.PushToRoom(roomPush('g1'), { headers: { [FORWARDED_HEADER]: '1' }, deadline: Date.now() + 5_000 }));
    assert.equal(r.delivered, 4);
    assert.deepEqual(c.peers.calls, []);
  });

  test('JoinRoom stores the membership once, subscribes here and on each instance holding the users, one call each', async () => {
    const local = new FakeLocalApi({ u1: 1 });
    const c = makeCluster({
      local,
      presence: new SeededPresence({ u1: ['gw-a'], u2: ['gw-b'], u3: ['gw-b', 'gw-c'] }),
      peers: { 'b:1': { connections: { u2: 2, u3: 1 } }, 'c:1': { connections: { u3: 1 } } },
    });
    const r = value(await c.api.JoinRoom({ room: 'g1', userIds: ['u1', 'u2', 'u3', 'u4'] }, { headers: {}, deadline: Date.now() + 5_000 }));
    assert.equal(r.connections, 1 + 3 + 1);
    assert.deepEqual(c.peers.calls.map((p) => `${p.address} ${p.method} ${(p.req as RoomMembershipRequestOutput).userIds.join(',')}`).sort(), ['b:1 JoinRoom u2,u3', 'c:1 JoinRoom u3']);
    assert.deepEqual((await local.members.memberCounts(['g1'])).get('g1'), 4);
    // a forwarded JoinRoom does not store again and forwards nothing
    const before = c.peers.calls.length;
    value(await c.api.JoinRoom({ room: 'g2', userIds: ['u1'] }, { headers: { [FORWARDED_HEADER]: '1' }, deadline: Date.now() + 5_000 }));
    assert.equal(c.peers.calls.length, before);
    assert.deepEqual((await local.members.memberCounts(['g2'])).get('g2'), 0);
  });

  test('GetRoomStatus: members from the store, connections summed over the instances with subscribers', async () => {
    const local = new FakeLocalApi();
    local.roomConnections.set('g1', 2);
    await local.members.join('g1', ['u1', 'u2', 'u3']);
    const c = makeCluster({
      local,
      presence: new SeededPresence({}),
      roomInstances: new SeededRoomInstances({ g1: ['gw-a', 'gw-b'], g2: ['gw-c'] }),
      peers: { 'b:1': { rooms: { g1: 5 } }, 'c:1': { rooms: { g2: 7 } } },
    });
    const r = value(await c.api.GetRoomStatus({ rooms: ['g1', 'g2', 'g3'] }, { headers: {}, deadline: Date.now() + 5_000 }));
    assert.deepEqual(r.rooms, [
      { room: 'g1', members: 3, connections: 7 },
      { room: 'g2', members: 0, connections: 7 },
      { room: 'g3', members: 0, connections: 0 },
    ]);
    assert.deepEqual(c.peers.summary().sort(), ['b:1 GetRoomStatus', 'c:1 GetRoomStatus']);
  });
});

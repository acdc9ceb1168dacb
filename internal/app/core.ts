import type * as grpc from '@grpc/grpc-js';
import { IdGenerator } from '../../pkg/ids';
import type { CachedTokenVerifier } from '../auth/cached';
import type { Config } from '../config/schema';
import type { ConnectionManager } from '../connection/manager';
import { Gateway } from '../gateway/gateway';
import type { RemoteKicker } from '../gateway/gateway';
import { PushService } from '../gateway/push';
import { RoomHub } from '../gateway/rooms';
import type { ClientSubscribeMode } from '../gateway/rooms';
import type { TopicPublisher } from '../gateway/ports';
import type { RoomInstances, RoomMembers } from '../rooms/types';
import type { HistoryStore } from '../recovery/types';
import type { Session } from '../gateway/session';
import { GatewayStats } from '../gateway/stats';
import { StatusEventQueue } from '../gateway/status-events';
import type { Logger } from '../observability/logger';
import type { Spans } from '../observability/tracing';
import type { PresenceStore } from '../presence/types';
import type { BusinessClient } from '../rpc/business';
import type { UpstreamPool } from '../rpc/upstream';
import { buildBusinessClients, buildTokenVerifier, gatewaySettings, upstreamSource } from './factories';
import type { UpstreamDirectory } from './factories';

/** The use cases and what they call: token verification, the business service, status events. */
export interface Core {
  readonly stats: GatewayStats;
  readonly verifier: CachedTokenVerifier;
  readonly authProvider: 'muc' | 'jwt';
  readonly business: { readonly forward: BusinessClient; readonly breakerState: () => string };
  readonly statusEvents: StatusEventQueue | null;
  readonly gateway: Gateway;
  readonly pushes: PushService;
  readonly rooms: RoomHub;
  /** Upstream channel pools by name, for readiness (muc, business). */
  readonly upstreamPools: ReadonlyArray<readonly [string, UpstreamPool<grpc.Client>]>;
}

export interface CoreDeps {
  readonly instanceId: string;
  readonly registry: ConnectionManager<Session>;
  readonly presence: PresenceStore;
  readonly kicker: RemoteKicker | null;
  /** Room membership and which instances hold a room's subscribers (memory, or Redis in a cluster). */
  readonly roomMembers: RoomMembers;
  readonly roomInstances: RoomInstances;
  /** Numbered pushes and recovery; null = off. */
  readonly history: HistoryStore | null;
  /** The transport's native fan-out (room pushes). */
  readonly topics: TopicPublisher;
  readonly upstreams: UpstreamDirectory;
  readonly log: Logger;
  /** Tracing on: spans of upgrades, MUC calls, forwards and HandleMessage calls; null = off. */
  readonly spans: Spans | null;
}

export function buildCore(config: Config, d: CoreDeps): Core {
  const stats = new GatewayStats();
  const ids = new IdGenerator();
  const { verifier, provider, pool: mucPool } = buildTokenVerifier(config, config.app.name, d.spans);
  const business = buildBusinessClients(config, d.spans);
  const upstreamPools: Array<readonly [string, UpstreamPool<grpc.Client>]> = [];
  if (mucPool !== null) {
    d.upstreams.follow('muc', (a) => mucPool.setAddresses(a));
    upstreamPools.push(['muc', mucPool]);
  }
  const businessPool = business.pool;
  if (businessPool !== null) {
    d.upstreams.follow('business', (a) => businessPool.setAddresses(a));
    upstreamPools.push(['business', businessPool]);
  }
  const se = config.statusEvents;
  const statusEvents =
    se.enabled && business.status !== null
      ? new StatusEventQueue(business.status, { maxQueue: se.maxQueue, concurrency: se.concurrency, retryInitialMs: se.retryInitialMs, retryMaxMs: se.retryMaxMs, maxAttempts: se.maxAttempts }, d.log)
      : null;
  const rooms = new RoomHub({
    publisher: d.topics,
    registry: d.registry,
    members: d.roomMembers,
    instances: d.roomInstances,
    stats,
    log: d.log,
    settings: { clientSubscribe: clientSubscribeMode(config), maxPerConnection: config.rooms.maxPerConnection, maxHeldBytes: config.websocket.maxBackpressureBytes },
  });
  const gateway = new Gateway({
    instanceId: d.instanceId,
    verifier,
    presence: d.presence,
    registry: d.registry,
    business: business.forward,
    ids,
    stats,
    log: d.log,
    settings: gatewaySettings(config),
    events: statusEvents,
    remote: d.kicker,
    rooms,
    history: d.history,
    spans: d.spans,
    topics: d.topics,
  });
  const pushes = new PushService({
    instanceId: d.instanceId,
    gateway,
    registry: d.registry,
    presence: d.presence,
    rooms,
    members: d.roomMembers,
    history: d.history,
    invalidateUser: (userId) => verifier.invalidateUser(userId),
    ids,
    stats,
    log: d.log,
    settings: { maxUsersPerCall: config.server.maxUsersPerCall, maxPayloadBytes: config.server.maxPushPayloadBytes },
  });
  return { stats, verifier, authProvider: provider, business, statusEvents, gateway, pushes, rooms, upstreamPools };
}

/** `rooms.clientSubscribe`: auto = business when a business service is configured (static or Nacos), else deny. */
export function clientSubscribeMode(config: Config): ClientSubscribeMode {
  const mode = config.rooms.clientSubscribe;
  if (mode !== 'auto') return mode;
  return upstreamSource(config.client.business.address, config) === 'none' ? 'deny' : 'business';
}

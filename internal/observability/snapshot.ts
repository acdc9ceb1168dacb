import type { InstanceInfo } from '../cluster/types';
import type { GatewayStats } from '../gateway/stats';

/**
 * Everything /stats, /metrics, the stats reporter and the dashboard read, gathered by main.ts
 * from the components (each keeps plain counters; nothing here computes on the hot path).
 */
export interface StatsSources {
  readonly instanceId: string;
  readonly version: string;
  readonly startedAt: number;
  readonly stats: GatewayStats;
  connections(): number;
  users(): number;
  platforms(): Record<string, number>;
  tokenCache(): { hits: number; misses: number; coalesced: number; invalidations: number; size: number };
  statusEvents(): { published: number; sent: number; retried: number; dropped: number; depth: number } | null;
  pushStream(): { state: string; connects: number; disconnects: number; commands: number; commandErrors: number; heartbeats: number } | null;
  /** 'not configured' without Redis. */
  redis(): { state: 'up' | 'down' | 'not configured'; lastError: string; reRegistrations: number; swept: number };
  /** The service registry: static (no publishing) or Nacos, and this instance's registration. */
  registry?(): RegistryFigures;
  /** The business service circuit breaker ('closed' | 'open' | 'half_open'), or 'not configured'. */
  businessBreaker(): string;
  slowConsumers(): number;
  /** Errors that escaped their handlers (bugs), by kind; see FaultCounter. */
  internalErrors?(): Record<string, number>;
  draining(): boolean;
  /** Whether /readyz answers 200 now (the same readiness() call); absent in older fakes (no sample). */
  ready?(): boolean;
  /** The WebSocket connection limit in force (websocket.maxConnections after the open-file cap); absent in older fakes. */
  maxConnections?(): number;
  /** Rooms on this instance (absent in older fakes: reported as zeros). */
  rooms?(): RoomFigures;
  /** Other live instances (with Redis), this one included. */
  instances(): Promise<Array<InstanceInfo & { connections?: number; users?: number }>>;
}

export interface RoomFigures {
  /** Rooms with at least one subscribed connection here. */
  readonly rooms: number;
  /** (connection, room) subscriptions here. */
  readonly subscriptions: number;
  /** Room pushes executed here. */
  readonly pushes: number;
  /** Client subscribe frames answered, by ack code. */
  readonly subscribes: Record<string, number>;
  /** The Redis pub/sub ingress (null when `redis.pubsubIngress` is off). */
  readonly pubsub: { readonly received: number; readonly delivered: number; readonly malformed: number } | null;
  /** How many rooms each open connection is subscribed to (read at scrape time for the histogram). */
  readonly perConnection?: () => number[];
}

export interface RegistryFigures {
  readonly kind: 'static' | 'nacos';
  readonly registration: 'up' | 'down' | 'connecting' | 'not configured';
  readonly lastError: string;
}

export interface UpstreamFigures {
  readonly calls: number;
  readonly errors: number;
  readonly avgMs: number;
  readonly maxMs: number;
}

/** The /stats document (field names are part of the operations contract; see the README). */
export interface StatsDocument {
  readonly instanceId: string;
  readonly version: string;
  readonly startedAt: number;
  readonly uptimeSec: number;
  readonly draining: boolean;
  readonly connections: number;
  readonly users: number;
  readonly platforms: Record<string, number>;
  readonly messages: { readonly in: number; readonly out: number; readonly forwarded: number; readonly duplicates: number; readonly rateLimited: number };
  readonly acks: Record<string, number>;
  readonly pushes: Record<string, number>;
  readonly pushErrors: Record<string, number>;
  readonly kicks: number;
  readonly closedByGateway: Record<string, number>;
  /** Connections that ended, by close code, whoever closed them. */
  readonly disconnects: Record<string, number>;
  readonly slowConsumers: number;
  /** Errors that escaped their handlers (each one a bug, logged with its stack), by kind. */
  readonly internalErrors: Record<string, number>;
  readonly auth: { readonly accepted: number; readonly rejected: Record<string, number> };
  readonly tokenCache: { hits: number; misses: number; coalesced: number; invalidations: number; size: number };
  readonly upstream: Record<string, UpstreamFigures>;
  readonly businessBreaker: string;
  readonly statusEvents: { published: number; sent: number; retried: number; dropped: number; depth: number } | null;
  readonly pushStream: { state: string; connects: number; disconnects: number; commands: number; commandErrors: number; heartbeats: number } | null;
  readonly redis: { state: 'up' | 'down' | 'not configured'; lastError: string; reRegistrations: number; swept: number };
  readonly registry: RegistryFigures;
  readonly rooms: Omit<RoomFigures, 'perConnection'>;
  /** Numbered pushes and recoveries (section 10); `recoveries` counts logins and subscriptions that asked. */
  readonly recovery: { numbered: number; numberingErrors: number; recoveries: number; missed: number; replayed: number };
  /** In-band token refreshes and `expiring` notices. */
  readonly refreshes: { accepted: number; rejected: number; notices: number };
  readonly instances: Array<InstanceInfo & { connections?: number; users?: number }>;
}

function record(map: ReadonlyMap<string | number, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of map) out[String(k)] = v;
  return out;
}

export async function buildStats(s: StatsSources, now: number = Date.now()): Promise<StatsDocument> {
  const st = s.stats;
  const upstream: Record<string, UpstreamFigures> = {};
  for (const [name, u] of st.upstream) upstream[name] = { calls: u.calls, errors: u.errors, avgMs: u.calls > 0 ? Math.round((u.totalMs / u.calls) * 10) / 10 : 0, maxMs: u.maxMs };
  let instances: StatsDocument['instances'];
  try {
    instances = await s.instances();
  } catch {
    instances = [];
  }
  return {
    instanceId: s.instanceId,
    version: s.version,
    startedAt: s.startedAt,
    uptimeSec: Math.round((now - s.startedAt) / 1000),
    draining: s.draining(),
    connections: s.connections(),
    users: s.users(),
    platforms: s.platforms(),
    messages: { in: st.messagesIn, out: st.messagesOut, forwarded: st.forwarded, duplicates: st.duplicates, rateLimited: st.rateLimited },
    acks: record(st.acks),
    pushes: record(st.pushes),
    pushErrors: record(st.pushErrors),
    kicks: st.kicks,
    closedByGateway: record(st.closedByGateway),
    disconnects: record(st.disconnects),
    slowConsumers: s.slowConsumers(),
    internalErrors: s.internalErrors?.() ?? {},
    auth: { accepted: st.connectsAccepted, rejected: record(st.connectsRejected) },
    tokenCache: s.tokenCache(),
    upstream,
    businessBreaker: s.businessBreaker(),
    statusEvents: s.statusEvents(),
    pushStream: s.pushStream(),
    redis: s.redis(),
    registry: s.registry?.() ?? { kind: 'static', registration: 'not configured', lastError: '' },
    rooms: roomsOf(s),
    recovery: { numbered: st.numbered, numberingErrors: st.numberingErrors, recoveries: st.recoveries, missed: st.recoveriesMissed, replayed: st.replayed },
    refreshes: { accepted: st.refreshes, rejected: st.refreshesRejected, notices: st.expiringNotices },
    instances,
  };
}

function roomsOf(s: StatsSources): Omit<RoomFigures, 'perConnection'> {
  const r = s.rooms?.();
  if (r === undefined) return { rooms: 0, subscriptions: 0, pushes: 0, subscribes: {}, pubsub: null };
  return { rooms: r.rooms, subscriptions: r.subscriptions, pushes: r.pushes, subscribes: r.subscribes, pubsub: r.pubsub };
}

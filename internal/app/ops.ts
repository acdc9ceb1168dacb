import type { Config } from '../config/schema';
import type { ConnectionManager } from '../connection/manager';
import type { ClusterMembership } from '../cluster/membership';
import type { Session } from '../gateway/session';
import { AdminServer, json } from '../transport/http/server';
import { registerDashboard } from '../observability/dashboard';
import type { FaultCounter } from '../observability/faults';
import type { Logger } from '../observability/logger';
import { createMetrics } from '../observability/metrics';
import { readiness, upstreamState } from '../observability/readiness';
import type { Readiness } from '../observability/readiness';
import { StatsReporter } from '../observability/reporter';
import { buildStats } from '../observability/snapshot';
import type { StatsSources } from '../observability/snapshot';
import type { CallGuard, GatewayApi } from '../rpc/api';
import { GATEWAY_SERVICE } from '../rpc/api';
import { createJsonApiHandler, createJsonApiPreflight } from '../rpc/json-api';
import type { PushStreamClient } from '../rpc/push-stream';
import type { RedisPubSubIngress } from '../rpc/pubsub-ingress';
import type { GrpcServer } from '../rpc/server';
import type { Cluster } from './cluster';
import type { Core } from './core';
import type { UpstreamDirectory } from './factories';

/** Whether the instance is shutting down: set once by the shutdown, read by readiness and /stats. */
export class DrainState {
  private on = false;

  get draining(): boolean {
    return this.on;
  }

  begin(): void {
    this.on = true;
  }
}

export interface OpsDeps {
  readonly instanceId: string;
  readonly version: string;
  readonly startedAt: number;
  readonly core: Core;
  readonly cluster: Cluster;
  readonly membership: ClusterMembership | null;
  readonly registry: ConnectionManager<Session>;
  readonly transport: { readonly listening: boolean; readonly slowConsumers: number; readonly settings: { readonly maxConnections: number } };
  readonly grpcServer: GrpcServer;
  readonly upstreams: UpstreamDirectory;
  readonly pushStream: PushStreamClient | null;
  readonly ingress: RedisPubSubIngress | null;
  readonly api: GatewayApi;
  readonly guard: CallGuard;
  readonly faults: FaultCounter;
  readonly drain: DrainState;
  /** host:port other instances and the registry use to reach this instance's gRPC server. */
  readonly advertised: () => string;
  readonly log: Logger;
}

/** Operations: the admin HTTP routes, the figures behind /stats and /metrics, readiness, gRPC health, the stats reporter. */
export interface Ops {
  readonly admin: AdminServer;
  readonly reporter: StatsReporter | null;
  readiness(): Readiness;
  /** Starts the stats reporter and keeps gRPC health following readiness (every second). */
  start(): void;
  /** Stops the reporter and the health loop (gRPC health then stays as last set). */
  stop(): void;
}

export function buildOps(config: Config, d: OpsDeps): Ops {
  const { core, registry, transport, grpcServer, membership } = d;
  const currentReadiness = (): Readiness =>
    readiness({
      websocketListening: transport.listening,
      grpcListening: grpcServer.port > 0,
      draining: d.drain.draining,
      redis: membership === null ? 'not configured' : membership.state,
      registry: d.upstreams.registry.registrationState(),
      upstreams: Object.fromEntries(core.upstreamPools.map(([name, pool]) => [name, upstreamState(pool.probe())])),
    });
  const sources: StatsSources = {
    instanceId: d.instanceId,
    version: d.version,
    startedAt: d.startedAt,
    stats: core.stats,
    connections: () => registry.getConnectionCount(),
    users: () => registry.getOnlineCount(),
    platforms: () => registry.getPlatformCounts(),
    tokenCache: () => ({ ...core.verifier.stats, size: core.verifier.size }),
    statusEvents: () => (core.statusEvents === null ? null : { ...core.statusEvents.stats, depth: core.statusEvents.stats.depth }),
    pushStream: () => (d.pushStream === null ? null : { state: d.pushStream.state, ...d.pushStream.stats }),
    registry: () => {
      const r = d.upstreams.registry;
      return { kind: r.kind, registration: r.registrationState(), lastError: r.lastError };
    },
    redis: () =>
      membership === null
        ? { state: 'not configured', lastError: '', reRegistrations: 0, swept: 0 }
        : { state: membership.state, lastError: membership.lastError, reRegistrations: membership.reRegistrations, swept: membership.swept },
    businessBreaker: () => core.business.breakerState(),
    slowConsumers: () => transport.slowConsumers,
    internalErrors: () => ({ ...d.faults.counts }),
    draining: () => d.drain.draining,
    ready: () => currentReadiness().ready,
    maxConnections: () => transport.settings.maxConnections,
    rooms: () => ({
      rooms: core.rooms.roomCount,
      subscriptions: core.rooms.subscriptions,
      pushes: core.stats.roomPushes,
      subscribes: Object.fromEntries([...core.stats.roomSubscribes].map(([k, v]) => [String(k), v])),
      pubsub: d.ingress === null ? null : { ...d.ingress.stats },
      perConnection: () => core.rooms.subscriptionsPerConnection(),
    }),
    instances: () =>
      d.cluster.liveInstances(() => ({ instanceId: d.instanceId, address: d.advertised(), connections: registry.getConnectionCount(), users: registry.getOnlineCount() })),
  };

  const admin = new AdminServer(config.admin.host, config.admin.port, d.log, {
    maxConnections: config.admin.maxConnections,
    requestTimeoutMs: config.admin.requestTimeoutSec * 1000,
    // a push of maxPushPayloadBytes as base64 in proto3 JSON, with room for the rest of the request
    maxBodyBytes: Math.max(4 * 1024 * 1024, Math.ceil((config.server.maxPushPayloadBytes * 4) / 3) + 1024 * 1024),
  });
  admin.route('GET', '/healthz', () => json(200, { status: 'ok', instanceId: d.instanceId }));
  admin.route('GET', '/readyz', () => {
    const r = currentReadiness();
    const redisError = membership?.lastError ?? '';
    return json(r.ready ? 200 : 503, { ...r, instanceId: d.instanceId, ...(redisError !== '' ? { redisError } : {}) });
  });
  admin.routePrefix('POST', `/${GATEWAY_SERVICE}/`, createJsonApiHandler(d.api, d.guard, d.log), createJsonApiPreflight(d.guard));
  admin.route('GET', '/stats', async () => json(200, await buildStats(sources)));
  admin.route('GET', '/metrics', createMetrics(sources).handler);
  registerDashboard(admin, { log: d.log });

  const reporter = config.app.statsIntervalSec > 0 ? new StatsReporter(sources, config.app.statsIntervalSec * 1000, d.log) : null;
  let healthTimer: NodeJS.Timeout | null = null;
  return {
    admin,
    reporter,
    readiness: currentReadiness,
    start: () => {
      grpcServer.setServing(currentReadiness().ready);
      reporter?.start();
      healthTimer = setInterval(() => grpcServer.setServing(currentReadiness().ready), 1000);
      healthTimer.unref();
    },
    stop: () => {
      if (healthTimer !== null) clearInterval(healthTimer);
      healthTimer = null;
      reporter?.stop();
    },
  };
}

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpcjs from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
/**
 * Composition root: load config, build everything, start, stop. Nothing else lives here.
 */
import { ConnectionManager } from './internal/connection/manager';
import { formatIssue, loadConfig, redactedConfig } from './internal/config/load';
import { UPSTREAM_INTERFACES, buildBusinessClients, buildRegistry, buildTokenVerifier, gatewaySettings, upstreamSource } from './internal/gateway/build';
import { Gateway } from './internal/gateway/gateway';
import { PushService } from './internal/gateway/push';
import type { Session } from './internal/gateway/session';
import { GatewayStats } from './internal/gateway/stats';
import { StatusEventQueue } from './internal/gateway/status-events';
import { AdminServer, json } from './internal/observability/admin';
import { FaultCounter } from './internal/observability/faults';
import { createLogger } from './internal/observability/logger';
import { readiness, upstreamState } from './internal/observability/readiness';
import type { Readiness } from './internal/observability/readiness';
import { dashboardHandler } from './internal/observability/dashboard';
import { createMetrics } from './internal/observability/metrics';
import { StatsReporter } from './internal/observability/reporter';
import { buildStats } from './internal/observability/snapshot';
import type { StatsSources } from './internal/observability/snapshot';
import { ClusterApi } from './internal/cluster/api';
import { PeerForwarder } from './internal/cluster/forwarder';
import { ClusterMembership } from './internal/cluster/membership';
import { MemoryPresenceStore } from './internal/presence/memory';
import { RedisPresenceStore, createRedisClient } from './internal/presence/redis';
import type { RedisClient } from './internal/presence/redis';
import { ResilientPresenceStore } from './internal/presence/resilient';
import type { PresenceEntry, PresenceStore } from './internal/presence/types';
import { CLOSE_REASON, CloseCode } from './internal/protocol/codes';
import { CallGuard, GATEWAY_SERVICE } from './internal/rpc/api';
import { createJsonApiHandler, createJsonApiPreflight } from './internal/rpc/json-api';
import { loadProto } from './internal/rpc/proto';
import { PushStreamClient } from './internal/rpc/push-stream';
import { GrpcServer } from './internal/rpc/server';
import { UpstreamPool } from './internal/rpc/upstream';
import type { ServiceRef } from './internal/discovery/types';
import { GATEWAY_METHODS } from './internal/rpc/api';
import { uwsIsNative } from './internal/transport/ws/native';
import { WsTransport } from './internal/transport/ws/server';
import { IdGenerator, generateInstanceId } from './pkg/ids';
import { connectionCap, openFileLimit } from './pkg/fd-limit';
import { advertisedHost } from './pkg/net';

/** Descriptors kept free besides the admin port's connections: gRPC clients, upstream channels, Redis, Nacos, logs. */
const FD_RESERVE_OTHER = 256;

const VERSION: string = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

function entryOf(s: Session, instanceId: string): PresenceEntry {
  return { userId: s.userId, deviceId: s.deviceId, platform: s.platform, instanceId, epoch: s.epoch, connectedAt: s.connectedAt, clientIp: s.clientIp };
}

async function main(): Promise<void> {
  const loaded = loadConfig({ env: process.env, cwd: process.cwd() });
  if (!loaded.ok) {
    process.stderr.write(`ima-gateway: invalid configuration, not starting:\n${loaded.error.map((i) => `  ${formatIssue(i)}`).join('\n')}\n`);
    process.exit(2);
  }
  const { config, appEnv, configDir, warnings } = loaded.value;
  const instanceId = config.app.instanceId !== '' ? config.app.instanceId : generateInstanceId();
  const log = createLogger(config.app.logLevel, instanceId);
  const faults = new FaultCounter(log);
  faults.installProcessHandlers();
  for (const w of warnings) log.warn(w);
  const native = uwsIsNative();
  if (!native) {
    log.error(
      'uWebSockets.js NATIVE BINARY NOT LOADED: running on the package\'s slow JavaScript fallback. Performance and limits are degraded; install a build matching this Node.js ABI.',
    );
  }
  if (config.server.apiToken === '') log.warn('server.apiToken is empty: the push API is open to anyone who reaches the gRPC and admin ports');

  const startedAt = Date.now();
  const stats = new GatewayStats();
  const ids = new IdGenerator();
  const { verifier, provider, pool: mucPool } = buildTokenVerifier(config, config.app.name);
  const business = buildBusinessClients(config);
  // upstream providers: a static address list wins; otherwise Nacos (when configured) resolves them
  const { registry: discovery, statics } = buildRegistry(config, log);
  const unwatch: Array<() => void> = [];
  const follow = (staticAddress: string, service: ServiceRef, onChange: (addresses: readonly string[]) => void): void => {
    const source = upstreamSource(staticAddress, config) === 'static' ? statics : discovery;
    unwatch.push(source.watch(service, onChange));
  };
  const cm = config.client;
  if (mucPool !== null) follow(cm.muc.address, { interfaceName: UPSTREAM_INTERFACES.muc, version: cm.muc.version, group: cm.muc.group }, (a) => mucPool.setAddresses(a));
  const businessPool = business.pool;
  if (businessPool !== null) {
    follow(cm.business.address, { interfaceName: UPSTREAM_INTERFACES.business, version: cm.business.version, group: cm.business.group }, (a) => businessPool.setAddresses(a));
  }
  const se = config.statusEvents;
  const statusEvents =
    se.enabled && business.status !== null
      ? new StatusEventQueue(business.status, { maxQueue: se.maxQueue, concurrency: se.concurrency, retryInitialMs: se.retryInitialMs, retryMaxMs: se.retryMaxMs, maxAttempts: se.maxAttempts }, log)
      : null;
  const registry = new ConnectionManager<Session>();
  // presence: memory (single instance) or Redis (cluster), by configuration
  let presence: PresenceStore;
  let redisClient: RedisClient | null = null;
  let redisStore: RedisPresenceStore | null = null;
  let resilient: ResilientPresenceStore | null = null;
  const presenceKind: 'memory' | 'redis' = config.redis.url === '' ? 'memory' : 'redis';
  switch (presenceKind) {
    case 'memory':
      presence = new MemoryPresenceStore();
      break;
    case 'redis':
      redisClient = createRedisClient(config.redis.url, config.redis.cluster, { log });
      redisStore = new RedisPresenceStore(redisClient, { keyPrefix: config.redis.keyPrefix, instanceId, leaseTtlMs: config.redis.leaseTtlSec * 1000 }, log);
      resilient = new ResilientPresenceStore(redisStore, (userId) => registry.getUserConnections(userId).map((s) => entryOf(s, instanceId)), log);
      presence = resilient;
      break;
  }
  let cluster: ClusterApi | null = null;
  const gateway = new Gateway({
    instanceId,
    verifier,
    presence,
    registry,
    business: business.forward,
    ids,
    stats,
    log,
    settings: gatewaySettings(config),
    events: statusEvents,
    remote:
      presenceKind === 'redis'
        ? { kickRemote: (i, u, d, e, code, reason) => (cluster === null ? Promise.resolve(false) : cluster.kickRemote(i, u, d, e, code, reason)) }
        : null,
  });
  const pushes = new PushService({
    instanceId,
    gateway,
    registry,
    presence,
    invalidateUser: (userId) => verifier.invalidateUser(userId),
    ids,
    stats,
    log,
    settings: { maxUsersPerCall: config.server.maxUsersPerCall, maxPayloadBytes: config.server.maxPushPayloadBytes },
  });
  // instances call each other like any client: over TLS (presenting their own certificate, for
  // mTLS) when the gRPC server uses TLS; trusting tlsCaFile, else the instance certificate itself
  const srv = config.server;
  const peerCredentials =
    srv.tlsCertFile === ''
      ? grpcjs.credentials.createInsecure()
      : grpcjs.credentials.createSsl(fs.readFileSync(srv.tlsCaFile !== '' ? srv.tlsCaFile : srv.tlsCertFile), fs.readFileSync(srv.tlsKeyFile), fs.readFileSync(srv.tlsCertFile));
  const peers = new PeerForwarder(config.server.apiToken, 5000, peerCredentials);
  if (redisStore !== null) cluster = new ClusterApi(instanceId, pushes, presence, redisStore, peers, log);
  const api = cluster ?? pushes;
  const guard = new CallGuard({ apiToken: config.server.apiToken, version: config.server.version, group: config.server.group });
  const grpcServer = new GrpcServer(config.server, api, guard, log);
  const advertise = advertisedHost(config.server.host, config.app.advertiseHost);
  const membership =
    redisStore !== null && resilient !== null
      ? new ClusterMembership(
          redisStore,
          resilient,
          () => ({ address: `${advertise}:${grpcServer.port}`, connections: registry.getConnectionCount(), users: registry.getOnlineCount(), startedAt, version: VERSION }),
          () => registry.all().map((s) => entryOf(s, instanceId)),
          { leaseRefreshMs: config.redis.leaseRefreshSec * 1000, sweepEveryMs: config.redis.sweepEverySec * 1000 },
          log,
        )
      : null;

  const ws = config.websocket;
  // stay below the descriptor limit: at it, accept() fails in a loop and nothing is reachable
  const fdLimit = openFileLimit();
  const fdReserve = config.admin.maxConnections + FD_RESERVE_OTHER;
  const { cap: maxConnections, limited } = connectionCap(ws.maxConnections, fdLimit, fdReserve);
  if (limited) {
    log.warn(
      { configured: ws.maxConnections, effective: maxConnections, fdLimit, reserve: fdReserve },
      'websocket.maxConnections capped below the open-file limit (ulimit -n); raise the limit to allow more connections',
    );
  }
  const transport = new WsTransport(
    {
      host: ws.host,
      port: ws.port,
      path: ws.path,
      maxPayloadBytes: ws.maxPayloadBytes,
      idleTimeoutMs: ws.idleTimeoutSec * 1000,
      maxBackpressureBytes: ws.maxBackpressureBytes,
      maxConnections,
      tlsCertFile: ws.tlsCertFile,
      tlsKeyFile: ws.tlsKeyFile,
      closeCodes: { tooBig: CloseCode.MESSAGE_TOO_BIG, idle: CloseCode.HEARTBEAT_TIMEOUT, slow: CloseCode.SLOW_CONSUMER, internal: CloseCode.INTERNAL_ERROR },
      closeReasons: {
        tooBig: CLOSE_REASON[CloseCode.MESSAGE_TOO_BIG],
        idle: CLOSE_REASON[CloseCode.HEARTBEAT_TIMEOUT],
        slow: CLOSE_REASON[CloseCode.SLOW_CONSUMER],
        internal: CLOSE_REASON[CloseCode.INTERNAL_ERROR],
      },
    },
    gateway,
    log,
    faults,
  );

  const ps = config.client.pushStream;
  const pushStreamPool =
    upstreamSource(ps.address, config) !== 'none' ? new UpstreamPool('ServerPushService', loadProto().grpcType.im.gateway.v1.ServerPushService, []) : null;
  const pushStream =
    pushStreamPool !== null
      ? new PushStreamClient(
          pushStreamPool,
          { version: ps.version, group: ps.group, appName: config.app.name },
          () => ({
            instanceId,
            address: `${advertise}:${grpcServer.port}`,
            connections: registry.getConnectionCount(),
            users: registry.getOnlineCount(),
            timestamp: Date.now(),
          }),
          api,
          { heartbeatIntervalMs: ps.heartbeatIntervalSec * 1000, reconnectInitialMs: ps.reconnectInitialMs, reconnectMaxMs: ps.reconnectMaxMs },
          log,
        )
      : null;

  if (pushStreamPool !== null && pushStream !== null) {
    follow(ps.address, { interfaceName: UPSTREAM_INTERFACES.pushStream, version: ps.version, group: ps.group }, (a) => {
      pushStreamPool.setAddresses(a);
      pushStream.providersChanged();
    });
  }

  let draining = false;
  const admin = new AdminServer(config.admin.host, config.admin.port, log, {
    maxConnections: config.admin.maxConnections,
    requestTimeoutMs: config.admin.requestTimeoutSec * 1000,
    // a push of maxPushPayloadBytes as base64 in proto3 JSON, with room for the rest of the request
    maxBodyBytes: Math.max(4 * 1024 * 1024, Math.ceil((config.server.maxPushPayloadBytes * 4) / 3) + 1024 * 1024),
  });
  admin.route('GET', '/healthz', () => json(200, { status: 'ok', instanceId }));
  const upstreamPools: Array<[string, UpstreamPool<grpc.Client>]> = [];
  if (mucPool !== null) upstreamPools.push(['muc', mucPool]);
  if (business.pool !== null) upstreamPools.push(['business', business.pool]);
  const currentReadiness = (): Readiness =>
    readiness({
      websocketListening: transport.listening,
      grpcListening: grpcServer.port > 0,
      draining,
      redis: membership === null ? 'not configured' : membership.state,
      registry: discovery.registrationState(),
      upstreams: Object.fromEntries(upstreamPools.map(([name, pool]) => [name, upstreamState(pool.probe())])),
    });
  admin.route('GET', '/readyz', () => {
    const r = currentReadiness();
    return json(r.ready ? 200 : 503, { ...r, instanceId, ...(membership?.lastError ? { redisError: membership.lastError } : {}) });
  });
  admin.routePrefix('POST', `/${GATEWAY_SERVICE}/`, createJsonApiHandler(api, guard, log), createJsonApiPreflight(guard));
  const sources: StatsSources = {
    instanceId,
    version: VERSION,
    startedAt,
    stats,
    connections: () => registry.getConnectionCount(),
    users: () => registry.getOnlineCount(),
    platforms: () => registry.getPlatformCounts(),
    tokenCache: () => ({ ...verifier.stats, size: verifier.size }),
    statusEvents: () => (statusEvents === null ? null : { ...statusEvents.stats, depth: statusEvents.stats.depth }),
    pushStream: () => (pushStream === null ? null : { state: pushStream.state, ...pushStream.stats }),
    registry: () => ({ kind: discovery.kind, registration: discovery.registrationState(), lastError: discovery.lastError }),
    redis: () =>
      membership === null
        ? { state: 'not configured', lastError: '', reRegistrations: 0, swept: 0 }
        : { state: membership.state, lastError: membership.lastError, reRegistrations: membership.reRegistrations, swept: membership.swept },
    businessBreaker: () => business.breakerState(),
    slowConsumers: () => transport.slowConsumers,
    internalErrors: () => ({ ...faults.counts }),
    draining: () => draining,
    instances: async () =>
      redisStore === null
        ? [{ instanceId, address: `${advertise}:${grpcServer.port}`, connections: registry.getConnectionCount(), users: registry.getOnlineCount() }]
        : redisStore.liveInstances(),
  };
  admin.route('GET', '/stats', async () => json(200, await buildStats(sources)));
  admin.route('GET', '/metrics', createMetrics(sources).handler);
  admin.route('GET', '/dashboard', dashboardHandler());
  const reporter = config.app.statsIntervalSec > 0 ? new StatsReporter(sources, config.app.statsIntervalSec * 1000, log) : null;

  gateway.start();
  await grpcServer.listen();
  await membership?.start();
  await transport.listen();
  await admin.listen();
  grpcServer.setServing(currentReadiness().ready);
  reporter?.start();
  // gRPC health follows /readyz
  const healthTimer = setInterval(() => grpcServer.setServing(currentReadiness().ready), 1000);
  healthTimer.unref();
  pushStream?.start();
  if (config.nacos.register) {
    await discovery.register({
      service: { interfaceName: GATEWAY_SERVICE, version: config.server.version, group: config.server.group },
      host: advertise,
      port: grpcServer.port,
      application: config.app.name,
      methods: GATEWAY_METHODS,
      instanceId,
      gatewayVersion: VERSION,
    });
  }
  log.info(
    {
      appEnv,
      configDir,
      authProvider: provider,
      presence: presenceKind,
      registry: discovery.kind,
      advertise: `${advertise}:${grpcServer.port}`,
      uwsNative: native,
      maxConnections,
      fdLimit,
      ports: { websocket: transport.port, grpc: grpcServer.port, admin: admin.port },
      wsTls: transport.tls,
      grpcTls: grpcServer.tls,
      config: redactedConfig(config),
    },
    'ima gateway started',
  );

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    const hardStop = setTimeout(() => {
      log.error({ timeoutSec: config.app.shutdownTimeoutSec }, 'shutdown timed out: exiting');
      process.exit(1);
    }, config.app.shutdownTimeoutSec * 1000);
    hardStop.unref();
    log.info({ signal, connections: registry.getConnectionCount() }, 'shutting down');
    // 1. not ready
    draining = true;
    clearInterval(healthTimer);
    reporter?.stop();
    grpcServer.setServing(false);
    gateway.startDraining();
    // 2. leave the registry, so Dubbo consumers stop choosing this instance
    await discovery.deregister();
    // 3. stop accepting: no new WebSocket connections, no new push API calls
    transport.stopAccepting();
    await pushStream?.close();
    // 4. finish in-flight RPCs (push API calls and client-message forwards)
    const graceMs = config.forward.timeoutMs;
    const grpcClosed = grpcServer.close(graceMs);
    const waitUntil = Date.now() + graceMs;
    while (gateway.inFlight() > 0 && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 20));
    await grpcClosed;
    // 5. close connections with 1001, spread over the drain window
    const spreadMs = Math.min(config.app.drainWindowSec * 1000, registry.getConnectionCount());
    await gateway.closeAll(spreadMs);
    gateway.stop();
    await transport.close();
    // 6. remove this instance's Redis mappings and lease
    await membership?.stop();
    // 7. status events of those closes, then release everything
    await statusEvents?.flush(Math.min(2000, graceMs));
    statusEvents?.close();
    peers.close();
    for (const u of unwatch) u();
    await Promise.allSettled([discovery.close(), verifier.close(), business.forward.close(), presence.close(), admin.close()]);
    if (redisClient !== null) await redisClient.quit().catch(() => redisClient?.disconnect());
    log.info({ uptimeSec: Math.round((Date.now() - startedAt) / 1000) }, 'stopped');
    clearTimeout(hardStop);
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((e: unknown) => {
  process.stderr.write(`ima-gateway: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

import { advertisedHost } from '../../pkg/net';
import { connectionCap, openFileLimit } from '../../pkg/fd-limit';
import type { Config } from '../config/schema';
import { ConnectionManager } from '../connection/manager';
import type { Session } from '../gateway/session';
import type { FaultCounter } from '../observability/faults';
import type { Logger } from '../observability/logger';
import { redactedConfig } from '../config/load';
import type { PresenceEntry } from '../presence/types';
import { CLOSE_REASON, CloseCode } from '../protocol/codes';
import { CallGuard, GATEWAY_METHODS, GATEWAY_SERVICE } from '../rpc/api';
import { loadProto } from '../rpc/proto';
import { PushStreamClient } from '../rpc/push-stream';
import { GrpcServer } from '../rpc/server';
import { UpstreamPool } from '../rpc/upstream';
import { uwsIsNative } from '../transport/ws/native';
import { WsTransport } from '../transport/ws/server';
import { RedisPubSubIngress } from '../rpc/pubsub-ingress';
import { TracedApi } from '../rpc/traced';
import { startTracing, tracingSettings } from '../observability/tracing';
import { duplicateClient } from '../redis/client';
import { buildCluster } from './cluster';
import { buildCore } from './core';
import { wsPortFiles } from './assets';
import { buildUpstreamDirectory, upstreamSource } from './factories';
import { DrainState, buildOps } from './ops';
import { runShutdown } from './shutdown';

/** Descriptors kept free besides the admin port's connections: gRPC clients, upstream channels, Redis, Nacos, logs. */
const FD_RESERVE_OTHER = 256;
/** How long shutdown waits for the last spans to reach the collector. */
const TRACING_FLUSH_MS = 3_000;

export interface AppContext {
  readonly instanceId: string;
  readonly version: string;
  readonly appEnv: string;
  readonly configDir: string;
  readonly log: Logger;
  readonly faults: FaultCounter;
}

export interface RunningApp {
  /** The shutdown of SPEC.md section 6 under app.shutdownTimeoutSec; resolves with the exit code. */
  shutdown(signal: string): Promise<0 | 1>;
}

function entryOf(s: Session, instanceId: string): PresenceEntry {
  return { userId: s.userId, deviceId: s.deviceId, platform: s.platform, instanceId, epoch: s.epoch, connectedAt: s.connectedAt, clientIp: s.clientIp };
}

/** Builds every component from the configuration, starts them in order and returns the shutdown. */
export async function startApp(config: Config, ctx: AppContext): Promise<RunningApp> {
  const { instanceId, log } = ctx;
  const native = uwsIsNative();
  if (!native) {
    log.error('uWebSockets.js NATIVE BINARY NOT LOADED: running on the package\'s slow JavaScript fallback. Performance and limits are degraded; install a build matching this Node.js ABI.');
  }
  if (config.server.apiToken === '') log.warn('server.apiToken is empty: the push API is open to anyone who reaches the gRPC and admin ports');
  const startedAt = Date.now();
  // tracing off: the SDK is never imported, and no component gets spans
  const traceSettings = tracingSettings(config, process.env, { version: ctx.version, instanceId });
  const tracing = traceSettings === null ? null : await startTracing(traceSettings, log);
  const spans = tracing?.spans ?? null;

  const registry = new ConnectionManager<Session>();
  const upstreams = buildUpstreamDirectory(config, log);
  const cluster = buildCluster(config, {
    instanceId,
    localSessions: (userId) => registry.getUserConnections(userId).map((s) => entryOf(s, instanceId)),
    localEntries: () => registry.all().map((s) => entryOf(s, instanceId)),
    log,
    spans,
  });
  // stay below the descriptor limit: at it, accept() fails in a loop and nothing is reachable
  const ws = config.websocket;
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
      files: wsPortFiles(config.demo.enabled, log),
    },
    log,
    ctx.faults,
  );

  const core = buildCore(config, {
    instanceId,
    registry,
    presence: cluster.presence,
    kicker: cluster.kicker,
    roomMembers: cluster.roomMembers,
    roomInstances: cluster.roomInstances,
    history: cluster.history,
    topics: transport,
    upstreams,
    log,
    spans,
  });
  const api = spans === null ? cluster.api(core.pushes) : new TracedApi(cluster.api(core.pushes), spans);
  const guard = new CallGuard({ apiToken: config.server.apiToken, version: config.server.version, group: config.server.group });
  const grpcServer = new GrpcServer(config.server, api, guard, log);
  const advertise = advertisedHost(config.server.host, config.app.advertiseHost);
  const advertised = (): string => `${advertise}:${grpcServer.port}`;
  const membership = cluster.membership(
    () => ({ address: advertised(), connections: registry.getConnectionCount(), users: registry.getOnlineCount(), startedAt, version: ctx.version }),
    core.rooms,
  );


  const ps = config.client.pushStream;
  let pushStream: PushStreamClient | null = null;
  if (upstreamSource(ps.address, config) !== 'none') {
    const pool = new UpstreamPool('ServerPushService', loadProto().grpcType.im.gateway.v1.ServerPushService, []);
    const stream = new PushStreamClient(
      pool,
      { version: ps.version, group: ps.group, appName: config.app.name },
      () => ({ instanceId, address: advertised(), connections: registry.getConnectionCount(), users: registry.getOnlineCount(), timestamp: Date.now() }),
      api,
      { heartbeatIntervalMs: ps.heartbeatIntervalSec * 1000, reconnectInitialMs: ps.reconnectInitialMs, reconnectMaxMs: ps.reconnectMaxMs },
      log,
    );
    upstreams.follow('pushStream', (a) => {
      pool.setAddresses(a);
      stream.providersChanged();
    });
    pushStream = stream;
  }

  // the pub/sub ingress delivers to this instance's connections only (every instance subscribes)
  const ingress = config.redis.pubsubIngress && cluster.redis !== null ? new RedisPubSubIngress(duplicateClient(cluster.redis), cluster.keys, core.pushes, log) : null;

  const drain = new DrainState();
  const ops = buildOps(config, {
    instanceId,
    version: ctx.version,
    startedAt,
    core,
    cluster,
    membership,
    registry,
    transport,
    grpcServer,
    upstreams,
    pushStream,
    ingress,
    api,
    guard,
    faults: ctx.faults,
    drain,
    advertised,
    log,
  });

  // start: listeners first, then what announces this instance to others
  core.gateway.start();
  await grpcServer.listen();
  await membership?.start();
  await transport.listen(core.gateway);
  await ops.admin.listen();
  ops.start();
  pushStream?.start();
  await ingress?.start();
  if (config.nacos.register) {
    await upstreams.registry.register({
      service: { interfaceName: GATEWAY_SERVICE, version: config.server.version, group: config.server.group },
      host: advertise,
      port: grpcServer.port,
      application: config.app.name,
      methods: GATEWAY_METHODS,
      instanceId,
      gatewayVersion: ctx.version,
    });
  }
  log.info(
    {
      appEnv: ctx.appEnv,
      configDir: ctx.configDir,
      authProvider: core.authProvider,
      presence: cluster.kind,
      registry: upstreams.registry.kind,
      advertise: advertised(),
      uwsNative: native,
      maxConnections,
      fdLimit,
      ports: { websocket: transport.port, grpc: grpcServer.port, admin: ops.admin.port },
      wsTls: transport.tls,
      grpcTls: grpcServer.tls,
      config: redactedConfig(config),
    },
    'ima gateway started',
  );

  const graceMs = config.forward.timeoutMs;
  return {
    shutdown: async (signal) => {
      log.info({ signal, connections: registry.getConnectionCount() }, 'shutting down');
      const code = await runShutdown(
        [
          {
            name: 'not ready: /readyz 503, gRPC health NOT_SERVING, new logins refused',
            run: () => {
              drain.begin();
              ops.stop();
              grpcServer.setServing(false);
              core.gateway.startDraining();
            },
          },
          { name: 'leave the registry (Dubbo consumers stop choosing this instance)', run: () => upstreams.registry.deregister() },
          {
            name: 'stop accepting WebSocket connections, push-stream commands and pub/sub messages',
            run: async () => {
              transport.stopAccepting();
              await Promise.all([pushStream?.close(), ingress?.stop()]);
            },
          },
          {
            name: 'finish in-flight push API calls and client-message forwards',
            run: async () => {
              await Promise.all([grpcServer.close(graceMs), core.gateway.idle(Date.now() + graceMs)]);
            },
          },
          {
            name: 'close every connection with 1001, spread over the drain window',
            run: async () => {
              await core.gateway.closeAll(Math.min(config.app.drainWindowSec * 1000, registry.getConnectionCount()));
              core.gateway.stop();
              await transport.close();
            },
          },
          { name: "remove this instance's Redis mappings and lease", run: () => membership?.stop() },
          {
            name: 'send the status events of those closes',
            run: async () => {
              await core.statusEvents?.flush(Math.min(2000, graceMs));
              core.statusEvents?.close();
            },
          },
          {
            name: 'release clients, channels and the admin port',
            run: async () => {
              upstreams.stop();
              await Promise.allSettled([upstreams.registry.close(), core.verifier.close(), core.business.forward.close(), cluster.close(), ops.admin.close()]);
            },
          },
          { name: 'export the last spans', run: () => tracing?.shutdown(TRACING_FLUSH_MS) },
        ],
        config.app.shutdownTimeoutSec * 1000,
        log,
      );
      if (code === 0) log.info({ uptimeSec: Math.round((Date.now() - startedAt) / 1000) }, 'stopped');
      return code;
    },
  };
}

/**
 * Composition root: load config, build everything, start, stop. Nothing else lives here.
 */
import { ConnectionManager } from './internal/connection/manager';
import { formatIssue, loadConfig, redactedConfig } from './internal/config/load';
import { buildBusinessClient, buildTokenVerifier, gatewaySettings } from './internal/gateway/build';
import { Gateway } from './internal/gateway/gateway';
import type { Session } from './internal/gateway/session';
import { GatewayStats } from './internal/gateway/stats';
import { AdminServer, json } from './internal/observability/admin';
import { createLogger } from './internal/observability/logger';
import { MemoryPresenceStore } from './internal/presence/memory';
import { CLOSE_REASON, CloseCode } from './internal/protocol/codes';
import { uwsIsNative } from './internal/transport/ws/native';
import { WsTransport } from './internal/transport/ws/server';
import { IdGenerator, generateInstanceId } from './pkg/ids';

async function main(): Promise<void> {
  const loaded = loadConfig({ env: process.env, cwd: process.cwd() });
  if (!loaded.ok) {
    process.stderr.write(`ima-gateway: invalid configuration, not starting:\n${loaded.error.map((i) => `  ${formatIssue(i)}`).join('\n')}\n`);
    process.exit(2);
  }
  const { config, appEnv, configDir, warnings } = loaded.value;
  const instanceId = config.app.instanceId !== '' ? config.app.instanceId : generateInstanceId();
  const log = createLogger(config.app.logLevel, instanceId);
  for (const w of warnings) log.warn(w);
  const native = uwsIsNative();
  if (!native) {
    log.error(
      'uWebSockets.js NATIVE BINARY NOT LOADED: running on the package\'s slow JavaScript fallback. Performance and limits are degraded; install a build matching this Node.js ABI.',
    );
  }

  const startedAt = Date.now();
  const stats = new GatewayStats();
  const { verifier, provider } = buildTokenVerifier(config, config.app.name);
  const business = buildBusinessClient(config);
  const presence = new MemoryPresenceStore();
  const registry = new ConnectionManager<Session>();
  const gateway = new Gateway({
    instanceId,
    verifier,
    presence,
    registry,
    business,
    ids: new IdGenerator(),
    stats,
    log,
    settings: gatewaySettings(config),
  });
  const ws = config.websocket;
  const transport = new WsTransport(
    {
      host: ws.host,
      port: ws.port,
      path: ws.path,
      maxPayloadBytes: ws.maxPayloadBytes,
      idleTimeoutMs: ws.idleTimeoutSec * 1000,
      maxBackpressureBytes: ws.maxBackpressureBytes,
      maxConnections: ws.maxConnections,
      closeCodes: { tooBig: CloseCode.MESSAGE_TOO_BIG, idle: CloseCode.HEARTBEAT_TIMEOUT, slow: CloseCode.SLOW_CONSUMER },
      closeReasons: {
        tooBig: CLOSE_REASON[CloseCode.MESSAGE_TOO_BIG],
        idle: CLOSE_REASON[CloseCode.HEARTBEAT_TIMEOUT],
        slow: CLOSE_REASON[CloseCode.SLOW_CONSUMER],
      },
    },
    gateway,
    log,
  );

  let draining = false;
  const admin = new AdminServer(config.admin.host, config.admin.port, log);
  admin.route('GET', '/healthz', () => json(200, { status: 'ok', instanceId }));
  admin.route('GET', '/readyz', () => {
    const checks = { websocket: transport.listening, draining };
    const ready = transport.listening && !draining;
    return json(ready ? 200 : 503, { ready, instanceId, checks });
  });

  gateway.start();
  await transport.listen();
  await admin.listen();
  log.info(
    {
      appEnv,
      configDir,
      authProvider: provider,
      uwsNative: native,
      ports: { websocket: transport.port, admin: admin.port },
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
    draining = true;
    gateway.startDraining();
    transport.stopAccepting();
    // finish in-flight forwards (bounded by the forward deadline)
    const waitUntil = Date.now() + config.forward.timeoutMs;
    while (gateway.inFlight() > 0 && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 20));
    const spreadMs = Math.min(config.app.drainWindowSec * 1000, registry.getConnectionCount());
    await gateway.closeAll(spreadMs);
    gateway.stop();
    await transport.close();
    await Promise.allSettled([verifier.close(), business.close(), presence.close(), admin.close()]);
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

import * as fs from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { CachedTokenVerifier } from '../auth/cached';
import { JwtVerifier } from '../auth/jwt';
import { MucTokenVerifier, TracedTokenVerifier } from '../auth/muc';
import type { TokenVerifier } from '../auth/types';
import type { Config } from '../config/schema';
import { resolveAuthProvider } from '../config/load';
import { loadProto } from '../rpc/proto';
import { UpstreamPool, parseAddressList } from '../rpc/upstream';
import type { TripleIdentity } from '../rpc/upstream';
import { BreakerBusinessClient, GrpcBusinessClient, UnconfiguredBusinessClient } from '../rpc/business';
import type { BusinessClient } from '../rpc/business';
import { CircuitBreaker } from '../../pkg/circuit-breaker';
import type { GatewaySettings } from '../gateway/gateway';
import { NacosRegistry } from '../discovery/nacos';
import { StaticRegistry } from '../discovery/static';
import type { Registry } from '../discovery/types';
import type { Logger } from '../observability/logger';
import type { Spans } from '../observability/tracing';
import { TracedBusinessClient } from '../rpc/traced';

/** Factories of the composition root: each takes exactly its config slice. */

/** The Dubbo services the gateway calls, as providers register them (interface = proto service name). */
export const UPSTREAM_INTERFACES = {
  muc: 'im.gateway.v1.MUCService',
  business: 'im.gateway.v1.BusinessMessageService',
  pushStream: 'im.gateway.v1.ServerPushService',
} as const;

/**
 * Where an upstream's providers come from: its static address list when one is configured (it
 * wins), else Nacos when Nacos is configured, else nowhere.
 */
export function upstreamSource(staticAddress: string, config: Pick<Config, 'nacos'>): 'static' | 'nacos' | 'none' {
  if (parseAddressList(staticAddress).length > 0) return 'static';
  return config.nacos.address !== '' ? 'nacos' : 'none';
}

/**
 * Where every upstream's providers come from, as one object: its static address list when one is
 * configured (it wins), else Nacos when configured. `registry` is also where this instance
 * publishes itself (Nacos, or the static registry that publishes nothing).
 */
export class UpstreamDirectory {
  private readonly unwatch: Array<() => void> = [];

  constructor(
    private readonly config: Config,
    readonly registry: Registry,
    private readonly statics: StaticRegistry,
  ) {}

  /** Calls `onChange` with the providers of `upstream` now and whenever they change. */
  follow(upstream: keyof typeof UPSTREAM_INTERFACES, onChange: (addresses: readonly string[]) => void): void {
    const c = this.config.client[upstream];
    const source = upstreamSource(c.address, this.config) === 'static' ? this.statics : this.registry;
    this.unwatch.push(source.watch({ interfaceName: UPSTREAM_INTERFACES[upstream], version: c.version, group: c.group }, onChange));
  }

  /** Stops following; the registry itself is closed by its owner. */
  stop(): void {
    for (const u of this.unwatch.splice(0)) u();
  }
}

/** The upstream directory of this process: Nacos when configured, else the static addresses. */
export function buildUpstreamDirectory(config: Config, log: Logger): UpstreamDirectory {
  const statics = new StaticRegistry(
    new Map([
      [UPSTREAM_INTERFACES.muc, parseAddressList(config.client.muc.address)],
      [UPSTREAM_INTERFACES.business, parseAddressList(config.client.business.address)],
      [UPSTREAM_INTERFACES.pushStream, parseAddressList(config.client.pushStream.address)],
    ]),
  );
  const kind: 'static' | 'nacos' = config.nacos.address === '' ? 'static' : 'nacos';
  switch (kind) {
    case 'static':
      return new UpstreamDirectory(config, statics, statics);
    case 'nacos': {
      const n = config.nacos;
      const registry = new NacosRegistry(
        { address: n.address, namespace: n.namespace, group: n.group, username: n.username, password: n.password, deregisterTimeoutMs: n.deregisterTimeoutMs },
        log.child({ component: 'discovery' }),
      );
      return new UpstreamDirectory(config, registry, statics);
    }
  }
}

/** `spans`: tracing on, each MUC call a client span (inside the cache: hits make none). */
export function buildTokenVerifier(config: Config, instanceAppName: string, spans: Spans | null = null): { verifier: CachedTokenVerifier; provider: 'muc' | 'jwt'; pool: UpstreamPool<grpc.Client> | null } {
  const provider = resolveAuthProvider(config);
  let inner: TokenVerifier;
  let mucPool: UpstreamPool<grpc.Client> | null = null;
  switch (provider) {
    case 'muc': {
      const { grpcType } = loadProto();
      // addresses arrive from the UpstreamDirectory (static or Nacos)
      const pool = new UpstreamPool('MUCService', grpcType.im.gateway.v1.MUCService, []);
      mucPool = pool;
      const triple: TripleIdentity = { version: config.client.muc.version, group: config.client.muc.group, appName: instanceAppName };
      const muc = new MucTokenVerifier(pool, triple, config.auth.timeoutMs);
      inner = spans === null ? muc : new TracedTokenVerifier(muc, spans);
      break;
    }
    case 'jwt': {
      const j = config.auth.jwt;
      inner = new JwtVerifier({
        algorithms: j.algorithms.filter((a): a is 'HS256' | 'RS256' => a === 'HS256' || a === 'RS256'),
        secret: j.secret,
        publicKeyPem: j.publicKeyFile !== '' ? fs.readFileSync(j.publicKeyFile, 'utf8') : '',
        issuer: j.issuer,
        audience: j.audience,
        clockSkewSec: j.clockSkewSec,
      });
      break;
    }
  }
  const verifier = new CachedTokenVerifier(inner, { ttlSec: config.auth.cacheTtlSec, negativeTtlSec: config.auth.negativeCacheTtlSec, maxKeys: config.auth.cacheMaxKeys });
  return { verifier, provider, pool: mucPool };
}

/**
 * The business client for forwarding (behind the circuit breaker) and the one for status events
 * (their own queue retries with backoff, so their failures do not open the forwarding breaker);
 * both share one channel pool. `spans`: tracing on, each HandleMessage call a client span (inside
 * the breaker: refused calls make none).
 */
export function buildBusinessClients(config: Config, spans: Spans | null = null): {
  forward: BusinessClient;
  status: BusinessClient | null;
  breakerState: () => string;
  pool: UpstreamPool<grpc.Client> | null;
} {
  if (upstreamSource(config.client.business.address, config) === 'none') {
    return { forward: new UnconfiguredBusinessClient(), status: null, breakerState: () => 'not configured', pool: null };
  }
  const { grpcType } = loadProto();
  // addresses arrive from the UpstreamDirectory (static or Nacos)
  const pool = new UpstreamPool('BusinessMessageService', grpcType.im.gateway.v1.BusinessMessageService, []);
  const triple: TripleIdentity = { version: config.client.business.version, group: config.client.business.group, appName: config.app.name };
  const breaker = new CircuitBreaker({ failureThreshold: config.forward.breakerFailureThreshold, resetTimeoutMs: config.forward.breakerResetMs });
  const raw = new GrpcBusinessClient(pool, triple, config.forward.timeoutMs);
  return { forward: new BreakerBusinessClient(spans === null ? raw : new TracedBusinessClient(raw, spans), breaker), status: raw, breakerState: () => breaker.state, pool };
}

export function gatewaySettings(config: Config): GatewaySettings {
  return {
    policy: { policy: config.multiDevice.policy, maxConnectionsPerUser: config.multiDevice.maxConnectionsPerUser, onConflict: config.multiDevice.onConflict },
    heartbeatIntervalMs: config.websocket.heartbeatIntervalSec * 1000,
    refreshNoticeMs: config.auth.refreshNoticeSec * 1000,
    maxHeldBytes: config.websocket.maxBackpressureBytes,
    rateLimit: config.websocket.rateLimit,
    forward: {
      maxInFlight: config.forward.maxInFlight,
      maxPayloadBytes: config.forward.maxPayloadBytes,
      dedupeWindowMs: config.forward.dedupeWindowSec * 1000,
      dedupeMaxEntries: config.forward.dedupeMaxEntries,
    },
  };
}

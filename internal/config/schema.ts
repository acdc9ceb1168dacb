/**
 * The configuration schema: every key with its type, default, environment variable and one line
 * of documentation. `Config` is derived from it, so a key exists in exactly one place.
 *
 * Sources, later wins: embedded defaults -> config/*.yml -> config/<APP_ENV>/*.yml -> env vars.
 */
import { CONFLICT_MODES, POLICIES } from '../policy/policy';

interface FieldBase {
  readonly doc: string;
  readonly env?: string;
  /** Secret values are never logged or shown by `--print-config`. */
  readonly secret?: boolean;
}
export interface IntField extends FieldBase {
  readonly kind: 'int';
  readonly default: number;
  readonly min: number;
  readonly max: number;
}
export interface StringField extends FieldBase {
  readonly kind: 'string';
  readonly default: string;
  /** Checked when the value is not empty. */
  readonly pattern?: RegExp;
  readonly patternDoc?: string;
  /** An empty value is an error (the key has no "off" meaning). */
  readonly nonEmpty?: boolean;
}
export interface BoolField extends FieldBase {
  readonly kind: 'bool';
  readonly default: boolean;
}
export interface EnumField<V extends string = string> extends FieldBase {
  readonly kind: 'enum';
  readonly values: readonly V[];
  readonly default: V;
}
export interface ListField extends FieldBase {
  readonly kind: 'list';
  readonly default: readonly string[];
  /** When set, every item must be one of these. */
  readonly values?: readonly string[];
}
export type Field = IntField | StringField | BoolField | EnumField | ListField;
export interface Section {
  readonly [key: string]: Field | Section;
}

export function isField(node: Field | Section): node is Field {
  return typeof (node as { kind?: unknown }).kind === 'string';
}

const int = (d: number, min: number, max: number, doc: string, env?: string): IntField =>
  env === undefined ? { kind: 'int', default: d, min, max, doc } : { kind: 'int', default: d, min, max, doc, env };
const str = (d: string, doc: string, extra: Partial<StringField> = {}): StringField => ({ kind: 'string', default: d, doc, ...extra });
const bool = (d: boolean, doc: string, env?: string): BoolField =>
  env === undefined ? { kind: 'bool', default: d, doc } : { kind: 'bool', default: d, doc, env };
function enm<const V extends string>(values: readonly V[], d: NoInfer<V>, doc: string, env?: string): EnumField<V> {
  return env === undefined ? { kind: 'enum', values, default: d, doc } : { kind: 'enum', values, default: d, doc, env };
}
const list = (d: readonly string[], doc: string, values?: readonly string[]): ListField =>
  values === undefined ? { kind: 'list', default: d, doc } : { kind: 'list', default: d, doc, values };

/** Nacos namespace ids and group names: what Nacos itself accepts. */
const NACOS_NAME = /^[A-Za-z0-9._:-]{1,128}$/;
const NACOS_NAME_DOC = '1 to 128 characters of A-Z a-z 0-9 . _ : -';
/** host:port or [ipv6]:port, comma-separated. */
const LIST_OF_HOST_PORT_V6 = /^(?:[A-Za-z0-9._-]+:\d{1,5}|\[[0-9A-Fa-f:.]+\]:\d{1,5})(?:,(?:[A-Za-z0-9._-]+:\d{1,5}|\[[0-9A-Fa-f:.]+\]:\d{1,5}))*$/;
const LIST_OF_HOST_PORT = /^([A-Za-z0-9._-]+:\d{1,5})(,[A-Za-z0-9._-]+:\d{1,5})*$/;
const PORT_MAX = 65535;
const DAY_SEC = 86_400;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const AUTH_PROVIDERS = ['auto', 'muc', 'jwt'] as const;
export const JWT_ALGORITHMS = ['HS256', 'RS256'] as const;

export const schema = {
  app: {
    name: str('ima-gateway', 'application name: Dubbo tri-consumer-appname and Nacos "application"'),
    instanceId: str('', 'instance id; empty = generated (ima-<host>-<time>-<random>)', {
      env: 'IMA_INSTANCE_ID',
      pattern: /^[A-Za-z0-9._:-]{1,64}$/,
      patternDoc: '1 to 64 characters of A-Z a-z 0-9 . _ : -',
    }),
    logLevel: enm(LOG_LEVELS, 'info', 'log level', 'IMA_LOG_LEVEL'),
    shutdownTimeoutSec: int(30, 1, 3600, 'hard limit for a graceful shutdown; the process exits by then'),
    statsIntervalSec: int(30, 0, 86_400, 'how often the stats reporter logs a summary line (0 = never)'),
    drainWindowSec: int(5, 0, 600, 'on shutdown, closes (1001) are spread over this window to avoid a reconnect storm'),
    advertiseHost: str('', 'host other instances and the registry use to reach this one; empty = server.host, or the first non-internal IPv4 when that is 0.0.0.0', {
      env: 'IMA_ADVERTISE_HOST',
      pattern: /^[A-Za-z0-9._:-]{1,253}$/,
      patternDoc: 'a host name or IP',
    }),
  },
  websocket: {
    host: str('0.0.0.0', 'WebSocket listen address'),
    port: int(8080, 0, PORT_MAX, 'WebSocket port (0 = any free port)', 'IMA_WS_PORT'),
    path: str('/ws', 'WebSocket upgrade path', { pattern: /^\/[A-Za-z0-9._~/-]*$/, patternDoc: 'a path starting with /' }),
    maxPayloadBytes: int(524_288, 128, 64 * 1024 * 1024, 'largest client frame; larger frames close the connection with 1009'),
    idleTimeoutSec: int(60, 5, 3600, 'a connection with no frame for this long is closed with 4004'),
    heartbeatIntervalSec: int(25, 1, 3600, 'ping interval advised to clients in the auth frame (heartbeatIntervalMs)'),
    maxBackpressureBytes: int(1_048_576, 1024, 1024 * 1024 * 1024, 'send buffer limit per connection; over it the connection is closed with 4005'),
    maxConnections: int(100_000, 1, 10_000_000, 'connections per instance (capped at start below the open-file limit); further upgrades get HTTP 503'),
    tlsCertFile: str('', 'PEM certificate (chain): serve wss:// on the WebSocket port (with tlsKeyFile)'),
    tlsKeyFile: str('', 'PEM private key (unencrypted) of websocket.tlsCertFile'),
    rateLimit: {
      perSecond: int(100, 1, 1_000_000, 'sustained client frames per second per connection'),
      burst: int(200, 1, 1_000_000, 'client frames allowed in a burst'),
      closeAfterViolations: int(100, 1, 1_000_000, 'rate-limited frames within 10 s that close the connection with 1008'),
    },
  },
  auth: {
    provider: enm(AUTH_PROVIDERS, 'auto', 'token verifier; auto = muc when an MUC address or Nacos is configured, else jwt', 'IMA_AUTH_PROVIDER'),
    timeoutMs: int(3000, 50, 60_000, 'deadline of a ValidateToken call'),
    cacheTtlSec: int(300, 0, DAY_SEC, 'token cache TTL (bounded by the token expiry); 0 disables the cache', 'IMA_TOKEN_CACHE_TTL_SEC'),
    negativeCacheTtlSec: int(5, 0, 3600, 'how long a rejected token is remembered'),
    cacheMaxKeys: int(1_000_000, 100, 100_000_000, 'bound on cached tokens'),
    jwt: {
      secret: str('', 'HS256 secret (dev profile: a fixed dev secret when empty)', { env: 'IMA_JWT_SECRET', secret: true }),
      publicKeyFile: str('', 'RS256 public key (PEM file)', { env: 'IMA_JWT_PUBLIC_KEY_FILE' }),
      algorithms: list(['HS256', 'RS256'], 'accepted algorithms (those with a key configured)', JWT_ALGORITHMS),
      issuer: str('', 'required iss claim; empty = not checked'),
      audience: str('', 'required aud claim; empty = not checked'),
      clockSkewSec: int(30, 0, 3600, 'tolerance for exp and nbf'),
      defaultTtlSec: int(86_400, 60, 365 * DAY_SEC, 'lifetime of tokens minted by npm run token'),
    },
    refreshNoticeSec: int(60, 0, DAY_SEC, 'an expiring frame is sent this long before a connection\'s token expires, so the client can send a refresh frame (0 = no notice)'),
  },
  multiDevice: {
    policy: enm(POLICIES, 'one_per_platform', 'multi-device login policy', 'IMA_KICK_POLICY'),
    maxConnectionsPerUser: int(10, 0, 10_000, 'connections per user; the oldest goes (0 = unlimited)'),
    onConflict: enm(CONFLICT_MODES, 'kick_old', 'kick_old: the old connection gets kick 4001; reject_new: the new one gets 4001'),
  },
  forward: {
    timeoutMs: int(5000, 50, 300_000, 'deadline of a HandleMessage call (ack 2001 when it passes)'),
    maxInFlight: int(64, 1, 100_000, 'client messages queued per connection; beyond it ack 1003'),
    maxPayloadBytes: int(262_144, 16, 64 * 1024 * 1024, 'largest payload forwarded to the business service; beyond it ack 1004'),
    dedupeWindowSec: int(60, 0, 3600, 'a repeated id from the same device within this window gets the earlier ack (0 = off)'),
    dedupeMaxEntries: int(200_000, 100, 100_000_000, 'bound on remembered message ids'),
    breakerFailureThreshold: int(5, 1, 10_000, 'consecutive failures that open the circuit breaker (acks 2000 at once)'),
    breakerResetMs: int(2000, 100, 600_000, 'how long the breaker stays open before a probe call'),
  },
  server: {
    host: str('0.0.0.0', 'gRPC / Triple listen address'),
    port: int(50051, 0, PORT_MAX, 'gRPC / Triple port', 'IMA_GRPC_PORT'),
    apiToken: str('', 'push API bearer token; empty = open API (refused by the prod profile)', { env: 'IMA_API_TOKEN', secret: true }),
    version: str('', 'Dubbo service version; calls for another version get UNIMPLEMENTED'),
    group: str('', 'Dubbo service group; calls for another group get UNIMPLEMENTED'),
    maxUsersPerCall: int(1000, 1, 1_000_000, 'cap on user_ids in one PushToUsers / GetConnectionStatus call'),
    maxPushPayloadBytes: int(524_288, 16, 64 * 1024 * 1024, 'largest message.payload of a push API call; larger ones get INVALID_ARGUMENT'),
    tlsCertFile: str('', 'PEM certificate: serve gRPC over TLS (with tlsKeyFile)'),
    tlsKeyFile: str('', 'PEM private key of tlsCertFile'),
    tlsCaFile: str('', 'PEM CA bundle for client certificates (mTLS)'),
    tlsRequireClientCert: bool(false, 'mTLS: refuse clients without a certificate signed by tlsCaFile'),
  },
  statusEvents: {
    enabled: bool(true, 'report connect / disconnect / kick to BusinessMessageService.OnConnectionStatus'),
    maxQueue: int(100_000, 10, 10_000_000, 'bound on queued status events; beyond it the oldest are dropped (counted)'),
    concurrency: int(8, 1, 1000, 'OnConnectionStatus calls in flight at once'),
    retryInitialMs: int(200, 10, 60_000, 'first retry delay after a failed call'),
    retryMaxMs: int(10_000, 10, 600_000, 'largest retry delay'),
    maxAttempts: int(0, 0, 1_000_000, 'attempts before an event is dropped (0 = until the queue bound drops it)'),
  },
  admin: {
    host: str('0.0.0.0', 'admin HTTP listen address'),
    port: int(8081, 0, PORT_MAX, 'admin HTTP port: /healthz /readyz /stats /metrics', 'IMA_ADMIN_PORT'),
    maxConnections: int(256, 4, 100_000, 'open admin HTTP connections; further ones are closed at once (counted in the fd reserve)'),
    requestTimeoutSec: int(10, 1, 600, 'an admin request whose headers and body have not all arrived by then is answered 408 and closed'),
  },
  client: {
    muc: {
      address: str('', 'static MUC address (comma-separated host:port list)', {
        env: 'IMA_MUC_ADDR',
        pattern: LIST_OF_HOST_PORT,
        patternDoc: 'host:port[,host:port...]',
      }),
      version: str('', 'tri-service-version sent to the MUC service'),
      group: str('', 'tri-service-group sent to the MUC service'),
    },
    business: {
      address: str('', 'static BusinessMessageService address', {
        env: 'IMA_BUSINESS_ADDR',
        pattern: LIST_OF_HOST_PORT,
        patternDoc: 'host:port[,host:port...]',
      }),
      version: str('', 'tri-service-version sent to the business service'),
      group: str('', 'tri-service-group sent to the business service'),
    },
    pushStream: {
      address: str('', 'static ServerPushService address', { env: 'IMA_PUSH_STREAM_ADDR', pattern: LIST_OF_HOST_PORT, patternDoc: 'host:port[,host:port...]' }),
      version: str('', 'tri-service-version sent to the push stream service'),
      group: str('', 'tri-service-group sent to the push stream service'),
      heartbeatIntervalSec: int(5, 1, 3600, 'Heartbeat interval on the push stream'),
      reconnectInitialMs: int(500, 10, 60_000, 'first reconnect delay of the push stream'),
      reconnectMaxMs: int(30_000, 100, 3_600_000, 'largest reconnect delay of the push stream'),
    },
  },
  nacos: {
    address: str('', 'Nacos server host:port (comma-separated for a cluster); empty = no registry, static upstream addresses', {
      env: 'IMA_NACOS_ADDR',
      pattern: LIST_OF_HOST_PORT_V6,
      patternDoc: 'host:port[,host:port...]',
    }),
    namespace: str('public', 'Nacos namespace (id) of every service we publish or resolve', {
      env: 'IMA_NACOS_NAMESPACE',
      nonEmpty: true,
      pattern: NACOS_NAME,
      patternDoc: NACOS_NAME_DOC,
    }),
    group: str('DEFAULT_GROUP', 'Nacos group of every service we publish or resolve (Dubbo default DEFAULT_GROUP)', {
      env: 'IMA_NACOS_GROUP',
      nonEmpty: true,
      pattern: NACOS_NAME,
      patternDoc: NACOS_NAME_DOC,
    }),
    username: str('', 'Nacos user when Nacos auth is on', { env: 'IMA_NACOS_USERNAME' }),
    password: str('', 'Nacos password when Nacos auth is on', { env: 'IMA_NACOS_PASSWORD', secret: true }),
    register: bool(true, 'publish this instance\'s IMAGatewayService in Nacos (false = resolve upstreams only)'),
    deregisterTimeoutMs: int(3000, 100, 60_000, 'how long shutdown waits for Nacos to confirm deregistration'),
  },
  redis: {
    url: str('', 'Redis URL (redis://host:port/db); empty = single instance, in memory', { env: 'IMA_REDIS_URL', secret: true }),
    keyPrefix: str('ima:', 'prefix of every Redis key'),
    cluster: bool(false, 'use Redis Cluster (url = comma-separated seed nodes)'),
    leaseTtlSec: int(15, 2, 3600, 'instance lease TTL: an instance silent this long counts as gone and its users as offline'),
    leaseRefreshSec: int(3, 1, 600, 'how often the lease is refreshed (well within leaseTtlSec)'),
    sweepEverySec: int(5, 1, 3600, 'how often mappings of expired instances are swept'),
    pubsubIngress: bool(false, 'deliver what services publish on <keyPrefix>push:user:<userId>, <keyPrefix>push:room:<room> and <keyPrefix>push:broadcast (proto3 JSON of a ServerMessage), each instance to its own connections'),
  },
  recovery: {
    enabled: bool(true, 'number pushes to users and rooms (seq) and keep a short history so reconnecting clients recover what they missed'),
    historySize: int(100, 1, 100_000, 'pushes kept per user and per room'),
    historyTtlSec: int(300, 5, DAY_SEC, 'how long a push stays recoverable (and an idle stream is kept)'),
    maxStreams: int(100_000, 100, 100_000_000, 'streams (users and rooms) the memory history keeps on one instance; the least recently written goes first'),
  },
  demo: {
    enabled: bool(false, 'serve the demo chat page at /demo on the WebSocket port (npm run demo turns it on)', 'IMA_DEMO'),
  },
  rooms: {
    clientSubscribe: enm(['auto', 'deny', 'business', 'allow'] as const, 'auto', 'subscribe frames from clients: deny (ack 3000), business (asks HandleMessage with type ima.subscribe; code 0 allows), allow; auto = business when a business service is configured, else deny'),
    maxPerConnection: int(100, 1, 100_000, 'rooms a connection may subscribe itself; beyond it ack 3001'),
  },
  tracing: {
    enabled: bool(false, 'OpenTelemetry tracing: spans for upgrades, forwards, push API calls and cluster hops, exported over OTLP/HTTP (off: the SDK is not even loaded)', 'IMA_TRACING_ENABLED'),
    endpoint: str('', 'OTLP/HTTP traces URL; empty = OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, else http://127.0.0.1:4318/v1/traces', {
      env: 'IMA_TRACING_ENDPOINT',
      pattern: /^https?:\/\/[^\s/?#]+(?:[/?#]\S*)?$/,
      patternDoc: 'an http:// or https:// URL',
    }),
    sampleRatio: str('1', 'share of new traces recorded, 0 to 1; a trace begun by a caller (traceparent) follows the caller\'s decision', {
      env: 'IMA_TRACING_SAMPLE_RATIO',
      nonEmpty: true,
      pattern: /^(?:0(?:\.\d{1,6})?|1(?:\.0{1,6})?|\.\d{1,6})$/,
      patternDoc: 'a number from 0 to 1, e.g. 0.1',
    }),
    serviceName: str('', 'service.name of the spans; empty = OTEL_SERVICE_NAME, else app.name', { pattern: /^\S{1,128}$/, patternDoc: '1 to 128 characters, no spaces' }),
  },
} as const satisfies Section;

type ValueOf<F> = F extends IntField
  ? number
  : F extends StringField
    ? string
    : F extends BoolField
      ? boolean
      : F extends EnumField<infer V>
        ? V
        : F extends ListField
          ? readonly string[]
          : never;

/** The typed configuration derived from the schema. */
export type ConfigOf<S> = { readonly [K in keyof S]: S[K] extends Field ? ValueOf<S[K]> : ConfigOf<S[K]> };
export type Config = ConfigOf<typeof schema>;

/**
 * Optional OpenTelemetry tracing (`tracing.enabled`). The use cases and adapters see only `Spans`
 * (start a span under a W3C `traceparent`, read the traceparent naming it): context travels
 * explicitly, as the traceparent strings the gateway already passes around, so there is no global
 * context manager and no AsyncLocalStorage on the hot paths.
 *
 * Off (the default), nothing here is loaded: `startTracing` is never called, no component gets a
 * `Spans`, and `@opentelemetry/*` stays out of the process (the unit test checks require.cache).
 * On, the SDK is imported once at start: BasicTracerProvider, a parent-based ratio sampler, a
 * BatchSpanProcessor and the OTLP/HTTP (JSON) exporter.
 */
import type * as OtelApi from '@opentelemetry/api';
import type { Config } from '../config/schema';
import type { Logger } from './logger';

export type SpanKindName = 'server' | 'client';
export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

/** One span. Attribute values and failure messages are never tokens or secrets. */
export interface TraceSpan {
  /** The W3C traceparent naming this span: what an outgoing call carries so its spans are this one's children. */
  readonly traceparent: string;
  set(key: string, value: string | number | boolean): void;
  /** Marks the span failed (status ERROR) with a message shown in the trace. */
  fail(message: string): void;
  end(): void;
}

export interface Spans {
  /**
   * Starts a span whose parent is the span named by `parent`, a W3C traceparent ('' or invalid =
   * the first span of a new trace). `startTime`: unix ms, default now. A span the sampler drops
   * costs little and still has a traceparent (flags 00), so downstream services drop it too.
   */
  start(name: string, kind: SpanKindName, parent: string, attributes: SpanAttributes, startTime?: number): TraceSpan;
}

/** What the composition root holds: the spans, and the flush at shutdown. */
export interface Tracing {
  readonly spans: Spans;
  /** Ends every span processor: queued spans are exported (bounded by `timeoutMs`), then the exporter closes. */
  shutdown(timeoutMs: number): Promise<void>;
}

export interface TracingSettings {
  /** The OTLP/HTTP traces URL. */
  readonly endpoint: string;
  /** Share of new traces sampled, 0 to 1. */
  readonly sampleRatio: number;
  readonly serviceName: string;
  readonly serviceVersion: string;
  readonly instanceId: string;
}

/** Where spans go when neither tracing.endpoint nor an OTEL_* variable names a place: a collector on this host. */
export const DEFAULT_TRACES_ENDPOINT = 'http://127.0.0.1:4318/v1/traces';

/**
 * The settings of `config.tracing`, or null when tracing is off. The endpoint, first found wins:
 * `tracing.endpoint` (IMA_TRACING_ENDPOINT beats the config files, as for every key), then
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces`, then
 * DEFAULT_TRACES_ENDPOINT. The service name: `tracing.serviceName`, then OTEL_SERVICE_NAME, then
 * `app.name`. (A value written in our configuration is explicit; the standard OTEL_* variables,
 * which an OpenTelemetry operator may inject, fill in what it leaves empty.)
 */
export function tracingSettings(
  config: Pick<Config, 'app' | 'tracing'>,
  env: Readonly<Record<string, string | undefined>>,
  identity: { readonly version: string; readonly instanceId: string },
): TracingSettings | null {
  const t = config.tracing;
  if (!t.enabled) return null;
  const nonEmpty = (v: string | undefined): string | undefined => (v !== undefined && v.trim() !== '' ? v.trim() : undefined);
  const base = nonEmpty(env['OTEL_EXPORTER_OTLP_ENDPOINT']);
  const endpoint = nonEmpty(t.endpoint) ?? nonEmpty(env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) ?? (base !== undefined ? `${base.replace(/\/+$/, '')}/v1/traces` : DEFAULT_TRACES_ENDPOINT);
  return {
    endpoint,
    sampleRatio: Number(t.sampleRatio),
    serviceName: nonEmpty(t.serviceName) ?? nonEmpty(env['OTEL_SERVICE_NAME']) ?? config.app.name,
    serviceVersion: identity.version,
    instanceId: identity.instanceId,
  };
}

// ----- attributes ---------------------------------------------------------------------------

/** Attribute names used by the spans (OpenTelemetry semantic conventions, `ima.*` for our own). */
export const ATTR = {
  rpcSystem: 'rpc.system',
  rpcService: 'rpc.service',
  rpcMethod: 'rpc.method',
  rpcGrpcStatusCode: 'rpc.grpc.status_code',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  clientAddress: 'client.address',
  userId: 'user.id',
  deviceId: 'device.id',
  platform: 'ima.platform',
  instanceId: 'ima.instance_id',
  forwarded: 'ima.forwarded',
  closeCode: 'ima.close_code',
  messageId: 'ima.message.id',
  messageType: 'ima.message.type',
  ackCode: 'ima.ack.code',
  queueMs: 'ima.queue_ms',
  room: 'ima.room',
  userCount: 'ima.user_count',
  delivered: 'ima.delivered',
  offlineUsers: 'ima.offline_users',
  kicked: 'ima.kicked',
  instances: 'ima.instances',
  connections: 'ima.connections',
} as const;

/** rpc.system / rpc.service / rpc.method of a gRPC call. */
export function rpcAttributes(service: string, method: string): Record<string, string> {
  return { [ATTR.rpcSystem]: 'grpc', [ATTR.rpcService]: service, [ATTR.rpcMethod]: method };
}

/** host and port of a `host:port` address as server.address / server.port. */
export function serverAttributes(address: string): Record<string, string | number> {
  const i = address.lastIndexOf(':');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port)) return { [ATTR.serverAddress]: address };
  return { [ATTR.serverAddress]: address.slice(0, i).replace(/^\[(.*)\]$/, '$1'), [ATTR.serverPort]: port };
}

/** gRPC codes a server counts as its own failure (the others are the caller's; semantic conventions for RPC). */
const SERVER_ERROR_CODES = new Set([2, 4, 12, 13, 14, 15]);

/**
 * Records the gRPC status of a call on its span: rpc.grpc.status_code, and status ERROR for any
 * failure of a client call, and for a server call only when the failure is the server's
 * (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS).
 */
export function recordGrpcStatus(span: TraceSpan, kind: SpanKindName, code: number, message: string): void {
  span.set(ATTR.rpcGrpcStatusCode, code);
  if (code !== 0 && (kind === 'client' || SERVER_ERROR_CODES.has(code))) span.fail(message);
}

// ----- W3C trace context ------------------------------------------------------------------------

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The parts of a W3C traceparent, or undefined when it is absent or invalid (version ff, zero ids, version 00 with extra fields). */
export function parseTraceContext(header: string): { traceId: string; spanId: string; sampled: boolean } | undefined {
  const m = TRACEPARENT_RE.exec(header.trim().toLowerCase());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === undefined || traceId === undefined || spanId === undefined || flags === undefined) return undefined;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

// ----- the SDK (loaded only when tracing is on) --------------------------------------------------

type Api = typeof OtelApi;

class OtelSpan implements TraceSpan {
  readonly traceparent: string;

  constructor(
    private readonly api: Api,
    private readonly span: OtelApi.Span,
  ) {
    const c = span.spanContext();
    this.traceparent = `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 1) === 1 ? '01' : '00'}`;
  }

  set(key: string, value: string | number | boolean): void {
    this.span.setAttribute(key, value);
  }

  fail(message: string): void {
    this.span.setStatus({ code: this.api.SpanStatusCode.ERROR, message });
  }

  end(): void {
    this.span.end();
  }
}

class OtelSpans implements Spans {
  constructor(
    private readonly api: Api,
    private readonly tracer: OtelApi.Tracer,
  ) {}

  start(name: string, kind: SpanKindName, parent: string, attributes: SpanAttributes, startTime?: number): TraceSpan {
    const api = this.api;
    const p = parent === '' ? undefined : parseTraceContext(parent);
    const ctx =
      p === undefined
        ? api.ROOT_CONTEXT
        : api.trace.setSpanContext(api.ROOT_CONTEXT, { traceId: p.traceId, spanId: p.spanId, traceFlags: p.sampled ? api.TraceFlags.SAMPLED : api.TraceFlags.NONE, isRemote: true });
    const options: OtelApi.SpanOptions = { kind: kind === 'server' ? api.SpanKind.SERVER : api.SpanKind.CLIENT, attributes };
    if (startTime !== undefined) options.startTime = startTime;
    return new OtelSpan(api, this.tracer.startSpan(name, options, ctx));
  }
}

/** Export failures (a collector down) are logged at most once a minute, with how many were not. */
const ERROR_LOG_EVERY_MS = 60_000;

/**
 * Loads the SDK and starts the provider. Spans are batched (up to 2048 queued, 512 per export,
 * every 2 s; beyond the queue they are dropped, never blocking a call) and posted as OTLP JSON.
 */
export async function startTracing(settings: TracingSettings, log: Logger): Promise<Tracing> {
  const [api, core, sdk, exporterPkg, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  let lastLogged = 0;
  let suppressed = 0;
  core.setGlobalErrorHandler((e) => {
    const now = Date.now();
    if (now - lastLogged < ERROR_LOG_EVERY_MS) {
      suppressed++;
      return;
    }
    log.warn({ endpoint: settings.endpoint, err: e instanceof Error ? e.message : String(e), suppressed }, 'tracing: spans not exported');
    lastLogged = now;
    suppressed = 0;
  });
  const exporter = new exporterPkg.OTLPTraceExporter({ url: settings.endpoint, timeoutMillis: 5_000 });
  const provider = new sdk.BasicTracerProvider({
    resource: resources.resourceFromAttributes({
      'service.name': settings.serviceName,
      'service.version': settings.serviceVersion,
      'service.instance.id': settings.instanceId,
    }),
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(settings.sampleRatio) }),
    // ids and names come from clients (device_id, message ids): bounded on the span
    spanLimits: { attributeValueLengthLimit: 256 },
    spanProcessors: [new sdk.BatchSpanProcessor(exporter, { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMillis: 2_000, exportTimeoutMillis: 5_000 })],
  });
  const tracer = provider.getTracer('ima-gateway', settings.serviceVersion);
  log.info({ endpoint: settings.endpoint, sampleRatio: settings.sampleRatio, serviceName: settings.serviceName }, 'tracing on: OTLP/HTTP exporter');
  return {
    spans: new OtelSpans(api, tracer),
    shutdown: async (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), timeoutMs);
      });
      const done = provider.shutdown().then(
        () => 'done' as const,
        (e: unknown) => {
          log.warn({ err: e instanceof Error ? e.message : String(e) }, 'tracing: shutdown failed');
          return 'done' as const;
        },
      );
      const outcome = await Promise.race([done, late]);
      clearTimeout(timer);
      if (outcome === 'late') log.warn({ timeoutMs }, 'tracing: spans not flushed in time at shutdown');
    },
  };
}

import type { UpstreamError } from '../gateway/ports';
import * as grpc from '@grpc/grpc-js';

/** Dubbo Triple identification sent with every outbound call (empty values are not sent). */
export interface TripleIdentity {
  readonly version: string;
  readonly group: string;
  readonly appName: string;
}

/** How an outbound call failed, as the use cases need to know it. */
export function classifyGrpcError(e: unknown): UpstreamError {
  const se = e as Partial<grpc.ServiceError>;
  const code = typeof se.code === 'number' ? se.code : grpc.status.UNKNOWN;
  const message = typeof se.details === 'string' && se.details !== '' ? se.details : grpc.status[code] ?? 'error';
  switch (code) {
    case grpc.status.UNAVAILABLE:
      return { kind: 'unavailable', message };
    case grpc.status.DEADLINE_EXCEEDED:
      return { kind: 'timeout', message };
    default:
      return { kind: 'failed', code, message };
  }
}

/** Metadata carrying the Triple headers (and any extra entries, e.g. traceparent). */
export function tripleMetadata(id: TripleIdentity, extra?: Readonly<Record<string, string>>): grpc.Metadata {
  const md = new grpc.Metadata();
  if (id.version !== '') md.set('tri-service-version', id.version);
  if (id.group !== '') md.set('tri-service-group', id.group);
  if (id.appName !== '') md.set('tri-consumer-appname', id.appName);
  if (extra !== undefined) for (const k in extra) md.set(k, extra[k] as string);
  return md;
}

type ClientCtor<C> = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ClientOptions) => C;

const CHANNEL_OPTIONS: grpc.ClientOptions = {
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 5_000,
};

/**
 * gRPC clients of one upstream service, one channel per provider address, chosen round-robin.
 * Providers whose channel is in TRANSIENT_FAILURE are skipped while others are usable, and a call
 * that fails with UNAVAILABLE is retried once on the next provider. `setAddresses` follows a
 * registry (Nacos) or stays static.
 */
export class UpstreamPool<C extends grpc.Client> {
  private clients: Array<{ address: string; client: C }> = [];
  private next = 0;

  constructor(
    readonly service: string,
    private readonly ctor: ClientCtor<C>,
    addresses: readonly string[],
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.setAddresses(addresses);
  }

  get size(): number {
    return this.clients.length;
  }

  addresses(): string[] {
    return this.clients.map((c) => c.address);
  }

  /** Replaces the provider set, keeping the channels of addresses that stay. */
  setAddresses(addresses: readonly string[]): void {
    const wanted = new Set(addresses);
    const kept = this.clients.filter((c) => wanted.has(c.address));
    for (const c of this.clients) if (!wanted.has(c.address)) c.client.close();
    const have = new Set(kept.map((c) => c.address));
    for (const a of wanted) if (!have.has(a)) kept.push({ address: a, client: new this.ctor(a, this.credentials, CHANNEL_OPTIONS) });
    this.clients = kept;
  }

  /** The next client to call, preferring channels that are not failing; undefined when none exists. */
  pick(exclude?: C): C | undefined {
    const n = this.clients.length;
    if (n === 0) return undefined;
    let fallback: C | undefined;
    for (let i = 0; i < n; i++) {
      const entry = this.clients[(this.next + i) % n];
      if (entry === undefined || entry.client === exclude) continue;
      const state = entry.client.getChannel().getConnectivityState(false);
      if (state !== grpc.connectivityState.TRANSIENT_FAILURE) {
        this.next = (this.next + i + 1) % n;
        return entry.client;
      }
      fallback ??= entry.client;
    }
    this.next = (this.next + 1) % n;
    return fallback;
  }

  /**
   * Runs `call` on a provider; on UNAVAILABLE tries one other provider (failover). Resolves with
   * the response or rejects with the grpc error; 'no provider' is an UNAVAILABLE error.
   */
  async invoke<R>(call: (client: C) => Promise<R>): Promise<R> {
    const first = this.pick();
    if (first === undefined) throw noProvider(this.service);
    try {
      return await call(first);
    } catch (e) {
      if ((e as Partial<grpc.ServiceError>).code !== grpc.status.UNAVAILABLE || this.clients.length < 2) throw e;
      const second = this.pick(first);
      if (second === undefined) throw e;
      return call(second);
    }
  }

  /**
   * Reachability for readiness: 'reachable' when a provider's channel is READY, 'unreachable' when
   * every channel is in TRANSIENT_FAILURE, 'connecting' otherwise (idle channels are asked to
   * connect, so a later probe tells), 'none' without providers.
   */
  probe(): 'reachable' | 'unreachable' | 'connecting' | 'none' {
    if (this.clients.length === 0) return 'none';
    let failing = 0;
    for (const { client } of this.clients) {
      const state = client.getChannel().getConnectivityState(true);
      if (state === grpc.connectivityState.READY) return 'reachable';
      if (state === grpc.connectivityState.TRANSIENT_FAILURE) failing++;
    }
    return failing === this.clients.length ? 'unreachable' : 'connecting';
  }

  close(): void {
    for (const c of this.clients) c.client.close();
    this.clients = [];
  }
}

function noProvider(service: string): grpc.ServiceError {
  const e = new Error(`no provider of ${service}`) as grpc.ServiceError;
  e.code = grpc.status.UNAVAILABLE;
  e.details = `no provider of ${service}`;
  e.metadata = new grpc.Metadata();
  return e;
}

/** Promise form of a unary call with a deadline and metadata. */
export function unary<Req, Res>(
  fn: (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res?: Res) => void) => unknown,
  req: Req,
  md: grpc.Metadata,
  timeoutMs: number,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    fn(req, md, { deadline: Date.now() + timeoutMs }, (e, res) => {
      if (e) reject(e);
      else if (res === undefined) reject(Object.assign(new Error('empty response'), { code: grpc.status.INTERNAL }));
      else resolve(res);
    });
  });
}

export function parseAddressList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export type { UpstreamError } from '../gateway/ports';

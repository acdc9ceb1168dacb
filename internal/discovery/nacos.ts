import { NacosNamingClient } from 'nacos';
import type { Host } from 'nacos';
import type { Logger } from '../observability/logger';
import type { DependencyState } from '../observability/readiness';
import { Backoff } from '../../pkg/backoff';
import { callableAddresses, providerMetadata, providerServiceName } from './dubbo';
import type { Registry, SelfRegistration, ServiceRef } from './types';

export interface NacosSettings {
  /** `host:port` of the Nacos server (comma-separated for several). */
  readonly address: string;
  readonly namespace: string;
  /** Nacos group of every service we publish or read (Dubbo's default: DEFAULT_GROUP). */
  readonly group: string;
  readonly username: string;
  readonly password: string;
  /** Bounded wait for deregistration at shutdown. */
  readonly deregisterTimeoutMs: number;
}

/** Nacos's default cluster name: Dubbo providers register into it. */
const CLUSTER = 'DEFAULT';

/**
 * The Nacos registry, over the npm `nacos` client (Nacos's v1 open API, which Nacos 2.x and 3.x
 * keep for clients).
 *
 * - Publishing: our IMAGatewayService as a Dubbo interface-level provider
 *   (`providers:im.gateway.v1.IMAGatewayService:<version>:<group>`), ephemeral. The client sends a
 *   heartbeat carrying the full instance every few seconds, and Nacos re-creates an instance it
 *   lost (a Nacos restart) from that heartbeat. A failed first registration is retried with
 *   backoff in the background; readiness says 'down' meanwhile.
 * - Resolving: each watched service is subscribed; Nacos pushes changes over UDP and the client
 *   also polls every `cacheMillis` (10 s). Listeners receive the callable Triple addresses only
 *   (see `callableAddresses`), and only when that set changed.
 */
export class NacosRegistry implements Registry {
  readonly kind = 'nacos';
  private readonly client: NacosNamingClient;
  private readyPromise: Promise<void> | undefined;
  private self: { serviceName: string; ip: string; port: number; metadata: Record<string, string> } | undefined;
  private state: DependencyState = 'not configured';
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff({ initialMs: 500, maxMs: 10_000, jitter: 0.2 });
  private error = '';
  private closed = false;

  constructor(
    private readonly settings: NacosSettings,
    private readonly log: Logger,
  ) {
    const options: ConstructorParameters<typeof NacosNamingClient>[0] = {
      logger: nacosLogger(log) as unknown as typeof console,
      serverList: settings.address,
      namespace: settings.namespace,
    };
    if (settings.username !== '') {
      options.username = settings.username;
      options.password = settings.password;
    }
    this.client = new NacosNamingClient(options);
    // the client's subscription poller reports failures as 'error' events; with a listener of ours
    // its default handler stays quiet (it would print to stderr)
    const reactor = (this.client as unknown as { _hostReactor?: { on(e: 'error', f: (err: Error) => void): void } })._hostReactor;
    reactor?.on('error', (err) => this.noteError('nacos subscription update failed', err));
  }

  get lastError(): string {
    return this.error;
  }

  private ready(): Promise<void> {
    this.readyPromise ??= this.client.ready();
    return this.readyPromise;
  }

  /**
   * Registers this instance. Resolves after the first attempt, successful or not; a failure is
   * retried in the background until it succeeds or `deregister`/`close` is called.
   */
  async register(self: SelfRegistration): Promise<void> {
    this.self = {
      serviceName: providerServiceName(self.service),
      ip: self.host,
      port: self.port,
      metadata: providerMetadata(self, Date.now()),
    };
    this.state = 'connecting';
    await this.attemptRegister();
  }

  private async attemptRegister(): Promise<void> {
    this.retryTimer = undefined;
    const self = this.self;
    if (self === undefined || this.closed) return;
    try {
      await this.ready();
      await this.client.registerInstance(
        self.serviceName,
        // the client's typings omit metadata, which it does send
        { ip: self.ip, port: self.port, weight: 1, healthy: true, enabled: true, ephemeral: true, clusterName: CLUSTER, metadata: self.metadata } as unknown as Parameters<NacosNamingClient["registerInstance"]>[1],
        this.settings.group,
      );
      if (this.self !== self) return; // deregistered meanwhile
      this.state = 'up';
      this.error = '';
      this.backoff.reset();
      this.log.info({ service: self.serviceName, group: this.settings.group, namespace: this.settings.namespace, address: `${self.ip}:${self.port}` }, 'registered in nacos');
    } catch (e) {
      if (this.self !== self) return;
      this.state = 'down';
      const delay = this.backoff.next();
      this.noteError('nacos registration failed', e, { retryInMs: delay });
      this.retryTimer = setTimeout(() => void this.attemptRegister(), delay);
      this.retryTimer.unref();
    }
  }

  async deregister(): Promise<void> {
    const self = this.self;
    this.self = undefined;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (self === undefined) return;
    const wasUp = this.state === 'up';
    this.state = 'not configured';
    if (!wasUp) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.settings.deregisterTimeoutMs);
    });
    try {
      const outcome = await Promise.race([
        this.client.deregisterInstance(self.serviceName, { ip: self.ip, port: self.port, ephemeral: true, clusterName: CLUSTER } as unknown as Parameters<NacosNamingClient["deregisterInstance"]>[1], this.settings.group),
        timeout,
      ]);
      if (outcome === 'timeout') this.log.warn({ service: self.serviceName, timeoutMs: this.settings.deregisterTimeoutMs }, 'nacos deregistration timed out; the instance expires with its heartbeats');
      else this.log.info({ service: self.serviceName }, 'deregistered from nacos');
    } catch (e) {
      this.noteError('nacos deregistration failed; the instance expires with its heartbeats', e);
    } finally {
      clearTimeout(timer);
    }
  }

  watch(service: ServiceRef, onChange: (addresses: readonly string[]) => void): () => void {
    const serviceName = providerServiceName(service);
    let last: string | undefined;
    const listener = (hosts: Host[]): void => {
      const addresses = callableAddresses(hosts);
      const key = addresses.join(',');
      if (key === last) return;
      last = key;
      this.log.info({ service: serviceName, providers: addresses }, 'providers changed');
      onChange(addresses);
    };
    const info = { serviceName, groupName: this.settings.group, clusters: CLUSTER };
    this.ready().then(
      () => {
        if (!this.closed) this.client.subscribe(info, listener);
      },
      (e: unknown) => this.noteError('nacos client failed to start', e),
    );
    return () => this.client.unSubscribe(info, listener);
  }

  registrationState(): DependencyState {
    return this.state;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.deregister();
    this.closed = true;
    await (this.client as unknown as { close(): Promise<void> }).close();
  }

  private noteError(msg: string, e: unknown, extra?: Record<string, unknown>): void {
    this.error = e instanceof Error ? e.message : String(e);
    this.log.warn({ ...extra, err: this.error }, msg);
  }
}

/** The console-like logger the npm client expects, onto ours (its info lines are chatty: debug). */
function nacosLogger(log: Logger): Record<'debug' | 'info' | 'warn' | 'error' | 'log', (...args: unknown[]) => void> {
  const at =
    (level: 'debug' | 'warn') =>
    (...args: unknown[]): void => {
      const [first, ...rest] = args;
      if (first instanceof Error) log[level]({ component: 'nacos', err: first.message }, 'nacos client error');
      else log[level]({ component: 'nacos' }, String(first), ...rest);
    };
  return { debug: at('debug'), info: at('debug'), log: at('debug'), warn: at('warn'), error: at('warn') };
}

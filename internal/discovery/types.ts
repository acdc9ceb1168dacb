import type { DependencyState } from '../observability/readiness';

/** A Dubbo service as providers register it: interface name (= proto service name), version, group. */
export interface ServiceRef {
  readonly interfaceName: string;
  /** Dubbo service version; '' = none. */
  readonly version: string;
  /** Dubbo service group; '' = none. */
  readonly group: string;
}

/** What this gateway publishes about its own IMAGatewayService. */
export interface SelfRegistration {
  readonly service: ServiceRef;
  /** Address callers use (the advertised host, never 0.0.0.0) and the gRPC port. */
  readonly host: string;
  readonly port: number;
  readonly application: string;
  readonly methods: readonly string[];
  readonly instanceId: string;
  /** Gateway release (package version), published as `ima.version`. */
  readonly gatewayVersion: string;
}

/**
 * Where upstream providers come from and where this instance publishes itself.
 *
 * `watch` delivers the full list of callable `host:port` addresses of a service: once soon after
 * the call (possibly empty) and again after every change. `register` publishes this instance and
 * keeps it published (heartbeats, re-registration after a registry restart) until `deregister`.
 */
export interface Registry {
  readonly kind: 'static' | 'nacos';
  register(self: SelfRegistration): Promise<void>;
  /** Removes this instance; resolves when the registry confirmed it (or after a bounded wait). */
  deregister(): Promise<void>;
  watch(service: ServiceRef, onChange: (addresses: readonly string[]) => void): () => void;
  /** For readiness: 'up' when registered, 'down' when registration is failing, 'connecting' while it is being attempted, 'not configured' for the static registry. */
  registrationState(): DependencyState;
  /** The last registry error, '' when none. */
  readonly lastError: string;
  close(): Promise<void>;
}

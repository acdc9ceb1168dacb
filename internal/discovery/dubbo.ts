import type { SelfRegistration, ServiceRef } from './types';

/**
 * How Dubbo 3 names and describes an interface-level provider in Nacos, so that an unmodified
 * Dubbo consumer finds us and we find Dubbo providers.
 */

/** Dubbo's protocol version string it sends as `dubbo` (2.0.2 since Dubbo 2.7). */
export const DUBBO_PROTOCOL_VERSION = '2.0.2';
/** The Dubbo release we claim to be compatible with, published as `release`. */
export const DUBBO_RELEASE = '3.3.5';

/** `providers:<interface>:<version>:<group>` with empty segments kept (Dubbo's interface-level service name). */
export function providerServiceName(s: ServiceRef): string {
  return `providers:${s.interfaceName}:${s.version}:${s.group}`;
}

/**
 * The Nacos instance metadata of our IMAGatewayService provider: what a Dubbo provider of the same
 * interface publishes (protocol tri, path = interface, side/category, methods, release, timestamp;
 * version/group only when set), plus our own `ima.*` keys for operators.
 */
export function providerMetadata(self: SelfRegistration, now: number): Record<string, string> {
  const s = self.service;
  const md: Record<string, string> = {
    protocol: 'tri',
    path: s.interfaceName,
    interface: s.interfaceName,
    side: 'provider',
    category: 'providers',
    application: self.application,
    methods: javaMethodNames(self.methods),
    release: DUBBO_RELEASE,
    dubbo: DUBBO_PROTOCOL_VERSION,
    timestamp: String(now),
    anyhost: 'false',
    dynamic: 'true',
    deprecated: 'false',
    generic: 'false',
    'service-name-mapping': 'true',
    'ima.instanceId': self.instanceId,
    'ima.version': self.gatewayVersion,
  };
  if (s.version !== '') md['version'] = s.version;
  if (s.group !== '') md['group'] = s.group;
  return md;
}

/**
 * The `methods` value a Java provider of the same IDL publishes: the stub's Java method names
 * (lowerCamel) and their `...Async` variants, sorted.
 */
export function javaMethodNames(protoMethods: readonly string[]): string {
  const names = protoMethods.flatMap((m) => {
    const java = m.charAt(0).toLowerCase() + m.slice(1);
    return [java, `${java}Async`];
  });
  return names.sort().join(',');
}

/** A registry instance as Nacos lists it (the fields we read). */
export interface ListedInstance {
  readonly ip: string;
  readonly port: number;
  readonly healthy?: boolean;
  readonly enabled?: boolean;
  readonly weight?: number;
  readonly metadata?: Readonly<Record<string, string>> | null;
}

/**
 * Addresses a gRPC client can call, as Dubbo's consumer would pick them: healthy, enabled, weight
 * above zero, not a consumer entry, and speaking Triple (`protocol=tri`, or `grpc`; an instance
 * without a protocol key is taken as Triple). Sorted and deduplicated, so equal sets compare equal.
 */
export function callableAddresses(hosts: readonly ListedInstance[]): string[] {
  const out = new Set<string>();
  for (const h of hosts) {
    if (h.healthy === false || h.enabled === false) continue;
    if (h.weight !== undefined && !(h.weight > 0)) continue;
    const md = h.metadata ?? {};
    const protocol = md['protocol'];
    if (protocol !== undefined && protocol !== 'tri' && protocol !== 'grpc') continue;
    const side = md['side'];
    if (side !== undefined && side !== 'provider') continue;
    if (typeof h.ip !== 'string' || h.ip === '' || !Number.isInteger(h.port) || h.port <= 0 || h.port > 65535) continue;
    out.add(h.ip.includes(':') ? `[${h.ip}]:${h.port}` : `${h.ip}:${h.port}`);
  }
  return [...out].sort();
}

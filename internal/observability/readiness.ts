/** One dependency's state as /readyz reports it. */
export type DependencyState = 'up' | 'down' | 'connecting' | 'not configured';

export interface ReadinessInputs {
  readonly websocketListening: boolean;
  readonly grpcListening: boolean;
  readonly draining: boolean;
  readonly redis: DependencyState;
  /** This instance's registration in Nacos; 'not configured' without Nacos (or publishing off). */
  readonly registry: DependencyState;
  /** Upstream services by name (muc, business, pushStream): their probe state. */
  readonly upstreams: Readonly<Record<string, DependencyState>>;
}

export interface Readiness {
  readonly ready: boolean;
  /** ready | draining | degraded (a dependency is down) | starting (listeners not open yet) */
  readonly status: 'ready' | 'draining' | 'degraded' | 'starting';
  readonly checks: ReadinessInputs;
}

/**
 * Ready = listening, registered (with Nacos), not draining, and no configured dependency down. A
 * dependency still connecting does not make the instance unready (a fresh channel connects on
 * first use); one that is down does (503), with every check in the body so an operator sees
 * which. Registration counts like listening: until Nacos accepted this instance, no Dubbo consumer
 * can find it ('starting' while the first attempt runs, 'degraded' while it fails).
 */
export function readiness(i: ReadinessInputs): Readiness {
  if (i.draining) return { ready: false, status: 'draining', checks: i };
  if (!i.websocketListening || !i.grpcListening || i.registry === 'connecting') return { ready: false, status: 'starting', checks: i };
  const down = i.redis === 'down' || i.registry === 'down' || Object.values(i.upstreams).some((s) => s === 'down');
  return down ? { ready: false, status: 'degraded', checks: i } : { ready: true, status: 'ready', checks: i };
}

/** Maps an UpstreamPool probe to a dependency state. */
export function upstreamState(probe: 'reachable' | 'unreachable' | 'connecting' | 'none'): DependencyState {
  switch (probe) {
    case 'reachable':
      return 'up';
    case 'unreachable':
    case 'none':
      return 'down';
    case 'connecting':
      return 'connecting';
  }
}

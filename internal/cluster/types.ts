/** A live gateway instance as the cluster knows it (from its lease). */
export interface InstanceInfo {
  readonly instanceId: string;
  /** host:port of its gRPC server (IMAGatewayService), reachable by the other instances. */
  readonly address: string;
}

/** Which instances are alive now. */
export interface InstanceDirectory {
  /** Instances whose lease has not expired, this one included. */
  liveInstances(): Promise<InstanceInfo[]>;
}

/**
 * Headers of a call forwarded from one instance to another: the receiver executes it on its own
 * connections only, never forwards it again (no loops).
 */
export const FORWARDED_HEADER = 'x-ima-forwarded';
/**
 * On a forwarded push: the seqs the calling instance allocated (URI-encoded JSON, stream -> seq),
 * so the push is numbered once for the cluster.
 */
export const SEQS_HEADER = 'x-ima-seqs';
/** Users per forwarded numbered push (keeps the seqs header small). */
export const NUMBERED_CHUNK = 100;
/** On a forwarded KickUser: the close code to use (4001 for a policy victim, default 4002). */
export const KICK_CODE_HEADER = 'x-ima-kick-code';
/** On a forwarded KickUser: kick only the connection carrying this epoch. */
export const KICK_EPOCH_HEADER = 'x-ima-kick-epoch';

/** What an instance publishes in its lease. */
export interface LeaseInfo {
  /** host:port of its gRPC server, reachable by the other instances. */
  readonly address: string;
  readonly connections: number;
  readonly users: number;
  /** unix ms */
  readonly startedAt: number;
  readonly version: string;
}

/** A live instance: its lease content and when the lease expires (unix ms, Redis clock). */
export interface InstanceLease extends LeaseInfo, InstanceInfo {
  readonly updatedAt: number;
  readonly expiresAt: number;
}

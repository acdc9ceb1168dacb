import type { Platform } from '../protocol/codes';

/**
 * A connection as the registry sees it: who it is and how to write to it. Implemented by the
 * gateway's session (backed by a WebSocket) and by fakes in unit tests.
 */
export interface RegisteredConnection {
  readonly userId: string;
  readonly deviceId: string;
  readonly platform: Platform;
  /** Identifies this connection of (userId, deviceId) across the cluster; a newer login has a larger epoch. */
  readonly epoch: number;
  readonly connectedAt: number;
  readonly clientIp: string;
  /**
   * Writes one frame. true = written (possibly buffered under the limit); false = not written:
   * the connection is closed, or it was over its send-buffer limit and is now being closed (4005).
   */
  send(frame: string | Uint8Array): boolean;
  /** Sends a close frame with code and reason; idempotent; no-op once closed. */
  close(code: number, reason: string): void;
}

/** Optional filters of a push (SPEC.md section 3: empty = all). */
export interface DeliveryFilter {
  readonly deviceIds?: ReadonlySet<string> | undefined;
  readonly platforms?: ReadonlySet<string> | undefined;
  readonly excludeDeviceIds?: ReadonlySet<string> | undefined;
}

export function matches(c: RegisteredConnection, f: DeliveryFilter | undefined): boolean {
  if (f === undefined) return true;
  if (f.deviceIds !== undefined && f.deviceIds.size > 0 && !f.deviceIds.has(c.deviceId)) return false;
  if (f.platforms !== undefined && f.platforms.size > 0 && !f.platforms.has(c.platform)) return false;
  if (f.excludeDeviceIds !== undefined && f.excludeDeviceIds.has(c.deviceId)) return false;
  return true;
}

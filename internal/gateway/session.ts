import type { RegisteredConnection } from '../connection/types';
import type { Platform } from '../protocol/codes';
import type { TransportSocket } from './ports';
import { TokenBucket } from '../../pkg/token-bucket';
import { CLOSE_REASON, CloseCode } from '../protocol/codes';

/** Why a connection is in a room: its user joined it (`member`) and/or it subscribed itself (`client`). */
export interface RoomSubscription {
  member: boolean;
  client: boolean;
}

const NO_ROOMS: ReadonlyMap<string, RoomSubscription> = new Map();

/** A client message waiting in its connection's ordered forward queue. */
export interface QueuedMessage {
  readonly id: string;
  readonly type: string;
  readonly payloadJson: string;
  readonly metadata: Readonly<Record<string, string>> | undefined;
  readonly receivedAt: number;
  readonly dedupeKey: string | undefined;
  /** Set for a subscription asked of the business service: the room to subscribe on code 0. */
  readonly subscribeRoom: string | undefined;
  /** The recovery asked with that subscription. */
  readonly subscribeRecover?: { readonly seq: number; readonly epoch: string } | undefined;
}

export interface SessionInit {
  readonly userId: string;
  readonly deviceId: string;
  readonly platform: Platform;
  readonly epoch: number;
  readonly connectedAt: number;
  readonly clientIp: string;
  readonly traceId: string;
  readonly expireAt: number;
  readonly ratePerSec: number;
  readonly burst: number;
}

/**
 * One authenticated connection: identity (from the verified token and the connect request only),
 * its socket once open, its rate limiter and its ordered forward queue. Before the socket opens
 * the session is "pending": a policy kick then only marks it `revoked`, and it is kicked at open.
 */
export class Session implements RegisteredConnection {
  readonly userId: string;
  readonly deviceId: string;
  readonly platform: Platform;
  readonly epoch: number;
  readonly connectedAt: number;
  readonly clientIp: string;
  readonly traceId: string;
  /** With tracing on, the traceparent of the connection's upgrade span: the parent of its forwards and refreshes ('' = off). */
  spanParent = '';
  /** Token expiry (unix ms, 0 = none); moved by an in-band refresh. */
  expireAt: number;
  /** When the `expiring` notice is due (unix ms, 0 = none or sent). */
  noticeAt = 0;
  socket: TransportSocket | null = null;
  /** Set when the session was kicked before its socket opened. */
  revoked: { readonly code: number; readonly reason: string } | null = null;
  /** Set once the session is over (closed, kicked, aborted): no more forwarding or registry work. */
  ended = false;
  readonly bucket: TokenBucket;
  /** Rate-limited frames in the current 10 s window, and when that window started. */
  violations = 0;
  violationWindowStart = 0;
  readonly queue: QueuedMessage[] = [];
  busy = false;
  /** Kicked by the policy or KickUser: its terminal status event is `kicked`. */
  kicked = false;
  /** Why the gateway closed it, for the status event and metrics ('' = the client closed). */
  closeReason = '';
  /**
   * The rooms this connection is subscribed to and why: `member` (its user joined the room,
   * JoinRoom) and/or `client` (its own subscribe frame). Filled before the socket opens too; the
   * socket is subscribed at open (RoomHub.attach). Read through `rooms`, written through
   * `roomsForWrite()`: most connections are in no room, and an empty Map costs about 250 bytes.
   */
  private roomSubs: Map<string, RoomSubscription> | null = null;
  get rooms(): ReadonlyMap<string, RoomSubscription> {
    return this.roomSubs ?? NO_ROOMS;
  }
  roomsForWrite(): Map<string, RoomSubscription> {
    return (this.roomSubs ??= new Map());
  }
  clearRooms(): void {
    this.roomSubs = null;
  }
  /** How many of `rooms` the client subscribed itself (the `rooms.maxPerConnection` limit). */
  clientRooms = 0;
  /** The recovery asked on the upgrade (`recover_seq` / `recover_epoch`), null when none. */
  recover: { readonly seq: number; readonly epoch: string } | null = null;
  /**
   * Frames written while the login's recovery is being read: sent after the auth frame and the
   * replayed pushes (null = not holding, frames go straight out).
   */
  held: Array<string | Uint8Array> | null = null;
  /** Bytes in `held`, and the most it may take (the send-buffer limit): beyond it the connection is a slow consumer (4005). */
  private heldBytes = 0;
  heldLimit = Infinity;

  constructor(init: SessionInit) {
    this.userId = init.userId;
    this.deviceId = init.deviceId;
    this.platform = init.platform;
    this.epoch = init.epoch;
    this.connectedAt = init.connectedAt;
    this.clientIp = init.clientIp;
    this.traceId = init.traceId;
    this.expireAt = init.expireAt;
    this.bucket = new TokenBucket(init.ratePerSec, init.burst);
  }

  send(frame: string | Uint8Array): boolean {
    if (this.held !== null) {
      if (this.socket === null || this.ended) return false;
      this.heldBytes += typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
      if (this.heldBytes > this.heldLimit) {
        // as the transport does for a send buffer over its limit: not written, closed as a slow consumer
        this.held = null;
        this.socket.end(CloseCode.SLOW_CONSUMER, CLOSE_REASON[CloseCode.SLOW_CONSUMER]);
        return false;
      }
      this.held.push(frame);
      return true;
    }
    return this.socket !== null && this.socket.send(frame);
  }

  close(code: number, reason: string): void {
    if (this.socket === null) {
      this.revoked ??= { code, reason };
      return;
    }
    this.socket.end(code, reason);
  }
}

/** A connect request that was refused: after the upgrade it gets `auth` ok:false and a close. */
export class Rejection {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {}
}

export type Attempt = Session | Rejection;

/**
 * The ports of the use cases: what the gateway and the push service need from the world, owned
 * here and implemented by the adapters (rpc/ for the business client and the push API's
 * transports, transport/ws/ for sockets, cluster/ for other instances). Nothing here imports an
 * adapter.
 */
import * as grpc from '@grpc/grpc-js';
import type { BroadcastRequestOutput } from '../../api/gen/im/gateway/v1/BroadcastRequest';
import type { BroadcastResponse } from '../../api/gen/im/gateway/v1/BroadcastResponse';
import type { ClientMessage } from '../../api/gen/im/gateway/v1/ClientMessage';
import type { ConnectionStatus } from '../../api/gen/im/gateway/v1/ConnectionStatus';
import type { ConnectionStatusRequestOutput } from '../../api/gen/im/gateway/v1/ConnectionStatusRequest';
import type { ConnectionStatusResponse } from '../../api/gen/im/gateway/v1/ConnectionStatusResponse';
import type { HandleMessageResponseOutput } from '../../api/gen/im/gateway/v1/HandleMessageResponse';
import type { KickUserRequestOutput } from '../../api/gen/im/gateway/v1/KickUserRequest';
import type { KickUserResponse } from '../../api/gen/im/gateway/v1/KickUserResponse';
import type { PushRequestOutput } from '../../api/gen/im/gateway/v1/PushRequest';
import type { PushResponse } from '../../api/gen/im/gateway/v1/PushResponse';
import type { RoomMembershipRequestOutput } from '../../api/gen/im/gateway/v1/RoomMembershipRequest';
import type { RoomMembershipResponse } from '../../api/gen/im/gateway/v1/RoomMembershipResponse';
import type { RoomPushRequestOutput } from '../../api/gen/im/gateway/v1/RoomPushRequest';
import type { RoomPushResponse } from '../../api/gen/im/gateway/v1/RoomPushResponse';
import type { RoomStatusRequestOutput } from '../../api/gen/im/gateway/v1/RoomStatusRequest';
import type { RoomStatusResponse } from '../../api/gen/im/gateway/v1/RoomStatusResponse';
import type { Result } from '../../pkg/result';

// ----- the push API (served by rpc/: gRPC and HTTP/JSON) --------------------------------------

/** An API failure: a gRPC status code and a message safe to show to the caller. */
export interface ApiError {
  readonly code: grpc.status;
  readonly message: string;
}

export function invalidArgument(field: string, problem: string): ApiError {
  return { code: grpc.status.INVALID_ARGUMENT, message: `${field}: ${problem}` };
}

/** What a handler knows of a call, whatever transport carried it (gRPC metadata or HTTP headers). */
export interface CallContext {
  /** Lowercased header / metadata names; the first value of each. */
  readonly headers: Readonly<Record<string, string>>;
  /** The call's deadline as unix ms (Infinity = none). */
  readonly deadline: number;
  /**
   * Seqs already allocated for this push by the instance the backend called (stream -> seq, see
   * recovery/): the receiving instance delivers with them instead of numbering again.
   */
  readonly numbered?: ReadonlyMap<string, number>;
  /** Makes the numbering idempotent (the pub/sub ingress: every instance gets the same message). */
  readonly dedupeKey?: string;
}

/**
 * IMAGatewayService, transport-neutral: the gRPC server and the HTTP/JSON form both call these.
 * Requests arrive decoded with defaults filled (proto-loader `defaults: true`).
 */
export interface GatewayApi {
  PushToUser(req: PushRequestOutput, ctx: CallContext): Promise<Result<PushResponse, ApiError>>;
  PushToUsers(req: PushRequestOutput, ctx: CallContext): Promise<Result<PushResponse, ApiError>>;
  Broadcast(req: BroadcastRequestOutput, ctx: CallContext): Promise<Result<BroadcastResponse, ApiError>>;
  KickUser(req: KickUserRequestOutput, ctx: CallContext): Promise<Result<KickUserResponse, ApiError>>;
  GetConnectionStatus(req: ConnectionStatusRequestOutput, ctx: CallContext): Promise<Result<ConnectionStatusResponse, ApiError>>;
  JoinRoom(req: RoomMembershipRequestOutput, ctx: CallContext): Promise<Result<RoomMembershipResponse, ApiError>>;
  LeaveRoom(req: RoomMembershipRequestOutput, ctx: CallContext): Promise<Result<RoomMembershipResponse, ApiError>>;
  PushToRoom(req: RoomPushRequestOutput, ctx: CallContext): Promise<Result<RoomPushResponse, ApiError>>;
  GetRoomStatus(req: RoomStatusRequestOutput, ctx: CallContext): Promise<Result<RoomStatusResponse, ApiError>>;
}

export type GatewayMethod = keyof GatewayApi;
export const GATEWAY_METHODS: readonly GatewayMethod[] = [
  'PushToUser',
  'PushToUsers',
  'Broadcast',
  'KickUser',
  'GetConnectionStatus',
  'JoinRoom',
  'LeaveRoom',
  'PushToRoom',
  'GetRoomStatus',
];

// ----- upstream services (called through rpc/) -------------------------------------------------

/** Why an upstream call failed (`unconfigured`: no such service is configured, no call was made). */
export type UpstreamError =
  | { readonly kind: 'unconfigured'; readonly message: string }
  | { readonly kind: 'unavailable'; readonly message: string }
  | { readonly kind: 'timeout'; readonly message: string }
  | { readonly kind: 'failed'; readonly code: number; readonly message: string };

/** The gateway's view of BusinessMessageService. Never rejects: failures are values. */
export interface BusinessClient {
  /** `traceparent` is sent as gRPC metadata (W3C trace context). */
  handleMessage(msg: ClientMessage, traceparent: string): Promise<Result<HandleMessageResponseOutput, UpstreamError>>;
  onConnectionStatus(status: ConnectionStatus): Promise<Result<void, UpstreamError>>;
  close(): Promise<void>;
}

/** Where connect / disconnect / kick events go (BusinessMessageService.OnConnectionStatus). */
export interface StatusEventSink {
  publish(event: ConnectionStatus): void;
}

// ----- sockets (served by transport/ws/) --------------------------------------------------------

/** What the transport copied from an upgrade request before any async work. */
export interface UpgradeInfo {
  readonly token: string;
  readonly deviceId: string;
  readonly platform: string;
  readonly clientIp: string;
  /** W3C trace context header of the upgrade request, '' when absent. */
  readonly traceparent: string;
  readonly userAgent: string;
  /** `recover_seq` / `recover_epoch` of the upgrade URL ('' when absent). */
  readonly recoverSeq: string;
  readonly recoverEpoch: string;
}

/** A WebSocket as the use cases see it: frames out, close. Valid after open; inert after close. */
export interface TransportSocket {
  /**
   * Writes a text frame. false = not written: the socket is closed, or its send buffer went over
   * the limit and it is now being closed with the slow-consumer code.
   */
  send(frame: string | Uint8Array): boolean;
  /** Close frame with code and reason; idempotent. */
  end(code: number, reason: string): void;
  readonly isOpen: boolean;
  /** Runs `fn` with the socket corked, so its sends leave in one syscall. */
  cork(fn: () => void): void;
  /** Subscribes the socket to a topic of the transport's native fan-out (no-op once closed). */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

/** The transport's native fan-out (uWebSockets.js topics): one call writes to every subscriber. */
export interface TopicPublisher {
  /** Writes the frame to every socket subscribed to `topic`; the sockets written. */
  publish(topic: string, frame: Uint8Array): number;
}

/**
 * The use-case side of the transport. S is whatever the handler decided for one connect request
 * (a session, or a rejection to send after the upgrade).
 */
export interface WsHandler<S> {
  /** Called once per upgrade request after the transport's own checks. Must not reject. */
  upgrade(info: UpgradeInfo): Promise<S>;
  /** The client went away before the upgrade completed: release what `upgrade` reserved. */
  aborted(session: S): void;
  open(session: S, socket: TransportSocket): void;
  /** `data` is valid only during the call (uWS neuters it afterwards). */
  message(session: S, data: ArrayBuffer, isBinary: boolean): void;
  /** The socket is gone (any reason); no send is possible any more. */
  close(session: S, code: number): void;
}


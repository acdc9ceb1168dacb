/**
 * Tracing decorators of the push API and the business client (wired only with `tracing.enabled`).
 * Context travels as the `traceparent` the calls already carry: a decorator starts its span under
 * the incoming traceparent and hands the next layer its own.
 */
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
import { FORWARDED_HEADER } from '../cluster/types';
import type { BusinessClient, UpstreamError } from '../gateway/ports';
import type { SpanAttributes, Spans, TraceSpan } from '../observability/tracing';
import { ATTR, recordGrpcStatus, rpcAttributes } from '../observability/tracing';
import type { ApiError, CallContext, GatewayApi, GatewayMethod } from './api';
import { GATEWAY_SERVICE } from './api';

const BUSINESS_SERVICE = 'im.gateway.v1.BusinessMessageService';

/** gRPC status codes of UpstreamError kinds without one of their own. */
const DEADLINE_EXCEEDED = 4;
const UNAVAILABLE = 14;
const INTERNAL = 13;

/**
 * The push API with a server span per call (`im.gateway.v1.IMAGatewayService/<Method>`), child of
 * the caller's `traceparent` (gRPC metadata or HTTP header; none = a new trace). The call below
 * sees the span's traceparent in place of the caller's, so the cluster's hops to other instances
 * (their client spans) are its children. Wraps the cluster decorator (or the local API), so a
 * receiving instance records its own server span, marked ima.forwarded.
 */
export class TracedApi implements GatewayApi {
  constructor(
    private readonly inner: GatewayApi,
    private readonly spans: Spans,
  ) {}

  PushToUser(req: PushRequestOutput, ctx: CallContext): Promise<Result<PushResponse, ApiError>> {
    return this.traced('PushToUser', ctx, { [ATTR.userId]: req.userId }, (c) => this.inner.PushToUser(req, c), pushOutcome);
  }

  PushToUsers(req: PushRequestOutput, ctx: CallContext): Promise<Result<PushResponse, ApiError>> {
    return this.traced('PushToUsers', ctx, { [ATTR.userCount]: req.userIds.length }, (c) => this.inner.PushToUsers(req, c), pushOutcome);
  }

  Broadcast(req: BroadcastRequestOutput, ctx: CallContext): Promise<Result<BroadcastResponse, ApiError>> {
    return this.traced('Broadcast', ctx, {}, (c) => this.inner.Broadcast(req, c), (r, span) => {
      span.set(ATTR.delivered, Number(r.delivered ?? 0));
      span.set(ATTR.instances, r.instances ?? 0);
    });
  }

  KickUser(req: KickUserRequestOutput, ctx: CallContext): Promise<Result<KickUserResponse, ApiError>> {
    const attrs: Record<string, string> = { [ATTR.userId]: req.userId };
    if (req.deviceId !== '') attrs[ATTR.deviceId] = req.deviceId;
    return this.traced('KickUser', ctx, attrs, (c) => this.inner.KickUser(req, c), (r, span) => span.set(ATTR.kicked, r.kicked ?? 0));
  }

  GetConnectionStatus(req: ConnectionStatusRequestOutput, ctx: CallContext): Promise<Result<ConnectionStatusResponse, ApiError>> {
    return this.traced('GetConnectionStatus', ctx, { [ATTR.userCount]: req.userIds.length }, (c) => this.inner.GetConnectionStatus(req, c));
  }

  JoinRoom(req: RoomMembershipRequestOutput, ctx: CallContext): Promise<Result<RoomMembershipResponse, ApiError>> {
    return this.traced('JoinRoom', ctx, { [ATTR.room]: req.room, [ATTR.userCount]: req.userIds.length }, (c) => this.inner.JoinRoom(req, c), membershipOutcome);
  }

  LeaveRoom(req: RoomMembershipRequestOutput, ctx: CallContext): Promise<Result<RoomMembershipResponse, ApiError>> {
    return this.traced('LeaveRoom', ctx, { [ATTR.room]: req.room, [ATTR.userCount]: req.userIds.length }, (c) => this.inner.LeaveRoom(req, c), membershipOutcome);
  }

  PushToRoom(req: RoomPushRequestOutput, ctx: CallContext): Promise<Result<RoomPushResponse, ApiError>> {
    return this.traced('PushToRoom', ctx, { [ATTR.room]: req.room }, (c) => this.inner.PushToRoom(req, c), (r, span) => {
      span.set(ATTR.delivered, Number(r.delivered ?? 0));
      span.set(ATTR.instances, r.instances ?? 0);
    });
  }

  GetRoomStatus(req: RoomStatusRequestOutput, ctx: CallContext): Promise<Result<RoomStatusResponse, ApiError>> {
    return this.traced('GetRoomStatus', ctx, {}, (c) => this.inner.GetRoomStatus(req, c));
  }

  private async traced<Res>(
    method: GatewayMethod,
    ctx: CallContext,
    attributes: SpanAttributes,
    call: (ctx: CallContext) => Promise<Result<Res, ApiError>>,
    outcome?: (res: Res, span: TraceSpan) => void,
  ): Promise<Result<Res, ApiError>> {
    const attrs: Record<string, string | number | boolean> = { ...rpcAttributes(GATEWAY_SERVICE, method), ...attributes };
    if (ctx.headers[FORWARDED_HEADER] === '1') attrs[ATTR.forwarded] = true;
    const span = this.spans.start(`${GATEWAY_SERVICE}/${method}`, 'server', ctx.headers['traceparent'] ?? '', attrs);
    try {
      const r = await call({ ...ctx, headers: { ...ctx.headers, traceparent: span.traceparent } });
      if (r.ok) {
        recordGrpcStatus(span, 'server', 0, '');
        outcome?.(r.value, span);
      } else {
        recordGrpcStatus(span, 'server', r.error.code, r.error.message);
      }
      return r;
    } catch (e) {
      // the transports answer INTERNAL without the text; the span does the same
      recordGrpcStatus(span, 'server', INTERNAL, 'internal error');
      throw e;
    } finally {
      span.end();
    }
  }
}

function pushOutcome(r: PushResponse, span: TraceSpan): void {
  span.set(ATTR.delivered, Number(r.delivered ?? 0));
  span.set(ATTR.offlineUsers, r.offlineUserIds?.length ?? 0);
}

function membershipOutcome(r: RoomMembershipResponse, span: TraceSpan): void {
  span.set(ATTR.connections, Number(r.connections ?? 0));
}

/**
 * The business client with a client span per HandleMessage call, child of the span named by the
 * traceparent the gateway passes (the message's forward span); the call carries the client span's
 * traceparent. Sits inside the circuit breaker: a call the open breaker refuses is never made and
 * has no span. Status events pass through untraced.
 */
export class TracedBusinessClient implements BusinessClient {
  constructor(
    private readonly inner: BusinessClient,
    private readonly spans: Spans,
  ) {}

  async handleMessage(msg: ClientMessage, traceparent: string): Promise<Result<HandleMessageResponseOutput, UpstreamError>> {
    const span = this.spans.start(`${BUSINESS_SERVICE}/HandleMessage`, 'client', traceparent, {
      ...rpcAttributes(BUSINESS_SERVICE, 'HandleMessage'),
      [ATTR.messageId]: msg.messageId ?? '',
    });
    try {
      const r = await this.inner.handleMessage(msg, span.traceparent);
      if (r.ok) recordGrpcStatus(span, 'client', 0, '');
      else recordGrpcStatus(span, 'client', grpcCodeOf(r.error), r.error.message);
      return r;
    } finally {
      span.end();
    }
  }

  onConnectionStatus(status: ConnectionStatus): Promise<Result<void, UpstreamError>> {
    return this.inner.onConnectionStatus(status);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function grpcCodeOf(e: UpstreamError): number {
  if (e.kind === 'failed') return e.code;
  return e.kind === 'timeout' ? DEADLINE_EXCEEDED : UNAVAILABLE;
}

import type { Result } from '../../pkg/result';
import type { Spans } from '../observability/tracing';
import { ATTR, recordGrpcStatus, rpcAttributes, serverAttributes } from '../observability/tracing';
import type { ApiError, GatewayMethod } from '../rpc/api';
import { GATEWAY_SERVICE } from '../rpc/api';
import type { PeerForwarder } from './forwarder';

/**
 * Tracing decorator of the peer channel (tracing on): each call to another instance is a client
 * span, child of the span named by the call's `traceparent` header (the push API's server span;
 * none = a new trace, e.g. a policy kick), and the call carries the client span's traceparent, so
 * the receiving instance's server span is its child.
 */
export class TracedPeerForwarder implements Pick<PeerForwarder, 'call'> {
  constructor(
    private readonly inner: Pick<PeerForwarder, 'call'>,
    private readonly spans: Spans,
  ) {}

  async call<Res>(address: string, method: GatewayMethod, req: unknown, headers: Readonly<Record<string, string>> = {}, deadline = Infinity): Promise<Result<Res, ApiError>> {
    const attrs: Record<string, string | number | boolean> = { ...rpcAttributes(GATEWAY_SERVICE, method), ...serverAttributes(address), [ATTR.forwarded]: true };
    const users = (req as { userIds?: unknown }).userIds;
    if (Array.isArray(users)) attrs[ATTR.userCount] = users.length;
    const span = this.spans.start(`${GATEWAY_SERVICE}/${method}`, 'client', headers['traceparent'] ?? '', attrs);
    try {
      const r = await this.inner.call<Res>(address, method, req, { ...headers, traceparent: span.traceparent }, deadline);
      recordGrpcStatus(span, 'client', r.ok ? 0 : r.error.code, r.ok ? '' : r.error.message);
      return r;
    } finally {
      span.end();
    }
  }
}

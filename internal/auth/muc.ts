import type * as grpc from '@grpc/grpc-js';
import type { MUCServiceClient } from '../../api/gen/im/gateway/v1/MUCService';
import type { TokenValidateResponseOutput } from '../../api/gen/im/gateway/v1/TokenValidateResponse';
import type { Result } from '../../pkg/result';
import { err, ok } from '../../pkg/result';
import { CloseCode } from '../protocol/codes';
import type { TripleIdentity, UpstreamPool } from '../rpc/upstream';
import { classifyGrpcError, tripleMetadata, unary } from '../rpc/upstream';
import type { Identity, TokenRequest, TokenVerifier, VerifyError } from './types';
import type { Spans } from '../observability/tracing';
import { ATTR, recordGrpcStatus, rpcAttributes } from '../observability/tracing';

const MUC_SERVICE = 'im.gateway.v1.MUCService';

/**
 * Verifies tokens by calling MUCService.ValidateToken with a deadline. `valid=false` is an
 * `invalid` answer (4401, with the MUC's code and message); any RPC failure, including the
 * deadline, is `unavailable` (4503).
 */
export class MucTokenVerifier implements TokenVerifier {
  constructor(
    private readonly pool: UpstreamPool<MUCServiceClient & grpc.Client>,
    private readonly triple: TripleIdentity,
    private readonly timeoutMs: number,
  ) {}

  async verify(req: TokenRequest): Promise<Result<Identity, VerifyError>> {
    let res: TokenValidateResponseOutput;
    try {
      res = await this.pool.invoke((client) =>
        unary<Parameters<typeof client.ValidateToken>[0], TokenValidateResponseOutput>(
          (r, md, o, cb) => client.ValidateToken(r, md, o, cb),
          { token: req.token, deviceId: req.deviceId, platform: req.platform, clientIp: req.clientIp, instanceId: req.instanceId },
          tripleMetadata(this.triple, req.traceparent !== undefined ? { traceparent: req.traceparent } : undefined),
          this.timeoutMs,
        ),
      );
    } catch (e) {
      const u = classifyGrpcError(e);
      return err({ kind: 'unavailable', message: `MUC ${u.kind}: ${u.message}` });
    }
    if (!res.valid) {
      return err({ kind: 'invalid', code: res.code !== 0 ? res.code : CloseCode.AUTH_FAILED, message: res.message !== '' ? res.message : 'invalid token' });
    }
    if (res.userId === '') return err({ kind: 'invalid', code: CloseCode.AUTH_FAILED, message: 'MUC returned no user id' });
    return ok({ userId: res.userId, deviceId: req.deviceId, platform: req.platform, expireAt: res.expireAt > 0 ? res.expireAt : 0, boundDeviceId: '', boundPlatform: '' });
  }

  async close(): Promise<void> {
    this.pool.close();
  }
}

/**
 * Tracing decorator (tracing on): each ValidateToken call is a client span, child of the span
 * named by the request's traceparent (the upgrade), and the call carries the client span's
 * traceparent. Sits inside the token cache: a cached answer makes no call and no span. The token
 * is never put on the span.
 */
export class TracedTokenVerifier implements TokenVerifier {
  constructor(
    private readonly inner: TokenVerifier,
    private readonly spans: Spans,
  ) {}

  async verify(req: TokenRequest): Promise<Result<Identity, VerifyError>> {
    const span = this.spans.start(`${MUC_SERVICE}/ValidateToken`, 'client', req.traceparent ?? '', {
      ...rpcAttributes(MUC_SERVICE, 'ValidateToken'),
      [ATTR.deviceId]: req.deviceId,
      [ATTR.platform]: req.platform,
    });
    try {
      const r = await this.inner.verify({ ...req, traceparent: span.traceparent });
      if (r.ok) {
        span.set(ATTR.userId, r.value.userId);
        recordGrpcStatus(span, 'client', 0, '');
      } else if (r.error.kind === 'invalid') {
        // the MUC answered (valid=false): the call succeeded, the token did not
        span.set(ATTR.closeCode, r.error.code);
        recordGrpcStatus(span, 'client', 0, '');
      } else {
        span.fail(r.error.message);
      }
      return r;
    } finally {
      span.end();
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

import type * as grpc from '@grpc/grpc-js';
import type { BusinessMessageServiceClient } from '../../api/gen/im/gateway/v1/BusinessMessageService';
import type { ClientMessage } from '../../api/gen/im/gateway/v1/ClientMessage';
import type { ConnectionStatus } from '../../api/gen/im/gateway/v1/ConnectionStatus';
import type { HandleMessageResponseOutput } from '../../api/gen/im/gateway/v1/HandleMessageResponse';
import type { StatusAckOutput } from '../../api/gen/im/gateway/v1/StatusAck';
import type { CircuitBreaker } from '../../pkg/circuit-breaker';
import type { Result } from '../../pkg/result';
import { err, ok } from '../../pkg/result';
import type { BusinessClient, UpstreamError } from '../gateway/ports';
import type { TripleIdentity, UpstreamPool } from './upstream';

export type { BusinessClient } from '../gateway/ports';
import { classifyGrpcError, tripleMetadata, unary } from './upstream';


export class GrpcBusinessClient implements BusinessClient {
  constructor(
    private readonly pool: UpstreamPool<BusinessMessageServiceClient & grpc.Client>,
    private readonly triple: TripleIdentity,
    private readonly timeoutMs: number,
  ) {}

  async handleMessage(msg: ClientMessage, traceparent: string): Promise<Result<HandleMessageResponseOutput, UpstreamError>> {
    try {
      const res = await this.pool.invoke((c) =>
        unary<ClientMessage, HandleMessageResponseOutput>((r, md, o, cb) => c.HandleMessage(r, md, o, cb), msg, tripleMetadata(this.triple, { traceparent }), this.timeoutMs),
      );
      return ok(res);
    } catch (e) {
      return err(classifyGrpcError(e));
    }
  }

  async onConnectionStatus(status: ConnectionStatus): Promise<Result<void, UpstreamError>> {
    try {
      await this.pool.invoke((c) =>
        unary<ConnectionStatus, StatusAckOutput>((r, md, o, cb) => c.OnConnectionStatus(r, md, o, cb), status, tripleMetadata(this.triple), this.timeoutMs),
      );
      return ok(undefined);
    } catch (e) {
      return err(classifyGrpcError(e));
    }
  }

  async close(): Promise<void> {
    this.pool.close();
  }
}

/** Used when no business service is configured: every message is answered 2000 at once. */
export class UnconfiguredBusinessClient implements BusinessClient {
  async handleMessage(): Promise<Result<HandleMessageResponseOutput, UpstreamError>> {
    return err({ kind: 'unconfigured', message: 'no business service configured' });
  }
  async onConnectionStatus(): Promise<Result<void, UpstreamError>> {
    return err({ kind: 'unconfigured', message: 'no business service configured' });
  }
  async close(): Promise<void> {}
}

/**
 * Circuit breaker decorator: after consecutive failures, calls fail at once as `unavailable`
 * (ack 2000) instead of each waiting for its deadline; a probe call after the reset timeout closes
 * it again. Status events use the same breaker.
 */
export class BreakerBusinessClient implements BusinessClient {
  constructor(
    private readonly inner: BusinessClient,
    private readonly breaker: CircuitBreaker,
  ) {}

  async handleMessage(msg: ClientMessage, traceparent: string): Promise<Result<HandleMessageResponseOutput, UpstreamError>> {
    if (!this.breaker.tryAcquire()) return err({ kind: 'unavailable', message: 'business service unavailable (circuit open)' });
    const r = await this.inner.handleMessage(msg, traceparent);
    this.record(r);
    return r;
  }

  async onConnectionStatus(status: ConnectionStatus): Promise<Result<void, UpstreamError>> {
    if (!this.breaker.tryAcquire()) return err({ kind: 'unavailable', message: 'business service unavailable (circuit open)' });
    const r = await this.inner.onConnectionStatus(status);
    this.record(r);
    return r;
  }

  get state(): string {
    return this.breaker.state;
  }

  async close(): Promise<void> {
    await this.inner.close();
  }

  private record(r: Result<unknown, UpstreamError>): void {
    if (r.ok) this.breaker.onSuccess();
    else this.breaker.onFailure();
  }
}

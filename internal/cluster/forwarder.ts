import * as grpc from '@grpc/grpc-js';
import type { IMAGatewayServiceClient } from '../../api/gen/im/gateway/v1/IMAGatewayService';
import { answerBy } from '../../pkg/deadline';
import type { Result } from '../../pkg/result';
import { err, ok } from '../../pkg/result';
import type { ApiError, GatewayMethod } from '../rpc/api';
import { loadProto } from '../rpc/proto';
import { FORWARDED_HEADER } from './types';

type Client = IMAGatewayServiceClient & grpc.Client;

/**
 * Calls IMAGatewayService on another instance (direct gRPC between instances: exact counts come
 * back in the response, no reply channel needed). Every call carries the forwarded header, so the
 * receiver acts on its own connections only, and the API token when one is configured.
 */
export class PeerForwarder {
  private readonly clients = new Map<string, Client>();

  /** `credentials`: TLS (with the instance's own certificate for mTLS) when the gRPC server uses TLS. */
  constructor(
    private readonly apiToken: string,
    private readonly timeoutMs: number,
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {}

  /** `deadline` (unix ms): the caller's; the call ends by then or after this forwarder's own timeout, whichever comes first. */
  call<Res>(address: string, method: GatewayMethod, req: unknown, headers: Readonly<Record<string, string>> = {}, deadline = Infinity): Promise<Result<Res, ApiError>> {
    const client = this.client(address);
    const md = new grpc.Metadata();
    md.set(FORWARDED_HEADER, '1');
    if (this.apiToken !== '') md.set('authorization', `Bearer ${this.apiToken}`);
    for (const k in headers) md.set(k, headers[k] as string);
    const fn = (client as unknown as Record<string, (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Res) => void) => void>)[method];
    return new Promise((resolve) => {
      if (fn === undefined) {
        resolve(err({ code: grpc.status.INTERNAL, message: `no method ${method}` }));
        return;
      }
      fn.call(client, req, md, { deadline: Math.min(Date.now() + this.timeoutMs, answerBy(deadline)) }, (e, res) => {
        if (e) resolve(err({ code: e.code, message: e.details || e.message }));
        else resolve(ok(res as Res));
      });
    });
  }

  private client(address: string): Client {
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new (loadProto().grpcType.im.gateway.v1.IMAGatewayService)(address, this.credentials, {
        'grpc.keepalive_time_ms': 30_000,
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': 2_000,
      }) as Client;
      this.clients.set(address, c);
    }
    return c;
  }

  /** Drops clients of addresses that are no longer live. */
  retain(addresses: ReadonlySet<string>): void {
    for (const [a, c] of this.clients) {
      if (!addresses.has(a)) {
        c.close();
        this.clients.delete(a);
      }
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

import * as grpc from '@grpc/grpc-js';
import type { IMAGatewayServiceClient } from '../../api/gen/im/gateway/v1/IMAGatewayService';
import { answerBy } from '../../pkg/deadline';
import type { Result } from '../../pkg/result';
import { err, ok } from '../../pkg/result';
import type { ApiError, GatewayMethod } from '../rpc/api';
import { loadProto } from '../rpc/proto';
import { FORWARDED_HEADER } from './types';

type Client = IMAGatewayServiceClient & grpc.Client;

/** How long a second attempt waits for a peer's connection (a restart at the same address is back within the channel's 2 s backoff). */
const RECONNECT_WAIT_MS = 2_500;

/** The call never reached the peer (no connection), so trying again cannot deliver twice. */
function notConnected(e: ApiError): boolean {
  return e.code === grpc.status.UNAVAILABLE && /No connection established|ECONNREFUSED|connect ECONN|failed to connect/i.test(e.message);
}

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

  /**
   * `deadline` (unix ms): the caller's; the call ends by then or after this forwarder's own
   * timeout, whichever comes first. A call that could not even reach the peer (no connection: a
   * peer restarting at the same address, whose channel is still backing off) is tried once more,
   * waiting for the connection up to RECONNECT_WAIT_MS: otherwise a push to users connected
   * there would count them offline although they are back (and, numbered, skip them for good).
   */
  async call<Res>(address: string, method: GatewayMethod, req: unknown, headers: Readonly<Record<string, string>> = {}, deadline = Infinity): Promise<Result<Res, ApiError>> {
    const first = await this.once<Res>(address, method, req, headers, deadline, false);
    if (first.ok || !notConnected(first.error)) return first;
    return this.once<Res>(address, method, req, headers, Math.min(deadline, Date.now() + RECONNECT_WAIT_MS), true);
  }

  private once<Res>(address: string, method: GatewayMethod, req: unknown, headers: Readonly<Record<string, string>>, deadline: number, waitForReady: boolean): Promise<Result<Res, ApiError>> {
    const client = this.client(address);
    const md = new grpc.Metadata();
    md.set(FORWARDED_HEADER, '1');
    if (this.apiToken !== '') md.set('authorization', `Bearer ${this.apiToken}`);
    for (const k in headers) md.set(k, headers[k] as string);
    // grpc-js takes wait-for-ready from the metadata's options: queue until the channel connects
    if (waitForReady) md.setOptions({ waitForReady: true });
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

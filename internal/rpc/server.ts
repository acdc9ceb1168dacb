import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from '../observability/logger';
import type { IMAGatewayServiceHandlers } from '../../api/gen/im/gateway/v1/IMAGatewayService';
import type { Result } from '../../pkg/result';
import type { ApiError, CallContext, CallGuard, GatewayApi, GatewayMethod } from './api';
import { GATEWAY_SERVICE } from './api';
import { loadProto } from './proto';

export interface GrpcServerSettings {
  readonly host: string;
  readonly port: number;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly tlsCaFile: string;
  readonly tlsRequireClientCert: boolean;
  /** Largest push payload (server.maxPushPayloadBytes); the receive limit sits well above it. */
  readonly maxPushPayloadBytes: number;
}

/** gRPC metadata as lowercased name -> first value (binary values skipped). */
export function metadataHeaders(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  const map = md.getMap();
  for (const k in map) {
    const v = map[k];
    if (typeof v === 'string') out[k] = v;
  }
  return out;
}

function toServiceError(e: ApiError): Partial<grpc.StatusObject> {
  return { code: e.code, details: e.message };
}

/**
 * The gRPC / Dubbo Triple provider: IMAGatewayService (every call through the CallGuard, then the
 * transport-neutral handler; each call answered exactly once), gRPC health checking reflecting
 * readiness, and server reflection (grpcurl works without the proto).
 *
 * Triple compatibility: Dubbo 3 consumers send `content-type: application/grpc+proto`,
 * `grpc-timeout`, `tri-service-version`, `tri-service-group`, `tri-consumer-appname`, lowercased
 * attachments and `grpc-accept-encoding: gzip,bzip2,snappy`; grpc-js accepts all of them (an
 * unknown accepted encoding is ignored, responses are sent uncompressed, which every consumer
 * reads). Errors carry `grpc-status` / `grpc-message`, which Dubbo maps to its exceptions.
 */
export class GrpcServer {
  private readonly server: grpc.Server;
  private readonly health: HealthImplementation;
  port = 0;

  constructor(
    private readonly settings: GrpcServerSettings,
    api: GatewayApi,
    guard: CallGuard,
    private readonly log: Logger,
  ) {
    this.server = new grpc.Server({
      // well above server.maxPushPayloadBytes, so an oversized payload is refused by our check
      // (INVALID_ARGUMENT naming message.payload), not by grpc-js (RESOURCE_EXHAUSTED)
      'grpc.max_receive_message_length': Math.max(16 * 1024 * 1024, settings.maxPushPayloadBytes * 2 + 1024 * 1024),
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 5000,
    });
    const { def, grpcType } = loadProto();
    // one typed handler per method (the generated IMAGatewayServiceHandlers): a missing or
    // mistyped method is a compile error
    const handlers: IMAGatewayServiceHandlers = {
      PushToUser: this.unary('PushToUser', guard, (req, ctx) => api.PushToUser(req, ctx)),
      PushToUsers: this.unary('PushToUsers', guard, (req, ctx) => api.PushToUsers(req, ctx)),
      Broadcast: this.unary('Broadcast', guard, (req, ctx) => api.Broadcast(req, ctx)),
      KickUser: this.unary('KickUser', guard, (req, ctx) => api.KickUser(req, ctx)),
      GetConnectionStatus: this.unary('GetConnectionStatus', guard, (req, ctx) => api.GetConnectionStatus(req, ctx)),
      JoinRoom: this.unary('JoinRoom', guard, (req, ctx) => api.JoinRoom(req, ctx)),
      LeaveRoom: this.unary('LeaveRoom', guard, (req, ctx) => api.LeaveRoom(req, ctx)),
      PushToRoom: this.unary('PushToRoom', guard, (req, ctx) => api.PushToRoom(req, ctx)),
      GetRoomStatus: this.unary('GetRoomStatus', guard, (req, ctx) => api.GetRoomStatus(req, ctx)),
    };
    this.server.addService(grpcType.im.gateway.v1.IMAGatewayService.service, handlers);
    this.health = new HealthImplementation({ '': 'NOT_SERVING', [GATEWAY_SERVICE]: 'NOT_SERVING' });
    this.health.addToServer(this.server);
    new ReflectionService(def, { services: [GATEWAY_SERVICE] }).addToServer(this.server);
  }

  /** A unary handler: the guard, the call context, the use case, and exactly one answer. */
  private unary<Req, Res>(method: GatewayMethod, guard: CallGuard, handle: (req: Req, ctx: CallContext) => Promise<Result<Res, ApiError>>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const headers = metadataHeaders(call.metadata);
      const denied = guard.check(method, headers);
      if (denied !== null) {
        callback(toServiceError(denied));
        return;
      }
      const deadline = call.getDeadline();
      const ctx: CallContext = { headers, deadline: deadline instanceof Date ? deadline.getTime() : Number(deadline) };
      let answer: Promise<Result<Res, ApiError>>;
      try {
        answer = handle(call.request, ctx);
      } catch (e) {
        answer = Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
      answer.then(
        (r) => {
          if (r.ok) callback(null, r.value);
          else callback(toServiceError(r.error));
        },
        (e: unknown) => {
          this.log.error({ err: e, method }, 'push API handler failed');
          callback({ code: grpc.status.INTERNAL, details: 'internal error' });
        },
      );
    };
  }

  private credentials(): grpc.ServerCredentials {
    const s = this.settings;
    if (s.tlsCertFile === '') return grpc.ServerCredentials.createInsecure();
    const ca = s.tlsCaFile !== '' ? fs.readFileSync(s.tlsCaFile) : null;
    return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: fs.readFileSync(s.tlsCertFile), private_key: fs.readFileSync(s.tlsKeyFile) }], s.tlsRequireClientCert);
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${this.settings.host}:${this.settings.port}`, this.credentials(), (e, port) => {
        if (e) {
          reject(new Error(`cannot listen for gRPC on ${this.settings.host}:${this.settings.port}: ${e.message}`));
          return;
        }
        this.port = port;
        resolve(port);
      });
    });
  }

  get tls(): boolean {
    return this.settings.tlsCertFile !== '';
  }

  /** Health checking answers SERVING / NOT_SERVING for '' and IMAGatewayService. */
  setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', status);
    this.health.setStatus(GATEWAY_SERVICE, status);
  }

  /** Stops accepting calls, lets calls in flight finish for up to graceMs, then closes. */
  close(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

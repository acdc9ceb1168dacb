import * as grpc from '@grpc/grpc-js';
import { timingSafeEqual, createHash } from 'node:crypto';

export const GATEWAY_SERVICE = 'im.gateway.v1.IMAGatewayService';

import type { ApiError } from '../gateway/ports';

export type { ApiError, CallContext, GatewayApi, GatewayMethod } from '../gateway/ports';
export { GATEWAY_METHODS, invalidArgument } from '../gateway/ports';

export interface CallGuardSettings {
  /** '' = the API is open. */
  readonly apiToken: string;
  /** Dubbo service version / group of this provider; '' = any. */
  readonly version: string;
  readonly group: string;
}

/**
 * The checks every API call passes before its handler, on every transport:
 * - with `server.version` / `server.group` configured, a Dubbo `tri-service-version` /
 *   `tri-service-group` naming another version or group gets UNIMPLEMENTED, as a Dubbo provider
 *   answers (no such service here); a call without them is served;
 * - with an API token configured, `authorization: Bearer <token>` (gRPC metadata, a Dubbo
 *   attachment, or an HTTP header) is compared in constant time; otherwise UNAUTHENTICATED.
 */
export class CallGuard {
  private readonly tokenDigest: Buffer | null;

  constructor(private readonly settings: CallGuardSettings) {
    this.tokenDigest = settings.apiToken === '' ? null : digest(settings.apiToken);
  }

  check(method: string, headers: Readonly<Record<string, string>>): ApiError | null {
    const version = headers['tri-service-version'] ?? '';
    const group = headers['tri-service-group'] ?? '';
    if (this.settings.version !== '' && version !== '' && version !== this.settings.version) {
      return { code: grpc.status.UNIMPLEMENTED, message: `service not found: ${GATEWAY_SERVICE}:${version} (this provider is version ${this.settings.version})` };
    }
    if (this.settings.group !== '' && group !== '' && group !== this.settings.group) {
      return { code: grpc.status.UNIMPLEMENTED, message: `service not found: ${group}/${GATEWAY_SERVICE} (this provider is group ${this.settings.group})` };
    }
    if (this.tokenDigest !== null) {
      const auth = headers['authorization'] ?? '';
      const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
      const presented = m?.[1] ?? '';
      if (presented === '' || !timingSafeEqual(digest(presented), this.tokenDigest)) {
        return { code: grpc.status.UNAUTHENTICATED, message: `${method}: missing or invalid API token (authorization: Bearer <token>)` };
      }
    }
    return null;
  }
}

/** Equal-length digests so the comparison time does not depend on the presented token. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** gRPC status -> HTTP status for the HTTP/JSON form. */
export function httpStatusOf(code: grpc.status): number {
  switch (code) {
    case grpc.status.OK:
      return 200;
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.FAILED_PRECONDITION:
    case grpc.status.OUT_OF_RANGE:
      return 400;
    case grpc.status.UNAUTHENTICATED:
      return 401;
    case grpc.status.PERMISSION_DENIED:
      return 403;
    case grpc.status.NOT_FOUND:
      return 404;
    case grpc.status.UNIMPLEMENTED:
      return 501;
    case grpc.status.ALREADY_EXISTS:
    case grpc.status.ABORTED:
      return 409;
    case grpc.status.RESOURCE_EXHAUSTED:
      return 429;
    case grpc.status.CANCELLED:
      return 499;
    case grpc.status.UNAVAILABLE:
      return 503;
    case grpc.status.DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

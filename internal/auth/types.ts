import type { Result } from '../../pkg/result';
import type { Platform } from '../protocol/codes';

/** What the gateway knows of a connect request when it asks for a token to be verified. */
export interface TokenRequest {
  readonly token: string;
  readonly deviceId: string;
  readonly platform: Platform;
  readonly clientIp: string;
  readonly instanceId: string;
  /** W3C trace context of the upgrade span (tracing on): sent with the MUC call. Absent with tracing off. */
  readonly traceparent?: string;
}

/** A verified identity. `expireAt` is unix ms after which the token is invalid; 0 = no expiry. */
export interface Identity {
  readonly userId: string;
  readonly deviceId: string;
  readonly platform: Platform;
  readonly expireAt: number;
  /**
   * When the token itself names the device or platform it was issued for (JWT `did` / `plt`), those
   * values; '' = not bound. A cached result is only served to a request for the same binding.
   */
  readonly boundDeviceId: string;
  readonly boundPlatform: string;
}

/**
 * Why a token was not accepted:
 * - `invalid`: the verifier answered that the token is not valid (close 4401; close 4003 when
 *   `code` is 4003, an expired token: the JWT verifier beyond its clock skew, or an MUC saying so);
 * - `unavailable`: the verifier could not answer (RPC failure, timeout; close 4503).
 * `code` is the MUC's own code when it gave one.
 */
export type VerifyError =
  | { readonly kind: 'invalid'; readonly code: number; readonly message: string }
  | { readonly kind: 'unavailable'; readonly message: string };

export interface TokenVerifier {
  /** Never rejects: every failure is a VerifyError value. */
  verify(request: TokenRequest): Promise<Result<Identity, VerifyError>>;
  close(): Promise<void>;
}

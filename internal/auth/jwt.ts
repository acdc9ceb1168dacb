import * as crypto from 'node:crypto';
import type { Result } from '../../pkg/result';
import { err, ok } from '../../pkg/result';
import { CloseCode } from '../protocol/codes';
import type { Identity, TokenRequest, TokenVerifier, VerifyError } from './types';

export type JwtAlgorithm = 'HS256' | 'RS256';

export interface JwtSettings {
  /** Accepted algorithms; an algorithm whose key is not configured is never accepted. */
  readonly algorithms: readonly JwtAlgorithm[];
  /** HS256 shared secret ('' = HS256 not possible). */
  readonly secret: string;
  /** RS256 public key PEM ('' = RS256 not possible). */
  readonly publicKeyPem: string;
  /** Expected `iss` ('' = not checked). */
  readonly issuer: string;
  /** Expected `aud` ('' = not checked). */
  readonly audience: string;
  /** Tolerance in seconds for `exp` and `nbf`. */
  readonly clockSkewSec: number;
}

export interface JwtClaims {
  sub: string;
  exp?: number;
  iat?: number;
  nbf?: number;
  iss?: string;
  aud?: string | string[];
  /** Device id the token is bound to. */
  did?: string;
  /** Platform the token is bound to. */
  plt?: string;
  [k: string]: unknown;
}

/** Tokens longer than this (in bytes) are rejected before any parsing. */
export const MAX_TOKEN_BYTES = 8 * 1024;
/** Maximum length of the `sub` claim (the user id). */
export const MAX_SUB_LENGTH = 128;

const HS256_SIG_BYTES = 32;
const BASE64URL_RE = /^[A-Za-z0-9_-]+$/;

type Invalid = { readonly ok: false; readonly error: VerifyError };

function invalid(message: string): Invalid {
  return err({ kind: 'invalid', code: CloseCode.AUTH_FAILED, message });
}

/**
 * Strict base64url decoding (RFC 7515: no padding, no other characters, canonical form).
 * Returns undefined for anything else. Buffer's own decoder silently skips bad characters.
 */
function decodeBase64url(part: string): Buffer | undefined {
  if (!BASE64URL_RE.test(part) || part.length % 4 === 1) return undefined;
  const buf = Buffer.from(part, 'base64url');
  // Reject non-canonical encodings (non-zero trailing bits), so a token has one spelling.
  if (buf.toString('base64url') !== part) return undefined;
  return buf;
}

function decodeJsonObject(part: string): Record<string, unknown> | undefined {
  const buf = decodeBase64url(part);
  if (buf === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return value as Record<string, unknown>;
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function hmacSha256(secret: string, input: string): Buffer {
  return crypto.createHmac('sha256', secret).update(input, 'ascii').digest();
}

/**
 * Verifies compact-JWS JWTs locally (HS256 with a shared secret, RS256 with a public key).
 * `now` returns the current time in unix milliseconds (default Date.now).
 * Throws from the constructor only on a configuration error (an unparseable or non-RSA public
 * key PEM, a negative or non-finite clock skew); `verify` never rejects.
 */
export class JwtVerifier implements TokenVerifier {
  private readonly hsSecret: string | undefined;
  private readonly rsKey: crypto.KeyObject | undefined;
  private readonly skewSec: number;

  constructor(
    private readonly settings: JwtSettings,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isFinite(settings.clockSkewSec) || settings.clockSkewSec < 0) {
      throw new Error(`jwt: clockSkewSec must be a non-negative number, got ${settings.clockSkewSec}`);
    }
    this.skewSec = settings.clockSkewSec;
    const algs = new Set<string>(settings.algorithms);
    this.hsSecret = algs.has('HS256') && settings.secret !== '' ? settings.secret : undefined;
    let rsKey: crypto.KeyObject | undefined;
    if (algs.has('RS256') && settings.publicKeyPem !== '') {
      try {
        rsKey = crypto.createPublicKey({ key: settings.publicKeyPem, format: 'pem' });
      } catch (e) {
        throw new Error(`jwt: cannot parse the RS256 public key PEM: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      if (rsKey.asymmetricKeyType !== 'rsa') {
        throw new Error(`jwt: the RS256 public key must be an RSA key, got ${rsKey.asymmetricKeyType ?? 'unknown'}`);
      }
    }
    this.rsKey = rsKey;
  }

  async verify(req: TokenRequest): Promise<Result<Identity, VerifyError>> {
    try {
      return this.verifySync(req);
    } catch {
      // Defensive: nothing above is expected to throw, but verify must never reject.
      return invalid('malformed token');
    }
  }

  async close(): Promise<void> {
    // Nothing to release.
  }

  private verifySync(req: TokenRequest): Result<Identity, VerifyError> {
    const token: unknown = req.token;
    if (typeof token !== 'string' || token === '') return invalid('missing token');
    if (token.length > MAX_TOKEN_BYTES || Buffer.byteLength(token, 'utf8') > MAX_TOKEN_BYTES) {
      return invalid('token too large');
    }
    const parts = token.split('.');
    if (parts.length !== 3) return invalid('malformed token');
    const [headerPart, payloadPart, sigPart] = parts as [string, string, string];

    const header = decodeJsonObject(headerPart);
    if (header === undefined) return invalid('malformed token header');
    const alg = header['alg'];
    if (typeof alg !== 'string') return invalid('malformed token header');
    if (header['crit'] !== undefined) return invalid('unsupported token header');
    const typ = header['typ'];
    if (typ !== undefined && (typeof typ !== 'string' || typ.toUpperCase() !== 'JWT')) {
      return invalid('unsupported token type');
    }

    // Only an accepted algorithm with a configured key: `none`, unknown algorithms and the
    // HS256-signed-with-the-public-key confusion never reach a signature check.
    const usable = (alg === 'HS256' && this.hsSecret !== undefined) || (alg === 'RS256' && this.rsKey !== undefined);
    if (!usable) return invalid('token algorithm not accepted');

    const sig = decodeBase64url(sigPart);
    if (sig === undefined) return invalid('malformed token signature');
    const signingInput = `${headerPart}.${payloadPart}`;

    // Signature first: claims of an unauthenticated token are never looked at.
    if (alg === 'HS256' && this.hsSecret !== undefined) {
      const expected = hmacSha256(this.hsSecret, signingInput);
      if (sig.length !== HS256_SIG_BYTES || !crypto.timingSafeEqual(sig, expected)) {
        return invalid('invalid token signature');
      }
    } else if (alg === 'RS256' && this.rsKey !== undefined) {
      let good: boolean;
      try {
        good = crypto.verify('sha256', Buffer.from(signingInput, 'ascii'), this.rsKey, sig);
      } catch {
        good = false;
      }
      if (!good) return invalid('invalid token signature');
    } else {
      return invalid('token algorithm not accepted');
    }

    const claims = decodeJsonObject(payloadPart);
    if (claims === undefined) return invalid('malformed token payload');
    return this.checkClaims(claims, req);
  }

  private checkClaims(claims: Record<string, unknown>, req: TokenRequest): Result<Identity, VerifyError> {
    const sub = claims['sub'];
    if (typeof sub !== 'string' || sub === '') return invalid('token has no subject');
    if (sub.length > MAX_SUB_LENGTH) return invalid('token subject too long');

    const nowSec = this.now() / 1000;
    const exp = claims['exp'];
    if (exp !== undefined) {
      if (!isNumericDate(exp)) return invalid('invalid exp claim');
      // close 4003, not 4401: the client should refresh its token, not start over
      if (nowSec >= exp + this.skewSec) return err({ kind: 'invalid', code: CloseCode.TOKEN_EXPIRED, message: 'token expired' });
    }
    const nbf = claims['nbf'];
    if (nbf !== undefined) {
      if (!isNumericDate(nbf)) return invalid('invalid nbf claim');
      if (nowSec + this.skewSec < nbf) return invalid('token not yet valid');
    }
    const iat = claims['iat'];
    if (iat !== undefined && !isNumericDate(iat)) return invalid('invalid iat claim');

    if (this.settings.issuer !== '' && claims['iss'] !== this.settings.issuer) {
      return invalid('token issuer mismatch');
    }
    if (this.settings.audience !== '') {
      const aud = claims['aud'];
      const audOk = typeof aud === 'string' ? aud === this.settings.audience : Array.isArray(aud) && aud.includes(this.settings.audience);
      if (!audOk) return invalid('token audience mismatch');
    }

    const did = claims['did'];
    if (did !== undefined && did !== req.deviceId) return invalid('token bound to another device');
    const plt = claims['plt'];
    if (plt !== undefined && plt !== req.platform) return invalid('token bound to another platform');

    return ok({
      userId: sub,
      deviceId: req.deviceId,
      platform: req.platform,
      expireAt: exp !== undefined ? Math.floor((exp as number) * 1000) : 0,
      boundDeviceId: typeof did === 'string' ? did : '',
      boundPlatform: typeof plt === 'string' ? plt : '',
    });
  }
}

/** Signs `claims` as a compact JWS with header {alg, typ:'JWT'} (for tests, tools and dev tokens). */
export function signJwt(
  claims: JwtClaims,
  key: { alg: 'HS256'; secret: string } | { alg: 'RS256'; privateKeyPem: string },
): string {
  const header = Buffer.from(JSON.stringify({ alg: key.alg, typ: 'JWT' }), 'utf8').toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
  const signingInput = `${header}.${payload}`;
  let sig: Buffer;
  if (key.alg === 'HS256') {
    if (key.secret === '') throw new Error('signJwt: empty HS256 secret');
    sig = hmacSha256(key.secret, signingInput);
  } else {
    sig = crypto.sign('sha256', Buffer.from(signingInput, 'ascii'), key.privateKeyPem);
  }
  return `${signingInput}.${sig.toString('base64url')}`;
}

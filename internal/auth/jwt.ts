import * as crypto from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyOptions, ProtectedHeaderParameters } from 'jose';
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
/** jose refuses RS256 keys below this modulus length (RFC 7518 section 3.3). */
const MIN_RSA_BITS = 2048;

const BASE64URL_RE = /^[A-Za-z0-9_-]+$/;
const NUMERIC_DATE_CLAIMS = ['exp', 'nbf', 'iat'] as const;

type Invalid = { readonly ok: false; readonly error: VerifyError };

function invalid(message: string): Invalid {
  return err({ kind: 'invalid', code: CloseCode.AUTH_FAILED, message });
}

/** close 4003, not 4401: the client should refresh its token, not start over. */
function expired(): Invalid {
  return err({ kind: 'invalid', code: CloseCode.TOKEN_EXPIRED, message: 'token expired' });
}

/**
 * Strict base64url syntax (RFC 7515: no padding, no other characters, canonical form). jose's
 * decoder is lenient (it accepts '=' padding, skips whitespace and ignores non-zero trailing
 * bits), so without this a signature would have several accepted spellings.
 */
function isStrictBase64url(part: string): boolean {
  if (!BASE64URL_RE.test(part) || part.length % 4 === 1) return false;
  return Buffer.from(part, 'base64url').toString('base64url') === part;
}

/** A numeric-date claim that JSON decoded to ±Infinity (e.g. 1e400) is invalid, as any non-number is. */
function nonFiniteDate(claims: JWTPayload): Invalid | undefined {
  for (const name of NUMERIC_DATE_CLAIMS) {
    const v = claims[name];
    if (v !== undefined && !Number.isFinite(v)) return invalid(`invalid ${name} claim`);
  }
  return undefined;
}

/** One of jose's errors as our VerifyError (anything unexpected: 'malformed token'). */
function fromJose(e: unknown): Invalid {
  if (e instanceof errors.JWTExpired) return nonFiniteDate(e.payload) ?? expired();
  if (e instanceof errors.JWTClaimValidationFailed) {
    const bad = nonFiniteDate(e.payload);
    if (bad !== undefined) return bad;
    switch (e.claim) {
      case 'iss':
        return invalid('token issuer mismatch'); // wrong or missing
      case 'aud':
        return invalid('token audience mismatch'); // wrong or missing
      case 'nbf':
        return invalid(e.reason === 'check_failed' ? 'token not yet valid' : 'invalid nbf claim');
      case 'exp':
      case 'iat':
        return invalid(`invalid ${e.claim} claim`); // not a number (an expiry is JWTExpired)
      default:
        return invalid('token claims not accepted');
    }
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) return invalid('invalid token signature');
  if (e instanceof errors.JOSEAlgNotAllowed) return invalid('token algorithm not accepted');
  if (e instanceof errors.JOSENotSupported) return invalid('unsupported token header');
  // The header and the signature part are checked before jose sees the token, so what jose can
  // still find malformed is the payload: not JSON, not an object, not UTF-8, not base64url/ASCII.
  if (e instanceof errors.JWTInvalid || e instanceof errors.JWSInvalid) return invalid('malformed token payload');
  return invalid('malformed token');
}

/**
 * Verifies compact-JWS JWTs locally (HS256 with a shared secret, RS256 with a public key).
 * Signature and registered claims (`exp`, `nbf` with the clock skew, `iat`, `iss`, `aud`) are
 * checked by jose, restricted to the accepted algorithms that have a key (so `alg: none` and the
 * HS256-signed-with-the-public-key confusion never verify). Around it, our own parts: the size
 * bound, a strict envelope (three canonical base64url parts, a header with a string `alg`, no
 * `crit`, `typ` absent or JWT), the `sub` checks, the `did` / `plt` binding to the request, and
 * the mapping of every outcome to a VerifyError (4003 for an expired token, 4401 otherwise).
 * `now` returns the current time in unix milliseconds (default Date.now).
 * Throws from the constructor only on a configuration error (an unparseable, non-RSA or shorter
 * than 2048-bit public key PEM, a negative or non-finite clock skew); `verify` never rejects.
 */
export class JwtVerifier implements TokenVerifier {
  private readonly hsKey: Uint8Array | undefined;
  private readonly rsKey: crypto.KeyObject | undefined;
  /** The accepted algorithms that have a key: the only ones a token may use. */
  private readonly usable: ReadonlySet<string>;
  private readonly options: Readonly<JWTVerifyOptions>;

  constructor(
    settings: JwtSettings,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isFinite(settings.clockSkewSec) || settings.clockSkewSec < 0) {
      throw new Error(`jwt: clockSkewSec must be a non-negative number, got ${settings.clockSkewSec}`);
    }
    const algs = new Set<string>(settings.algorithms);
    this.hsKey = algs.has('HS256') && settings.secret !== '' ? new Uint8Array(Buffer.from(settings.secret, 'utf8')) : undefined;
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
      const bits = rsKey.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < MIN_RSA_BITS) throw new Error(`jwt: the RS256 public key must be an RSA key of at least ${MIN_RSA_BITS} bits, got ${bits}`);
    }
    this.rsKey = rsKey;
    const usable: JwtAlgorithm[] = [];
    if (this.hsKey !== undefined) usable.push('HS256');
    if (this.rsKey !== undefined) usable.push('RS256');
    this.usable = new Set(usable);
    this.options = {
      algorithms: usable,
      clockTolerance: settings.clockSkewSec,
      ...(settings.issuer !== '' ? { issuer: settings.issuer } : {}),
      ...(settings.audience !== '' ? { audience: settings.audience } : {}),
    };
  }

  async verify(req: TokenRequest): Promise<Result<Identity, VerifyError>> {
    try {
      return await this.check(req);
    } catch {
      // Defensive: nothing in check() is expected to throw, but verify must never reject.
      return invalid('malformed token');
    }
  }

  async close(): Promise<void> {
    // Nothing to release.
  }

  private async check(req: TokenRequest): Promise<Result<Identity, VerifyError>> {
    const token: unknown = req.token;
    if (typeof token !== 'string' || token === '') return invalid('missing token');
    if (token.length > MAX_TOKEN_BYTES || Buffer.byteLength(token, 'utf8') > MAX_TOKEN_BYTES) {
      return invalid('token too large');
    }
    const refused = this.checkEnvelope(token);
    if (refused !== undefined) return refused;

    let claims: JWTPayload;
    try {
      // The key follows the algorithm, never the other way round: HS256 always gets the secret.
      ({ payload: claims } = await jwtVerify(token, (header) => this.keyFor(header), { ...this.options, currentDate: new Date(this.now()) }));
    } catch (e) {
      return fromJose(e);
    }
    return nonFiniteDate(claims) ?? this.bind(claims, req);
  }

  /**
   * What is checked before jose sees the token, in this order (as before jose): three parts; a
   * canonical base64url header decoding to an object with a string `alg`; no `crit` (no extension
   * is supported); `typ` absent or JWT; an accepted algorithm with a key; a canonical base64url
   * signature. jose then checks the signature before it looks at the payload.
   */
  private checkEnvelope(token: string): Invalid | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return invalid('malformed token');
    const [headerPart, , sigPart] = parts as [string, string, string];
    if (!isStrictBase64url(headerPart)) return invalid('malformed token header');
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return invalid('malformed token header');
    }
    const alg: unknown = header.alg;
    if (typeof alg !== 'string') return invalid('malformed token header');
    if (header.crit !== undefined) return invalid('unsupported token header');
    const typ: unknown = header.typ;
    if (typ !== undefined && (typeof typ !== 'string' || typ.toUpperCase() !== 'JWT')) return invalid('unsupported token type');
    if (!this.usable.has(alg)) return invalid('token algorithm not accepted');
    if (!isStrictBase64url(sigPart)) return invalid('malformed token signature');
    return undefined;
  }

  private keyFor(header: { readonly alg?: string }): Uint8Array | crypto.KeyObject {
    const key = header.alg === 'HS256' ? this.hsKey : header.alg === 'RS256' ? this.rsKey : undefined;
    // Unreachable: jose only asks for an algorithm of options.algorithms, each of which has a key.
    if (key === undefined) throw new errors.JOSEAlgNotAllowed('no key for this algorithm');
    return key;
  }

  /** Our claims on top of jose's: the subject, and the device / platform the token is bound to. */
  private bind(claims: JWTPayload, req: TokenRequest): Result<Identity, VerifyError> {
    const sub = claims.sub;
    if (typeof sub !== 'string' || sub === '') return invalid('token has no subject');
    if (sub.length > MAX_SUB_LENGTH) return invalid('token subject too long');
    const did = claims['did'];
    if (did !== undefined && did !== req.deviceId) return invalid('token bound to another device');
    const plt = claims['plt'];
    if (plt !== undefined && plt !== req.platform) return invalid('token bound to another platform');
    return ok({
      userId: sub,
      deviceId: req.deviceId,
      platform: req.platform,
      expireAt: claims.exp !== undefined ? Math.floor(claims.exp * 1000) : 0,
      boundDeviceId: typeof did === 'string' ? did : '',
      boundPlatform: typeof plt === 'string' ? plt : '',
    });
  }
}

function hmacSha256(secret: string, input: string): Buffer {
  return crypto.createHmac('sha256', secret).update(input, 'ascii').digest();
}

/**
 * Signs `claims` as a compact JWS with header {alg, typ:'JWT'} (for tests, tools and dev tokens).
 * Synchronous on purpose (node:crypto): jose's SignJWT is async, and its callers are not.
 */
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

/**
 * Property-based fuzzing of the JWT verifier (`JwtVerifier`): random strings, random dot-separated
 * parts, and tokens built from hostile JSON headers and claims (alg none / None / nOnE, unknown
 * algorithms, HS256 signed with the RSA public key's PEM, crit, odd typ, missing or mistyped
 * exp / nbf / iat / sub, huge and non-finite numbers, a sub of 10,000 characters, prototype keys,
 * duplicated keys, non-canonical base64url) signed in every way that matters. `verify` must
 * resolve (never reject) to an error Result unless the token is genuinely valid, as decided by a
 * reference model of RFC 7515 / 7519 and the gateway's own rules; a valid token must still verify.
 * The error kind is any string (an expired token may get its own kind). No fixed seed.
 */
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import fc from 'fast-check';
import type { Result } from '../../pkg/result';
import { PLATFORMS } from '../protocol/codes';
import type { Platform } from '../protocol/codes';
import { JwtVerifier, signJwt } from './jwt';
import type { JwtSettings } from './jwt';
import type { Identity, TokenRequest, VerifyError } from './types';
import { assertNoPrototypePollution } from '../../test/support/pollution';

// The failing assertion goes into fast-check's report (node:test does not print an error's cause).
fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

const SECRET = 'fuzz-secret-0123456789abcdef';
const NOW_SEC = 1_700_000_000;
const NOW_MS = NOW_SEC * 1000;
const MAX_TOKEN_BYTES = 8 * 1024;
const MAX_SUB = 128;

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUBLIC_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const PRIVATE_KEY = rsa.privateKey;
const PRIVATE_PEM = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

interface Variant {
  readonly name: string;
  readonly settings: JwtSettings;
  readonly verifier: JwtVerifier;
}

function variant(name: string, s: JwtSettings): Variant {
  return { name, settings: s, verifier: new JwtVerifier(s, () => NOW_MS) };
}

/** Verifier configurations: HS256 only; both with iss/aud and a skew; RS256 only (a secret configured but HS256 not accepted). */
const VARIANTS: readonly Variant[] = [
  variant('hs', { algorithms: ['HS256'], secret: SECRET, publicKeyPem: '', issuer: '', audience: '', clockSkewSec: 0 }),
  variant('hs+rs', { algorithms: ['HS256', 'RS256'], secret: SECRET, publicKeyPem: PUBLIC_PEM, issuer: 'https://issuer.example', audience: 'ima', clockSkewSec: 30 }),
  variant('rs', { algorithms: ['RS256'], secret: SECRET, publicKeyPem: PUBLIC_PEM, issuer: '', audience: '', clockSkewSec: 5 }),
];
const variantArb = fc.constantFrom(...VARIANTS);

const requestArb = fc.record({ deviceId: fc.constantFrom('dev-1', 'dev-2', ''), platform: fc.constantFrom<Platform>(...PLATFORMS) });

function tokenRequest(token: string, r: { deviceId: string; platform: Platform }): TokenRequest {
  return { token, deviceId: r.deviceId, platform: r.platform, clientIp: '127.0.0.1', instanceId: 'gw-fuzz' };
}

// ----- checks common to every answer -----------------------------------------------------------


/** verify resolves (a rejection fails the property) to a well-formed Result that never echoes the token. */
async function verifyChecked(v: Variant, token: string, r: { deviceId: string; platform: Platform }): Promise<Result<Identity, VerifyError>> {
  const res = await v.verifier.verify(tokenRequest(token, r));
  assertNoPrototypePollution();
  assert.ok(typeof res === 'object' && res !== null && typeof res.ok === 'boolean');
  if (res.ok) {
    assert.equal(typeof res.value.userId, 'string');
    assert.equal(res.value.deviceId, r.deviceId);
    assert.equal(res.value.platform, r.platform);
    assert.equal(typeof res.value.expireAt, 'number');
  } else {
    assert.equal(typeof res.error.kind, 'string');
    assert.ok(typeof res.error.message === 'string' && res.error.message.length > 0, 'an error has a message');
    if (token.length >= 8) assert.ok(!res.error.message.includes(token), 'the token never appears in a message');
  }
  return res;
}

// ----- generators -----------------------------------------------------------------------------------

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'] as const;

const hostileUnit = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.constantFrom('.', '"', '\\', '=', '+', '/', '-', '_', ' ', '\u0000', '\ufeff', 'é') },
);
const hostileString = (maxLength = 20): fc.Arbitrary<string> => fc.string({ unit: hostileUnit, maxLength });
const str = (s: string): string => JSON.stringify(s);
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

const EDGE_NUMBERS = ['-0', '0', '1e308', '-1e308', '9007199254740991', '9007199254740993', '9223372036854775808', '18446744073709551616', '1e400', '-1e400', '5e-324', '1.5', '123456789012345678901234567890'];
const WRONG_TYPES = ['null', 'true', '"1700000000"', '""', '[]', '[1700000000]', '{}', '{"$date":1}'];

/** A numeric date around now (past, future, the exact edges with each skew), an edge number, or a wrong type. */
const dateText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -100_000, max: 100_000 }).map((d) => String(NOW_SEC + d)) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 1e9 }).map((d) => String(NOW_SEC + d)) },
  { weight: 2, arbitrary: fc.constantFrom(0, 5, 30).chain((skew) => fc.constantFrom(-skew - 1, -skew, -skew + 1, skew - 1, skew, skew + 1).map((d) => String(NOW_SEC + d))) },
  { weight: 1, arbitrary: fc.double({ min: NOW_SEC - 100, max: NOW_SEC + 100, noNaN: true }).map(String) },
  { weight: 2, arbitrary: fc.constantFrom(...EDGE_NUMBERS) },
  { weight: 1, arbitrary: fc.constantFrom(...WRONG_TYPES) },
);

const subText: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: hostileUnit, minLength: 1, maxLength: 40 }).map(str) },
  { weight: 1, arbitrary: fc.constantFrom(str(''), str('x'.repeat(MAX_SUB)), str('x'.repeat(MAX_SUB + 1)), str('x'.repeat(10_000)), str('\ud800'.repeat(MAX_SUB)), str('😀'.repeat(64)), str('😀'.repeat(65))) },
  { weight: 1, arbitrary: fc.constantFrom(...WRONG_TYPES, ...EDGE_NUMBERS) },
);

const pollutionText = fc.constantFrom(...PROTO_KEYS).map((k) => `${str(k)}:{"polluted":true,"sub":"admin","alg":"HS256","constructor":{"prototype":{"polluted":true}}}`);

type Entry = readonly [string, string];
/** `entries` as a JSON object text, in any order, some keys maybe twice (JSON.parse keeps the last). */
function objectText(entries: fc.Arbitrary<readonly Entry[]>): fc.Arbitrary<string> {
  return entries.chain((es) => fc.shuffledSubarray([...es], { minLength: es.length, maxLength: es.length })).map((es) => `{${es.map(([k, v]) => (k === '' ? v : `${str(k)}:${v}`)).join(',')}}`);
}
/**
 * Each named field present with its probability in percent, plus (one time in three) extra and
 * duplicated entries; a '' key means a raw `"k":v` text.
 */
function fields(named: ReadonlyArray<readonly [string, fc.Arbitrary<string>, number]>, extra: fc.Arbitrary<Entry>): fc.Arbitrary<readonly Entry[]> {
  const maybe = ([k, v, pct]: readonly [string, fc.Arbitrary<string>, number]): fc.Arbitrary<Entry | null> =>
    fc.tuple(fc.noBias(fc.integer({ min: 0, max: 99 })), v).map(([roll, t]): Entry | null => (roll < pct ? [k, t] : null));
  return fc
    .tuple(fc.tuple(...named.map(maybe)), fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(extra, { minLength: 1, maxLength: 2 }) }))
    .map(([es, more]) => [...es.filter((e): e is Entry => e !== null), ...more]);
}

const ALGS = ['"HS256"', '"RS256"', '"none"', '"None"', '"nOnE"', '"NONE"', '"hs256"', '"HS512"', '"ES256"', '"PS256"', '""', '"HS256 "', '"HS256\\u0000"', 'null', '1', '["HS256"]', '{"alg":"HS256"}', 'true'];
const algText = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('"HS256"', '"RS256"') }, { weight: 2, arbitrary: fc.constantFrom(...ALGS) });
const typText = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('"JWT"', '"jwt"', '"JwT"') }, { weight: 1, arbitrary: fc.constantFrom('"JWE"', '""', '"application/jwt"', '"at+jwt"', '1', 'null', '["JWT"]') });
const critText = fc.constantFrom('["exp"]', '[]', 'null', '"b64"', '["b64"]', '[1]');

const headerText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 8,
    arbitrary: objectText(
      fields(
        [
          ['alg', algText, 95],
          ['typ', typText, 40],
          ['crit', critText, 5],
        ],
        fc.oneof(
          fc.constantFrom<Entry>(['kid', '"../../etc/passwd"'], ['b64', 'false'], ['jku', '"https://evil.example/jwks"'], ['x5u', '"https://evil.example/cert"'], ['jwk', '{"kty":"oct","k":"AAAA"}'], ['alg', '"none"'], ['alg', '"HS256"'], ['typ', '"JWT"']),
          pollutionText.map((t): Entry => ['', t]),
        ),
      ),
    ),
  },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('null', '[]', '"HS256"', '{"alg":"HS256"', 'not json', '', '{"alg":"HS256"}garbage', '{"alg":"HS256",}'), hostileString(40)) },
);

const claimsText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 10,
    arbitrary: objectText(
      fields(
        [
          ['sub', subText, 95],
          ['exp', dateText, 50],
          ['nbf', dateText, 25],
          ['iat', dateText, 25],
          ['iss', fc.oneof({ weight: 3, arbitrary: fc.constant(str('https://issuer.example')) }, { weight: 1, arbitrary: fc.constantFrom(str('https://evil.example'), str(''), 'null', '1', '["https://issuer.example"]') }), 60],
          ['aud', fc.oneof({ weight: 3, arbitrary: fc.constantFrom(str('ima'), '["other","ima"]') }, { weight: 1, arbitrary: fc.constantFrom(str('other'), '["other"]', '[]', 'null', '1', '[["ima"]]') }), 60],
          ['did', fc.constantFrom(str('dev-1'), str('dev-2'), str(''), '1', 'null', '["dev-1"]'), 20],
          ['plt', fc.constantFrom(...PLATFORMS.map(str), str('IOS'), '1', 'null'), 20],
        ],
        fc.oneof(
          fc.tuple(fc.constantFrom('sub', 'exp', 'nbf', 'iat', 'did', 'plt'), fc.oneof(subText, dateText)),
          fc.tuple(hostileString(8), fc.oneof(subText, dateText)),
          pollutionText.map((t): Entry => ['', t]),
        ),
      ),
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('null', '[]', '"sub"', '{"sub":"u"', 'not json', '', '{"sub":"u"}x') },
);

type SigKind = 'hs-secret' | 'hs-pem' | 'hs-other' | 'rs-private' | 'rs-of-other-input' | 'empty' | 'random' | 'hs-truncated' | 'hs-padded' | 'hs-std-alphabet' | 'hs-trailing-bits';
/** 'match' signs with the key the header's alg names (the secret for HS256, the private key for RS256). */
const sigKindArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<SigKind | 'match'>('match') },
  { weight: 2, arbitrary: fc.constantFrom<SigKind>('hs-secret', 'rs-private') },
  { weight: 3, arbitrary: fc.constantFrom<SigKind>('hs-pem', 'hs-other', 'rs-of-other-input', 'empty', 'random', 'hs-truncated', 'hs-padded', 'hs-std-alphabet', 'hs-trailing-bits') },
);

/** How a segment is spelled: canonical base64url, or padded / standard-alphabet / with spaces (not canonical). */
type Spelling = 'canonical' | 'padded' | 'std' | 'space';
const spellingArb = fc.oneof({ weight: 20, arbitrary: fc.constant<Spelling>('canonical') }, { weight: 1, arbitrary: fc.constantFrom<Spelling>('padded', 'std', 'space') });
function spell(text: string, s: Spelling): string {
  const b = Buffer.from(text, 'utf8');
  switch (s) {
    case 'canonical':
      return b.toString('base64url');
    case 'padded':
      return b.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    case 'std':
      return b.toString('base64').replace(/=+$/, '');
    default:
      return ` ${b.toString('base64url')}`;
  }
}
function canonical(seg: string): boolean {
  return /^[A-Za-z0-9_-]+$/.test(seg) && Buffer.from(seg, 'base64url').toString('base64url') === seg;
}

function hmac(key: string, input: string): Buffer {
  return crypto.createHmac('sha256', key).update(input, 'utf8').digest();
}

function signature(kind: SigKind, input: string, random: Uint8Array): string {
  switch (kind) {
    case 'hs-secret':
      return hmac(SECRET, input).toString('base64url');
    case 'hs-pem':
      return hmac(PUBLIC_PEM, input).toString('base64url'); // the key confusion attack
    case 'hs-other':
      return hmac('not-the-secret', input).toString('base64url');
    case 'rs-private':
      return crypto.sign('sha256', Buffer.from(input, 'utf8'), PRIVATE_KEY).toString('base64url');
    case 'rs-of-other-input':
      return crypto.sign('sha256', Buffer.from(`${input}x`, 'utf8'), PRIVATE_KEY).toString('base64url');
    case 'empty':
      return '';
    case 'random':
      return Buffer.from(random).toString('base64url');
    case 'hs-truncated':
      return hmac(SECRET, input).subarray(0, 16).toString('base64url');
    case 'hs-padded':
      return `${hmac(SECRET, input).toString('base64url')}=`;
    case 'hs-std-alphabet':
      return hmac(SECRET, input).toString('base64');
    case 'hs-trailing-bits': {
      // 32 bytes -> 43 characters whose last one carries 2 unused bits: set them
      const s = hmac(SECRET, input).toString('base64url');
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(s.slice(-1));
      return s.slice(0, -1) + (alphabet[last | 1] ?? 'B');
    }
  }
}

interface Built {
  readonly token: string;
  readonly headerText: string;
  readonly claimsText: string;
  readonly sig: SigKind;
  readonly headerSeg: string;
  readonly claimsSeg: string;
  readonly sigSeg: string;
}

const builtTokenArb: fc.Arbitrary<Built> = fc
  .record({ h: headerText, c: claimsText, sig: sigKindArb, hs: spellingArb, cs: spellingArb, random: fc.uint8Array({ minLength: 1, maxLength: 300 }) })
  .map(({ h, c, sig: how, hs, cs, random }) => {
    let sig: SigKind;
    if (how !== 'match') sig = how;
    else {
      const alg = parseObject(h)?.['alg'];
      sig = alg === 'HS256' ? 'hs-secret' : alg === 'RS256' ? 'rs-private' : 'random';
    }
    const headerSeg = spell(h, hs);
    const claimsSeg = spell(c, cs);
    const input = `${headerSeg}.${claimsSeg}`;
    const sigSeg = signature(sig, input, random);
    return { token: `${input}.${sigSeg}`, headerText: h, claimsText: c, sig, headerSeg, claimsSeg, sigSeg };
  });

// ----- reference model ---------------------------------------------------------------------------------

function parseObject(text: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text, 'utf8').toString('utf8')); // lone surrogates travel as U+FFFD
  } catch {
    return undefined;
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

type Verdict = { readonly valid: true; readonly claims: Record<string, unknown> } | { readonly valid: false } | { readonly valid: 'either'; readonly claims: Record<string, unknown> };

/**
 * RFC 7515 / 7519 and the gateway's rules: at most 8 KiB; a canonical base64url header that is a
 * JSON object with a string `alg` the verifier accepts and has a key for, no `crit`, `typ` absent
 * or "JWT" in any case; a canonical signature made with that key over the two first segments;
 * claims that are a JSON object; `sub` a string of 1 to 128 characters; `exp` (if present) a
 * finite number with now < exp + skew; `nbf` a finite number with nbf <= now + skew; `iat` a
 * finite number; `iss` / `aud` as configured; `did` / `plt` equal to the request's.
 * A non-canonical spelling of the (correctly signed) payload segment may go either way.
 */
function reference(b: Built, v: Variant, r: { deviceId: string; platform: Platform }): Verdict {
  const s = v.settings;
  if (Buffer.byteLength(b.token, 'utf8') > MAX_TOKEN_BYTES) return { valid: false };
  if (!canonical(b.headerSeg) || !canonical(b.sigSeg)) return { valid: false };
  const header = parseObject(b.headerText);
  if (header === undefined) return { valid: false };
  const alg = header['alg'];
  if (Object.prototype.hasOwnProperty.call(header, 'crit')) return { valid: false };
  const typ = header['typ'];
  if (typ !== undefined && (typeof typ !== 'string' || typ.toUpperCase() !== 'JWT')) return { valid: false };
  const hs = s.algorithms.includes('HS256') && s.secret !== '';
  const rs = s.algorithms.includes('RS256') && s.publicKeyPem !== '';
  const signedRight = (alg === 'HS256' && hs && b.sig === 'hs-secret') || (alg === 'RS256' && rs && b.sig === 'rs-private');
  if (!signedRight) return { valid: false };
  const claims = parseObject(b.claimsText);
  if (claims === undefined) return { valid: false };
  const sub = claims['sub'];
  if (typeof sub !== 'string' || sub.length < 1 || sub.length > MAX_SUB) return { valid: false };
  const exp = claims['exp'];
  if (exp !== undefined && (!finite(exp) || NOW_SEC >= exp + s.clockSkewSec)) return { valid: false };
  const nbf = claims['nbf'];
  if (nbf !== undefined && (!finite(nbf) || nbf > NOW_SEC + s.clockSkewSec)) return { valid: false };
  const iat = claims['iat'];
  if (iat !== undefined && !finite(iat)) return { valid: false };
  if (s.issuer !== '' && claims['iss'] !== s.issuer) return { valid: false };
  if (s.audience !== '') {
    const aud = claims['aud'];
    if (!(aud === s.audience || (Array.isArray(aud) && aud.includes(s.audience)))) return { valid: false };
  }
  if (claims['did'] !== undefined && claims['did'] !== r.deviceId) return { valid: false };
  if (claims['plt'] !== undefined && claims['plt'] !== r.platform) return { valid: false };
  return canonical(b.claimsSeg) ? { valid: true, claims } : { valid: 'either', claims };
}

function assertIdentity(id: Identity, claims: Record<string, unknown>, r: { deviceId: string; platform: Platform }): void {
  assert.equal(id.userId, claims['sub']);
  assert.equal(id.deviceId, r.deviceId);
  assert.equal(id.platform, r.platform);
  const exp = claims['exp'];
  if (exp === undefined) assert.equal(id.expireAt, 0);
  else if (Number.isFinite((exp as number) * 1000)) assert.equal(id.expireAt, Math.floor((exp as number) * 1000));
  assert.equal(id.boundDeviceId, typeof claims['did'] === 'string' ? claims['did'] : '');
  assert.equal(id.boundPlatform, typeof claims['plt'] === 'string' ? claims['plt'] : '');
}

// ----- properties ------------------------------------------------------------------------------------------

describe('JwtVerifier fuzz', () => {
  test('random strings and random dot-separated parts are refused, never a rejection', async () => {
    const segment = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), maxLength: 60 }),
      hostileString(30),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64url')),
      fc.constantFrom('', '=', 'eyJhbGciOiJub25lIn0', 'eyJhbGciOiJIUzI1NiJ9', 'e30', 'bnVsbA'),
    );
    const tokenArb = fc.oneof(
      hostileString(200),
      fc.tuple(fc.string({ unit: hostileUnit, minLength: 1, maxLength: 8 }), fc.integer({ min: 8000, max: 10_000 })).map(([u, n]) => u.repeat(Math.ceil(n / u.length)).slice(0, n)),
      fc.array(segment, { minLength: 1, maxLength: 5 }).map((xs) => xs.join('.')),
      fc.tuple(segment, segment, segment).map((xs) => xs.join('.')),
    );
    await fc.assert(
      fc.asyncProperty(tokenArb, variantArb, requestArb, async (token, v, r) => {
        const res = await verifyChecked(v, token, r);
        assert.equal(res.ok, false, `accepted ${JSON.stringify(token.slice(0, 200))}`);
      }),
      { numRuns: 400 },
    );
  });

  test('tokens of hostile headers and claims, signed every which way: valid exactly when the reference model says so', async () => {
    await fc.assert(
      fc.asyncProperty(builtTokenArb, variantArb, requestArb, async (b, v, r) => {
        const res = await verifyChecked(v, b.token, r);
        const want = reference(b, v, r);
        const what = `${v.name}: header ${b.headerText.slice(0, 300)} claims ${b.claimsText.slice(0, 300)} sig ${b.sig}`;
        if (want.valid === false) {
          assert.equal(res.ok, false, `accepted: ${what}`);
          return;
        }
        if (want.valid === true && !res.ok) assert.fail(`refused (${JSON.stringify(res.error)}): ${what}`);
        if (res.ok) assertIdentity(res.value, want.claims, r);
      }),
      { numRuns: 700 },
    );
  });

  test('HS256 with the RSA public key PEM as the secret (key confusion) and alg none never verify', async () => {
    const claims = fc.record({ sub: fc.constantFrom('admin', 'u'), exp: fc.integer({ min: NOW_SEC + 60, max: NOW_SEC + 10_000 }) });
    const forged = fc.tuple(claims, fc.constantFrom('HS256', 'none', 'None', 'nOnE', 'NONE', ''), fc.constantFrom('pem', 'pem-trimmed', 'empty', 'none-sig')).map(([c, alg, how]) => {
      const input = `${b64(JSON.stringify({ alg, typ: 'JWT' }))}.${b64(JSON.stringify(c))}`;
      const sig = how === 'pem' ? hmac(PUBLIC_PEM, input).toString('base64url') : how === 'pem-trimmed' ? hmac(PUBLIC_PEM.trim(), input).toString('base64url') : how === 'empty' ? '' : b64('none');
      return `${input}.${sig}`;
    });
    await fc.assert(
      fc.asyncProperty(forged, variantArb, requestArb, async (token, v, r) => {
        const res = await verifyChecked(v, token, r);
        assert.equal(res.ok, false, `${v.name} accepted ${token}`);
      }),
      { numRuns: 150 },
    );
  });

  test('a valid signed token still verifies, with its identity', async () => {
    const valid = fc.record(
      {
        sub: fc.string({ unit: hostileUnit, minLength: 1, maxLength: MAX_SUB }).filter((s) => s.length <= MAX_SUB),
        exp: fc.option(fc.integer({ min: NOW_SEC + 31, max: NOW_SEC + 10 * 365 * 86_400 }), { nil: undefined }),
        nbf: fc.option(fc.integer({ min: NOW_SEC - 86_400, max: NOW_SEC }), { nil: undefined }),
        iat: fc.option(fc.integer({ min: NOW_SEC - 86_400, max: NOW_SEC }), { nil: undefined }),
        bindDevice: fc.boolean(),
        bindPlatform: fc.boolean(),
        extra: fc.dictionary(fc.oneof(fc.constantFrom('constructor', 'toString', 'hasOwnProperty', 'jti', 'scope'), hostileString(6)), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
      },
      { requiredKeys: ['sub', 'bindDevice', 'bindPlatform', 'extra'] },
    );
    await fc.assert(
      fc.asyncProperty(valid, variantArb, requestArb, async (c, v, r) => {
        const claims: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(c.extra)) if (!['sub', 'exp', 'nbf', 'iat', 'iss', 'aud', 'did', 'plt', '__proto__'].includes(k)) claims[k] = x;
        claims['sub'] = c.sub;
        if (c.exp !== undefined) claims['exp'] = c.exp;
        if (c.nbf !== undefined) claims['nbf'] = c.nbf;
        if (c.iat !== undefined) claims['iat'] = c.iat;
        if (v.settings.issuer !== '') claims['iss'] = v.settings.issuer;
        if (v.settings.audience !== '') claims['aud'] = [v.settings.audience];
        if (c.bindDevice) claims['did'] = r.deviceId;
        if (c.bindPlatform) claims['plt'] = r.platform;
        const token = v.settings.algorithms.includes('HS256') ? signJwt({ ...claims, sub: c.sub }, { alg: 'HS256', secret: SECRET }) : signJwt({ ...claims, sub: c.sub }, { alg: 'RS256', privateKeyPem: PRIVATE_PEM });
        fc.pre(Buffer.byteLength(token, 'utf8') <= MAX_TOKEN_BYTES);
        const res = await verifyChecked(v, token, r);
        if (!res.ok) assert.fail(`${v.name} refused a valid token: ${JSON.stringify(res.error)}`);
        // the identity is what the token says (JSON.stringify escapes lone surrogates, so even they survive)
        assertIdentity(res.value, claims, r);
      }),
      { numRuns: 200 },
    );
  });

  test('an expired token is refused (any error kind), at every skew edge', async () => {
    await fc.assert(
      fc.asyncProperty(variantArb, fc.integer({ min: 0, max: 1_000_000 }), requestArb, async (v, ago, r) => {
        const exp = NOW_SEC - v.settings.clockSkewSec - ago;
        const claims = { sub: 'u', exp, ...(v.settings.issuer !== '' ? { iss: v.settings.issuer } : {}), ...(v.settings.audience !== '' ? { aud: v.settings.audience } : {}) };
        const token = v.settings.algorithms.includes('HS256') ? signJwt(claims, { alg: 'HS256', secret: SECRET }) : signJwt(claims, { alg: 'RS256', privateKeyPem: PRIVATE_PEM });
        const res = await verifyChecked(v, token, r);
        assert.equal(res.ok, false);
        // one second less and it is still valid
        const fresh = v.settings.algorithms.includes('HS256') ? signJwt({ ...claims, exp: exp + ago + 1 }, { alg: 'HS256', secret: SECRET }) : signJwt({ ...claims, exp: exp + ago + 1 }, { alg: 'RS256', privateKeyPem: PRIVATE_PEM });
        assert.equal((await verifyChecked(v, fresh, r)).ok, true);
      }),
      { numRuns: 100 },
    );
  });
});

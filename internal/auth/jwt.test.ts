import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import type { Result } from '../../pkg/result';
import { JwtVerifier, signJwt } from './jwt';
import type { JwtClaims, JwtSettings } from './jwt';
import type { Identity, TokenRequest, VerifyError } from './types';

const SECRET = 'test-secret-0123456789abcdef';
const NOW_MS = 1_700_000_000_000;
const NOW_SEC = NOW_MS / 1000;

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUBLIC_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const PRIVATE_PEM = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

function settings(over: Partial<JwtSettings> = {}): JwtSettings {
  return { algorithms: ['HS256'], secret: SECRET, publicKeyPem: '', issuer: '', audience: '', clockSkewSec: 0, ...over };
}

function verifier(over: Partial<JwtSettings> = {}, nowMs = NOW_MS): JwtVerifier {
  return new JwtVerifier(settings(over), () => nowMs);
}

function request(token: string, over: Partial<TokenRequest> = {}): TokenRequest {
  return { token, deviceId: 'dev-1', platform: 'ios', clientIp: '127.0.0.1', instanceId: 'gw-1', ...over };
}

function hs(claims: JwtClaims, secret = SECRET): string {
  return signJwt(claims, { alg: 'HS256', secret });
}

function rs(claims: JwtClaims): string {
  return signJwt(claims, { alg: 'RS256', privateKeyPem: PRIVATE_PEM });
}

function b64(v: unknown): string {
  return Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64url');
}

function assertValid(r: Result<Identity, VerifyError>): Identity {
  if (!r.ok) assert.fail(`expected a valid token, got ${JSON.stringify(r.error)}`);
  return r.value;
}

function assertInvalid(r: Result<Identity, VerifyError>, message?: string | RegExp): void {
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.kind, 'invalid');
  if (r.error.kind !== 'invalid') return;
  // an expired token is refused with 4003 (refresh, then reconnect), anything else with 4401
  assert.equal(r.error.code, message === 'token expired' ? 4003 : 4401);
  assert.ok(r.error.message.length > 0 && r.error.message.length < 100, 'short message');
  if (typeof message === 'string') assert.equal(r.error.message, message);
  else if (message !== undefined) assert.match(r.error.message, message);
}

async function check(v: JwtVerifier, token: string, over: Partial<TokenRequest> = {}): Promise<Result<Identity, VerifyError>> {
  const r = await v.verify(request(token, over));
  if (!r.ok) assert.ok(token === '' || !r.error.message.includes(token), 'the token never appears in a message');
  return r;
}

void test('HS256: a valid token yields the identity', async () => {
  const token = hs({ sub: 'user-42', exp: NOW_SEC + 3600, iat: NOW_SEC });
  const id = assertValid(await check(verifier(), token));
  assert.deepEqual(id, { userId: 'user-42', deviceId: 'dev-1', platform: 'ios', expireAt: (NOW_SEC + 3600) * 1000, boundDeviceId: '', boundPlatform: '' });
});

void test('signJwt sets the header {alg, typ:"JWT"}', () => {
  const [h] = hs({ sub: 'u' }).split('.');
  assert.deepEqual(JSON.parse(Buffer.from(h ?? '', 'base64url').toString('utf8')), { alg: 'HS256', typ: 'JWT' });
  const [h2] = rs({ sub: 'u' }).split('.');
  assert.deepEqual(JSON.parse(Buffer.from(h2 ?? '', 'base64url').toString('utf8')), { alg: 'RS256', typ: 'JWT' });
});

void test('a token without exp has expireAt 0', async () => {
  const id = assertValid(await check(verifier(), hs({ sub: 'u' })));
  assert.equal(id.expireAt, 0);
});

void test('HS256: a token signed with another secret is invalid', async () => {
  assertInvalid(await check(verifier(), hs({ sub: 'u' }, 'another-secret')), 'invalid token signature');
});

void test('HS256: a tampered payload is invalid', async () => {
  const [h, , s] = hs({ sub: 'alice', exp: NOW_SEC + 60 }).split('.');
  const forged = `${h}.${b64({ sub: 'admin', exp: NOW_SEC + 60 })}.${s}`;
  assertInvalid(await check(verifier(), forged), 'invalid token signature');
});

void test('HS256: a truncated or extended signature is invalid without throwing', async () => {
  const token = hs({ sub: 'u' });
  const [h, p, s] = token.split('.') as [string, string, string];
  const sig = Buffer.from(s, 'base64url');
  assertInvalid(await check(verifier(), `${h}.${p}.${sig.subarray(0, 16).toString('base64url')}`), 'invalid token signature');
  assertInvalid(await check(verifier(), `${h}.${p}.${Buffer.concat([sig, Buffer.from([0])]).toString('base64url')}`), 'invalid token signature');
});

void test('alg none is rejected (with or without a signature part)', async () => {
  const payload = b64({ sub: 'u' });
  for (const alg of ['none', 'None', 'NONE']) {
    const header = b64({ alg, typ: 'JWT' });
    assertInvalid(await check(verifier(), `${header}.${payload}.`), 'token algorithm not accepted');
    assertInvalid(await check(verifier(), `${header}.${payload}.${b64('x')}`), 'token algorithm not accepted');
  }
});

void test('an algorithm outside the accepted list is rejected', async () => {
  // Unknown algorithms.
  for (const alg of ['HS512', 'ES256', 'PS256', 'hs256']) {
    const header = b64({ alg, typ: 'JWT' });
    assertInvalid(await check(verifier(), `${header}.${b64({ sub: 'u' })}.${b64('sig')}`), 'token algorithm not accepted');
  }
  // A well-signed HS256 token when only RS256 is accepted (even though a secret is set).
  const v = verifier({ algorithms: ['RS256'], publicKeyPem: PUBLIC_PEM });
  assertInvalid(await check(v, hs({ sub: 'u' })), 'token algorithm not accepted');
  // A missing or non-string alg.
  assertInvalid(await check(verifier(), `${b64({ typ: 'JWT' })}.${b64({ sub: 'u' })}.${b64('sig')}`), 'malformed token header');
  assertInvalid(await check(verifier(), `${b64({ alg: 1 })}.${b64({ sub: 'u' })}.${b64('sig')}`), 'malformed token header');
});

void test('an accepted algorithm without a configured key is rejected', async () => {
  assertInvalid(await check(verifier({ algorithms: ['HS256', 'RS256'], secret: '', publicKeyPem: PUBLIC_PEM }), hs({ sub: 'u' })), 'token algorithm not accepted');
  assertInvalid(await check(verifier({ algorithms: ['HS256', 'RS256'] }), rs({ sub: 'u' })), 'token algorithm not accepted');
});

void test('RS256: a valid token signed with the private key is accepted', async () => {
  const v = verifier({ algorithms: ['RS256'], secret: '', publicKeyPem: PUBLIC_PEM });
  const id = assertValid(await check(v, rs({ sub: 'user-7', exp: NOW_SEC + 10 }), { platform: 'web', deviceId: 'd9' }));
  assert.deepEqual(id, { userId: 'user-7', deviceId: 'd9', platform: 'web', expireAt: (NOW_SEC + 10) * 1000, boundDeviceId: '', boundPlatform: '' });
});

void test('RS256 and HS256 both accepted: each token is checked with its own key', async () => {
  const v = verifier({ algorithms: ['HS256', 'RS256'], publicKeyPem: PUBLIC_PEM });
  assertValid(await check(v, rs({ sub: 'a' })));
  assertValid(await check(v, hs({ sub: 'b' })));
});

void test('RS256: a tampered payload or a token signed by another key is invalid', async () => {
  const v = verifier({ algorithms: ['RS256'], secret: '', publicKeyPem: PUBLIC_PEM });
  const [h, , s] = rs({ sub: 'alice' }).split('.');
  assertInvalid(await check(v, `${h}.${b64({ sub: 'admin' })}.${s}`), 'invalid token signature');
  const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const otherPem = other.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  assertInvalid(await check(v, signJwt({ sub: 'u' }, { alg: 'RS256', privateKeyPem: otherPem })), 'invalid token signature');
  // A signature of the wrong length.
  const [h2, p2] = rs({ sub: 'u' }).split('.');
  assertInvalid(await check(v, `${h2}.${p2}.${b64('short')}`), 'invalid token signature');
});

void test('RS256 token presented when only HS256 is configured is rejected', async () => {
  assertInvalid(await check(verifier(), rs({ sub: 'u' })), 'token algorithm not accepted');
});

void test('the HS256-signed-with-the-public-key confusion attack is rejected', async () => {
  const forged = hs({ sub: 'admin' }, PUBLIC_PEM);
  // Only RS256 configured: HS256 is not possible.
  assertInvalid(await check(verifier({ algorithms: ['RS256'], secret: '', publicKeyPem: PUBLIC_PEM }), forged));
  // RS256 configured and HS256 listed, but no secret: still not possible.
  assertInvalid(await check(verifier({ algorithms: ['HS256', 'RS256'], secret: '', publicKeyPem: PUBLIC_PEM }), forged));
  // Both configured: the HMAC key is the secret, never the public key.
  assertInvalid(await check(verifier({ algorithms: ['HS256', 'RS256'], publicKeyPem: PUBLIC_PEM }), forged), 'invalid token signature');
});

void test('an expired token is invalid with "token expired"', async () => {
  assertInvalid(await check(verifier(), hs({ sub: 'u', exp: NOW_SEC - 1 })), 'token expired');
  assertInvalid(await check(verifier(), hs({ sub: 'u', exp: NOW_SEC })), 'token expired');
  assertValid(await check(verifier(), hs({ sub: 'u', exp: NOW_SEC + 1 })));
});

void test('a token whose nbf is in the future is invalid', async () => {
  assertInvalid(await check(verifier(), hs({ sub: 'u', nbf: NOW_SEC + 10 })), 'token not yet valid');
  assertValid(await check(verifier(), hs({ sub: 'u', nbf: NOW_SEC })));
});

void test('clock skew tolerates slightly expired and slightly early tokens', async () => {
  const v = verifier({ clockSkewSec: 30 });
  assertValid(await check(v, hs({ sub: 'u', exp: NOW_SEC - 29 })));
  assertInvalid(await check(v, hs({ sub: 'u', exp: NOW_SEC - 30 })), 'token expired');
  assertValid(await check(v, hs({ sub: 'u', nbf: NOW_SEC + 30 })));
  assertInvalid(await check(v, hs({ sub: 'u', nbf: NOW_SEC + 31 })), 'token not yet valid');
});

void test('the injected clock is used', async () => {
  const token = hs({ sub: 'u', exp: NOW_SEC + 100 });
  let now = NOW_MS;
  const v = new JwtVerifier(settings(), () => now);
  assertValid(await check(v, token));
  now = NOW_MS + 100_000;
  assertInvalid(await check(v, token), 'token expired');
});

void test('non-numeric exp/nbf/iat are invalid', async () => {
  assertInvalid(await check(verifier(), hs({ sub: 'u', exp: 'tomorrow' as unknown as number })), 'invalid exp claim');
  assertInvalid(await check(verifier(), hs({ sub: 'u', nbf: null as unknown as number })), 'invalid nbf claim');
  assertInvalid(await check(verifier(), hs({ sub: 'u', iat: '1' as unknown as number })), 'invalid iat claim');
});

void test('iss is checked when configured', async () => {
  const v = verifier({ issuer: 'https://auth.example' });
  assertValid(await check(v, hs({ sub: 'u', iss: 'https://auth.example' })));
  assertInvalid(await check(v, hs({ sub: 'u', iss: 'https://evil.example' })), 'token issuer mismatch');
  assertInvalid(await check(v, hs({ sub: 'u' })), 'token issuer mismatch');
  // Not configured: any iss is fine.
  assertValid(await check(verifier(), hs({ sub: 'u', iss: 'whoever' })));
});

void test('aud is checked when configured, as a string or an array', async () => {
  const v = verifier({ audience: 'ima-gateway' });
  assertValid(await check(v, hs({ sub: 'u', aud: 'ima-gateway' })));
  assertValid(await check(v, hs({ sub: 'u', aud: ['other', 'ima-gateway'] })));
  assertInvalid(await check(v, hs({ sub: 'u', aud: 'other' })), 'token audience mismatch');
  assertInvalid(await check(v, hs({ sub: 'u', aud: ['other', 'third'] })), 'token audience mismatch');
  assertInvalid(await check(v, hs({ sub: 'u', aud: [] })), 'token audience mismatch');
  assertInvalid(await check(v, hs({ sub: 'u' })), 'token audience mismatch');
  // Not configured: any aud is fine.
  assertValid(await check(verifier(), hs({ sub: 'u', aud: 'x' })));
});

void test('a missing, empty, non-string or too long sub is invalid', async () => {
  const v = verifier();
  const noSub = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ exp: NOW_SEC + 60 })}`;
  const sig = crypto.createHmac('sha256', SECRET).update(noSub).digest('base64url');
  assertInvalid(await check(v, `${noSub}.${sig}`), 'token has no subject');
  assertInvalid(await check(v, hs({ sub: '' })), 'token has no subject');
  assertInvalid(await check(v, hs({ sub: 42 as unknown as string })), 'token has no subject');
  assertValid(await check(v, hs({ sub: 'x'.repeat(128) })));
  assertInvalid(await check(v, hs({ sub: 'x'.repeat(129) })), 'token subject too long');
});

void test('did and plt bind the token to a device and a platform', async () => {
  const v = verifier();
  const token = hs({ sub: 'u', did: 'dev-1', plt: 'android' });
  assertValid(await check(v, token, { deviceId: 'dev-1', platform: 'android' }));
  assertInvalid(await check(v, token, { deviceId: 'dev-2', platform: 'android' }), 'token bound to another device');
  assertInvalid(await check(v, token, { deviceId: 'dev-1', platform: 'ios' }), 'token bound to another platform');
  // Only one of them bound.
  assertValid(await check(v, hs({ sub: 'u', did: 'dev-1' }), { deviceId: 'dev-1', platform: 'web' }));
  assertValid(await check(v, hs({ sub: 'u', plt: 'web' }), { deviceId: 'any', platform: 'web' }));
  // A non-string binding never matches.
  assertInvalid(await check(v, hs({ sub: 'u', did: 1 as unknown as string }), { deviceId: '1' }), 'token bound to another device');
});

void test('garbage tokens are invalid without throwing', async () => {
  const v = verifier({ algorithms: ['HS256', 'RS256'], publicKeyPem: PUBLIC_PEM });
  const good = hs({ sub: 'u' });
  const [h, p, s] = good.split('.') as [string, string, string];
  const garbage: string[] = [
    '',
    'a',
    'a.b',
    'a.b.c',
    'a.b.c.d',
    '...',
    '..',
    `${good}.`,
    `${h}.${p}`,
    `${h}.${p}.${s}.${s}`,
    '!!!.@@@.###',
    `${h}.${p}.${s}!`,
    `${h}=.${p}.${s}`,
    `${h}.${p}.${s}==`,
    `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}x+/`,
    `${b64('not json')}.${p}.${s}`,
    `${b64('[1,2]')}.${p}.${s}`,
    `${b64('null')}.${p}.${s}`,
    `${b64('"HS256"')}.${p}.${s}`,
    `${b64({ alg: 'HS256', crit: ['exp'] })}.${p}.${s}`,
    `${b64({ alg: 'HS256', typ: 'JWE' })}.${p}.${s}`,
    '\u00e9\u00e9.\u00e9\u00e9.\u00e9\u00e9',
    'x'.repeat(9000),
    `${h}.${'A'.repeat(9000)}.${s}`,
    `${h}.${p}.${'\u00e9'.repeat(5000)}`,
  ];
  for (const token of garbage) {
    const r = await v.verify(request(token));
    assertInvalid(r);
    if (!r.ok && token.length >= 8) assert.ok(!r.error.message.includes(token), 'the token never appears in a message');
  }
  assertInvalid(await v.verify(request('x'.repeat(9000))), 'token too large');
  assertInvalid(await v.verify(request('')), 'missing token');
  assertInvalid(await v.verify(request('a.b.c.d')), 'malformed token');
});

void test('a well-signed token whose payload is not JSON is invalid', async () => {
  const v = verifier();
  for (const payload of [b64('not json'), b64('[]'), b64('"sub"'), b64('null')]) {
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${payload}`;
    const sig = crypto.createHmac('sha256', SECRET).update(input).digest('base64url');
    assertInvalid(await check(v, `${input}.${sig}`), 'malformed token payload');
  }
});

void test('a non-string token at runtime does not make verify reject', async () => {
  const v = verifier();
  for (const token of [undefined, null, 42, {}]) {
    assertInvalid(await v.verify(request(token as unknown as string)), 'missing token');
  }
});

void test('a token exactly at the size limit is parsed; one byte more is rejected', async () => {
  const v = verifier();
  const base = hs({ sub: 'u', pad: '' });
  const room = 8192 - base.length;
  // Grow the padding claim until the token is exactly 8192 bytes (base64 grows 4/3 per byte).
  let pad = 'p'.repeat(Math.floor((room * 3) / 4));
  let token = hs({ sub: 'u', pad });
  while (token.length > 8192) {
    pad = pad.slice(1);
    token = hs({ sub: 'u', pad });
  }
  assert.ok(token.length <= 8192);
  assertValid(await check(v, token));
  const big = hs({ sub: 'u', pad: 'p'.repeat(pad.length + 4) });
  assert.ok(big.length > 8192);
  assertInvalid(await check(v, big), 'token too large');
});

void test('the constructor rejects an unusable public key PEM or a negative skew', () => {
  assert.throws(() => new JwtVerifier(settings({ algorithms: ['RS256'], publicKeyPem: 'not a pem' })), /public key/);
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  assert.throws(() => new JwtVerifier(settings({ algorithms: ['RS256'], publicKeyPem: ecPem })), /RSA/);
  assert.throws(() => new JwtVerifier(settings({ clockSkewSec: -1 })), /clockSkewSec/);
  // A PEM that is configured but whose algorithm is not accepted is ignored.
  assert.doesNotThrow(() => new JwtVerifier(settings({ algorithms: ['HS256'], publicKeyPem: 'not a pem' })));
});

void test('close resolves', async () => {
  await verifier().close();
});

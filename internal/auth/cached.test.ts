import { describe, mock, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Result } from '../../pkg/result';
import type { Platform } from '../protocol/codes';
import { CachedTokenVerifier } from './cached';
import type { TokenCacheSettings } from './cached';
import type { Identity, TokenRequest, TokenVerifier, VerifyError } from './types';

type VerifyResult = Result<Identity, VerifyError>;

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * A controllable inner verifier. By default it answers at once from `answer`; with `hold = true`
 * every call waits until the test resolves it through `pending`.
 */
class FakeVerifier implements TokenVerifier {
  readonly calls: TokenRequest[] = [];
  readonly pending: Array<Deferred<VerifyResult>> = [];
  hold = false;
  closed = 0;
  answer: (req: TokenRequest) => VerifyResult = (req) => okIdentity(userOf(req.token), req, 0);

  verify(req: TokenRequest): Promise<VerifyResult> {
    this.calls.push(req);
    if (this.hold) {
      const d = deferred<VerifyResult>();
      this.pending.push(d);
      return d.promise;
    }
    return Promise.resolve(this.answer(req));
  }

  async close(): Promise<void> {
    this.closed++;
  }
}

/** Tokens in these tests are `<user>.<anything>`. */
function userOf(token: string): string {
  return token.split('.')[0] ?? token;
}

function okIdentity(userId: string, req: Pick<TokenRequest, 'deviceId' | 'platform'>, expireAt: number): VerifyResult {
  return { ok: true, value: { userId, deviceId: req.deviceId, platform: req.platform, expireAt, boundDeviceId: '', boundPlatform: '' } };
}

const INVALID: VerifyResult = { ok: false, error: { kind: 'invalid', code: 401, message: 'token rejected' } };
const UNAVAILABLE: VerifyResult = { ok: false, error: { kind: 'unavailable', message: 'muc down' } };

function req(token: string, deviceId = 'dev-1', platform: Platform = 'ios'): TokenRequest {
  return { token, deviceId, platform, clientIp: '127.0.0.1', instanceId: 'gw-1' };
}

const T0 = 1_700_000_000_000;

function settings(over: Partial<TokenCacheSettings> = {}): TokenCacheSettings {
  return { ttlSec: 300, negativeTtlSec: 5, maxKeys: 1000, ...over };
}

interface Harness {
  readonly inner: FakeVerifier;
  readonly cache: CachedTokenVerifier;
  readonly clock: { now: number };
}

function harness(over: Partial<TokenCacheSettings> = {}): Harness {
  const inner = new FakeVerifier();
  const clock = { now: T0 };
  const cache = new CachedTokenVerifier(inner, settings(over), () => clock.now);
  return { inner, cache, clock };
}

/** The node-cache keys, read through a cast: the test checks that no raw token is stored. */
function cacheKeys(c: CachedTokenVerifier): string[] {
  return (c as unknown as { cache: { keys(): string[] } }).cache.keys();
}

function identity(r: VerifyResult): Identity {
  assert.equal(r.ok, true, `expected ok, got ${JSON.stringify(r)}`);
  if (!r.ok) throw new Error('unreachable');
  return r.value;
}

describe('CachedTokenVerifier', () => {
  test('a token bound to a device or platform is served from the cache only to that device and platform', async () => {
    const { inner, cache } = harness();
    inner.answer = (r) => ({ ok: true, value: { userId: 'carol', deviceId: r.deviceId, platform: r.platform, expireAt: 0, boundDeviceId: 'dev-1', boundPlatform: 'ios' } });
    try {
      identity(await cache.verify(req('carol.t', 'dev-1', 'ios')));
      const other = await cache.verify(req('carol.t', 'dev-2', 'ios'));
      assert.deepEqual(other, { ok: false, error: { kind: 'invalid', code: 4401, message: 'token bound to another device' } });
      const otherPlatform = await cache.verify(req('carol.t', 'dev-1', 'web'));
      assert.equal(otherPlatform.ok, false);
      identity(await cache.verify(req('carol.t', 'dev-1', 'ios')));
      assert.equal(inner.calls.length, 1);
    } finally {
      await cache.close();
    }
  });

  test('a miss calls the inner verifier, the next verification is a hit', async () => {
    const { inner, cache } = harness();
    try {
      const a = identity(await cache.verify(req('alice.t1')));
      assert.deepEqual(a, { userId: 'alice', deviceId: 'dev-1', platform: 'ios', expireAt: 0, boundDeviceId: '', boundPlatform: '' });
      assert.deepEqual(cache.stats, { hits: 0, misses: 1, coalesced: 0, invalidations: 0 });
      const b = identity(await cache.verify(req('alice.t1')));
      assert.deepEqual(b, a);
      assert.equal(inner.calls.length, 1);
      assert.deepEqual(cache.stats, { hits: 1, misses: 1, coalesced: 0, invalidations: 0 });
      assert.equal(cache.size, 1);
    } finally {
      await cache.close();
    }
  });

  test('different tokens are different entries', async () => {
    const { inner, cache } = harness();
    try {
      await cache.verify(req('alice.t1'));
      await cache.verify(req('alice.t2'));
      await cache.verify(req('bob.t1'));
      await cache.verify(req('alice.t1'));
      assert.equal(inner.calls.length, 3);
      assert.equal(cache.stats.misses, 3);
      assert.equal(cache.stats.hits, 1);
      assert.equal(cache.size, 3);
    } finally {
      await cache.close();
    }
  });

  test('many verifications of one token make one inner call; each identity carries its own request\'s deviceId and platform', async () => {
    const { inner, cache } = harness();
    try {
      const first = identity(await cache.verify(req('alice.t', 'phone', 'ios')));
      assert.deepEqual([first.deviceId, first.platform], ['phone', 'ios']);
      const second = identity(await cache.verify(req('alice.t', 'browser', 'web')));
      assert.deepEqual(second, { userId: 'alice', deviceId: 'browser', platform: 'web', expireAt: 0, boundDeviceId: '', boundPlatform: '' });
      const third = identity(await cache.verify(req('alice.t', 'phone', 'ios')));
      assert.deepEqual([third.deviceId, third.platform], ['phone', 'ios']); // the cached entry was not mutated
      for (let i = 0; i < 20; i++) {
        const r = identity(await cache.verify(req('alice.t', `dev-${i}`, i % 2 === 0 ? 'android' : 'macos')));
        assert.equal(r.deviceId, `dev-${i}`);
        assert.equal(r.platform, i % 2 === 0 ? 'android' : 'macos');
        assert.equal(r.userId, 'alice');
      }
      assert.equal(inner.calls.length, 1);
      assert.equal(cache.stats.hits, 22);
    } finally {
      await cache.close();
    }
  });

  test('concurrent verifications of one token share one inner call (coalesced)', async () => {
    const { inner, cache } = harness();
    try {
      inner.hold = true;
      const platforms: Platform[] = ['ios', 'android', 'web', 'windows', 'ipad'];
      const ps = platforms.map((p, i) => cache.verify(req('alice.t', `d${i}`, p)));
      assert.equal(inner.calls.length, 1);
      assert.equal(inner.pending.length, 1);
      inner.pending[0]?.resolve(okIdentity('alice', inner.calls[0] ?? req('alice.t'), 0));
      const rs = await Promise.all(ps);
      rs.forEach((r, i) => {
        const id = identity(r);
        assert.equal(id.userId, 'alice');
        assert.equal(id.deviceId, `d${i}`);
        assert.equal(id.platform, platforms[i]);
      });
      assert.deepEqual(cache.stats, { hits: 0, misses: 1, coalesced: 4, invalidations: 0 });
      // and the result is cached afterwards
      identity(await cache.verify(req('alice.t')));
      assert.equal(inner.calls.length, 1);
      assert.equal(cache.stats.hits, 1);
    } finally {
      await cache.close();
    }
  });

  test('concurrent verifications of different tokens are not coalesced', async () => {
    const { inner, cache } = harness();
    try {
      inner.hold = true;
      const p1 = cache.verify(req('alice.t1'));
      const p2 = cache.verify(req('bob.t1'));
      assert.equal(inner.calls.length, 2);
      inner.pending[1]?.resolve(okIdentity('bob', req('bob.t1'), 0));
      inner.pending[0]?.resolve(okIdentity('alice', req('alice.t1'), 0));
      assert.equal(identity(await p1).userId, 'alice');
      assert.equal(identity(await p2).userId, 'bob');
      assert.equal(cache.stats.coalesced, 0);
    } finally {
      await cache.close();
    }
  });

  test('coalesced verifications all receive a failure', async () => {
    const { inner, cache } = harness();
    try {
      inner.hold = true;
      const ps = [cache.verify(req('x.t')), cache.verify(req('x.t')), cache.verify(req('x.t'))];
      inner.pending[0]?.resolve(UNAVAILABLE);
      for (const r of await Promise.all(ps)) assert.deepEqual(r, UNAVAILABLE);
      assert.equal(cache.stats.coalesced, 2);
      // unavailable was not cached, and the in-flight slot was released: a new call goes upstream
      inner.hold = false;
      inner.answer = () => INVALID;
      assert.deepEqual(await cache.verify(req('x.t')), INVALID);
      assert.equal(inner.calls.length, 2);
    } finally {
      await cache.close();
    }
  });

  describe('TTL', () => {
    test('an entry is not served at or after the token\'s expireAt, even when cacheTtl is longer', async () => {
      const { inner, cache, clock } = harness({ ttlSec: 300 });
      try {
        const expireAt = T0 + 10_000; // 10 s, well below the 300 s cache TTL
        inner.answer = (r) => okIdentity('alice', r, expireAt);
        assert.equal(identity(await cache.verify(req('alice.t'))).expireAt, expireAt);
        clock.now = expireAt - 1;
        identity(await cache.verify(req('alice.t')));
        assert.equal(inner.calls.length, 1);
        assert.equal(cache.stats.hits, 1);

        clock.now = expireAt;
        inner.answer = () => INVALID; // the upstream now says it is expired
        assert.deepEqual(await cache.verify(req('alice.t')), INVALID);
        assert.equal(inner.calls.length, 2);
        assert.deepEqual([cache.stats.hits, cache.stats.misses], [1, 2]);
        // and now the rejection is what is cached
        assert.deepEqual(await cache.verify(req('alice.t')), INVALID);
        assert.equal(inner.calls.length, 2);
      } finally {
        await cache.close();
      }
    });

    test('an expired entry is dropped and replaced by the fresh answer', async () => {
      const { inner, cache, clock } = harness({ ttlSec: 300 });
      try {
        inner.answer = (r) => okIdentity('alice', r, clock.now + 5_000);
        await cache.verify(req('alice.t'));
        clock.now += 6_000;
        const fresh = identity(await cache.verify(req('alice.t')));
        assert.equal(fresh.expireAt, clock.now + 5_000);
        assert.equal(inner.calls.length, 2);
        assert.equal(cache.size, 1);
        identity(await cache.verify(req('alice.t')));
        assert.equal(inner.calls.length, 2);
      } finally {
        await cache.close();
      }
    });

    test('a token expiring in less than a second (or already expired) is not cached', async () => {
      const { inner, cache } = harness({ ttlSec: 300 });
      try {
        inner.answer = (r) => okIdentity('alice', r, T0 + 999);
        await cache.verify(req('alice.soon'));
        await cache.verify(req('alice.soon'));
        inner.answer = (r) => okIdentity('alice', r, T0 - 1);
        await cache.verify(req('alice.past'));
        await cache.verify(req('alice.past'));
        assert.equal(inner.calls.length, 4);
        assert.equal(cache.size, 0);
        assert.equal(cache.stats.hits, 0);
      } finally {
        await cache.close();
      }
    });

    test('expireAt 0 (no expiry) is cached for the configured TTL whatever the clock says', async () => {
      const { inner, cache, clock } = harness({ ttlSec: 300 });
      try {
        await cache.verify(req('alice.t'));
        clock.now += 10 * 365 * 86_400_000; // the injected clock does not drive node-cache's own TTL
        identity(await cache.verify(req('alice.t')));
        assert.equal(inner.calls.length, 1);
      } finally {
        await cache.close();
      }
    });

    test('ttlSec 0 disables caching of valid results', async () => {
      const { inner, cache } = harness({ ttlSec: 0 });
      try {
        identity(await cache.verify(req('alice.t')));
        identity(await cache.verify(req('alice.t')));
        identity(await cache.verify(req('alice.t', 'other', 'web')));
        assert.equal(inner.calls.length, 3);
        assert.equal(cache.size, 0);
        assert.deepEqual([cache.stats.hits, cache.stats.misses], [0, 3]);
      } finally {
        await cache.close();
      }
    });

    test('node-cache\'s own TTL expires an entry (real clock, ttlSec 1)', async () => {
      const { inner, cache } = harness({ ttlSec: 1 });
      try {
        identity(await cache.verify(req('alice.t')));
        identity(await cache.verify(req('alice.t')));
        assert.equal(inner.calls.length, 1);
        await new Promise((r) => setTimeout(r, 1100));
        identity(await cache.verify(req('alice.t')));
        assert.equal(inner.calls.length, 2);
        assert.deepEqual([cache.stats.hits, cache.stats.misses], [1, 2]);
        // the expired entry left the per-user index too: invalidating the user drops only the fresh entry
        assert.equal(cache.invalidateUser('alice'), 1);
      } finally {
        await cache.close();
      }
    });
  });

  describe('failures', () => {
    test('an invalid answer is cached briefly (served from cache)', async () => {
      const { inner, cache } = harness({ negativeTtlSec: 5 });
      try {
        inner.answer = () => INVALID;
        assert.deepEqual(await cache.verify(req('bad.t')), INVALID);
        assert.deepEqual(await cache.verify(req('bad.t', 'other', 'web')), INVALID);
        assert.equal(inner.calls.length, 1);
        assert.deepEqual([cache.stats.hits, cache.stats.misses], [1, 1]);
      } finally {
        await cache.close();
      }
    });

    test('negativeTtlSec 0: invalid answers are not cached', async () => {
      const { inner, cache } = harness({ negativeTtlSec: 0 });
      try {
        inner.answer = () => INVALID;
        await cache.verify(req('bad.t'));
        await cache.verify(req('bad.t'));
        assert.equal(inner.calls.length, 2);
        assert.equal(cache.size, 0);
      } finally {
        await cache.close();
      }
    });

    test('an unavailable answer is never cached', async () => {
      const { inner, cache } = harness({ negativeTtlSec: 60 });
      try {
        inner.answer = () => UNAVAILABLE;
        assert.deepEqual(await cache.verify(req('alice.t')), UNAVAILABLE);
        assert.deepEqual(await cache.verify(req('alice.t')), UNAVAILABLE);
        assert.equal(inner.calls.length, 2);
        assert.equal(cache.size, 0);
        // once the verifier is back, the valid answer is cached
        inner.answer = (r) => okIdentity('alice', r, 0);
        identity(await cache.verify(req('alice.t')));
        identity(await cache.verify(req('alice.t')));
        assert.equal(inner.calls.length, 3);
      } finally {
        await cache.close();
      }
    });
  });

  describe('invalidateUser', () => {
    test('drops the user\'s tokens only; other users stay cached', async () => {
      const { inner, cache } = harness();
      try {
        for (const t of ['alice.t1', 'alice.t2', 'bob.t1']) await cache.verify(req(t));
        assert.equal(cache.size, 3);
        assert.equal(cache.invalidateUser('alice'), 2);
        assert.equal(cache.stats.invalidations, 1);
        assert.equal(cache.size, 1);
        await cache.verify(req('bob.t1'));
        assert.equal(inner.calls.length, 3, 'bob is still cached');
        await cache.verify(req('alice.t1'));
        await cache.verify(req('alice.t2'));
        assert.equal(inner.calls.length, 5, 'alice goes upstream again');
        assert.equal(cache.invalidateUser('alice'), 2);
        assert.equal(cache.invalidateUser('alice'), 0);
        assert.equal(cache.invalidateUser('nobody'), 0);
        assert.equal(cache.stats.invalidations, 4);
      } finally {
        await cache.close();
      }
    });

    test('a verification in flight during invalidateUser returns its answer but is not cached', async () => {
      const { inner, cache } = harness();
      try {
        inner.hold = true;
        const p = cache.verify(req('alice.t'));
        assert.equal(cache.invalidateUser('alice'), 0);
        inner.pending[0]?.resolve(okIdentity('alice', req('alice.t'), 0));
        assert.equal(identity(await p).userId, 'alice');
        assert.equal(cache.size, 0);
        inner.hold = false;
        await cache.verify(req('alice.t'));
        assert.equal(inner.calls.length, 2);
        // a verification that starts after the invalidation is cached again
        await cache.verify(req('alice.t'));
        assert.equal(inner.calls.length, 2);
      } finally {
        await cache.close();
      }
    });

    test('does not touch cached rejections', async () => {
      const { inner, cache } = harness();
      try {
        inner.answer = () => INVALID;
        await cache.verify(req('alice.bad'));
        assert.equal(cache.invalidateUser('alice'), 0);
        await cache.verify(req('alice.bad'));
        assert.equal(inner.calls.length, 1);
      } finally {
        await cache.close();
      }
    });
  });

  describe('keys', () => {
    test('keyOf is a SHA-256 of the token, base64url, deterministic and distinct per token', () => {
      const token = 'eyJhbGciOiJIUzI1NiJ9.secret-payload.sig';
      const k = CachedTokenVerifier.keyOf(token);
      assert.equal(k, createHash('sha256').update(token).digest('base64url'));
      assert.match(k, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(CachedTokenVerifier.keyOf(token), k);
      assert.notEqual(CachedTokenVerifier.keyOf(`${token}x`), k);
      assert.ok(!k.includes(token));
    });

    test('the raw token never appears in the cache keys or values', async () => {
      const { cache, inner } = harness();
      try {
        const tokens = ['alice.super-secret-token-1', 'bob.super-secret-token-2'];
        for (const t of tokens) await cache.verify(req(t));
        inner.answer = () => INVALID;
        await cache.verify(req('mallory.super-secret-token-3'));
        const keys = cacheKeys(cache);
        assert.deepEqual(keys.sort(), [...tokens, 'mallory.super-secret-token-3'].map((t) => CachedTokenVerifier.keyOf(t)).sort());
        const store = (cache as unknown as { cache: { mget(keys: string[]): Record<string, unknown> } }).cache;
        const dump = JSON.stringify(store.mget(keys)) + JSON.stringify(keys);
        assert.ok(!dump.includes('super-secret-token'), dump);
      } finally {
        await cache.close();
      }
    });
  });

  test('when maxKeys is reached, results are returned but not cached', async () => {
    const { inner, cache } = harness({ maxKeys: 2 });
    try {
      for (const t of ['a.1', 'b.1', 'c.1']) identity(await cache.verify(req(t)));
      assert.equal(cache.size, 2);
      identity(await cache.verify(req('c.1')));
      assert.equal(inner.calls.length, 4);
      identity(await cache.verify(req('a.1')));
      assert.equal(inner.calls.length, 4);
    } finally {
      await cache.close();
    }
  });

  test('close stops node-cache\'s periodic check timer (no timer left running after close)', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
    try {
      const { cache } = harness();
      await cache.close();
      // put an already-expiring entry straight into the underlying store: only a live check timer would evict it
      const store = (cache as unknown as { cache: { set(k: string, v: unknown, ttl: number): boolean; keys(): string[] } }).cache;
      store.set('probe', { ok: false, error: { kind: 'invalid', code: 0, message: '' } }, 1);
      mock.timers.tick(61_000); // past node-cache's 60 s check period
      assert.deepEqual(store.keys(), ['probe'], 'the check timer ran after close()');
    } finally {
      mock.timers.reset();
    }
  });

  test('close closes the inner verifier and empties the cache', async () => {
    const { inner, cache } = harness();
    await cache.verify(req('alice.t'));
    await cache.close();
    assert.equal(inner.closed, 1);
    assert.equal(cache.size, 0);
  });
});

import { createHash } from 'node:crypto';
import NodeCache from 'node-cache';
import type { Result } from '../../pkg/result';
import type { Identity, TokenRequest, TokenVerifier, VerifyError } from './types';

export interface TokenCacheSettings {
  /** TTL of a valid result, bounded by the token's expiry; 0 disables caching. */
  readonly ttlSec: number;
  /** TTL of an `invalid` answer; 0 = not cached. `unavailable` is never cached. */
  readonly negativeTtlSec: number;
  readonly maxKeys: number;
}

export interface TokenCacheStats {
  hits: number;
  misses: number;
  /** Verifications that joined one already in flight for the same token. */
  coalesced: number;
  invalidations: number;
}

/** A cached identity for another request of the same token: its own device and platform, and the token's binding checked. */
function forRequest(identity: Identity, req: TokenRequest): Result<Identity, VerifyError> {
  if (identity.boundDeviceId !== '' && identity.boundDeviceId !== req.deviceId) {
    return { ok: false, error: { kind: 'invalid', code: 4401, message: 'token bound to another device' } };
  }
  if (identity.boundPlatform !== '' && identity.boundPlatform !== req.platform) {
    return { ok: false, error: { kind: 'invalid', code: 4401, message: 'token bound to another platform' } };
  }
  return { ok: true, value: { ...identity, deviceId: req.deviceId, platform: req.platform } };
}

type Entry = { readonly ok: true; readonly identity: Identity } | { readonly ok: false; readonly error: VerifyError };

/**
 * A caching decorator around a TokenVerifier, backed by node-cache. Keys are a SHA-256 of the
 * token (the token itself is never stored); concurrent verifications of one token share one
 * upstream call; `invalidateUser` drops every cached token of a user (KickUser).
 */
export class CachedTokenVerifier implements TokenVerifier {
  private readonly cache: NodeCache;
  private readonly inflight = new Map<string, Promise<Result<Identity, VerifyError>>>();
  /** The cache keys of each user's tokens: one key as a string (the usual case: no Set per user), several as a Set. */
  private readonly keysByUser = new Map<string, string | Set<string>>();
  /** Bumped by invalidateUser: a verification that started before must not be cached after. */
  private generation = 0;
  readonly stats: TokenCacheStats = { hits: 0, misses: 0, coalesced: 0, invalidations: 0 };

  constructor(
    private readonly inner: TokenVerifier,
    private readonly settings: TokenCacheSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.cache = new NodeCache({ useClones: false, checkperiod: 60, maxKeys: settings.maxKeys, deleteOnExpire: true });
    this.cache.on('del', (key: string, value: Entry) => this.unindex(key, value));
    this.cache.on('expired', (key: string, value: Entry) => this.unindex(key, value));
  }

  static keyOf(token: string): string {
    return createHash('sha256').update(token).digest('base64url');
  }

  async verify(req: TokenRequest): Promise<Result<Identity, VerifyError>> {
    const key = CachedTokenVerifier.keyOf(req.token);
    const hit = this.cache.get<Entry>(key);
    if (hit !== undefined) {
      if (!hit.ok || hit.identity.expireAt === 0 || hit.identity.expireAt > this.now()) {
        this.stats.hits++;
        return hit.ok ? forRequest(hit.identity, req) : hit;
      }
      this.cache.del(key);
    }
    const pending = this.inflight.get(key);
    if (pending !== undefined) {
      this.stats.coalesced++;
      const r = await pending;
      return r.ok ? forRequest(r.value, req) : r;
    }
    this.stats.misses++;
    const generation = this.generation;
    const p = this.inner.verify(req).then(
      (r) => {
        this.inflight.delete(key);
        if (generation === this.generation) this.store(key, r);
        return r;
      },
      (e: unknown) => {
        // verifiers never reject by contract; should one, the token must not stay stuck in flight
        this.inflight.delete(key);
        return { ok: false as const, error: { kind: 'unavailable' as const, message: `verifier failed: ${e instanceof Error ? e.message : String(e)}` } };
      },
    );
    this.inflight.set(key, p);
    return p;
  }

  /** Drops every cached token of `userId`; returns how many entries went. */
  invalidateUser(userId: string): number {
    this.generation++;
    this.stats.invalidations++;
    const keys = this.keysByUser.get(userId);
    if (keys === undefined) return 0;
    const list = typeof keys === 'string' ? [keys] : [...keys];
    this.cache.del(list);
    this.keysByUser.delete(userId);
    return list.length;
  }

  get size(): number {
    return this.cache.keys().length;
  }

  async close(): Promise<void> {
    // flushAll() restarts node-cache's check timer, so it must come before close() stops it.
    this.cache.flushAll();
    this.cache.close();
    await this.inner.close();
  }

  private store(key: string, r: Result<Identity, VerifyError>): void {
    if (r.ok) {
      let ttlMs = this.settings.ttlSec * 1000;
      if (r.value.expireAt > 0) ttlMs = Math.min(ttlMs, r.value.expireAt - this.now());
      const ttlSec = Math.floor(ttlMs / 1000);
      if (ttlSec < 1) return;
      if (!this.trySet(key, { ok: true, identity: r.value }, ttlSec)) return;
      const userId = r.value.userId;
      const keys = this.keysByUser.get(userId);
      if (keys === undefined) this.keysByUser.set(userId, key);
      else if (typeof keys !== 'string') keys.add(key);
      else if (keys !== key) this.keysByUser.set(userId, new Set([keys, key]));
    } else if (r.error.kind === 'invalid' && this.settings.negativeTtlSec > 0) {
      this.trySet(key, { ok: false, error: r.error }, this.settings.negativeTtlSec);
    }
  }

  /** node-cache throws when maxKeys is reached: then the result is simply not cached. */
  private trySet(key: string, e: Entry, ttlSec: number): boolean {
    try {
      return this.cache.set(key, e, ttlSec);
    } catch {
      return false;
    }
  }

  private unindex(key: string, value: Entry): void {
    if (!value.ok) return;
    const userId = value.identity.userId;
    const keys = this.keysByUser.get(userId);
    if (keys === undefined) return;
    if (typeof keys === 'string') {
      if (keys === key) this.keysByUser.delete(userId);
      return;
    }
    keys.delete(key);
    if (keys.size === 1) this.keysByUser.set(userId, keys.values().next().value as string);
    else if (keys.size === 0) this.keysByUser.delete(userId);
  }
}

/**
 * ResilientPresenceStore over a primary store that can be switched to failing (Redis down): the
 * local fallbacks for register / sessions, and the remembered removals.
 */
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { silentLogger } from '../gateway/testing';
import type { PolicySettings } from '../policy/policy';
import { MemoryPresenceStore } from './memory';
import { ResilientPresenceStore } from './resilient';
import type { NewLogin, PresenceEntry, PresenceStore, RegisterResult } from './types';

const SELF = 'gw-a';
const KICK_OLD: PolicySettings = { policy: 'one_per_platform', maxConnectionsPerUser: 10, onConflict: 'kick_old' };
const REJECT_NEW: PolicySettings = { ...KICK_OLD, onConflict: 'reject_new' };

/** A memory store that throws on every call while `failing`, and records the unregister calls. */
class SwitchablePresence implements PresenceStore {
  failing = false;
  closed = false;
  readonly inner = new MemoryPresenceStore();
  readonly unregisters: string[] = [];

  async register(login: NewLogin, settings: PolicySettings): Promise<RegisterResult> {
    this.check('register');
    return this.inner.register(login, settings);
  }

  async unregister(userId: string, deviceId: string, epoch: number): Promise<boolean> {
    this.unregisters.push(`${userId}/${deviceId}#${epoch}${this.failing ? ' (failed)' : ''}`);
    this.check('unregister');
    return this.inner.unregister(userId, deviceId, epoch);
  }

  async sessions(userId: string): Promise<PresenceEntry[]> {
    this.check('sessions');
    return this.inner.sessions(userId);
  }

  async sessionsMany(userIds: readonly string[]): Promise<Map<string, PresenceEntry[]>> {
    this.check('sessionsMany');
    return this.inner.sessionsMany(userIds);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(op: string): void {
    if (this.failing) throw new Error(`connection refused (${op})`);
  }
}

function login(userId: string, deviceId: string, platform: NewLogin['platform'] = 'ios'): NewLogin {
  return { userId, deviceId, platform, instanceId: SELF, connectedAt: 1000, clientIp: '10.0.0.1' };
}

function entry(userId: string, deviceId: string, epoch: number, platform: NewLogin['platform'] = 'ios'): PresenceEntry {
  return { ...login(userId, deviceId, platform), epoch };
}

interface Setup {
  readonly store: ResilientPresenceStore;
  readonly primary: SwitchablePresence;
  /** This instance's own sessions by user (what the connection registry would answer). */
  readonly local: Map<string, PresenceEntry[]>;
  /** The clock in microseconds the fallback epochs come from. */
  readonly clock: { micros: number };
}

/** The one place a ResilientPresenceStore is built: adjust here when its constructor changes. */
function makeStore(): Setup {
  const primary = new SwitchablePresence();
  const local = new Map<string, PresenceEntry[]>();
  const clock = { micros: 5_000_000 };
  const store = new ResilientPresenceStore(primary, (userId) => local.get(userId) ?? [], silentLogger(), () => clock.micros);
  return { store, primary, local, clock };
}

describe('register', () => {
  test('passes through while the store answers', async () => {
    const s = makeStore();
    assert.deepEqual(await s.store.register(login('alice', 'phone-1'), KICK_OLD), { admitted: true, epoch: 1, victims: [] });
    assert.equal(s.store.pendingSync, false);
    assert.equal(s.store.fallbacks, 0);
  });

  test('store down: the policy (decide) runs on the local sessions, epochs come from the clock and grow, pendingSync is set', async () => {
    const s = makeStore();
    const older = entry('alice', 'phone-1', 7);
    s.local.set('alice', [older]);
    s.primary.failing = true;
    assert.deepEqual(await s.store.register(login('alice', 'phone-2'), KICK_OLD), { admitted: true, epoch: 5_000_000, victims: [{ session: older, reason: 'policy' }] });
    assert.equal(s.store.pendingSync, true);
    // the clock stood still: the next epoch is one more
    assert.deepEqual(await s.store.register(login('bob', 'pc-1', 'windows'), KICK_OLD), { admitted: true, epoch: 5_000_001, victims: [] });
    s.clock.micros = 9_000_000;
    assert.deepEqual(await s.store.register(login('carol', 'pc-1', 'windows'), KICK_OLD), { admitted: true, epoch: 9_000_000, victims: [] });
    // the clock went back: still larger than every epoch given before
    s.clock.micros = 1_000_000;
    assert.deepEqual(await s.store.register(login('dave', 'pc-1', 'windows'), KICK_OLD), { admitted: true, epoch: 9_000_001, victims: [] });
    assert.equal(s.store.fallbacks, 4);
  });

  test('store down, reject_new: a login conflicting with a local session is refused with its conflicts', async () => {
    const s = makeStore();
    const holder = entry('alice', 'phone-1', 7);
    s.local.set('alice', [holder]);
    s.primary.failing = true;
    assert.deepEqual(await s.store.register(login('alice', 'phone-2'), REJECT_NEW), { admitted: false, conflicts: [holder] });
    assert.equal(s.store.pendingSync, true);
  });

  test('store down, same device: the local session is the victim', async () => {
    const s = makeStore();
    const old = entry('alice', 'phone-1', 7);
    s.local.set('alice', [old]);
    s.primary.failing = true;
    assert.deepEqual(await s.store.register(login('alice', 'phone-1'), KICK_OLD), { admitted: true, epoch: 5_000_000, victims: [{ session: old, reason: 'same_device' }] });
  });
});

describe('unregister', () => {
  test('passes through while the store answers (an older epoch removes nothing)', async () => {
    const s = makeStore();
    await s.store.register(login('alice', 'phone-1'), KICK_OLD);
    assert.equal(await s.store.unregister('alice', 'phone-1', 99), false);
    assert.equal(await s.store.unregister('alice', 'phone-1', 1), true);
    assert.equal(s.store.pendingSync, false);
  });

  test('failures are remembered (once per mapping) and retryRemovals() replays them once the store answers', async () => {
    const s = makeStore();
    await s.store.register(login('alice', 'phone-1'), KICK_OLD); // epoch 1
    await s.store.register(login('bob', 'pc-1', 'windows'), KICK_OLD); // epoch 2
    s.primary.failing = true;
    assert.equal(await s.store.unregister('alice', 'phone-1', 1), false);
    assert.equal(await s.store.unregister('bob', 'pc-1', 2), false);
    assert.equal(await s.store.unregister('alice', 'phone-1', 1), false);
    assert.equal(s.store.pendingSync, true);
    s.primary.failing = false;
    s.primary.unregisters.length = 0;
    await s.store.retryRemovals();
    assert.deepEqual(s.primary.unregisters, ['alice/phone-1#1', 'bob/pc-1#2']);
    assert.deepEqual(await s.primary.inner.sessions('alice'), []);
    assert.deepEqual(await s.primary.inner.sessions('bob'), []);
    await s.store.retryRemovals();
    assert.deepEqual(s.primary.unregisters, ['alice/phone-1#1', 'bob/pc-1#2']);
  });

  test('retryRemovals() while the store is still down rejects and keeps the removals for the next try', async () => {
    const s = makeStore();
    await s.store.register(login('alice', 'phone-1'), KICK_OLD);
    s.primary.failing = true;
    await s.store.unregister('alice', 'phone-1', 1);
    await assert.rejects(s.store.retryRemovals(), /connection refused \(unregister\)/);
    s.primary.failing = false;
    await s.store.retryRemovals();
    assert.deepEqual(s.primary.unregisters, ['alice/phone-1#1 (failed)', 'alice/phone-1#1 (failed)', 'alice/phone-1#1']);
    assert.deepEqual(await s.primary.inner.sessions('alice'), []);
  });
});

describe('sessions', () => {
  test('read from the store while it answers', async () => {
    const s = makeStore();
    s.local.set('alice', [entry('alice', 'local-only', 42)]);
    await s.store.register(login('alice', 'phone-1'), KICK_OLD);
    assert.deepEqual(await s.store.sessions('alice'), [entry('alice', 'phone-1', 1)]);
    assert.deepEqual(await s.store.sessionsMany(['alice', 'zed']), new Map([['alice', [entry('alice', 'phone-1', 1)]], ['zed', []]]));
  });

  test('store down: sessions and sessionsMany answer with the local sessions', async () => {
    const s = makeStore();
    const mine = entry('alice', 'phone-1', 7);
    s.local.set('alice', [mine]);
    s.primary.failing = true;
    assert.deepEqual(await s.store.sessions('alice'), [mine]);
    assert.deepEqual(await s.store.sessions('zed'), []);
    assert.deepEqual(await s.store.sessionsMany(['alice', 'zed', 'alice']), new Map([['alice', [mine]], ['zed', []]]));
    // reads do not mean the cluster view is missing anything
    assert.equal(s.store.pendingSync, false);
  });

  test('close() closes the primary store', async () => {
    const s = makeStore();
    await s.store.close();
    assert.equal(s.primary.closed, true);
  });
});

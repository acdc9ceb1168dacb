import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { PolicySettings } from '../policy/policy';
import type { Platform } from '../protocol/codes';
import { MemoryPresenceStore } from './memory';
import type { NewLogin, RegisterResult } from './types';

const T0 = 1_700_000_000_000;
let tick = 0;

function login(userId: string, deviceId: string, platform: Platform, over: Partial<NewLogin> = {}): NewLogin {
  return { userId, deviceId, platform, instanceId: 'gw-1', connectedAt: T0 + ++tick, clientIp: '10.0.0.1', ...over };
}

const ONE_PER_PLATFORM_KICK: PolicySettings = { policy: 'one_per_platform', maxConnectionsPerUser: 10, onConflict: 'kick_old' };
const ONE_PER_PLATFORM_REJECT: PolicySettings = { policy: 'one_per_platform', maxConnectionsPerUser: 10, onConflict: 'reject_new' };
const SINGLE_KICK: PolicySettings = { policy: 'single_session', maxConnectionsPerUser: 10, onConflict: 'kick_old' };
const SINGLE_REJECT: PolicySettings = { policy: 'single_session', maxConnectionsPerUser: 10, onConflict: 'reject_new' };
const ALLOW_ALL: PolicySettings = { policy: 'allow_all', maxConnectionsPerUser: 0, onConflict: 'kick_old' };

function admitted(r: RegisterResult): Extract<RegisterResult, { admitted: true }> {
  assert.equal(r.admitted, true, `expected admitted, got ${JSON.stringify(r)}`);
  if (!r.admitted) throw new Error('unreachable');
  return r;
}

function rejected(r: RegisterResult): Extract<RegisterResult, { admitted: false }> {
  assert.equal(r.admitted, false, `expected rejected, got ${JSON.stringify(r)}`);
  if (r.admitted) throw new Error('unreachable');
  return r;
}

async function devices(store: MemoryPresenceStore, userId: string): Promise<string[]> {
  return (await store.sessions(userId)).map((s) => s.deviceId).sort();
}

describe('MemoryPresenceStore', () => {
  test('a first login is admitted with no victims and recorded with every field', async () => {
    const store = new MemoryPresenceStore();
    const l = login('u1', 'phone', 'ios', { instanceId: 'gw-7', clientIp: '192.0.2.1' });
    const r = admitted(await store.register(l, ONE_PER_PLATFORM_KICK));
    assert.deepEqual(r.victims, []);
    assert.ok(r.epoch > 0);
    assert.deepEqual(await store.sessions('u1'), [{ ...l, epoch: r.epoch }]);
    assert.deepEqual(await store.sessions('u2'), []);
  });

  test('epochs strictly increase across users, devices and replacements', async () => {
    const store = new MemoryPresenceStore();
    let last = 0;
    const platforms: Platform[] = ['ios', 'android', 'web', 'windows'];
    for (let i = 0; i < 50; i++) {
      const r = admitted(await store.register(login(`u${i % 3}`, `d${i % 5}`, platforms[i % 4] ?? 'ios'), ONE_PER_PLATFORM_KICK));
      assert.ok(r.epoch > last, `epoch ${r.epoch} after ${last}`);
      last = r.epoch;
    }
    // registerSync shares the same sequence
    const s = store.registerSync(login('u9', 'd', 'web'), ALLOW_ALL);
    assert.ok(admitted(s).epoch > last);
  });

  test('a rejected login changes nothing, and later epochs still increase', async () => {
    const store = new MemoryPresenceStore();
    const a = admitted(await store.register(login('u1', 'phone', 'ios'), SINGLE_REJECT));
    const before = await store.sessions('u1');
    rejected(await store.register(login('u1', 'pc', 'windows'), SINGLE_REJECT));
    assert.deepEqual(await store.sessions('u1'), before);
    const b = admitted(await store.register(login('u2', 'pc', 'windows'), SINGLE_REJECT));
    assert.ok(b.epoch > a.epoch);
  });

  describe('one_per_platform', () => {
    test('kick_old: a second device on the same platform evicts the first; other platforms stay', async () => {
      const store = new MemoryPresenceStore();
      const phone1 = admitted(await store.register(login('u1', 'phone-1', 'ios'), ONE_PER_PLATFORM_KICK));
      const web = admitted(await store.register(login('u1', 'browser', 'web'), ONE_PER_PLATFORM_KICK));
      assert.deepEqual(web.victims, []);
      const phone2 = admitted(await store.register(login('u1', 'phone-2', 'ios'), ONE_PER_PLATFORM_KICK));
      assert.equal(phone2.victims.length, 1);
      const v = phone2.victims[0];
      assert.equal(v?.reason, 'policy');
      assert.equal(v?.session.deviceId, 'phone-1');
      assert.equal(v?.session.epoch, phone1.epoch);
      assert.equal(v?.session.platform, 'ios');
      assert.deepEqual(await devices(store, 'u1'), ['browser', 'phone-2']);
      // the evicted epoch can no longer unregister anything
      assert.equal(await store.unregister('u1', 'phone-1', phone1.epoch), false);
      assert.deepEqual(await devices(store, 'u1'), ['browser', 'phone-2']);
    });

    test('reject_new: a second device on the same platform is refused and nothing changes', async () => {
      const store = new MemoryPresenceStore();
      const phone1 = admitted(await store.register(login('u1', 'phone-1', 'ios'), ONE_PER_PLATFORM_REJECT));
      admitted(await store.register(login('u1', 'browser', 'web'), ONE_PER_PLATFORM_REJECT));
      const before = await store.sessions('u1');
      const r = rejected(await store.register(login('u1', 'phone-2', 'ios'), ONE_PER_PLATFORM_REJECT));
      assert.deepEqual(
        r.conflicts.map((c) => [c.deviceId, c.epoch]),
        [['phone-1', phone1.epoch]],
      );
      assert.deepEqual(await store.sessions('u1'), before);
    });

    test('other users are independent', async () => {
      const store = new MemoryPresenceStore();
      admitted(await store.register(login('u1', 'phone', 'ios'), ONE_PER_PLATFORM_REJECT));
      const r = admitted(await store.register(login('u2', 'phone', 'ios'), ONE_PER_PLATFORM_REJECT));
      assert.deepEqual(r.victims, []);
      assert.deepEqual(await devices(store, 'u1'), ['phone']);
      assert.deepEqual(await devices(store, 'u2'), ['phone']);
    });
  });

  describe('single_session', () => {
    test('kick_old: each new device evicts the previous one', async () => {
      const store = new MemoryPresenceStore();
      const a = admitted(await store.register(login('u1', 'phone', 'ios'), SINGLE_KICK));
      const b = admitted(await store.register(login('u1', 'pc', 'windows'), SINGLE_KICK));
      assert.deepEqual(
        b.victims.map((v) => [v.session.deviceId, v.session.epoch, v.reason]),
        [['phone', a.epoch, 'policy']],
      );
      assert.deepEqual(await devices(store, 'u1'), ['pc']);
      const c = admitted(await store.register(login('u1', 'browser', 'web'), SINGLE_KICK));
      assert.deepEqual(
        c.victims.map((v) => [v.session.deviceId, v.session.epoch]),
        [['pc', b.epoch]],
      );
      const sessions = await store.sessions('u1');
      assert.equal(sessions.length, 1);
      assert.equal(sessions[0]?.deviceId, 'browser');
      assert.equal(sessions[0]?.epoch, c.epoch);
    });

    test('reject_new: a second device is refused; the first stays', async () => {
      const store = new MemoryPresenceStore();
      const a = admitted(await store.register(login('u1', 'phone', 'ios'), SINGLE_REJECT));
      const r = rejected(await store.register(login('u1', 'pc', 'windows'), SINGLE_REJECT));
      assert.deepEqual(
        r.conflicts.map((c) => [c.deviceId, c.epoch]),
        [['phone', a.epoch]],
      );
      const sessions = await store.sessions('u1');
      assert.deepEqual(
        sessions.map((s) => [s.deviceId, s.epoch]),
        [['phone', a.epoch]],
      );
      // once the first one leaves, the second one gets in
      assert.equal(await store.unregister('u1', 'phone', a.epoch), true);
      admitted(await store.register(login('u1', 'pc', 'windows'), SINGLE_REJECT));
      assert.deepEqual(await devices(store, 'u1'), ['pc']);
    });

    test('reject_new: a same-device reconnect with no other conflict replaces the old session', async () => {
      const store = new MemoryPresenceStore();
      const a = admitted(await store.register(login('u1', 'phone', 'ios'), SINGLE_REJECT));
      const b = admitted(await store.register(login('u1', 'phone', 'ios'), SINGLE_REJECT));
      assert.deepEqual(
        b.victims.map((v) => [v.session.deviceId, v.session.epoch, v.reason]),
        [['phone', a.epoch, 'same_device']],
      );
      assert.deepEqual(
        (await store.sessions('u1')).map((s) => s.epoch),
        [b.epoch],
      );
    });
  });

  describe('same device', () => {
    test('a reconnect of the same device replaces it (victim same_device) with a new epoch', async () => {
      const store = new MemoryPresenceStore();
      const a = admitted(await store.register(login('u1', 'phone', 'ios'), ONE_PER_PLATFORM_KICK));
      const b = admitted(await store.register(login('u1', 'phone', 'ios', { instanceId: 'gw-2' }), ONE_PER_PLATFORM_KICK));
      assert.ok(b.epoch > a.epoch);
      assert.deepEqual(
        b.victims.map((v) => [v.session.deviceId, v.session.epoch, v.session.instanceId, v.reason]),
        [['phone', a.epoch, 'gw-1', 'same_device']],
      );
      const sessions = await store.sessions('u1');
      assert.equal(sessions.length, 1);
      assert.equal(sessions[0]?.epoch, b.epoch);
      assert.equal(sessions[0]?.instanceId, 'gw-2');
    });

    test('reconnect race: the old connection unregistering after the new login leaves the new mapping', async () => {
      const store = new MemoryPresenceStore();
      const old = admitted(await store.register(login('u1', 'phone', 'ios'), ONE_PER_PLATFORM_KICK));
      const neu = admitted(await store.register(login('u1', 'phone', 'ios'), ONE_PER_PLATFORM_KICK));
      // the old socket's close handler runs late, with its own (stale) epoch
      assert.equal(await store.unregister('u1', 'phone', old.epoch), false);
      assert.deepEqual(
        (await store.sessions('u1')).map((s) => [s.deviceId, s.epoch]),
        [['phone', neu.epoch]],
      );
      // the new connection's own unregister works
      assert.equal(await store.unregister('u1', 'phone', neu.epoch), true);
      assert.deepEqual(await store.sessions('u1'), []);
    });
  });

  describe('unregister', () => {
    test('removes only the matching (user, device, epoch)', async () => {
      const store = new MemoryPresenceStore();
      const a = admitted(await store.register(login('u1', 'phone', 'ios'), ALLOW_ALL));
      const b = admitted(await store.register(login('u1', 'pc', 'windows'), ALLOW_ALL));
      assert.equal(await store.unregister('u1', 'phone', b.epoch), false, 'epoch of another device');
      assert.equal(await store.unregister('u2', 'phone', a.epoch), false, 'another user');
      assert.equal(await store.unregister('u1', 'tablet', a.epoch), false, 'unknown device');
      assert.equal(await store.unregister('u1', 'phone', a.epoch + 1000), false, 'future epoch');
      assert.deepEqual(await devices(store, 'u1'), ['pc', 'phone']);
      assert.equal(await store.unregister('u1', 'phone', a.epoch), true);
      assert.equal(await store.unregister('u1', 'phone', a.epoch), false, 'twice');
      assert.deepEqual(await devices(store, 'u1'), ['pc']);
      assert.equal(await store.unregister('u1', 'pc', b.epoch), true);
      assert.deepEqual(await store.sessions('u1'), []);
    });

    test('a user with no sessions left can log in again on a single-slot policy', async () => {
      const store = new MemoryPresenceStore();
      const a = admitted(await store.register(login('u1', 'phone', 'ios'), SINGLE_REJECT));
      await store.unregister('u1', 'phone', a.epoch);
      const b = admitted(await store.register(login('u1', 'pc', 'windows'), SINGLE_REJECT));
      assert.deepEqual(b.victims, []);
    });
  });

  test('maxConnectionsPerUser evicts the oldest under allow_all', async () => {
    const store = new MemoryPresenceStore();
    const settings: PolicySettings = { policy: 'allow_all', maxConnectionsPerUser: 2, onConflict: 'reject_new' };
    const a = admitted(await store.register(login('u1', 'a', 'ios'), settings));
    admitted(await store.register(login('u1', 'b', 'ios'), settings));
    const c = admitted(await store.register(login('u1', 'c', 'ios'), settings));
    assert.deepEqual(
      c.victims.map((v) => [v.session.deviceId, v.session.epoch, v.reason]),
      [['a', a.epoch, 'max_connections']],
    );
    assert.deepEqual(await devices(store, 'u1'), ['b', 'c']);
  });

  test('sessions() returns PresenceEntry values with the login fields and epoch; a copy, not a live view', async () => {
    const store = new MemoryPresenceStore();
    const l1 = login('u1', 'phone', 'ios', { clientIp: '198.51.100.1', instanceId: 'gw-a' });
    const l2 = login('u1', 'pc', 'macos', { clientIp: '198.51.100.2', instanceId: 'gw-b' });
    const r1 = admitted(await store.register(l1, ONE_PER_PLATFORM_KICK));
    const r2 = admitted(await store.register(l2, ONE_PER_PLATFORM_KICK));
    const sessions = (await store.sessions('u1')).sort((x, y) => x.epoch - y.epoch);
    assert.deepEqual(sessions, [
      { ...l1, epoch: r1.epoch },
      { ...l2, epoch: r2.epoch },
    ]);
    await store.unregister('u1', 'phone', r1.epoch);
    assert.equal(sessions.length, 2);
    assert.equal((await store.sessions('u1')).length, 1);
  });

  test('close empties the store', async () => {
    const store = new MemoryPresenceStore();
    await store.register(login('u1', 'phone', 'ios'), ALLOW_ALL);
    await store.close();
    assert.deepEqual(await store.sessions('u1'), []);
  });
});

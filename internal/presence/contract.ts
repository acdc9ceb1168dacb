/**
 * The PresenceStore contract: a node:test suite every implementation must pass (run by
 * memory.contract.test.ts and redis.test.ts).
 *
 * Logins carry instanceId `CONTRACT_INSTANCE_A` or `CONTRACT_INSTANCE_B`; the backend must treat
 * both as live (the Redis fixture leases both). `store` plays instance A; `peer`, when given, is
 * a second store on the same backend playing instance B (a separate client, so races are real);
 * without it (memory) `store` plays both.
 */
/* eslint-disable @typescript-eslint/no-floating-promises -- node:test owns the promises of describe/test */
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { decide, POLICIES, CONFLICT_MODES } from '../policy/policy';
import type { ExistingSession, PolicySettings } from '../policy/policy';
import { PLATFORMS } from '../protocol/codes';
import type { Platform } from '../protocol/codes';
import type { NewLogin, PresenceEntry, PresenceStore, RegisterResult } from './types';

export const CONTRACT_INSTANCE_A = 'gw-a';
export const CONTRACT_INSTANCE_B = 'gw-b';

export interface ContractFixture {
  readonly store: PresenceStore;
  /** A second store on the same backend acting as instance B; omitted: `store` is used. */
  readonly peer?: PresenceStore;
  readonly cleanup: () => Promise<void>;
}

const T0 = 1_700_000_000_000;
let tick = 0;

function login(userId: string, deviceId: string, platform: Platform, over: Partial<NewLogin> = {}): NewLogin {
  return { userId, deviceId, platform, instanceId: CONTRACT_INSTANCE_A, connectedAt: T0 + ++tick, clientIp: '10.0.0.1', ...over };
}

const ONE_PER_PLATFORM_KICK: PolicySettings = { policy: 'one_per_platform', maxConnectionsPerUser: 10, onConflict: 'kick_old' };
const ONE_PER_PLATFORM_REJECT: PolicySettings = { policy: 'one_per_platform', maxConnectionsPerUser: 10, onConflict: 'reject_new' };
const SINGLE_KICK: PolicySettings = { policy: 'single_session', maxConnectionsPerUser: 10, onConflict: 'kick_old' };
const SINGLE_REJECT: PolicySettings = { policy: 'single_session', maxConnectionsPerUser: 10, onConflict: 'reject_new' };
const ALLOW_ALL: PolicySettings = { policy: 'allow_all', maxConnectionsPerUser: 0, onConflict: 'kick_old' };

type Admitted = Extract<RegisterResult, { admitted: true }>;
type Rejected = Extract<RegisterResult, { admitted: false }>;

function admitted(r: RegisterResult): Admitted {
  assert.equal(r.admitted, true, `expected admitted, got ${JSON.stringify(r)}`);
  if (!r.admitted) throw new Error('unreachable');
  return r;
}

function rejected(r: RegisterResult): Rejected {
  assert.equal(r.admitted, false, `expected rejected, got ${JSON.stringify(r)}`);
  if (r.admitted) throw new Error('unreachable');
  return r;
}

async function devices(store: PresenceStore, userId: string): Promise<string[]> {
  return (await store.sessions(userId)).map((s) => s.deviceId).sort();
}

function byEpoch<T extends { epoch: number }>(xs: readonly T[]): T[] {
  return [...xs].sort((a, b) => a.epoch - b.epoch);
}

/** A small deterministic PRNG (mulberry32), so a failing sequence can be replayed. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

function sessionKey(s: ExistingSession): string {
  return `${s.deviceId}|${s.platform}|${s.instanceId}|${s.epoch}|${s.connectedAt}`;
}

export function presenceContract(name: string, make: () => Promise<ContractFixture>): void {
  /** Runs fn with a fresh fixture and always cleans up. */
  const withStore = (fn: (store: PresenceStore, peer: PresenceStore) => Promise<void>) => async () => {
    const f = await make();
    try {
      await fn(f.store, f.peer ?? f.store);
    } finally {
      await f.cleanup();
    }
  };

  describe(`PresenceStore contract: ${name}`, () => {
    test(
      'sessionsMany answers every distinct user asked, in one batch, equal to sessions one by one',
      withStore(async (store, peer) => {
        const a = admitted(await store.register(login('m1', 'phone', 'ios', { instanceId: CONTRACT_INSTANCE_B }), ONE_PER_PLATFORM_KICK));
        admitted(await peer.register(login('m1', 'pc', 'windows', { instanceId: CONTRACT_INSTANCE_B }), ONE_PER_PLATFORM_KICK));
        admitted(await store.register(login('m2', 'pad', 'ipad', { instanceId: CONTRACT_INSTANCE_B }), ONE_PER_PLATFORM_KICK));
        const many = await store.sessionsMany(['m1', 'm2', 'nobody', 'm1']);
        assert.deepEqual([...many.keys()].sort(), ['m1', 'm2', 'nobody']);
        for (const u of ['m1', 'm2', 'nobody']) assert.deepEqual(byEpoch(many.get(u) ?? []), byEpoch(await store.sessions(u)));
        assert.equal(many.get('m1')?.length, 2);
        assert.ok(many.get('m1')?.some((e) => e.epoch === a.epoch));
        assert.deepEqual(await store.sessionsMany([]), new Map());
      }),
    );

    test(
      'a first login is admitted with no victims and recorded with every field',
      withStore(async (store) => {
        const l = login('u1', 'phone', 'ios', { instanceId: CONTRACT_INSTANCE_B, clientIp: '192.0.2.1' });
        const r = admitted(await store.register(l, ONE_PER_PLATFORM_KICK));
        assert.deepEqual(r.victims, []);
        assert.ok(Number.isSafeInteger(r.epoch) && r.epoch > 0, `epoch ${r.epoch}`);
        assert.deepEqual(await store.sessions('u1'), [{ ...l, epoch: r.epoch }]);
        assert.deepEqual(await store.sessions('u2'), []);
      }),
    );

    test(
      'device ids, user ids and client ips round-trip unchanged (odd characters included)',
      withStore(async (store) => {
        const odd = [
          login('user:{x}', '#epoch', 'web', { clientIp: '2001:db8::1' }),
          login('user:{x}', '##two', 'ios', { clientIp: '' }),
          login('user:{x}', 'dév "q" \\ ç', 'android'),
        ];
        const epochs: number[] = [];
        for (const l of odd) epochs.push(admitted(await store.register(l, ALLOW_ALL)).epoch);
        assert.deepEqual(
          byEpoch(await store.sessions('user:{x}')),
          odd.map((l, k) => ({ ...l, epoch: epochs[k] })),
        );
        assert.equal(await store.unregister('user:{x}', '#epoch', epochs[0] ?? 0), true);
        assert.deepEqual(await devices(store, 'user:{x}'), ['##two', 'dév "q" \\ ç']);
      }),
    );

    test(
      'epochs strictly increase per user: devices, replacements, instances, after going offline',
      withStore(async (store, peer) => {
        const last = new Map<string, number>();
        const platforms: Platform[] = ['ios', 'android', 'web', 'windows'];
        for (let i = 0; i < 40; i++) {
          const user = `u${i % 3}`;
          const s = i % 2 === 0 ? store : peer;
          const inst = i % 2 === 0 ? CONTRACT_INSTANCE_A : CONTRACT_INSTANCE_B;
          const r = admitted(await s.register(login(user, `d${i % 5}`, platforms[i % 4] ?? 'ios', { instanceId: inst }), ONE_PER_PLATFORM_KICK));
          const prev = last.get(user) ?? 0;
          assert.ok(r.epoch > prev, `user ${user}: epoch ${r.epoch} after ${prev}`);
          last.set(user, r.epoch);
        }
        // the user goes fully offline, then comes back: still a larger epoch
        for (const e of await store.sessions('u0')) assert.equal(await store.unregister('u0', e.deviceId, e.epoch), true);
        assert.deepEqual(await store.sessions('u0'), []);
        const back = admitted(await store.register(login('u0', 'd0', 'ios'), ONE_PER_PLATFORM_KICK));
        assert.ok(back.epoch > (last.get('u0') ?? 0), `epoch ${back.epoch} after going offline, before ${last.get('u0')}`);
        // rejected logins do not disturb the sequence
        const a = admitted(await store.register(login('u7', 'phone', 'ios'), SINGLE_REJECT));
        rejected(await store.register(login('u7', 'pc', 'windows'), SINGLE_REJECT));
        const b = admitted(await store.register(login('u7', 'phone', 'ios'), SINGLE_REJECT));
        assert.ok(b.epoch > a.epoch);
      }),
    );

    test(
      'a rejected login changes nothing',
      withStore(async (store) => {
        admitted(await store.register(login('u1', 'phone', 'ios'), SINGLE_REJECT));
        const before = await store.sessions('u1');
        rejected(await store.register(login('u1', 'pc', 'windows'), SINGLE_REJECT));
        assert.deepEqual(await store.sessions('u1'), before);
      }),
    );

    describe('one_per_platform', () => {
      test(
        'kick_old: a second device on the same platform evicts the first; other platforms stay',
        withStore(async (store) => {
          const phone1 = admitted(await store.register(login('u1', 'phone-1', 'ios'), ONE_PER_PLATFORM_KICK));
          const web = admitted(await store.register(login('u1', 'browser', 'web'), ONE_PER_PLATFORM_KICK));
          assert.deepEqual(web.victims, []);
          const phone2 = admitted(await store.register(login('u1', 'phone-2', 'ios', { instanceId: CONTRACT_INSTANCE_B }), ONE_PER_PLATFORM_KICK));
          assert.deepEqual(
            phone2.victims.map((v) => [v.reason, v.session.deviceId, v.session.epoch, v.session.platform, v.session.instanceId]),
            [['policy', 'phone-1', phone1.epoch, 'ios', CONTRACT_INSTANCE_A]],
          );
          assert.deepEqual(await devices(store, 'u1'), ['browser', 'phone-2']);
          assert.equal(await store.unregister('u1', 'phone-1', phone1.epoch), false, 'the evicted epoch unregisters nothing');
          assert.deepEqual(await devices(store, 'u1'), ['browser', 'phone-2']);
        }),
      );

      test(
        'reject_new: a second device on the same platform is refused and nothing changes',
        withStore(async (store) => {
          const phone1 = admitted(await store.register(login('u1', 'phone-1', 'ios'), ONE_PER_PLATFORM_REJECT));
          admitted(await store.register(login('u1', 'browser', 'web'), ONE_PER_PLATFORM_REJECT));
          const before = byEpoch(await store.sessions('u1'));
          const r = rejected(await store.register(login('u1', 'phone-2', 'ios'), ONE_PER_PLATFORM_REJECT));
          assert.deepEqual(
            r.conflicts.map((c) => [c.deviceId, c.epoch]),
            [['phone-1', phone1.epoch]],
          );
          assert.deepEqual(byEpoch(await store.sessions('u1')), before);
        }),
      );

      test(
        'users are independent',
        withStore(async (store) => {
          admitted(await store.register(login('u1', 'phone', 'ios'), ONE_PER_PLATFORM_REJECT));
          const r = admitted(await store.register(login('u2', 'phone', 'ios'), ONE_PER_PLATFORM_REJECT));
          assert.deepEqual(r.victims, []);
          assert.deepEqual(await devices(store, 'u1'), ['phone']);
          assert.deepEqual(await devices(store, 'u2'), ['phone']);
        }),
      );
    });

    describe('single_session', () => {
      test(
        'kick_old: each new device evicts the previous one',
        withStore(async (store) => {
          const a = admitted(await store.register(login('u1', 'phone', 'ios'), SINGLE_KICK));
          const b = admitted(await store.register(login('u1', 'pc', 'windows'), SINGLE_KICK));
          assert.deepEqual(
            b.victims.map((v) => [v.session.deviceId, v.session.epoch, v.reason]),
            [['phone', a.epoch, 'policy']],
          );
          const c = admitted(await store.register(login('u1', 'browser', 'web'), SINGLE_KICK));
          assert.deepEqual(
            c.victims.map((v) => [v.session.deviceId, v.session.epoch, v.reason]),
            [['pc', b.epoch, 'policy']],
          );
          assert.deepEqual(
            (await store.sessions('u1')).map((s) => [s.deviceId, s.epoch]),
            [['browser', c.epoch]],
          );
        }),
      );

      test(
        'reject_new: a second device is refused until the first one leaves',
        withStore(async (store) => {
          const a = admitted(await store.register(login('u1', 'phone', 'ios'), SINGLE_REJECT));
          const r = rejected(await store.register(login('u1', 'pc', 'windows'), SINGLE_REJECT));
          assert.deepEqual(
            r.conflicts.map((c) => [c.deviceId, c.epoch, c.platform, c.instanceId]),
            [['phone', a.epoch, 'ios', CONTRACT_INSTANCE_A]],
          );
          assert.deepEqual(
            (await store.sessions('u1')).map((s) => [s.deviceId, s.epoch]),
            [['phone', a.epoch]],
          );
          assert.equal(await store.unregister('u1', 'phone', a.epoch), true);
          const b = admitted(await store.register(login('u1', 'pc', 'windows'), SINGLE_REJECT));
          assert.deepEqual(b.victims, []);
          assert.deepEqual(await devices(store, 'u1'), ['pc']);
        }),
      );

      test(
        'reject_new: a same-device reconnect with no other conflict replaces the old session',
        withStore(async (store) => {
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
        }),
      );

      test(
        'reject_new: rejection wins over a same-device replacement (nothing is kicked)',
        withStore(async (store) => {
          const settings: PolicySettings = { policy: 'one_per_class', maxConnectionsPerUser: 10, onConflict: 'reject_new' };
          const phone = admitted(await store.register(login('u1', 'phone', 'ios'), settings));
          const pc = admitted(await store.register(login('u1', 'pc', 'windows'), settings));
          // the pc reconnects as an android device: same device, and the mobile slot is taken
          const r = rejected(await store.register(login('u1', 'pc', 'android'), settings));
          assert.deepEqual(
            r.conflicts.map((c) => [c.deviceId, c.epoch]),
            [['phone', phone.epoch]],
          );
          assert.deepEqual(
            byEpoch(await store.sessions('u1')).map((s) => [s.deviceId, s.epoch]),
            [
              ['phone', phone.epoch],
              ['pc', pc.epoch],
            ],
          );
        }),
      );
    });

    describe('same device', () => {
      test(
        'a reconnect through another instance replaces it (victim same_device) with a new epoch',
        withStore(async (store, peer) => {
          const a = admitted(await store.register(login('u1', 'phone', 'ios'), ONE_PER_PLATFORM_KICK));
          const b = admitted(await peer.register(login('u1', 'phone', 'ios', { instanceId: CONTRACT_INSTANCE_B }), ONE_PER_PLATFORM_KICK));
          assert.ok(b.epoch > a.epoch);
          assert.deepEqual(
            b.victims.map((v) => [v.session.deviceId, v.session.epoch, v.session.instanceId, v.reason]),
            [['phone', a.epoch, CONTRACT_INSTANCE_A, 'same_device']],
          );
          for (const s of [store, peer]) {
            assert.deepEqual(
              (await s.sessions('u1')).map((e) => [e.deviceId, e.epoch, e.instanceId]),
              [['phone', b.epoch, CONTRACT_INSTANCE_B]],
            );
          }
        }),
      );

      test(
        'reconnect race: the old connection unregistering after the new login leaves the new mapping',
        withStore(async (store, peer) => {
          const old = admitted(await store.register(login('u1', 'phone', 'ios'), ONE_PER_PLATFORM_KICK));
          const neu = admitted(await peer.register(login('u1', 'phone', 'ios', { instanceId: CONTRACT_INSTANCE_B }), ONE_PER_PLATFORM_KICK));
          assert.equal(await store.unregister('u1', 'phone', old.epoch), false);
          assert.deepEqual(
            (await store.sessions('u1')).map((s) => [s.deviceId, s.epoch]),
            [['phone', neu.epoch]],
          );
          assert.equal(await peer.unregister('u1', 'phone', neu.epoch), true);
          assert.deepEqual(await store.sessions('u1'), []);
        }),
      );
    });

    test(
      'unregister removes only the matching (user, device, epoch)',
      withStore(async (store) => {
        const a = admitted(await store.register(login('u1', 'phone', 'ios'), ALLOW_ALL));
        const b = admitted(await store.register(login('u1', 'pc', 'windows'), ALLOW_ALL));
        assert.equal(await store.unregister('u1', 'phone', b.epoch), false, 'epoch of another device');
        assert.equal(await store.unregister('u2', 'phone', a.epoch), false, 'another user');
        assert.equal(await store.unregister('u1', 'tablet', a.epoch), false, 'unknown device');
        assert.equal(await store.unregister('u1', 'phone', a.epoch + 1000), false, 'future epoch');
        assert.equal(await store.unregister('u1', 'phone', a.epoch - 1), false, 'past epoch');
        assert.deepEqual(await devices(store, 'u1'), ['pc', 'phone']);
        assert.equal(await store.unregister('u1', 'phone', a.epoch), true);
        assert.equal(await store.unregister('u1', 'phone', a.epoch), false, 'twice');
        assert.deepEqual(await devices(store, 'u1'), ['pc']);
        assert.equal(await store.unregister('u1', 'pc', b.epoch), true);
        assert.deepEqual(await store.sessions('u1'), []);
      }),
    );

    describe('maxConnectionsPerUser', () => {
      test(
        'evicts the oldest under allow_all, whatever onConflict says',
        withStore(async (store) => {
          const settings: PolicySettings = { policy: 'allow_all', maxConnectionsPerUser: 2, onConflict: 'reject_new' };
          const a = admitted(await store.register(login('u1', 'a', 'ios'), settings));
          admitted(await store.register(login('u1', 'b', 'ios'), settings));
          const c = admitted(await store.register(login('u1', 'c', 'ios'), settings));
          assert.deepEqual(
            c.victims.map((v) => [v.session.deviceId, v.session.epoch, v.reason]),
            [['a', a.epoch, 'max_connections']],
          );
          assert.deepEqual(await devices(store, 'u1'), ['b', 'c']);
        }),
      );

      test(
        'oldest by connectedAt, ties by epoch; victims ordered same_device, policy, max_connections',
        withStore(async (store) => {
          const settings: PolicySettings = { policy: 'pc_and_one_other', maxConnectionsPerUser: 3, onConflict: 'kick_old' };
          const t = T0 + 1_000_000 + ++tick * 10;
          const mac = admitted(await store.register(login('u1', 'mac', 'macos', { connectedAt: t + 5 }), settings));
          const win = admitted(await store.register(login('u1', 'win', 'windows', { connectedAt: t + 5 }), settings));
          const lin = admitted(await store.register(login('u1', 'lin', 'linux', { connectedAt: t + 1 }), settings));
          const phone = admitted(await store.register(login('u1', 'phone', 'ios', { connectedAt: t + 2 }), settings));
          // 4 > 3 on the phone's admission: the oldest (lin, connectedAt t+1) went
          assert.deepEqual(
            phone.victims.map((v) => [v.session.deviceId, v.reason]),
            [['lin', 'max_connections']],
          );
          assert.ok(lin.epoch > 0);
          // win reconnects as a web client: same_device (win), policy (phone), and then the
          // remaining {mac} + new = 2 <= 3: no max_connections victim
          const r = admitted(await store.register(login('u1', 'win', 'web', { connectedAt: t + 9 }), settings));
          assert.deepEqual(
            r.victims.map((v) => [v.session.deviceId, v.session.epoch, v.reason]),
            [
              ['win', win.epoch, 'same_device'],
              ['phone', phone.epoch, 'policy'],
            ],
          );
          // cap 1: the two desktops with equal connectedAt go, the smaller epoch first
          const tie = admitted(await store.register(login('u1', 'win2', 'windows', { connectedAt: t + 5 }), settings));
          assert.deepEqual(tie.victims, []);
          const capped: PolicySettings = { ...settings, maxConnectionsPerUser: 1 };
          const last = admitted(await store.register(login('u1', 'lin2', 'linux', { connectedAt: t + 20 }), capped));
          assert.deepEqual(
            last.victims.map((v) => [v.session.deviceId, v.reason]),
            [
              ['mac', 'max_connections'],
              ['win2', 'max_connections'],
              ['win', 'max_connections'],
            ],
          );
          assert.ok(mac.epoch < tie.epoch);
          assert.deepEqual(await devices(store, 'u1'), ['lin2']);
        }),
      );
    });

    test(
      'register applies exactly the rules of decide() (random sequences, every policy and mode)',
      withStore(async (store, peer) => {
        const rnd = prng(20240601);
        const maxima = [0, 1, 2, 3, 2.5];
        let userNo = 0;
        for (const policy of POLICIES) {
          for (const onConflict of CONFLICT_MODES) {
            for (const maxConnectionsPerUser of maxima) {
              const settings: PolicySettings = { policy, onConflict, maxConnectionsPerUser };
              const user = `model-${userNo++}`;
              for (let step = 0; step < 16; step++) {
                const before = await store.sessions(user);
                if (before.length > 0 && rnd(5) === 0) {
                  const gone = before[rnd(before.length)];
                  if (gone === undefined) throw new Error('unreachable');
                  assert.equal(await peer.unregister(user, gone.deviceId, gone.epoch), true);
                  continue;
                }
                const viaPeer = rnd(2) === 1;
                const l = login(user, `d${rnd(6)}`, PLATFORMS[rnd(PLATFORMS.length)] ?? 'web', {
                  instanceId: viaPeer ? CONTRACT_INSTANCE_B : CONTRACT_INSTANCE_A,
                  connectedAt: T0 + rnd(4) * 1000, // ties on purpose: the epoch breaks them
                });
                const expected = decide(before, l, settings);
                const r = await (viaPeer ? peer : store).register(l, settings);
                const where = `${JSON.stringify(settings)} step ${step}: ${l.deviceId}/${l.platform} over ${JSON.stringify(before.map(sessionKey))}`;
                assert.equal(r.admitted, expected.admit, where);
                let after: string[];
                if (r.admitted && expected.admit) {
                  assert.deepEqual(
                    r.victims.map((v) => [v.reason, sessionKey(v.session)]),
                    expected.victims.map((v) => [v.reason, sessionKey(v.session)]),
                    where,
                  );
                  const gone = new Set(expected.victims.map((v) => v.session.deviceId));
                  after = [...before.filter((s) => !gone.has(s.deviceId)).map(sessionKey), sessionKey({ ...l, epoch: r.epoch })];
                } else if (!r.admitted && !expected.admit) {
                  assert.deepEqual(r.conflicts.map(sessionKey), expected.conflicts.map(sessionKey), where);
                  after = before.map(sessionKey);
                } else {
                  throw new Error('unreachable');
                }
                assert.deepEqual((await store.sessions(user)).map(sessionKey).sort(), after.sort(), where);
              }
            }
          }
        }
      }),
    );

    describe('concurrent logins from two instances', () => {
      test(
        'single_session kick_old: both admitted, the later one has the earlier one as its victim',
        withStore(async (store, peer) => {
          for (let round = 0; round < 20; round++) {
            const user = `race-kick-${round}`;
            const [ra, rb] = await Promise.all([
              store.register(login(user, 'dev-a', 'ios'), SINGLE_KICK),
              peer.register(login(user, 'dev-b', 'web', { instanceId: CONTRACT_INSTANCE_B }), SINGLE_KICK),
            ]);
            const a = admitted(ra);
            const b = admitted(rb);
            assert.notEqual(a.epoch, b.epoch);
            const aFirst = a.epoch < b.epoch;
            const [first, second] = aFirst ? [a, b] : [b, a];
            const [firstDevice, secondDevice] = aFirst ? ['dev-a', 'dev-b'] : ['dev-b', 'dev-a'];
            assert.deepEqual(first.victims, [], `round ${round}`);
            assert.deepEqual(
              second.victims.map((v) => [v.session.deviceId, v.session.epoch, v.reason]),
              [[firstDevice, first.epoch, 'policy']],
              `round ${round}`,
            );
            assert.deepEqual(
              (await store.sessions(user)).map((s) => [s.deviceId, s.epoch]),
              [[secondDevice, second.epoch]],
            );
          }
        }),
      );

      test(
        'single_session reject_new: exactly one is admitted; the other is told who holds the slot',
        withStore(async (store, peer) => {
          for (let round = 0; round < 20; round++) {
            const user = `race-reject-${round}`;
            const results = await Promise.all([
              store.register(login(user, 'dev-a', 'ios'), SINGLE_REJECT),
              peer.register(login(user, 'dev-b', 'web', { instanceId: CONTRACT_INSTANCE_B }), SINGLE_REJECT),
            ]);
            const wins = results.filter((r): r is Admitted => r.admitted);
            const losses = results.filter((r): r is Rejected => !r.admitted);
            assert.equal(wins.length, 1, `round ${round}: ${JSON.stringify(results)}`);
            const win = wins[0];
            const loss = losses[0];
            if (win === undefined || loss === undefined) throw new Error('unreachable');
            const winner = results[0]?.admitted === true ? 'dev-a' : 'dev-b';
            assert.deepEqual(win.victims, []);
            assert.deepEqual(
              loss.conflicts.map((c) => [c.deviceId, c.epoch]),
              [[winner, win.epoch]],
            );
            assert.deepEqual(
              (await peer.sessions(user)).map((s) => [s.deviceId, s.epoch]),
              [[winner, win.epoch]],
            );
          }
        }),
      );

      test(
        'single_session kick_old, many at once: in epoch order each login evicts exactly the previous one',
        withStore(async (store, peer) => {
          const user = 'race-many';
          const n = 16;
          const results = await Promise.all(
            Array.from({ length: n }, (_, k) =>
              (k % 2 === 0 ? store : peer).register(
                login(user, `dev-${k}`, PLATFORMS[k % PLATFORMS.length] ?? 'web', { instanceId: k % 2 === 0 ? CONTRACT_INSTANCE_A : CONTRACT_INSTANCE_B }),
                SINGLE_KICK,
              ),
            ),
          );
          const ordered = byEpoch(results.map((r, k) => ({ ...admitted(r), device: `dev-${k}` })));
          assert.equal(new Set(ordered.map((r) => r.epoch)).size, n, 'distinct epochs');
          ordered.forEach((r, k) => {
            const prev = ordered[k - 1];
            assert.deepEqual(
              r.victims.map((v) => [v.session.deviceId, v.session.epoch, v.reason]),
              prev === undefined ? [] : [[prev.device, prev.epoch, 'policy']],
            );
          });
          const lastOne = ordered[n - 1];
          assert.deepEqual(
            (await store.sessions(user)).map((s: PresenceEntry) => [s.deviceId, s.epoch]),
            [[lastOne?.device, lastOne?.epoch]],
          );
        }),
      );
    });
  });
}

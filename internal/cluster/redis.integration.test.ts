import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { PolicySettings } from '../policy/policy';
import type { Platform } from '../protocol/codes';
import { startRedis, type TestRedis } from '../../test/support/redis';
import { CONTRACT_INSTANCE_A, CONTRACT_INSTANCE_B, presenceContract } from '../presence/contract';
import { createRedisClient, type RedisClient } from '../redis/client';
import { RedisKeys } from '../redis/keys';
import { RedisPresenceStore } from '../presence/redis';
import type { NewLogin, PresenceEntry, RegisterResult } from '../presence/types';
import { RedisInstanceLeases } from './leases';
import { leaveCluster, sweepExpired } from './membership';
import type { LeaseInfo } from './types';

let server: TestRedis;
let admin: Redis;

before(async () => {
  server = await startRedis();
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
});

after(async () => {
  admin.disconnect();
  await server.stop();
});

const T0 = 1_700_000_000_000;
let tick = 0;
function login(userId: string, deviceId: string, platform: Platform, instanceId: string, over: Partial<NewLogin> = {}): NewLogin {
  return { userId, deviceId, platform, instanceId, connectedAt: T0 + ++tick, clientIp: '10.0.0.9', ...over };
}
function lease(address: string): LeaseInfo {
  return { address, connections: 3, users: 2, startedAt: T0, version: '0.1.0' };
}

const ALLOW_ALL: PolicySettings = { policy: 'allow_all', maxConnectionsPerUser: 0, onConflict: 'kick_old' };
const SINGLE_KICK: PolicySettings = { policy: 'single_session', maxConnectionsPerUser: 10, onConflict: 'kick_old' };
const SINGLE_REJECT: PolicySettings = { policy: 'single_session', maxConnectionsPerUser: 10, onConflict: 'reject_new' };

function admitted(r: RegisterResult): Extract<RegisterResult, { admitted: true }> {
  assert.equal(r.admitted, true, `expected admitted, got ${JSON.stringify(r)}`);
  if (!r.admitted) throw new Error('unreachable');
  return r;
}

/** One gateway instance's view of the shared Redis, wired as app/cluster.ts wires it. */
interface Node {
  readonly presence: RedisPresenceStore;
  readonly leases: RedisInstanceLeases;
  /** One sweep of expired instances, as ClusterMembership runs it. */
  sweep(): Promise<number>;
  /** This instance's shutdown: its mappings, index and lease removed. */
  leave(): Promise<number>;
}

/** Instances with their own clients, all closed by close(). */
class Harness {
  private readonly clients: RedisClient[] = [];
  constructor(private readonly url: string) {}

  node(instanceId: string, opts: { leaseTtlMs?: number; keyPrefix?: string; commandTimeoutMs?: number } = {}): Node {
    const client = createRedisClient(this.url, false, opts.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: opts.commandTimeoutMs });
    this.clients.push(client);
    const keys = new RedisKeys(opts.keyPrefix ?? 'ima:');
    const leases = new RedisInstanceLeases(client, keys, { instanceId, leaseTtlMs: opts.leaseTtlMs ?? 30_000 });
    const presence = new RedisPresenceStore(client, keys, leases);
    return { presence, leases, sweep: () => sweepExpired(leases, presence), leave: () => leaveCluster(instanceId, leases, presence) };
  }

  client(k: number): RedisClient {
    const c = this.clients[k];
    if (c === undefined) throw new Error(`no client ${k}`);
    return c;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.quit().catch(() => c.disconnect())));
  }
}

async function fresh(): Promise<Harness> {
  await admin.flushall();
  return new Harness(server.url);
}

/** A fresh Redis with stores of two live instances, gw-a and gw-b (leases held); closed afterwards. */
async function withLeasedPair(fn: (p: { h: Harness; a: Node; b: Node }) => Promise<void>): Promise<void> {
  const h = await fresh();
  try {
    const a = h.node('gw-a');
    const b = h.node('gw-b');
    await a.leases.refreshLease(lease('a'));
    await b.leases.refreshLease(lease('b'));
    await fn({ h, a, b });
  } finally {
    await h.close();
  }
}

function sorted(entries: readonly PresenceEntry[]): Array<[string, number, string]> {
  return entries.map((e): [string, number, string] => [e.deviceId, e.epoch, e.instanceId]).sort((a, b) => a[1] - b[1]);
}

presenceContract('RedisPresenceStore', async () => {
  const h = await fresh();
  const store = h.node(CONTRACT_INSTANCE_A);
  const peer = h.node(CONTRACT_INSTANCE_B);
  await store.leases.refreshLease(lease('127.0.0.1:1'));
  await peer.leases.refreshLease(lease('127.0.0.1:2'));
  await store.leases.fresh();
  return {
    store: store.presence,
    peer: peer.presence,
    cleanup: async () => {
      await store.presence.close();
      await peer.presence.close();
      await h.close();
    },
  };
});

describe('Redis presence and leases together (Redis specific)', () => {
  test('leases: refreshLease writes key and score, liveInstances lists unexpired ones, removeLease drops one', async () => {
    const h = await fresh();
    try {
      const a = h.node('gw-a', { leaseTtlMs: 30_000 });
      const b = h.node('gw-b', { leaseTtlMs: 30_000 });
      assert.equal(await a.leases.refreshLease(lease('10.0.0.1:50051')), false, 'first lease: no previous one');
      assert.equal(await a.leases.refreshLease(lease('10.0.0.1:50051')), true, 'continuous');
      await b.leases.refreshLease(lease('10.0.0.2:50051'));

      const pttl = await admin.pttl('ima:inst:gw-a');
      assert.ok(pttl > 28_000 && pttl <= 30_000, `pttl ${pttl}`);
      const score = Number(await admin.zscore('ima:instances', 'gw-a'));
      assert.ok(Math.abs(score - (Date.now() + 30_000)) < 2_000, `score ${score}`);
      const stored = JSON.parse((await admin.get('ima:inst:gw-a')) ?? 'null') as Record<string, unknown>;
      assert.deepEqual(Object.keys(stored).sort(), ['address', 'connections', 'instanceId', 'startedAt', 'updatedAt', 'users', 'version']);

      const live = (await a.leases.liveInstances()).sort((x, y) => x.instanceId.localeCompare(y.instanceId));
      assert.deepEqual(
        live.map((l) => [l.instanceId, l.address, l.connections, l.users, l.startedAt, l.version]),
        [
          ['gw-a', '10.0.0.1:50051', 3, 2, T0, '0.1.0'],
          ['gw-b', '10.0.0.2:50051', 3, 2, T0, '0.1.0'],
        ],
      );
      assert.ok(live.every((l) => l.expiresAt > Date.now()));

      // an expired score is not live, even while its key still exists
      await admin.zadd('ima:instances', Date.now() - 1_000, 'gw-b');
      assert.deepEqual(
        (await a.leases.liveInstances()).map((l) => l.instanceId),
        ['gw-a'],
      );
      // ...and its next refresh reports the interruption
      assert.equal(await b.leases.refreshLease(lease('10.0.0.2:50051')), false);
      assert.equal((await a.leases.liveInstances()).length, 2);

      // a member whose lease key is gone is skipped
      await admin.del('ima:inst:gw-b');
      assert.deepEqual(
        (await a.leases.liveInstances()).map((l) => l.instanceId),
        ['gw-a'],
      );

      await b.leases.refreshLease(lease('10.0.0.2:50051'));
      await b.leases.removeLease();
      assert.equal(await admin.exists('ima:inst:gw-b'), 0);
      assert.equal(await admin.zscore('ima:instances', 'gw-b'), null);
      assert.deepEqual(
        (await a.leases.liveInstances()).map((l) => l.instanceId),
        ['gw-a'],
      );

      await admin.flushall();
      assert.equal(await a.leases.refreshLease(lease('10.0.0.1:50051')), false, 'Redis lost the lease');
    } finally {
      await h.close();
    }
  });

  test('entries of an expired instance: hidden by sessions(), purged by register(), never victims or conflicts', async () => {
    await withLeasedPair(async ({ a, b }) => {
      const phone = admitted(await b.presence.register(login('u1', 'phone', 'ios', 'gw-b'), ALLOW_ALL));
      const pc = admitted(await a.presence.register(login('u1', 'pc', 'windows', 'gw-a'), ALLOW_ALL));
      admitted(await b.presence.register(login('u2', 'phone', 'ios', 'gw-b'), ALLOW_ALL));
      assert.deepEqual(sorted(await a.presence.sessions('u1')), [
        ['phone', phone.epoch, 'gw-b'],
        ['pc', pc.epoch, 'gw-a'],
      ]);

      await admin.zadd('ima:instances', Date.now() - 1_000, 'gw-b');
      await a.leases.fresh();
      assert.deepEqual(sorted(await a.presence.sessions('u1')), [['pc', pc.epoch, 'gw-a']]);
      assert.deepEqual(await a.presence.sessions('u2'), []);
      // an instance always trusts itself
      assert.equal((await b.presence.sessions('u2')).length, 1);
      assert.ok((await admin.hexists('ima:u:{u1}', 'phone')) === 1, 'sessions() only hides it');

      // kick_old: only the live pc is a victim; the dead phone is deleted
      const web = admitted(await a.presence.register(login('u1', 'web', 'web', 'gw-a'), SINGLE_KICK));
      assert.deepEqual(
        web.victims.map((v) => [v.session.deviceId, v.reason]),
        [['pc', 'policy']],
      );
      assert.deepEqual((await admin.hkeys('ima:u:{u1}')).sort(), ['#epoch', 'web']);

      // reject_new: a dead mapping does not hold the slot
      const pc2 = admitted(await a.presence.register(login('u2', 'pc', 'windows', 'gw-a'), SINGLE_REJECT));
      assert.deepEqual(pc2.victims, []);
      assert.deepEqual((await admin.hkeys('ima:u:{u2}')).sort(), ['#epoch', 'pc']);
    });
  });

  test('a mapping of an instance unknown to <p>instances is an orphan; a newly leased instance is seen at once', async () => {
    const h = await fresh();
    try {
      const a = h.node('gw-a');
      await a.leases.refreshLease(lease('a'));
      await admin.hset('ima:u:{u3}', 'ghost-phone', JSON.stringify({ p: 'ios', i: 'gw-ghost', e: 5, t: T0, ip: '1.2.3.4' }), '#epoch', '5');
      assert.deepEqual(await a.presence.sessions('u3'), []);
      const r = admitted(await a.presence.register(login('u3', 'pc', 'windows', 'gw-a'), SINGLE_REJECT));
      assert.deepEqual(r.victims, []);
      assert.ok(r.epoch > 5);
      assert.deepEqual((await admin.hkeys('ima:u:{u3}')).sort(), ['#epoch', 'pc']);

      // gw-c starts after a's view was read: its mappings count as live immediately
      const c = h.node('gw-c');
      await c.leases.refreshLease(lease('c'));
      const phone = admitted(await c.presence.register(login('u4', 'phone', 'ios', 'gw-c'), SINGLE_KICK));
      assert.deepEqual(sorted(await a.presence.sessions('u4')), [['phone', phone.epoch, 'gw-c']]);
      const c2 = h.node('gw-d');
      await c2.leases.refreshLease(lease('d'));
      const tab = admitted(await c2.presence.register(login('u5', 'tab', 'ipad', 'gw-d'), SINGLE_KICK));
      const pc = admitted(await a.presence.register(login('u5', 'pc', 'windows', 'gw-a'), SINGLE_KICK));
      assert.deepEqual(
        pc.victims.map((v) => [v.session.deviceId, v.session.epoch, v.session.instanceId, v.reason]),
        [['tab', tab.epoch, 'gw-d', 'policy']],
      );
    } finally {
      await h.close();
    }
  });

  test('sweep removes the mappings of an instance whose lease expired (real 300 ms lease)', async () => {
    const h = await fresh();
    try {
      const a = h.node('gw-a');
      const b = h.node('gw-b', { leaseTtlMs: 300 });
      await a.leases.refreshLease(lease('a'));
      await b.leases.refreshLease(lease('b'));
      for (let k = 0; k < 5; k++) admitted(await b.presence.register(login(`u${k}`, 'phone', 'ios', 'gw-b'), ALLOW_ALL));
      const pc = admitted(await a.presence.register(login('u0', 'pc', 'windows', 'gw-a'), ALLOW_ALL));
      assert.equal(await a.sweep(), 0, 'nothing expired yet');

      await sleep(450); // the lease's own TTL is what is being tested
      assert.equal(await admin.exists('ima:inst:gw-b'), 0, 'the lease key expired');
      assert.equal(await a.sweep(), 5);
      assert.deepEqual(sorted(await a.presence.sessions('u0')), [['pc', pc.epoch, 'gw-a']]);
      for (let k = 1; k < 5; k++) assert.equal(await admin.exists(`ima:u:{u${k}}`), 0, `u${k} key deleted`);
      assert.equal(await admin.exists('ima:iu:gw-b'), 0);
      assert.equal(await admin.zscore('ima:instances', 'gw-b'), null);
      assert.equal(await a.sweep(), 0, 'idempotent');
      // b comes back: its refresh tells it to re-register
      assert.equal(await b.leases.refreshLease(lease('b')), false);
    } finally {
      await h.close();
    }
  });

  test('sweep: concurrent sweepers remove each mapping once; an instance never sweeps itself', async () => {
    const h = await fresh();
    try {
      const a = h.node('gw-a');
      const b = h.node('gw-b');
      const c = h.node('gw-c');
      for (const s of [a, b, c]) await s.leases.refreshLease(lease('x'));
      await Promise.all(Array.from({ length: 60 }, (_, k) => b.presence.register(login(`s${k}`, 'phone', 'ios', 'gw-b'), ALLOW_ALL)));
      await Promise.all(Array.from({ length: 3 }, (_, k) => a.presence.register(login(`s${k}`, 'pc', 'linux', 'gw-a'), ALLOW_ALL)));
      await admin.zadd('ima:instances', Date.now() - 1, 'gw-b');
      const [x, y] = await Promise.all([a.sweep(), c.sweep()]);
      assert.equal(x + y, 60, `${x} + ${y}`);
      for (let k = 0; k < 60; k++) {
        assert.deepEqual(await admin.hkeys(`ima:u:{s${k}}`).then((f) => f.sort()), k < 3 ? ['#epoch', 'pc'] : [], `s${k}`);
      }
      assert.equal(await admin.exists('ima:iu:gw-b'), 0);

      // an instance never sweeps itself (it knows it is alive); the others do
      await admin.zadd('ima:instances', Date.now() - 1, 'gw-a');
      assert.equal(await a.sweep(), 0);
      assert.equal((await a.presence.sessions('s0')).length, 1);
      await c.leases.fresh();
      assert.deepEqual(await c.presence.sessions('s0'), []);
      assert.equal(await c.sweep(), 3);
      assert.equal(await admin.exists('ima:u:{s0}'), 0);
    } finally {
      await h.close();
    }
  });

  test('removeInstanceMappings deletes this instance’s mappings, index and lease, and nothing else', async () => {
    await withLeasedPair(async ({ a, b }) => {
      for (let k = 0; k < 4; k++) admitted(await b.presence.register(login(`r${k}`, 'phone', 'ios', 'gw-b'), ALLOW_ALL));
      admitted(await b.presence.register(login('r0', 'tab', 'ipad', 'gw-b'), ALLOW_ALL));
      const pc = admitted(await a.presence.register(login('r0', 'pc', 'windows', 'gw-a'), ALLOW_ALL));
      // an unregistered user stays in the index: harmless
      const gone = admitted(await b.presence.register(login('r9', 'phone', 'ios', 'gw-b'), ALLOW_ALL));
      assert.equal(await b.presence.unregister('r9', 'phone', gone.epoch), true);

      assert.equal(await b.leave(), 5);
      assert.deepEqual(sorted(await a.presence.sessions('r0')), [['pc', pc.epoch, 'gw-a']]);
      for (let k = 1; k < 4; k++) assert.equal(await admin.exists(`ima:u:{r${k}}`), 0);
      assert.equal(await admin.exists('ima:iu:gw-b'), 0);
      assert.equal(await admin.exists('ima:inst:gw-b'), 0);
      assert.equal(await admin.zscore('ima:instances', 'gw-b'), null);
      assert.equal(await admin.sismember('ima:iu:gw-a', 'r0'), 1);
    });
  });

  test('reRegister after FLUSHALL writes local mappings back; a newer login elsewhere keeps its place', async () => {
    await withLeasedPair(async ({ a, b }) => {
      const phone = admitted(await a.presence.register(login('u1', 'phone', 'ios', 'gw-a'), ALLOW_ALL));
      const web = admitted(await a.presence.register(login('u1', 'web', 'web', 'gw-a'), ALLOW_ALL));
      const pc = admitted(await a.presence.register(login('u2', 'pc', 'windows', 'gw-a'), ALLOW_ALL));
      const local = [...(await a.presence.sessions('u1')), ...(await a.presence.sessions('u2'))];
      assert.equal(local.length, 3);

      await admin.flushall(); // Redis restarted without persistence
      assert.equal(await a.leases.refreshLease(lease('a')), false);
      await b.leases.refreshLease(lease('b'));
      // the phone logs in again through b before a writes its mappings back
      const phone2 = admitted(await b.presence.register(login('u1', 'phone', 'ios', 'gw-b'), ALLOW_ALL));
      assert.ok(phone2.epoch > phone.epoch, `new epoch ${phone2.epoch} > lost epoch ${phone.epoch}`);

      assert.equal(await a.presence.reRegister(local), 2, 'web and pc written, the stale phone skipped');
      assert.deepEqual(sorted(await a.presence.sessions('u1')), [
        ['web', web.epoch, 'gw-a'],
        ['phone', phone2.epoch, 'gw-b'],
      ]);
      assert.deepEqual(sorted(await b.presence.sessions('u2')), [['pc', pc.epoch, 'gw-a']]);
      assert.deepEqual((await admin.smembers('ima:iu:gw-a')).sort(), ['u1', 'u2']);
      assert.equal(await a.presence.reRegister(local), 0, 'idempotent');
      // the restored mapping is a normal one: its epoch unregisters it
      assert.equal(await a.presence.unregister('u2', 'pc', pc.epoch), true);

      // #epoch is raised to at least a written-back epoch
      const big = phone2.epoch + 1_000_000;
      const entry: PresenceEntry = { userId: 'u9', deviceId: 'tab', platform: 'ipad', instanceId: 'gw-a', connectedAt: T0, clientIp: '', epoch: big };
      assert.equal(await a.presence.reRegister([entry]), 1);
      assert.equal(Number(await admin.hget('ima:u:{u9}', '#epoch')), big);
      const next = admitted(await a.presence.register(login('u9', 'phone', 'ios', 'gw-a'), ALLOW_ALL));
      assert.equal(next.epoch, big + 1);
      // an older epoch does not overwrite a newer one; a newer one does
      assert.equal(await a.presence.reRegister([{ ...entry, epoch: big - 5 }]), 0);
      assert.equal(await a.presence.reRegister([{ ...entry, epoch: big + 7, instanceId: 'gw-b' }]), 1);
      assert.deepEqual(
        sorted(await a.presence.sessions('u9')).find((e) => e[0] === 'tab'),
        ['tab', big + 7, 'gw-b'],
      );
    });
  });

  test('key schema: documented keys and fields only, prefixed, user keys hash-tagged, no TTL on mappings', async () => {
    const h = await fresh();
    try {
      const a = h.node('gw-a', { keyPrefix: 'kp:' });
      await a.leases.refreshLease(lease('10.1.1.1:50051'));
      const l = login('alice', 'phone', 'ios', 'gw-a', { clientIp: '203.0.113.7' });
      const r = admitted(await a.presence.register(l, ALLOW_ALL));

      assert.deepEqual((await admin.keys('*')).sort(), ['kp:inst:gw-a', 'kp:instances', 'kp:iu:gw-a', 'kp:u:{alice}']);
      assert.equal(await admin.type('kp:u:{alice}'), 'hash');
      assert.equal(await admin.type('kp:inst:gw-a'), 'string');
      assert.equal(await admin.type('kp:instances'), 'zset');
      assert.equal(await admin.type('kp:iu:gw-a'), 'set');
      assert.equal(await admin.pttl('kp:u:{alice}'), -1, 'mappings have no TTL');
      assert.ok((await admin.pttl('kp:inst:gw-a')) > 0, 'the lease has one');

      const hash = await admin.hgetall('kp:u:{alice}');
      assert.deepEqual(Object.keys(hash).sort(), ['#epoch', 'phone']);
      assert.equal(Number(hash['#epoch']), r.epoch);
      assert.equal(hash.phone, JSON.stringify({ p: 'ios', i: 'gw-a', e: r.epoch, t: l.connectedAt, ip: '203.0.113.7' }));
      assert.deepEqual(await admin.smembers('kp:iu:gw-a'), ['alice']);
      assert.equal(Number.isSafeInteger(r.epoch), true);

      // nothing token-like anywhere
      const dump: string[] = [];
      for (const k of await admin.keys('*')) {
        const t = await admin.type(k);
        if (t === 'hash') dump.push(JSON.stringify(await admin.hgetall(k)));
        else if (t === 'string') dump.push((await admin.get(k)) ?? '');
        else if (t === 'set') dump.push(...(await admin.smembers(k)));
        else if (t === 'zset') dump.push(...(await admin.zrange(k, '0', '-1')));
      }
      assert.doesNotMatch(dump.join('\n'), /token|secret|password|authorization/i);

      // the last device leaving deletes the user key
      assert.equal(await a.presence.unregister('alice', 'phone', r.epoch), true);
      assert.equal(await admin.exists('kp:u:{alice}'), 0);
    } finally {
      await h.close();
    }
  });

  test('concurrent register and sessions from many clients keep single_session consistent', async () => {
    const h = await fresh();
    try {
      const stores = ['gw-a', 'gw-b', 'gw-c', 'gw-d'].map((id) => h.node(id));
      for (const s of stores) await s.leases.refreshLease(lease('x'));
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, k) => stores[k % 4]?.presence.register(login('hot', `d${k}`, 'ios', `gw-${'abcd'[k % 4]}`), SINGLE_REJECT)),
      );
      assert.equal(results.filter((r) => r?.admitted === true).length, 1);
      assert.equal((await admin.hlen('ima:u:{hot}')) - 1, 1);
    } finally {
      await h.close();
    }
  });
});

describe('Redis presence and leases when Redis goes away', () => {
  let own: TestRedis;
  before(async () => {
    own = await startRedis();
  });
  after(async () => {
    await own.stop();
  });

  test('calls reject quickly while Redis is down; after a restart the lease reports the loss and reRegister restores', async () => {
    const h = new Harness(own.url);
    try {
      const a = h.node('gw-a', { commandTimeoutMs: 1_000 });
      await a.leases.refreshLease(lease('a'));
      const r = admitted(await a.presence.register(login('u1', 'phone', 'ios', 'gw-a'), ALLOW_ALL));
      const local = await a.presence.sessions('u1');

      await own.stop();
      for (const call of [() => a.presence.sessions('u1'), () => a.presence.register(login('u1', 'pc', 'windows', 'gw-a'), ALLOW_ALL), () => a.leases.refreshLease(lease('a'))]) {
        const t = Date.now();
        await assert.rejects(call());
        assert.ok(Date.now() - t < 5_000, `rejected after ${Date.now() - t} ms`);
      }

      await own.restart();
      const client = h.client(0);
      if (client.status !== 'ready') await once(client, 'ready');
      assert.equal(await a.leases.refreshLease(lease('a')), false, 'the lease was lost');
      assert.deepEqual(await a.presence.sessions('u1'), []);
      assert.equal(await a.presence.reRegister(local), 1);
      assert.deepEqual(sorted(await a.presence.sessions('u1')), [['phone', r.epoch, 'gw-a']]);
    } finally {
      await h.close();
    }
  });
});

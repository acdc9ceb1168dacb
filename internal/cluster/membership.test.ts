import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { silentLogger } from '../gateway/testing';
import type { PresenceEntry } from '../presence/types';
import { ClusterMembership, leaveCluster, sweepExpired } from './membership';
import type { LeaseStore, MappingStore, PendingSync } from './membership';
import type { LeaseInfo } from './types';

const log = silentLogger();
const INFO: LeaseInfo = { address: '10.0.0.1:50051', connections: 0, users: 0, startedAt: 1, version: 't' };
const ENTRY: PresenceEntry = { userId: 'u1', deviceId: 'pc', platform: 'windows', instanceId: 'gw-a', epoch: 7, connectedAt: 1, clientIp: '' };

/** Leases in memory: `expiredIds` are expired; those in `renewing` renew before they are forgotten. */
class FakeLeases implements LeaseStore {
  calls: string[] = [];
  continuous: boolean[] = [];
  failing = false;
  expiredIds: string[] = [];
  renewing = new Set<string>();
  async refreshLease(): Promise<boolean> {
    this.calls.push('refresh');
    if (this.failing) throw new Error('ECONNREFUSED');
    return this.continuous.shift() ?? true;
  }
  async removeLease(): Promise<void> {
    this.calls.push('removeLease');
  }
  async expired(): Promise<string[]> {
    return [...this.expiredIds];
  }
  async forgetExpired(id: string): Promise<boolean> {
    this.calls.push(`forget ${id}`);
    return !this.renewing.has(id);
  }
  async deleteLease(id: string): Promise<void> {
    this.calls.push(`deleteLease ${id}`);
  }
}

class FakeMappings implements MappingStore {
  calls: string[] = [];
  async reRegister(entries: readonly PresenceEntry[]): Promise<number> {
    this.calls.push(`reRegister ${entries.length}`);
    return entries.length;
  }
  async removeInstanceMappings(id: string): Promise<number> {
    this.calls.push(`remove ${id}`);
    return 3;
  }
}

class FakePending implements PendingSync {
  pending = false;
  retries = 0;
  takePendingSync(): boolean {
    const p = this.pending;
    this.pending = false;
    return p;
  }
  async retryRemovals(): Promise<void> {
    this.retries++;
  }
}

function membership(leases: FakeLeases, mappings: FakeMappings, pending = new FakePending()): ClusterMembership {
  return new ClusterMembership('gw-a', leases, mappings, pending, () => INFO, () => [ENTRY], { leaseRefreshMs: 60_000, sweepEveryMs: 60_000 }, log);
}

describe('sweepExpired and leaveCluster', () => {
  test('each expired instance is forgotten, then its mappings and lease removed; one that renewed meanwhile is left alone', async () => {
    const leases = new FakeLeases();
    const mappings = new FakeMappings();
    leases.expiredIds = ['gw-b', 'gw-c'];
    leases.renewing.add('gw-c');
    assert.equal(await sweepExpired(leases, mappings, log), 3);
    assert.deepEqual(leases.calls, ['forget gw-b', 'deleteLease gw-b', 'forget gw-c']);
    assert.deepEqual(mappings.calls, ['remove gw-b']);
  });

  test('leaving removes this instance’s mappings before its lease', async () => {
    const leases = new FakeLeases();
    const mappings = new FakeMappings();
    assert.equal(await leaveCluster('gw-a', leases, mappings), 3);
    assert.deepEqual([...mappings.calls, ...leases.calls], ['remove gw-a', 'removeLease']);
  });
});

describe('ClusterMembership.tick', () => {
  test('a continuous lease writes nothing back; a lapsed one writes back on two ticks in a row', async () => {
    const leases = new FakeLeases();
    const mappings = new FakeMappings();
    const m = membership(leases, mappings);
    leases.continuous = [true, false, true, true];
    await m.tick();
    assert.deepEqual(mappings.calls, []);
    await m.tick(); // lapsed
    await m.tick(); // the repeat
    await m.tick(); // quiet again
    assert.deepEqual(mappings.calls, ['reRegister 1', 'reRegister 1']);
    assert.equal(m.reRegistrations, 2);
    assert.equal(m.state, 'up');
  });

  test('Redis down then back: state down with the error, then write-back twice and the failed removals replayed', async () => {
    const leases = new FakeLeases();
    const mappings = new FakeMappings();
    const pending = new FakePending();
    const m = membership(leases, mappings, pending);
    leases.failing = true;
    await m.tick();
    assert.equal(m.state, 'down');
    assert.equal(m.lastError, 'ECONNREFUSED');
    assert.deepEqual(mappings.calls, []);
    leases.failing = false;
    await m.tick();
    await m.tick();
    await m.tick();
    assert.equal(m.state, 'up');
    assert.equal(m.lastError, '');
    assert.deepEqual(mappings.calls, ['reRegister 1', 'reRegister 1']);
    assert.equal(pending.retries, 2);
  });

  test('a pending sync from the presence fallback triggers one write-back', async () => {
    const leases = new FakeLeases();
    const mappings = new FakeMappings();
    const pending = new FakePending();
    const m = membership(leases, mappings, pending);
    await m.tick();
    pending.pending = true;
    await m.tick();
    await m.tick();
    assert.deepEqual(mappings.calls, ['reRegister 1']);
  });

  test('start clears what an earlier process with this id left, then takes the lease; stop leaves the cluster', async () => {
    const leases = new FakeLeases();
    const mappings = new FakeMappings();
    const m = membership(leases, mappings);
    await m.start();
    assert.deepEqual(mappings.calls, ['remove gw-a']);
    assert.deepEqual(leases.calls, ['removeLease', 'refresh']);
    await m.stop();
    assert.deepEqual(mappings.calls, ['remove gw-a', 'remove gw-a']);
    assert.deepEqual(leases.calls, ['removeLease', 'refresh', 'removeLease']);
  });
});

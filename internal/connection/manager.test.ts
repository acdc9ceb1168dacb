import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { Platform } from '../protocol/codes';
import { ConnectionManager } from './manager';
import type { RegisteredConnection } from './types';
import { matches } from './types';

let nextEpoch = 1;

class FakeConnection implements RegisteredConnection {
  readonly epoch: number;
  readonly connectedAt: number;
  readonly clientIp = '10.0.0.1';
  readonly sent: Array<string | Uint8Array> = [];
  readonly closes: Array<{ code: number; reason: string }> = [];
  /** What send() returns while open. */
  accept = true;
  /** Called at the start of send(), e.g. to unregister during a broadcast. */
  onSend: ((self: FakeConnection) => void) | undefined;
  onClose: ((self: FakeConnection) => void) | undefined;

  constructor(
    readonly userId: string,
    readonly deviceId: string,
    readonly platform: Platform,
    epoch?: number,
  ) {
    this.epoch = epoch ?? nextEpoch++;
    this.connectedAt = 1_700_000_000_000 + this.epoch;
  }

  send(frame: string | Uint8Array): boolean {
    this.onSend?.(this);
    if (this.closes.length > 0 || !this.accept) return false;
    this.sent.push(frame);
    return true;
  }

  close(code: number, reason: string): void {
    if (this.closes.length > 0) return;
    this.closes.push({ code, reason });
    this.onClose?.(this);
  }
}

function sorted<T>(xs: Iterable<T>): T[] {
  return [...xs].sort();
}

function snapshot(m: ConnectionManager<FakeConnection>): unknown {
  const all = new Map<string, string[]>();
  for (const [u, ds] of m.getAllUserDevices()) all.set(u, sorted(ds));
  return { users: m.getOnlineCount(), connections: m.getConnectionCount(), platforms: m.getPlatformCounts(), all: Object.fromEntries([...all].sort()) };
}

describe('ConnectionManager: registry', () => {
  test('an empty registry', () => {
    const m = new ConnectionManager<FakeConnection>();
    assert.deepEqual(snapshot(m), { users: 0, connections: 0, platforms: {}, all: {} });
    assert.equal(m.get('u', 'd'), undefined);
    assert.equal(m.getConnection('u', 'd', 1), undefined);
    assert.deepEqual(m.getUserDevices('u'), []);
    assert.deepEqual(m.getUserConnections('u'), []);
    assert.deepEqual(m.all(), []);
  });

  test('register returns undefined for a new device and indexes it', () => {
    const m = new ConnectionManager<FakeConnection>();
    const a = new FakeConnection('u1', 'd1', 'ios');
    const b = new FakeConnection('u1', 'd2', 'web');
    const c = new FakeConnection('u2', 'd1', 'ios');
    assert.equal(m.register(a), undefined);
    assert.equal(m.register(b), undefined);
    assert.equal(m.register(c), undefined);
    assert.equal(m.get('u1', 'd1'), a);
    assert.equal(m.get('u1', 'd2'), b);
    assert.equal(m.get('u2', 'd1'), c);
    assert.equal(m.get('u2', 'd2'), undefined);
    assert.deepEqual(sorted(m.getUserDevices('u1')), ['d1', 'd2']);
    assert.deepEqual(sorted(m.getUserConnections('u1').map((x) => x.deviceId)), ['d1', 'd2']);
    assert.deepEqual(snapshot(m), { users: 2, connections: 3, platforms: { ios: 2, web: 1 }, all: { u1: ['d1', 'd2'], u2: ['d1'] } });
    assert.equal(m.all().length, 3);
  });

  test('registering the same (user, device) replaces and returns the previous connection', () => {
    const m = new ConnectionManager<FakeConnection>();
    const old = new FakeConnection('u1', 'd1', 'ios');
    const neu = new FakeConnection('u1', 'd1', 'android');
    m.register(old);
    assert.equal(m.register(neu), old);
    assert.equal(m.get('u1', 'd1'), neu);
    assert.deepEqual(snapshot(m), { users: 1, connections: 1, platforms: { android: 1 }, all: { u1: ['d1'] } });
    // the registry does not close the previous connection: the caller does
    assert.deepEqual(old.closes, []);
  });

  test('registering the same object twice is a no-op', () => {
    const m = new ConnectionManager<FakeConnection>();
    const a = new FakeConnection('u1', 'd1', 'ios');
    assert.equal(m.register(a), undefined);
    assert.equal(m.register(a), undefined);
    assert.deepEqual(snapshot(m), { users: 1, connections: 1, platforms: { ios: 1 }, all: { u1: ['d1'] } });
  });

  test('unregister removes only the same object (an old connection closing late is ignored)', () => {
    const m = new ConnectionManager<FakeConnection>();
    const old = new FakeConnection('u1', 'd1', 'ios');
    const neu = new FakeConnection('u1', 'd1', 'ios');
    m.register(old);
    m.register(neu);
    assert.equal(m.unregister(old), false);
    assert.equal(m.get('u1', 'd1'), neu);
    assert.deepEqual(snapshot(m), { users: 1, connections: 1, platforms: { ios: 1 }, all: { u1: ['d1'] } });
    assert.equal(m.unregister(neu), true);
    assert.equal(m.unregister(neu), false);
    assert.deepEqual(snapshot(m), { users: 0, connections: 0, platforms: {}, all: {} });
  });

  test('unregister of a never-registered connection is a no-op', () => {
    const m = new ConnectionManager<FakeConnection>();
    m.register(new FakeConnection('u1', 'd1', 'ios'));
    assert.equal(m.unregister(new FakeConnection('u1', 'd2', 'ios')), false);
    assert.equal(m.unregister(new FakeConnection('u9', 'd1', 'ios')), false);
    assert.deepEqual(snapshot(m), { users: 1, connections: 1, platforms: { ios: 1 }, all: { u1: ['d1'] } });
  });

  test('getConnection matches the epoch', () => {
    const m = new ConnectionManager<FakeConnection>();
    const old = new FakeConnection('u1', 'd1', 'ios', 10);
    const neu = new FakeConnection('u1', 'd1', 'ios', 11);
    m.register(old);
    assert.equal(m.getConnection('u1', 'd1', 10), old);
    assert.equal(m.getConnection('u1', 'd1', 11), undefined);
    m.register(neu);
    assert.equal(m.getConnection('u1', 'd1', 10), undefined);
    assert.equal(m.getConnection('u1', 'd1', 11), neu);
    assert.equal(m.getConnection('u1', 'd2', 11), undefined);
    assert.equal(m.getConnection('u2', 'd1', 11), undefined);
  });

  test('one device, two, then one again (the registry keeps a lone connection without a per-user map): every lookup agrees', () => {
    const reg = new ConnectionManager<FakeConnection>();
    const a = new FakeConnection('u', 'a', 'ios');
    const b = new FakeConnection('u', 'b', 'web');
    const check = (devices: FakeConnection[]): void => {
      assert.deepEqual(reg.getUserDevices('u').sort(), devices.map((c) => c.deviceId).sort());
      assert.deepEqual(reg.getUserConnections('u').length, devices.length);
      assert.deepEqual([...(reg.getAllUserDevices().get('u') ?? [])].sort(), devices.map((c) => c.deviceId).sort());
      assert.equal(reg.all().length, devices.length);
      assert.equal(reg.getConnectionCount(), devices.length);
      assert.equal(reg.getOnlineCount(), devices.length > 0 ? 1 : 0);
      for (const c of [a, b]) assert.equal(reg.get('u', c.deviceId), devices.includes(c) ? c : undefined);
      assert.deepEqual(reg.broadcastToUser('u', 'x'), { delivered: devices.length, matched: devices.length });
    };
    reg.register(a);
    check([a]);
    assert.equal(reg.get('u', 'b'), undefined, 'a lone connection answers only for its own device');
    reg.register(b);
    check([a, b]);
    assert.equal(reg.unregister(a), true);
    check([b]);
    const b2 = new FakeConnection('u', 'b', 'web');
    assert.equal(reg.register(b2), b, 'same device replaces the lone connection');
    assert.equal(reg.unregister(b), false);
    assert.equal(reg.unregister(b2), true);
    check([]);
  });

  test('counts stay consistent through a random sequence of register / replace / unregister', () => {
    const m = new ConnectionManager<FakeConnection>();
    const platforms: Platform[] = ['ios', 'android', 'web', 'windows'];
    // a model: key `${user}/${device}` -> connection
    const model = new Map<string, FakeConnection>();
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const live: FakeConnection[] = [];
    for (let step = 0; step < 2000; step++) {
      if (rnd(3) !== 0 || live.length === 0) {
        const c = new FakeConnection(`u${rnd(8)}`, `d${rnd(4)}`, platforms[rnd(4)] ?? 'ios');
        const key = `${c.userId}/${c.deviceId}`;
        const prev = m.register(c);
        assert.equal(prev, model.get(key));
        model.set(key, c);
        live.push(c);
      } else {
        const c = live.splice(rnd(live.length), 1)[0];
        assert.ok(c !== undefined);
        const key = `${c.userId}/${c.deviceId}`;
        const expected = model.get(key) === c;
        assert.equal(m.unregister(c), expected);
        if (expected) model.delete(key);
      }
      // invariants
      assert.equal(m.getConnectionCount(), model.size);
      const users = new Set([...model.values()].map((c) => c.userId));
      assert.equal(m.getOnlineCount(), users.size);
      const pc: Record<string, number> = {};
      for (const c of model.values()) pc[c.platform] = (pc[c.platform] ?? 0) + 1;
      assert.deepEqual(m.getPlatformCounts(), pc);
    }
    const all = m.getAllUserDevices();
    let n = 0;
    for (const [u, ds] of all) {
      for (const d of ds) {
        assert.equal(m.get(u, d), model.get(`${u}/${d}`));
        n++;
      }
      assert.deepEqual(sorted(m.getUserDevices(u)), sorted(ds));
    }
    assert.equal(n, model.size);
    assert.equal(m.all().length, model.size);
  });

  test('getAllUserDevices and all() are snapshots, not live views', () => {
    const m = new ConnectionManager<FakeConnection>();
    const a = new FakeConnection('u1', 'd1', 'ios');
    m.register(a);
    const devices = m.getAllUserDevices();
    const list = m.all();
    const userDevices = m.getUserDevices('u1');
    m.register(new FakeConnection('u1', 'd2', 'ios'));
    m.unregister(a);
    assert.deepEqual(devices.get('u1'), ['d1']);
    assert.deepEqual(list, [a]);
    assert.deepEqual(userDevices, ['d1']);
  });
});

describe('ConnectionManager: delivery', () => {
  function setup(): { m: ConnectionManager<FakeConnection>; ios: FakeConnection; web: FakeConnection; win: FakeConnection; other: FakeConnection } {
    const m = new ConnectionManager<FakeConnection>();
    const ios = new FakeConnection('u1', 'phone', 'ios');
    const web = new FakeConnection('u1', 'browser', 'web');
    const win = new FakeConnection('u1', 'pc', 'windows');
    const other = new FakeConnection('u2', 'phone', 'ios');
    for (const c of [ios, web, win, other]) m.register(c);
    return { m, ios, web, win, other };
  }

  test('broadcastToUser without a filter writes to every device of that user only', () => {
    const { m, ios, web, win, other } = setup();
    assert.deepEqual(m.broadcastToUser('u1', 'F'), { delivered: 3, matched: 3 });
    for (const c of [ios, web, win]) assert.deepEqual(c.sent, ['F']);
    assert.deepEqual(other.sent, []);
  });

  test('broadcastToUser for an offline user', () => {
    const { m } = setup();
    assert.deepEqual(m.broadcastToUser('nobody', 'F'), { delivered: 0, matched: 0 });
  });

  test('broadcastToUser writes the same frame object (bytes too)', () => {
    const { m, ios } = setup();
    const frame = new Uint8Array([1, 2, 3]);
    m.broadcastToUser('u1', frame, { deviceIds: new Set(['phone']) });
    assert.equal(ios.sent[0], frame);
  });

  test('broadcastToUser with deviceIds', () => {
    const { m, ios, web, win } = setup();
    assert.deepEqual(m.broadcastToUser('u1', 'F', { deviceIds: new Set(['phone', 'pc', 'unknown']) }), { delivered: 2, matched: 2 });
    assert.deepEqual(ios.sent, ['F']);
    assert.deepEqual(web.sent, []);
    assert.deepEqual(win.sent, ['F']);
  });

  test('broadcastToUser with platforms', () => {
    const { m, ios, web, win } = setup();
    assert.deepEqual(m.broadcastToUser('u1', 'F', { platforms: new Set(['web', 'android']) }), { delivered: 1, matched: 1 });
    assert.deepEqual([ios.sent.length, web.sent.length, win.sent.length], [0, 1, 0]);
  });

  test('broadcastToUser with excludeDeviceIds', () => {
    const { m, ios, web, win } = setup();
    assert.deepEqual(m.broadcastToUser('u1', 'F', { excludeDeviceIds: new Set(['browser']) }), { delivered: 2, matched: 2 });
    assert.deepEqual([ios.sent.length, web.sent.length, win.sent.length], [1, 0, 1]);
  });

  test('broadcastToUser with combined filters (all must match; exclude wins)', () => {
    const { m, ios, web, win } = setup();
    const r = m.broadcastToUser('u1', 'F', {
      deviceIds: new Set(['phone', 'browser', 'pc']),
      platforms: new Set(['ios', 'web']),
      excludeDeviceIds: new Set(['phone']),
    });
    assert.deepEqual(r, { delivered: 1, matched: 1 });
    assert.deepEqual([ios.sent.length, web.sent.length, win.sent.length], [0, 1, 0]);
  });

  test('empty filter sets mean all', () => {
    const { m } = setup();
    assert.deepEqual(m.broadcastToUser('u1', 'F', { deviceIds: new Set(), platforms: new Set(), excludeDeviceIds: new Set() }), { delivered: 3, matched: 3 });
    assert.deepEqual(m.broadcastToUser('u1', 'F', {}), { delivered: 3, matched: 3 });
  });

  test('a connection whose send returns false is matched but not delivered, and the others still get it', () => {
    const { m, ios, web, win } = setup();
    web.accept = false;
    assert.deepEqual(m.broadcastToUser('u1', 'F'), { delivered: 2, matched: 3 });
    assert.deepEqual([ios.sent.length, web.sent.length, win.sent.length], [1, 0, 1]);
  });

  test('broadcast reaches every user; filters apply; failed sends are not counted', () => {
    const { m, ios, web, win, other } = setup();
    assert.equal(m.broadcast('ALL'), 4);
    for (const c of [ios, web, win, other]) assert.deepEqual(c.sent, ['ALL']);
    assert.equal(m.broadcast('IOS', { platforms: new Set(['ios']) }), 2);
    assert.deepEqual(ios.sent, ['ALL', 'IOS']);
    assert.deepEqual(other.sent, ['ALL', 'IOS']);
    assert.deepEqual(web.sent, ['ALL']);
    other.accept = false;
    assert.equal(m.broadcast('X', { platforms: new Set(['ios', 'windows']) }), 2);
    assert.deepEqual(other.sent, ['ALL', 'IOS']);
    assert.equal(m.broadcast('Y', { excludeDeviceIds: new Set(['phone']) }), 2);
    assert.deepEqual(web.sent, ['ALL', 'Y']);
    assert.deepEqual(win.sent, ['ALL', 'X', 'Y']);
    assert.equal(new ConnectionManager<FakeConnection>().broadcast('Z'), 0);
  });

  test('re-entrancy: a send() that unregisters its own connection during broadcastToUser', () => {
    const { m, ios, web, win } = setup();
    // the middle connection (in registration order) drops itself while being written to
    web.onSend = (self) => {
      self.accept = false;
      m.unregister(self);
    };
    const r = m.broadcastToUser('u1', 'F');
    assert.deepEqual(r, { delivered: 2, matched: 3 });
    assert.deepEqual([ios.sent.length, web.sent.length, win.sent.length], [1, 0, 1]);
    assert.equal(m.get('u1', 'browser'), undefined);
    assert.deepEqual(snapshot(m), { users: 2, connections: 3, platforms: { ios: 2, windows: 1 }, all: { u1: ['pc', 'phone'], u2: ['phone'] } });
  });

  test('re-entrancy: every connection unregisters itself during broadcastToUser (the user disappears mid-loop)', () => {
    const { m, ios, web, win } = setup();
    for (const c of [ios, web, win]) {
      c.onSend = (self) => {
        m.unregister(self);
        self.close(4005, 'slow consumer');
      };
    }
    assert.deepEqual(m.broadcastToUser('u1', 'F'), { delivered: 0, matched: 3 });
    for (const c of [ios, web, win]) assert.deepEqual(c.closes, [{ code: 4005, reason: 'slow consumer' }]);
    assert.deepEqual(m.getUserDevices('u1'), []);
    assert.equal(m.getOnlineCount(), 1);
  });

  test('re-entrancy: send() unregistering its own connection during broadcast does not skip others', () => {
    const m = new ConnectionManager<FakeConnection>();
    const conns: FakeConnection[] = [];
    for (let u = 0; u < 5; u++) {
      for (let d = 0; d < 3; d++) {
        const c = new FakeConnection(`u${u}`, `d${d}`, d === 0 ? 'ios' : 'web');
        conns.push(c);
        m.register(c);
      }
    }
    // every other connection (including whole users) drops itself when written to, but still accepts the frame
    conns.forEach((c, i) => {
      if (i % 2 === 0 || c.userId === 'u3') c.onSend = (self) => void m.unregister(self);
    });
    assert.doesNotThrow(() => assert.equal(m.broadcast('F'), conns.length));
    for (const c of conns) assert.deepEqual(c.sent, ['F'], `${c.userId}/${c.deviceId}`);
    const remaining = conns.filter((c, i) => !(i % 2 === 0 || c.userId === 'u3'));
    assert.equal(m.getConnectionCount(), remaining.length);
    assert.equal(m.getAllUserDevices().has('u3'), false);
    for (const c of remaining) assert.equal(m.get(c.userId, c.deviceId), c);
  });
});

describe('ConnectionManager: closeAll', () => {
  test('with no connections resolves at once', async () => {
    await new ConnectionManager<FakeConnection>().closeAll((c) => c.close(1001, 'bye'), 50);
  });

  test('immediate: every connection closed with the code, synchronously', async () => {
    const m = new ConnectionManager<FakeConnection>();
    const conns = [new FakeConnection('u1', 'd1', 'ios'), new FakeConnection('u1', 'd2', 'web'), new FakeConnection('u2', 'd1', 'ios')];
    for (const c of conns) {
      c.onClose = (self) => void m.unregister(self); // closing unregisters, like the real session
      m.register(c);
    }
    const p = m.closeAll((c) => c.close(1001, 'gateway shutting down'));
    for (const c of conns) assert.deepEqual(c.closes, [{ code: 1001, reason: 'gateway shutting down' }]);
    await p;
    assert.equal(m.getConnectionCount(), 0);
    assert.equal(m.getOnlineCount(), 0);
  });

  test('spread: all closed with the code over the window, in slices, resolving after the last', async () => {
    const m = new ConnectionManager<FakeConnection>();
    const conns: FakeConnection[] = [];
    for (let i = 0; i < 50; i++) {
      const c = new FakeConnection(`u${i % 7}`, `d${i}`, 'android');
      c.onClose = (self) => void m.unregister(self);
      conns.push(c);
      m.register(c);
    }
    const spreadMs = 60; // -> 3 slices of 17, 20 ms apart
    const p = m.closeAll((c) => c.close(1001, 'bye'), spreadMs);
    const closedNow = conns.filter((c) => c.closes.length > 0).length;
    assert.ok(closedNow > 0 && closedNow < conns.length, `first slice only, got ${closedNow}`);
    await p;
    for (const c of conns) assert.deepEqual(c.closes, [{ code: 1001, reason: 'bye' }]);
    assert.equal(m.getConnectionCount(), 0);
  });

  test('spread with fewer connections than slices closes each once', async () => {
    const m = new ConnectionManager<FakeConnection>();
    const conns = [new FakeConnection('u1', 'd1', 'ios'), new FakeConnection('u2', 'd1', 'ios')];
    for (const c of conns) m.register(c);
    await m.closeAll((c) => c.close(4002, 'kicked'), 30);
    for (const c of conns) assert.deepEqual(c.closes, [{ code: 4002, reason: 'kicked' }]);
  });

  test('a connection registered during a spread close is not closed by it (snapshot)', async () => {
    const m = new ConnectionManager<FakeConnection>();
    for (let i = 0; i < 10; i++) m.register(new FakeConnection('u', `d${i}`, 'ios'));
    const p = m.closeAll((c) => c.close(1001, 'bye'), 40);
    const late = new FakeConnection('late', 'd', 'ios');
    m.register(late);
    await p;
    assert.deepEqual(late.closes, []);
  });
});

describe('matches', () => {
  const c = new FakeConnection('u', 'd1', 'ios');
  test('undefined filter matches', () => {
    assert.equal(matches(c, undefined), true);
  });
  test('each filter', () => {
    assert.equal(matches(c, { deviceIds: new Set(['d1']) }), true);
    assert.equal(matches(c, { deviceIds: new Set(['d2']) }), false);
    assert.equal(matches(c, { platforms: new Set(['ios']) }), true);
    assert.equal(matches(c, { platforms: new Set(['web']) }), false);
    assert.equal(matches(c, { excludeDeviceIds: new Set(['d1']) }), false);
    assert.equal(matches(c, { excludeDeviceIds: new Set(['d2']) }), true);
    assert.equal(matches(c, { deviceIds: undefined, platforms: undefined, excludeDeviceIds: undefined }), true);
  });
});

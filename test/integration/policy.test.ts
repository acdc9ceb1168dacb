/**
 * The multi-device login policy (SPEC.md section 5) end to end: one gateway per policy (jwt
 * provider), clients on two and three platforms, kick frames and close codes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { TestWsClient } from '../support/ws-client';
import { TEST_JWT_SECRET, configDir, jwtFor } from './helpers';

const gateways = new Map<string, GatewayProcess>();
const cleanups: Array<() => void> = [];
let seq = 0;

async function gatewayWith(name: string, env: Record<string, string>, appYml?: string): Promise<void> {
  let dir: string | undefined;
  if (appYml !== undefined) {
    const c = configDir({ 'app.yml': appYml });
    cleanups.push(c.cleanup);
    dir = c.dir;
  }
  gateways.set(name, await startGateway({ env: { IMA_JWT_SECRET: TEST_JWT_SECRET, ...env }, ...(dir !== undefined ? { configDir: dir } : {}) }));
}

before(async () => {
  // allSettled: when one fails to start, the others have still started (and are stopped in after)
  const started = await Promise.allSettled([
    gatewayWith('allow_all', { IMA_KICK_POLICY: 'allow_all' }),
    gatewayWith('one_per_platform', { IMA_KICK_POLICY: 'one_per_platform' }),
    gatewayWith('one_per_class', { IMA_KICK_POLICY: 'one_per_class' }),
    gatewayWith('pc_and_one_other', { IMA_KICK_POLICY: 'pc_and_one_other' }),
    gatewayWith('single_session', { IMA_KICK_POLICY: 'single_session' }),
    gatewayWith('reject_new', {}, 'multiDevice:\n  policy: one_per_class\n  onConflict: reject_new\n'),
    gatewayWith('max2', {}, 'multiDevice:\n  policy: allow_all\n  maxConnectionsPerUser: 2\n'),
  ]);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
});

after(async () => {
  await Promise.all([...gateways.values()].map((g) => g.stop()));
  for (const c of cleanups) c();
});

interface Login {
  readonly c: TestWsClient;
  readonly device: string;
  readonly platform: string;
}

/** Logs in one device after another, each waiting for its auth frame. */
async function loginAll(gw: string, user: string, devices: Array<[string, string]>): Promise<Login[]> {
  const g = gateways.get(gw);
  assert.ok(g);
  const out: Login[] = [];
  for (const [device, platform] of devices) {
    const c = await TestWsClient.connect(g.wsUrl({ token: jwtFor(user), device_id: device, platform }));
    const auth = await c.next('auth');
    assert.equal(auth['ok'], true, `${device} admitted: ${JSON.stringify(auth)}`);
    out.push({ c, device, platform });
  }
  return out;
}

/** Asserts which logins were kicked (kick frame + close 4001) and which stay open. */
async function expectKicked(logins: Login[], kickedDevices: string[]): Promise<void> {
  for (const l of logins) {
    if (kickedDevices.includes(l.device)) {
      const kick = await l.c.next('kick', 3000);
      assert.equal(kick['code'], 4001, `${l.device} kick code`);
      assert.equal((await l.c.waitClosed(3000)).code, 4001, `${l.device} close code`);
    }
  }
  // give the gateway a round trip to have kicked anything it wrongly would: a ping on each survivor
  for (const l of logins) {
    if (kickedDevices.includes(l.device)) continue;
    l.c.send({ type: 'ping' });
    await l.c.next('pong', 3000);
    assert.equal(l.c.isOpen, true, `${l.device} stays`);
    assert.equal(l.c.framesOfType('kick').length, 0, `${l.device} got no kick`);
  }
  await Promise.all(logins.map((l) => l.c.close()));
}

const cases: Array<{ policy: string; devices: Array<[string, string]>; kicked: string[] }> = [
  // allow_all
  { policy: 'allow_all', devices: [['a', 'ios'], ['b', 'ios']], kicked: [] },
  { policy: 'allow_all', devices: [['a', 'ios'], ['b', 'android'], ['c', 'ios']], kicked: [] },
  // one_per_platform
  { policy: 'one_per_platform', devices: [['a', 'ios'], ['b', 'android']], kicked: [] },
  { policy: 'one_per_platform', devices: [['a', 'ios'], ['b', 'ios']], kicked: ['a'] },
  { policy: 'one_per_platform', devices: [['a', 'ios'], ['b', 'windows'], ['c', 'ios']], kicked: ['a'] },
  { policy: 'one_per_platform', devices: [['a', 'web'], ['b', 'miniweb'], ['c', 'macos']], kicked: [] },
  // one_per_class
  { policy: 'one_per_class', devices: [['a', 'ios'], ['b', 'android']], kicked: ['a'] },
  { policy: 'one_per_class', devices: [['a', 'windows'], ['b', 'macos'], ['c', 'ipad']], kicked: ['a'] },
  { policy: 'one_per_class', devices: [['a', 'ipad'], ['b', 'apad']], kicked: ['a'] },
  { policy: 'one_per_class', devices: [['a', 'web'], ['b', 'miniweb'], ['c', 'ios']], kicked: [] },
  // pc_and_one_other
  { policy: 'pc_and_one_other', devices: [['a', 'windows'], ['b', 'macos'], ['c', 'linux']], kicked: [] },
  { policy: 'pc_and_one_other', devices: [['a', 'ios'], ['b', 'web']], kicked: ['a'] },
  { policy: 'pc_and_one_other', devices: [['a', 'windows'], ['b', 'android'], ['c', 'ipad']], kicked: ['b'] },
  // single_session
  { policy: 'single_session', devices: [['a', 'ios'], ['b', 'windows']], kicked: ['a'] },
  { policy: 'single_session', devices: [['a', 'ios'], ['b', 'windows'], ['c', 'web']], kicked: ['a', 'b'] },
];

for (const tc of cases) {
  test(`${tc.policy}: ${tc.devices.map(([d, p]) => `${d}/${p}`).join(' then ')} kicks [${tc.kicked.join(', ')}]`, async () => {
    const logins = await loginAll(tc.policy, `u-${++seq}`, tc.devices);
    await expectKicked(logins, tc.kicked);
  });
}

test('the same device reconnecting replaces the old connection under every policy', async () => {
  for (const policy of ['allow_all', 'one_per_platform', 'one_per_class', 'pc_and_one_other', 'single_session', 'reject_new']) {
    const user = `same-${++seq}`;
    const [old] = await loginAll(policy, user, [['phone', 'ios']]);
    const [fresh] = await loginAll(policy, user, [['phone', 'ios']]);
    assert.ok(old && fresh);
    const kick = await old.c.next('kick', 3000);
    assert.equal(kick['code'], 4001, policy);
    assert.equal((await old.c.waitClosed(3000)).code, 4001, policy);
    fresh.c.send({ type: 'ping' });
    await fresh.c.next('pong');
    await fresh.c.close();
  }
});

test('reject_new: the new connection gets auth ok:false 4001 and the old one stays', async () => {
  const user = `rn-${++seq}`;
  const [old] = await loginAll('reject_new', user, [['phone', 'ios']]);
  assert.ok(old);
  const g = gateways.get('reject_new');
  assert.ok(g);
  const c = await TestWsClient.connect(g.wsUrl({ token: jwtFor(user), device_id: 'tablet', platform: 'android' }));
  const auth = await c.next('auth');
  assert.equal(auth['ok'], false);
  assert.equal(auth['code'], 4001);
  assert.equal((await c.waitClosed(3000)).code, 4001);
  await expectKicked([old], []);
});

test('maxConnectionsPerUser: the oldest connection goes', async () => {
  const logins = await loginAll('max2', `max-${++seq}`, [
    ['a', 'ios'],
    ['b', 'android'],
    ['c', 'web'],
  ]);
  await expectKicked(logins, ['a']);
});

test('a kicked device can log in again and the policy is applied to the new set', async () => {
  const user = `again-${++seq}`;
  const first = await loginAll('single_session', user, [['a', 'ios']]);
  const second = await loginAll('single_session', user, [['b', 'web']]);
  await expectKicked(first, ['a']);
  const third = await loginAll('single_session', user, [['a', 'ios']]);
  await expectKicked([...second, ...third], ['b']);
});

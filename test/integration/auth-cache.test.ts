/**
 * The token cache (SPEC.md section 6, Auth) against a real MUC gRPC service: one call for many
 * connections with one token, concurrent validations sharing one call, the negative cache,
 * re-validation after the TTL.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { TestMucService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import { configDir } from './helpers';

let muc: TestMucService;
let gw: GatewayProcess;
let shortTtl: GatewayProcess;
const cleanups: Array<() => void> = [];
let seq = 0;
/** Every token used here, to check none reaches a log line. */
const usedTokens: string[] = [];

before(async () => {
  muc = await TestMucService.start();
  const base = configDir({ 'app.yml': 'multiDevice:\n  policy: allow_all\nauth:\n  negativeCacheTtlSec: 30\n' });
  const short = configDir({ 'app.yml': 'multiDevice:\n  policy: allow_all\nauth:\n  cacheTtlSec: 1\n  negativeCacheTtlSec: 1\n' });
  cleanups.push(base.cleanup, short.cleanup);
  [gw, shortTtl] = await Promise.all([
    startGateway({ configDir: base.dir, env: { IMA_MUC_ADDR: muc.address } }),
    startGateway({ configDir: short.dir, env: { IMA_MUC_ADDR: muc.address } }),
  ]);
});

after(async () => {
  await Promise.all([gw?.stop(), shortTtl?.stop()]);
  await muc?.stop();
  for (const c of cleanups) c();
});

function token(userId: string): string {
  const t = `cache-${++seq}-${Math.random().toString(36).slice(2)}`;
  usedTokens.push(t);
  muc.addToken(t, userId);
  return t;
}

async function login(g: GatewayProcess, t: string, device: string): Promise<TestWsClient> {
  usedTokens.push(t);
  return TestWsClient.connect(g.wsUrl({ token: t, device_id: device, platform: 'web' }));
}

test('many connections with one token: one MUC call', async () => {
  const t = token('cache-user-1');
  const clients: TestWsClient[] = [];
  for (let i = 0; i < 5; i++) {
    const c = await login(gw, t, `d${i}`);
    assert.equal((await c.next('auth'))['ok'], true);
    clients.push(c);
  }
  assert.equal(muc.callsFor(t).length, 1);
  await Promise.all(clients.map((c) => c.close()));
});

test('concurrent validations of one token share one MUC call', async () => {
  const t = token('cache-user-2');
  muc.delayMs = 300;
  try {
    const clients = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => login(gw, t, `c${i}`)));
    for (const c of clients) assert.equal((await c.next('auth'))['ok'], true);
    assert.equal(muc.callsFor(t).length, 1);
    await Promise.all(clients.map((c) => c.close()));
  } finally {
    muc.delayMs = 0;
  }
});

test('a rejected token is cached briefly: repeated attempts make one MUC call', async () => {
  const bad = `bad-${++seq}`;
  for (let i = 0; i < 3; i++) {
    const c = await login(gw, bad, 'x');
    const auth = await c.next('auth');
    assert.equal(auth['ok'], false);
    assert.equal(auth['code'], 4401);
    await c.waitClosed(3000);
  }
  assert.equal(muc.callsFor(bad).length, 1);
});

test('after the TTL the token is validated again (positive and negative entries)', async () => {
  const t = token('cache-user-3');
  let c = await login(shortTtl, t, 'a');
  assert.equal((await c.next('auth'))['ok'], true);
  await c.close();
  c = await login(shortTtl, t, 'b');
  assert.equal((await c.next('auth'))['ok'], true);
  await c.close();
  assert.equal(muc.callsFor(t).length, 1, 'second login within the TTL is a cache hit');
  // node-cache expires at TTL (1 s) + its check; wait past it on a real clock
  await new Promise((r) => setTimeout(r, 1600));
  c = await login(shortTtl, t, 'c');
  assert.equal((await c.next('auth'))['ok'], true);
  await c.close();
  assert.equal(muc.callsFor(t).length, 2, 'validated again after the TTL');

  const bad = `bad-ttl-${++seq}`;
  c = await login(shortTtl, bad, 'x');
  assert.equal((await c.next('auth'))['ok'], false);
  await new Promise((r) => setTimeout(r, 1600));
  muc.addToken(bad, 'now-valid');
  c = await login(shortTtl, bad, 'y');
  assert.equal((await c.next('auth'))['ok'], true, 'a token that became valid is accepted after the negative TTL');
  await c.close();
});

test('the TTL is bounded by expire_at: a token is never served from the cache after it expired', async () => {
  const t = `exp-${++seq}`;
  muc.addToken(t, 'exp-user', { expireAt: Date.now() + 1200 });
  const c = await login(gw, t, 'a');
  assert.equal((await c.next('auth'))['ok'], true);
  assert.equal((await c.next('kick', 4000))['code'], 4003);
  const again = await login(gw, t, 'b');
  const auth = await again.next('auth');
  assert.equal(auth['ok'], false);
  assert.equal(auth['code'], 4003);
  assert.equal(muc.callsFor(t).length, 2, 'the expired entry was not served: MUC asked again');
});

test('tokens never appear in the logs (debug level)', async () => {
  assert.ok(usedTokens.length > 5);
  const t = token('log-user');
  const c = await login(gw, t, 'a');
  await c.next('auth');
  await c.close();
  for (const g of [gw, shortTtl]) {
    for (const line of g.logs) for (const tok of usedTokens) assert.ok(!line.includes(tok), `token in log line: ${line}`);
  }
});

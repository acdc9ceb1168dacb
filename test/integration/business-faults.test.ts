/**
 * The business service down, slow and failing (SPEC.md section 6, Forwarding): clear ack codes,
 * fast failure through the circuit breaker, recovery.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { TestBusinessService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import { TEST_JWT_SECRET, configDir, eventually, jwtFor } from './helpers';

let biz: TestBusinessService;
let gw: GatewayProcess;
let cleanup: () => void;
let client: TestWsClient;
let seq = 0;

before(async () => {
  biz = await TestBusinessService.start();
  const c = configDir({
    'websocket.yml': 'forward:\n  timeoutMs: 400\n  breakerFailureThreshold: 3\n  breakerResetMs: 800\n  dedupeWindowSec: 60\n',
  });
  cleanup = c.cleanup;
  gw = await startGateway({ configDir: c.dir, env: { IMA_JWT_SECRET: TEST_JWT_SECRET, IMA_BUSINESS_ADDR: biz.address } });
  client = await TestWsClient.connect(gw.wsUrl({ token: jwtFor('biz-user'), device_id: 'd1', platform: 'ios' }));
  assert.equal((await client.next('auth'))['ok'], true);
});

after(async () => {
  await client?.close();
  await gw?.stop();
  await biz?.stop();
  cleanup?.();
});

async function send(): Promise<{ id: string; code: number; ms: number }> {
  const id = `m-${++seq}`;
  const t0 = Date.now();
  client.send({ type: 'chat', id, payload: { seq } });
  const ack = await client.next((f) => f['type'] === 'ack' && f['id'] === id, 5000);
  return { id, code: Number(ack['code']), ms: Date.now() - t0 };
}

test('accepted while the service is healthy', async () => {
  assert.equal((await send()).code, 0);
});

test('a slow business service: ack 2001 at the forward deadline', async () => {
  biz.mode = 'slow';
  try {
    const r = await send();
    assert.equal(r.code, 2001);
    assert.ok(r.ms >= 350 && r.ms < 2000, `answered at the deadline (${r.ms} ms)`);
  } finally {
    biz.mode = 'ok';
  }
  // one timeout does not open the breaker (threshold 3)
  assert.equal((await send()).code, 0);
});

test('a failing service opens the breaker: later messages get 2000 at once without a call; it recovers', async () => {
  biz.mode = 'error';
  try {
    for (let i = 0; i < 3; i++) assert.equal((await send()).code, 2000);
    const callsBefore = biz.messages.length;
    biz.mode = 'slow';
    const fast = await send();
    assert.equal(fast.code, 2000);
    assert.ok(fast.ms < 200, `failed fast (${fast.ms} ms), no deadline wait`);
    assert.equal(biz.messages.length, callsBefore, 'the open breaker made no call');
  } finally {
    biz.mode = 'ok';
  }
  // after the reset timeout a probe goes through and closes the breaker
  await eventually(async () => (await send()).code === 0, 5000, 'the breaker to close again');
  assert.equal((await send()).code, 0);
});

test('a failed message may be retried with the same id (failures are not remembered)', async () => {
  biz.mode = 'unavailable';
  const id = `retry-${++seq}`;
  try {
    client.send({ type: 'chat', id, payload: 1 });
    assert.equal((await client.next((f) => f['id'] === id, 3000))['code'], 2000);
  } finally {
    biz.mode = 'ok';
  }
  await eventually(async () => (await send()).code === 0, 5000, 'the breaker to close again');
  client.send({ type: 'chat', id, payload: 1 });
  assert.equal((await client.next((f) => f['id'] === id, 3000))['code'], 0);
});

test('the business service down (process stopped): ack 2000, the connection stays; back up: accepted', async () => {
  const port = biz.port;
  await biz.stop();
  const r = await send();
  assert.equal(r.code, 2000);
  assert.ok(r.ms < 1500, `unavailable is detected without waiting for long (${r.ms} ms)`);
  assert.equal(client.isOpen, true);
  biz = await TestBusinessService.start(port);
  await eventually(async () => (await send()).code === 0, 10_000, 'forwarding to work again after restart');
});

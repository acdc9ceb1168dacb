/**
 * Status events to the business service and the server push stream, end to end: a real gateway
 * process, a real business gRPC service and a real ServerPushService, both restarted mid-test.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { TestBusinessService, TestServerPushService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import { TEST_JWT_SECRET, configDir, jwtFor } from './helpers';

let biz: TestBusinessService;
let push: TestServerPushService;
let gw: GatewayProcess;
let cleanup: () => void;

before(async () => {
  biz = await TestBusinessService.start();
  push = await TestServerPushService.start();
  const c = configDir({
    'app.yml': 'multiDevice:\n  policy: allow_all\nstatusEvents:\n  retryInitialMs: 50\n  retryMaxMs: 300\n',
    'client.yml': 'client:\n  pushStream:\n    heartbeatIntervalSec: 1\n    reconnectInitialMs: 50\n    reconnectMaxMs: 500\n',
  });
  cleanup = c.cleanup;
  gw = await startGateway({ configDir: c.dir, env: { IMA_JWT_SECRET: TEST_JWT_SECRET, IMA_BUSINESS_ADDR: biz.address, IMA_PUSH_STREAM_ADDR: push.address } });
});

after(async () => {
  await gw?.stop();
  await Promise.all([biz?.stop(), push?.stop()]);
  cleanup?.();
});

async function online(user: string, device: string, platform = 'ios'): Promise<TestWsClient> {
  const c = await TestWsClient.connect(gw.wsUrl({ token: jwtFor(user), device_id: device, platform }));
  assert.equal((await c.next('auth'))['ok'], true);
  return c;
}

test('connect, disconnect and kick are reported to OnConnectionStatus', async () => {
  const c = await online('st-1', 'phone', 'android');
  const [connected] = await biz.waitForStatuses((s) => s.userId === 'st-1' && s.event === 'CONNECTION_EVENT_CONNECTED', 5000);
  assert.equal(connected?.deviceId, 'phone');
  assert.equal(connected?.platform, 'android');
  assert.equal(connected?.online, true);
  assert.equal(connected?.clientIp, '127.0.0.1');
  assert.ok((connected?.connectedAt ?? 0) > 0);
  await c.close();
  const [gone] = await biz.waitForStatuses((s) => s.userId === 'st-1' && s.event === 'CONNECTION_EVENT_DISCONNECTED', 5000);
  assert.equal(gone?.online, false);

  const k = await online('st-2', 'pc', 'windows');
  const ws = new URL(gw.adminUrl);
  const r = await fetch(`http://${ws.host}/im.gateway.v1.IMAGatewayService/KickUser`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'st-2', reason: 'banned' }) });
  assert.equal(r.status, 200);
  await k.waitClosed();
  const [kicked] = await biz.waitForStatuses((s) => s.userId === 'st-2' && s.event === 'CONNECTION_EVENT_KICKED', 5000);
  assert.equal(kicked?.reason, 'banned');
});

test('events are retried while the business service refuses them, and while it is down', async () => {
  biz.statusMode = 'unavailable';
  const c = await online('st-3', 'tab', 'ipad');
  await biz.waitForStatuses(() => true, 5000); // attempts are being made
  assert.equal(biz.statuses.filter((s) => s.userId === 'st-3').length, 0);
  biz.statusMode = 'ok';
  await biz.waitForStatuses((s) => s.userId === 'st-3' && s.event === 'CONNECTION_EVENT_CONNECTED', 5000);
  // the connection was never blocked
  c.send({ type: 'ping' });
  await c.next('pong');

  const port = biz.port;
  await biz.stop();
  await c.close();
  biz = await TestBusinessService.start(port);
  await biz.waitForStatuses((s) => s.userId === 'st-3' && s.event === 'CONNECTION_EVENT_DISCONNECTED', 10_000);
});

test('the push stream sends heartbeats and executes commands; it reconnects after the service restarts', async () => {
  const hb = await push.waitForHeartbeat(5000, (h) => h.connections >= 0);
  assert.equal(typeof hb.instanceId, 'string');
  assert.ok(hb.instanceId.length > 0);
  assert.ok(hb.timestamp > 0);
  const a = await online('ps-1', 'a', 'web');
  const b = await online('ps-2', 'b', 'web');
  await push.waitForHeartbeat(5000, (h) => h.connections >= 2 && h.users >= 2);

  assert.ok(push.sendCommand({ commandId: 'c1', push: { userId: 'ps-1', message: { type: 'cmd', messageId: 'cmd-1', payload: Buffer.from('{"v":1}') } } }) >= 1);
  assert.deepEqual((await a.next('cmd'))['payload'], { v: 1 });
  push.sendCommand({ commandId: 'c2', push: { userIds: ['ps-1', 'ps-2'], message: { type: 'cmd', messageId: 'cmd-2' } } });
  await a.next((f) => f['id'] === 'cmd-2');
  await b.next((f) => f['id'] === 'cmd-2');
  push.sendCommand({ commandId: 'c3', broadcast: { message: { type: 'cmd', messageId: 'cmd-3' } } });
  await a.next((f) => f['id'] === 'cmd-3');
  await b.next((f) => f['id'] === 'cmd-3');

  const port = push.port;
  await push.stop();
  push = await TestServerPushService.start(port);
  await push.waitForStream(10_000);
  await push.waitForHeartbeat(5000);
  push.sendCommand({ commandId: 'c4', kick: { userId: 'ps-2', reason: 'from stream' } });
  assert.equal((await b.next('kick'))['code'], 4002);
  assert.equal((await b.waitClosed()).code, 4002);
  await a.close();
});

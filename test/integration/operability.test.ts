/**
 * Operations (SPEC.md section 6): /healthz, /readyz and /stats while serving, while Redis is
 * down, while the business service is down and while draining; SIGTERM with 1,000 clients; no
 * token or secret in any log line.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { httpGet } from '../support/admin';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { Redis } from 'ioredis';
import { startRedis } from '../support/redis';
import type { TestRedis } from '../support/redis';
import { TestBusinessService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import { TEST_JWT_SECRET, configDir, eventually, jwtFor } from './helpers';

let redis: TestRedis;
let biz: TestBusinessService;
let gw: GatewayProcess;
let cleanup: () => void;
const API_TOKEN = 'operability-api-token-7f3a';
const usedTokens: string[] = [];
function tok(user: string): string {
  const t = jwtFor(user);
  usedTokens.push(t);
  return t;
}

before(async () => {
  redis = await startRedis();
  biz = await TestBusinessService.start();
  const c = configDir({ 'redis.yml': 'redis:\n  leaseTtlSec: 4\n  leaseRefreshSec: 1\n  sweepEverySec: 1\n', 'app.yml': 'multiDevice:\n  policy: allow_all\napp:\n  drainWindowSec: 2\n' });
  cleanup = c.cleanup;
  gw = await startGateway({
    configDir: c.dir,
    env: { IMA_JWT_SECRET: TEST_JWT_SECRET, IMA_REDIS_URL: redis.url, IMA_BUSINESS_ADDR: biz.address, IMA_API_TOKEN: API_TOKEN, IMA_INSTANCE_ID: 'ops-1', IMA_ADVERTISE_HOST: '127.0.0.1' },
  });
});

after(async () => {
  await gw?.stop();
  await biz?.stop();
  await redis?.stop();
  cleanup?.();
});

interface Ready {
  ready: boolean;
  status: string;
  checks: { redis: string; upstreams: Record<string, string>; draining: boolean };
}

async function readyz(g: GatewayProcess = gw): Promise<{ status: number; body: Ready }> {
  const r = await httpGet(`${g.adminUrl}/readyz`);
  return { status: r.status, body: r.json as Ready };
}

test('while serving: healthz 200, readyz 200 ready, stats with the documented fields', async () => {
  const c = await TestWsClient.connect(gw.wsUrl({ token: tok('ops-user'), device_id: 'd1', platform: 'ios' }));
  await c.next('auth');
  c.send({ type: 'chat', id: 'x1', payload: {} });
  await c.next('ack');
  assert.equal((await httpGet(`${gw.adminUrl}/healthz`)).status, 200);
  await eventually(async () => (await readyz()).status === 200, 5000, 'readyz 200');
  const r = await readyz();
  assert.equal(r.body.status, 'ready');
  assert.equal(r.body.checks.redis, 'up');
  assert.equal(r.body.checks.upstreams['business'], 'up');
  const stats = (await httpGet(`${gw.adminUrl}/stats`)).json as Record<string, unknown>;
  assert.equal(stats['instanceId'], 'ops-1');
  assert.equal(stats['connections'], 1);
  assert.equal(stats['users'], 1);
  assert.deepEqual(stats['platforms'], { ios: 1 });
  for (const k of ['uptimeSec', 'messages', 'pushes', 'kicks', 'auth', 'tokenCache', 'upstream', 'redis', 'instances']) assert.ok(k in stats, k);
  assert.equal((stats['redis'] as { state: string }).state, 'up');
  assert.equal((stats['messages'] as { in: number }).in, 1);
  assert.ok((stats['upstream'] as Record<string, { calls: number }>)['business.HandleMessage']?.calls === 1);
  assert.deepEqual((stats['instances'] as Array<{ instanceId: string }>).map((i) => i.instanceId), ['ops-1']);
  const metrics = await httpGet(`${gw.adminUrl}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers['content-type'] ?? '', /^text\/plain/);
  assert.match(metrics.body, /^ima_ws_connections 1$/m);
  assert.match(metrics.body, /^ima_ws_users 1$/m);
  assert.match(metrics.body, /^process_cpu_seconds_total /m);
  assert.match(metrics.body, /^nodejs_eventloop_lag_seconds /m);
  assert.match(metrics.body, /^ima_ws_connections_by_platform\{platform="ios"\} 1$/m);
  assert.match(metrics.body, /^ima_messages_in_total 1$/m);
  assert.match(metrics.body, /^ima_redis_up 1$/m);
  assert.match(metrics.body, /^ima_upstream_request_duration_seconds_count\{service="business",method="HandleMessage",code="ok"\} 1$/m);
  for (const line of metrics.body.split('\n')) {
    // the gateway's own metrics are ima_; the process and Node.js defaults keep their standard names
    if (line !== '' && !line.startsWith('#')) assert.match(line, /^(ima_|process_|nodejs_)/, line);
  }
  await c.close();
});

test('while the business service is down: readyz 503 degraded naming it; back up: ready again', async () => {
  const port = biz.port;
  await biz.stop();
  await eventually(async () => (await readyz()).status === 503, 10_000, 'readyz 503');
  const r = await readyz();
  assert.equal(r.body.status, 'degraded');
  assert.equal(r.body.checks.upstreams['business'], 'down');
  assert.equal((await httpGet(`${gw.adminUrl}/healthz`)).status, 200, 'still alive');
  biz = await TestBusinessService.start(port);
  await eventually(async () => (await readyz()).status === 200, 15_000, 'readyz 200 again');
});

test('while Redis is down: readyz 503 degraded, stats say so, local clients keep working', async () => {
  const c = await TestWsClient.connect(gw.wsUrl({ token: tok('ops-redis'), device_id: 'd1', platform: 'web' }));
  await c.next('auth');
  await redis.stop();
  await eventually(async () => (await readyz()).body.checks.redis === 'down', 10_000, 'redis down in readyz');
  const r = await readyz();
  assert.equal(r.status, 503);
  assert.equal(r.body.status, 'degraded');
  const stats = (await httpGet(`${gw.adminUrl}/stats`)).json as { redis: { state: string } };
  assert.equal(stats.redis.state, 'down');
  c.send({ type: 'ping' });
  await c.next('pong');
  await redis.restart();
  await eventually(async () => (await readyz()).status === 200, 15_000, 'ready after Redis returns');
  await c.close();
});

test('SIGTERM with 1,000 clients: readyz turns 503 draining, all get 1001, exit 0, no mappings left in Redis', async () => {
  const clients: TestWsClient[] = [];
  for (let i = 0; i < 1000; i += 100) {
    const batch = await Promise.all(Array.from({ length: 100 }, (_, j) => TestWsClient.connect(gw.wsUrl({ token: tok(`drain-${i + j}`), device_id: 'd', platform: 'android' }))));
    clients.push(...batch);
  }
  await Promise.all(clients.map((c) => c.next('auth')));
  const r = new Redis(redis.url);
  const keysBefore = await r.keys('ima:u:*');
  assert.ok(keysBefore.includes('ima:u:{drain-999}'), 'mappings are in Redis');
  const closed = clients.map((c) => c.waitClosed(20_000));
  gw.child.kill('SIGTERM');
  await eventually(
    async () => {
      const r = await readyz().catch(() => undefined);
      return r === undefined || (r.status === 503 && r.body.status === 'draining');
    },
    5000,
    'readyz to report draining',
  );
  const exit = await gw.exited;
  assert.equal(exit.code, 0);
  const codes = await Promise.all(closed);
  assert.equal(codes.filter((c) => c.code === 1001).length, 1000);
  const keysAfter = await r.keys('ima:*');
  await r.quit();
  assert.deepEqual(keysAfter.filter((k) => k.startsWith('ima:u:') || k.startsWith('ima:inst:') || k.startsWith('ima:iu:')), [], 'no mappings, lease or index left');
});

test('no token or secret appears in any log line', () => {
  const secrets = [TEST_JWT_SECRET, API_TOKEN, ...usedTokens];
  assert.ok(usedTokens.length >= 1000);
  assert.ok(gw.logs.length > 20);
  for (const line of gw.logs) for (const s of secrets) assert.ok(!line.includes(s), `secret in log line: ${line.slice(0, 200)}`);
});

/**
 * Start-up, configuration errors, the dev token script, slow consumers and graceful shutdown, each
 * against a real gateway process.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { httpGet } from '../support/admin';
import { repoRoot, runGatewayExpectingFailure, startGateway } from '../support/gateway-process';
import { TestBusinessService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import { TEST_JWT_SECRET, configDir, jwtFor } from './helpers';

test('starts on the repo configuration, logs that the native uWS binary is in use, answers /healthz', async () => {
  const g = await startGateway();
  try {
    const started = await g.waitForLog(/ima gateway started/);
    const line = JSON.parse(started) as { uwsNative: boolean; authProvider: string; level: string };
    assert.equal(line.uwsNative, true);
    assert.equal(line.authProvider, 'jwt');
    assert.ok(g.logs.some((l) => l.includes('fixed dev secret')), 'the dev secret is announced with a warning');
    const h = await httpGet(`${g.adminUrl}/healthz`);
    assert.equal(h.status, 200);
    assert.deepEqual((h.json as { status: string }).status, 'ok');
  } finally {
    assert.equal((await g.stop()).code, 0);
  }
});

test('npm run token mints a token the jwt provider of the same configuration accepts', async () => {
  const env = { ...process.env, IMA_JWT_SECRET: 'token-script-secret' };
  const out = execFileSync(process.execPath, [path.join(repoRoot(), 'dist/scripts/token.js'), '--user', 'alice', '--device', 'pc-1', '--platform', 'windows', '--ttl', '120'], {
    cwd: repoRoot(),
    env,
    encoding: 'utf8',
  });
  const token = out.trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  const g = await startGateway({ env: { IMA_JWT_SECRET: 'token-script-secret' } });
  try {
    const c = await TestWsClient.connect(g.wsUrl({ token, device_id: 'pc-1', platform: 'windows' }));
    const auth = await c.next('auth');
    assert.equal(auth['ok'], true);
    assert.equal(auth['userId'], 'alice');
    c.send({ type: 'ping' });
    await c.next('pong');
    // the token is bound to its device
    const other = await TestWsClient.connect(g.wsUrl({ token, device_id: 'pc-2', platform: 'windows' }));
    assert.equal((await other.next('auth'))['code'], 4401);
    await c.close();
  } finally {
    await g.stop();
  }
});

test('npm run token refuses bad arguments', () => {
  const run = (args: string[]): { status: number | null; stderr: string } => {
    try {
      execFileSync(process.execPath, [path.join(repoRoot(), 'dist/scripts/token.js'), ...args], { cwd: repoRoot(), encoding: 'utf8', stdio: 'pipe' });
      return { status: 0, stderr: '' };
    } catch (e) {
      const x = e as { status: number | null; stderr: string };
      return { status: x.status, stderr: x.stderr };
    }
  };
  let r = run(['--device', 'd', '--platform', 'ios']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--user is required/);
  r = run(['--user', 'u', '--device', 'd', '--platform', 'nokia']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--platform must be one of/);
  r = run(['--user', 'u', '--device', 'd', '--platform', 'ios', '--ttl', 'soon']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--ttl/);
});

test('invalid configuration stops the process naming the source, the key and what was expected', async () => {
  const cases: Array<{ env?: Record<string, string>; files?: Record<string, string>; expect: RegExp[] }> = [
    { env: { IMA_WS_PORT: 'eighty' }, expect: [/env IMA_WS_PORT: websocket\.port: expected an integer from 0 to 65535, got "eighty"/] },
    { env: { IMA_GRPC_PORT: '70000' }, expect: [/env IMA_GRPC_PORT: server\.port: expected an integer/] },
    { env: { IMA_KICK_POLICY: 'two_per_user' }, expect: [/env IMA_KICK_POLICY: multiDevice\.policy: expected one of allow_all, one_per_platform/] },
    { env: { IMA_LOG_LEVEL: 'loud' }, expect: [/env IMA_LOG_LEVEL: app\.logLevel/] },
    { env: { IMA_AUTH_PROVIDER: 'ldap' }, expect: [/env IMA_AUTH_PROVIDER: auth\.provider/] },
    { env: { IMA_MUC_ADDR: 'not an address' }, expect: [/env IMA_MUC_ADDR: client\.muc\.address: expected a string \(host:port/] },
    { env: { IMA_TOKEN_CACHE_TTL_SEC: '-5' }, expect: [/env IMA_TOKEN_CACHE_TTL_SEC: auth\.cacheTtlSec/] },
    { env: { IMA_AUTH_PROVIDER: 'muc' }, expect: [/auth\.provider: expected client\.muc\.address \(IMA_MUC_ADDR\) or nacos\.address/] },
    { env: { APP_ENV: 'prod' }, expect: [/auth\.jwt\.secret: expected IMA_JWT_SECRET/] },
    { files: { 'websocket.yml': 'websocket:\n  idleTimeoutSec: forever\n' }, expect: [/websocket\.yml: websocket\.idleTimeoutSec: expected an integer from 5 to 3600, got "forever"/] },
    { files: { 'websocket.yml': 'websocket:\n  maxPayloadByte: 10\n' }, expect: [/websocket\.yml: websocket\.maxPayloadByte: unknown key/] },
    { files: { 'app.yml': 'multiDevice: single_session\n' }, expect: [/app\.yml: multiDevice: expected a section/] },
    { files: { 'redis.yml': 'redis:\n  url: [unclosed\n' }, expect: [/redis\.yml: \(yaml\): invalid YAML/] },
    {
      env: { IMA_ADMIN_PORT: 'x' },
      files: { 'server.yml': 'server:\n  maxUsersPerCall: 0\n' },
      expect: [/server\.yml: server\.maxUsersPerCall: expected an integer from 1/, /env IMA_ADMIN_PORT: admin\.port/],
    },
  ];
  for (const tc of cases) {
    const c = configDir(tc.files ?? {});
    try {
      const r = await runGatewayExpectingFailure({ configDir: c.dir, env: tc.env ?? {} });
      assert.equal(r.code, 2, `exit code for ${JSON.stringify(tc)}: ${r.output}`);
      for (const re of tc.expect) assert.match(r.output, re);
    } finally {
      c.cleanup();
    }
  }
  const missing = await runGatewayExpectingFailure({ configDir: '/nonexistent/ima-config' });
  assert.equal(missing.code, 2);
  assert.match(missing.output, /env IMA_CONFIG_DIR: IMA_CONFIG_DIR: expected a directory/);
});

test('a client that does not read is closed with 4005 when its send buffer passes the limit', async () => {
  const biz = await TestBusinessService.start();
  const c = configDir({ 'websocket.yml': 'websocket:\n  maxBackpressureBytes: 65536\n' });
  const g = await startGateway({ configDir: c.dir, env: { IMA_JWT_SECRET: TEST_JWT_SECRET, IMA_BUSINESS_ADDR: biz.address } });
  const big = Buffer.from(JSON.stringify({ blob: 'x'.repeat(200_000) }));
  biz.handler = () => ({ code: 0, message: '', replies: Array.from({ length: 10 }, (_, i) => ({ messageId: `r${i}`, type: 'blob', payload: big })) });
  try {
    const client = await TestWsClient.connect(g.wsUrl({ token: jwtFor('slow-reader'), device_id: 'd', platform: 'web' }));
    await client.next('auth');
    const raw = (client.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    for (let i = 0; i < 20; i++) client.send({ type: 'chat', id: `s${i}`, payload: i });
    await g.waitForLog(/"code":4005/, 15_000);
    raw.resume();
    const closed = await client.waitClosed(15_000);
    assert.ok(closed.code === 4005 || closed.code === 1006, `closed with ${closed.code}`);
  } finally {
    await g.stop();
    await biz.stop();
    c.cleanup();
  }
});

test('SIGTERM to `npm start` (as a container runtime or a process manager sends it): the gateway drains, clients get 1001, npm exits 0, no process is left', async () => {
  // `npm start` runs `exec node dist/main.js`: npm's child is the gateway itself, and npm passes the signal on
  const g = await startGateway({ env: { IMA_JWT_SECRET: TEST_JWT_SECRET, IMA_KICK_POLICY: 'allow_all' }, wrap: ['sh', '-c', 'exec npm start'] });
  const clients = await Promise.all(
    Array.from({ length: 5 }, async (_, i) => {
      const c = await TestWsClient.connect(g.wsUrl({ token: jwtFor(`npm-${i}`), device_id: 'd', platform: 'web' }));
      await c.next('auth');
      return c;
    }),
  );
  const exit = await g.stop('SIGTERM', 20_000);
  assert.equal(exit.code, 0, `npm exited with ${String(exit.code)} / ${String(exit.signal)}`);
  for (const c of clients) assert.equal((await c.waitClosed(5000)).code, 1001);
  assert.ok(g.logs.some((l) => l.includes('"msg":"stopped"')), 'the gateway itself drained and stopped');
  await assert.rejects(httpGet(`${g.adminUrl}/healthz`), 'nothing listens on the admin port any more');
});

test('SIGTERM: every client gets close 1001 and the process exits 0', async () => {
  const g = await startGateway({ env: { IMA_JWT_SECRET: TEST_JWT_SECRET, IMA_KICK_POLICY: 'allow_all' } });
  const clients = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const c = await TestWsClient.connect(g.wsUrl({ token: jwtFor(`term-${i % 10}`), device_id: `d${i}`, platform: 'android' }));
      await c.next('auth');
      return c;
    }),
  );
  const exit = await g.stop('SIGTERM', 20_000);
  assert.equal(exit.code, 0);
  for (const c of clients) assert.equal((await c.waitClosed(5000)).code, 1001);
  assert.ok(g.logs.some((l) => l.includes('"msg":"stopped"')));
});

/**
 * The operator CLI (`npm run cli`) and `npm run token -- --help` against a real gateway: push,
 * status, rooms and kick over HTTP/JSON and gRPC, readable and --json output, the API token from
 * IMA_API_TOKEN, and the exit codes (0 done, 1 the gateway refused, 2 usage or unreachable).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { repoRoot, startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { TestWsClient } from '../support/ws-client';
import { TEST_JWT_SECRET, jwtFor } from './helpers';

const CLI = path.join(repoRoot(), 'dist', 'scripts', 'cli.js');
const TOKEN = path.join(repoRoot(), 'dist', 'scripts', 'token.js');
const API_TOKEN = 'cli-test-token';

let gw: GatewayProcess;
const clients: TestWsClient[] = [];

before(async () => {
  gw = await startGateway({ env: { IMA_JWT_SECRET: TEST_JWT_SECRET, IMA_API_TOKEN: API_TOKEN, IMA_KICK_POLICY: 'allow_all' } });
});
after(async () => {
  await Promise.allSettled(clients.map((c) => c.terminate()));
  await gw.stop();
});

function run(script: string, args: string[], env: Record<string, string> = { IMA_API_TOKEN: API_TOKEN }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { env: { ...process.env, ...env }, timeout: 20_000 }, (e, stdout, stderr) => {
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 99, stdout, stderr });
    });
  });
}

async function online(user: string): Promise<TestWsClient> {
  const c = await TestWsClient.connect(gw.wsUrl({ token: jwtFor(user), device_id: 'd1', platform: 'ios' }));
  clients.push(c);
  await c.next('auth');
  return c;
}

test('push over HTTP/JSON and gRPC: readable output, --json, and the client gets the payload as JSON', async () => {
  const alice = await online('cli-alice');
  const http = await run(CLI, ['push', '--url', gw.adminUrl, '--user', 'cli-alice', '--type', 'notice', '--payload', '{"text":"hi"}']);
  assert.equal(http.code, 0, http.stderr);
  assert.equal(http.stdout.trim(), 'delivered to 1 connection(s)');
  assert.deepEqual((await alice.next('notice'))['payload'], { text: 'hi' });
  const viaGrpc = await run(CLI, ['push', '--grpc', gw.grpcAddress, '--users', 'cli-alice,cli-nobody', '--type', 'notice', '--payload', 'plain text', '--json']);
  assert.equal(viaGrpc.code, 0, viaGrpc.stderr);
  const res = JSON.parse(viaGrpc.stdout) as { delivered: number; offlineUserIds: string[] };
  assert.equal(res.delivered, 1);
  assert.deepEqual(res.offlineUserIds, ['cli-nobody']);
  const f = await alice.next((x) => x['type'] === 'notice' && x['payloadEncoding'] === 'base64');
  assert.equal(Buffer.from(String(f['payload']), 'base64').toString('utf8'), 'plain text');
});

test('status, rooms and kick', async () => {
  const bob = await online('cli-bob');
  const status = await run(CLI, ['status', '--url', gw.adminUrl, '--users', 'cli-bob']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^cli-bob\td1\tios\t/);
  assert.equal((await run(CLI, ['rooms', 'join', '--url', gw.adminUrl, '--room', 'cli-room', '--users', 'cli-bob'])).stdout.trim(), 'subscribed 1 connection(s)');
  assert.equal((await run(CLI, ['rooms', 'push', '--grpc', gw.grpcAddress, '--room', 'cli-room', '--type', 'room.msg', '--payload', '{"n":1}'])).stdout.trim(), 'delivered to 1 connection(s) on 1 instance(s)');
  assert.equal((await bob.next('room.msg'))['room'], 'cli-room');
  assert.equal((await run(CLI, ['rooms', 'status', '--url', gw.adminUrl, '--rooms', 'cli-room'])).stdout.trim(), 'cli-room\tmembers 1\tconnections 1');
  const kick = await run(CLI, ['kick', '--url', gw.adminUrl, '--user', 'cli-bob', '--reason', 'maintenance']);
  assert.equal(kick.stdout.trim(), 'kicked 1 connection(s)');
  assert.equal((await bob.waitClosed(5_000)).code, 4002);
});

test('exit codes: a refused call is 1 with the gateway\'s message, bad usage and an unreachable gateway are 2; --help is 0', async () => {
  const refused = await run(CLI, ['push', '--url', gw.adminUrl, '--user', 'x', '--type', 'notice'], { IMA_API_TOKEN: 'wrong' });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /PushToUser failed: UNAUTHENTICATED/);
  const invalid = await run(CLI, ['rooms', 'status', '--url', gw.adminUrl, '--rooms', 'bad room']);
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /INVALID_ARGUMENT: rooms\[0\]/);
  const usage = await run(CLI, ['push', '--type', 'notice']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--user is required/);
  assert.equal((await run(CLI, ['frobnicate'])).code, 2);
  const down = await run(CLI, ['status', '--url', 'http://127.0.0.1:1', '--users', 'a']);
  assert.equal(down.code, 2);
  assert.match(down.stderr, /could not be reached/);
  const help = await run(CLI, ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^npm run cli -- <command>/);
  const tokenHelp = await run(TOKEN, ['--help']);
  assert.equal(tokenHelp.code, 0);
  assert.match(tokenHelp.stdout, /--user U/);
});

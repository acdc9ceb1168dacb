/** Self-test of the test support: gRPC test services, ports, TestWsClient, HTTP helpers. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { WebSocketServer } from 'ws';
import { loadProto } from '../../internal/rpc/proto';
import { TestBusinessService, TestMucService, TestServerPushService, payloadJson } from './test-services';
import { freePort, freePorts } from './ports';
import { TestWsClient } from './ws-client';
import { httpGet, httpPostJson } from './admin';
import { runGatewayExpectingFailure, startGateway } from './gateway-process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TokenValidateResponseOutput } from '../../api/gen/im/gateway/v1/TokenValidateResponse';
import type { HandleMessageResponseOutput } from '../../api/gen/im/gateway/v1/HandleMessageResponse';
import type { StatusAckOutput } from '../../api/gen/im/gateway/v1/StatusAck';
import type { ServerPushOutput } from '../../api/gen/im/gateway/v1/ServerPush';
import type { MUCServiceClient } from '../../api/gen/im/gateway/v1/MUCService';
import type { BusinessMessageServiceClient } from '../../api/gen/im/gateway/v1/BusinessMessageService';

const v1 = loadProto().grpcType.im.gateway.v1;
const insecure = grpc.credentials.createInsecure();

function mucClient(address: string): MUCServiceClient {
  return new v1.MUCService(address, insecure);
}

function businessClient(address: string): BusinessMessageServiceClient {
  return new v1.BusinessMessageService(address, insecure);
}

function validate(
  c: MUCServiceClient,
  req: { token: string; deviceId?: string; platform?: string },
  md = new grpc.Metadata(),
  opts: grpc.CallOptions = { deadline: Date.now() + 5_000 },
): Promise<TokenValidateResponseOutput> {
  return new Promise((resolve, reject) => {
    c.ValidateToken(req, md, opts, (err, res) => (err ? reject(err) : resolve(res as TokenValidateResponseOutput)));
  });
}

function handle(c: BusinessMessageServiceClient, msg: Parameters<BusinessMessageServiceClient['HandleMessage']>[0], deadlineMs = 5_000): Promise<HandleMessageResponseOutput> {
  return new Promise((resolve, reject) => {
    c.HandleMessage(msg, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) =>
      err ? reject(err) : resolve(res as HandleMessageResponseOutput),
    );
  });
}

function status(c: BusinessMessageServiceClient, st: Parameters<BusinessMessageServiceClient['OnConnectionStatus']>[0]): Promise<StatusAckOutput> {
  return new Promise((resolve, reject) => {
    c.OnConnectionStatus(st, { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res as StatusAckOutput)));
  });
}

function grpcCode(err: unknown): number | undefined {
  return (err as { code?: number } | undefined)?.code;
}

test('ports: distinct, below 32768 and bindable', async () => {
  const ports = await freePorts(5);
  assert.equal(new Set(ports).size, 5);
  for (const p of ports) {
    assert.ok(p > 0 && p < 32768, `port ${p}`);
    await new Promise<void>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(p, '127.0.0.1', () => s.close(() => resolve()));
    });
  }
  const one = await freePort();
  assert.ok(!ports.includes(one));
});

test('TestMucService: answers from the token table and records calls', async (t) => {
  const muc = await TestMucService.start(await freePort());
  t.after(() => muc.stop());
  const client = mucClient(muc.address);
  t.after(() => client.close());
  assert.equal(muc.address, `127.0.0.1:${muc.port}`);

  const unknown = await validate(client, { token: 'nope', deviceId: 'd1', platform: 'ios' });
  assert.equal(unknown.valid, false);
  assert.equal(unknown.code, 4401);
  assert.equal(unknown.message, 'unknown token');

  const expireAt = Date.now() + 60_000;
  muc.addToken('tok-1', 'u1', { expireAt });
  const md = new grpc.Metadata();
  md.set('tri-service-version', '1.0.0');
  md.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  const ok = await validate(client, { token: 'tok-1', deviceId: 'd1', platform: 'android' }, md);
  assert.deepEqual(
    { valid: ok.valid, userId: ok.userId, deviceId: ok.deviceId, platform: ok.platform, expireAt: ok.expireAt, code: ok.code },
    { valid: true, userId: 'u1', deviceId: 'd1', platform: 'android', expireAt, code: 0 },
  );
  assert.equal(muc.callCount, 2);
  assert.equal(muc.calls[1]?.token, 'tok-1');
  assert.equal(muc.calls[1]?.platform, 'android');
  assert.equal(muc.metadata[1]?.['tri-service-version'], '1.0.0');
  assert.match(muc.metadata[1]?.traceparent ?? '', /^00-0af7/);

  muc.removeToken('tok-1');
  assert.equal((await validate(client, { token: 'tok-1' })).valid, false);
  await muc.waitForCalls(3, 1_000);
});

test('TestMucService: delayMs delays concurrent answers', async (t) => {
  const muc = await TestMucService.start();
  t.after(() => muc.stop());
  const client = mucClient(muc.address);
  t.after(() => client.close());
  muc.addToken('a', 'ua');
  muc.delayMs = 200;
  const t0 = Date.now();
  const pending = Promise.all([validate(client, { token: 'a' }), validate(client, { token: 'a' })]);
  await muc.waitForCalls(2, 2_000);
  const [r1, r2] = await pending;
  assert.equal(r1.userId, 'ua');
  assert.equal(r2.userId, 'ua');
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 190 && elapsed < 2_000, `elapsed ${elapsed}`);
});

test('TestMucService: unavailable mode gives UNAVAILABLE', async (t) => {
  const muc = await TestMucService.start();
  t.after(() => muc.stop());
  const client = mucClient(muc.address);
  t.after(() => client.close());
  muc.mode = 'unavailable';
  await assert.rejects(validate(client, { token: 'x' }), (err) => grpcCode(err) === grpc.status.UNAVAILABLE);
  assert.equal(muc.callCount, 1);
});

test('TestMucService: slow mode answers late; stop() ends a pending slow call', async (t) => {
  const muc = await TestMucService.start();
  t.after(() => muc.stop());
  const client = mucClient(muc.address);
  t.after(() => client.close());
  muc.addToken('s', 'us');
  muc.mode = 'slow';
  muc.slowMs = 150;
  const t0 = Date.now();
  assert.equal((await validate(client, { token: 's' })).userId, 'us');
  assert.ok(Date.now() - t0 >= 140);

  // a deadline shorter than slowMs: the call fails and the service notices the cancel
  muc.slowMs = 10_000;
  await assert.rejects(
    validate(client, { token: 's' }, new grpc.Metadata(), { deadline: Date.now() + 100 }),
    (err) => grpcCode(err) === grpc.status.DEADLINE_EXCEEDED,
  );

  const pending = validate(client, { token: 's' }, new grpc.Metadata(), { deadline: Date.now() + 20_000 });
  await muc.waitForCalls(3, 2_000);
  const t1 = Date.now();
  const rejected = assert.rejects(pending, (err) => grpcCode(err) === grpc.status.UNAVAILABLE);
  await muc.stop();
  await rejected;
  assert.ok(Date.now() - t1 < 3_000, `stop took ${Date.now() - t1} ms`);
  await muc.stop(); // idempotent
});

test('TestMucService: restart on the same port', async (t) => {
  const first = await TestMucService.start();
  const port = first.port;
  const client = mucClient(first.address);
  t.after(() => client.close());
  first.addToken('r', 'u-first');
  assert.equal((await validate(client, { token: 'r' })).userId, 'u-first');
  await first.stop();
  await assert.rejects(validate(client, { token: 'r' }, new grpc.Metadata(), { deadline: Date.now() + 300 }));

  const second = await TestMucService.start(port);
  t.after(() => second.stop());
  assert.equal(second.port, port);
  second.addToken('r', 'u-second');
  // the same client reconnects to the new server
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())));
  const res = await validate(client, { token: 'r' });
  assert.equal(res.userId, 'u-second');
  assert.equal(second.callCount, 1);
});

test('TestBusinessService: HandleMessage modes and records', async (t) => {
  const biz = await TestBusinessService.start(await freePort());
  t.after(() => biz.stop());
  const client = businessClient(biz.address);
  t.after(() => client.close());

  const waiting = biz.waitForMessages(1, 2_000);
  const res = await handle(client, { messageId: 'm1', type: 'chat', payload: Buffer.from('{"text":"hi"}'), userId: 'u1' });
  assert.deepEqual({ code: res.code, message: res.message, replies: res.replies }, { code: 0, message: 'ok', replies: [] });
  const [m1] = await waiting;
  assert.equal(m1?.messageId, 'm1');
  assert.deepEqual(payloadJson(m1!), { text: 'hi' });
  assert.equal(biz.messageMetadata.length, 1);

  biz.handler = async (msg) => ({
    code: 7,
    message: 'custom',
    replies: [{ messageId: `r-${msg.messageId}`, type: 'reply', payload: Buffer.from('"x"'), replyTo: msg.messageId }],
  });
  const custom = await handle(client, { messageId: 'm2', type: 'chat', payload: Buffer.from('{}') });
  assert.equal(custom.code, 7);
  assert.equal(custom.replies[0]?.replyTo, 'm2');
  assert.equal(custom.replies[0]?.payload.toString(), '"x"');

  biz.mode = 'unavailable';
  await assert.rejects(handle(client, { messageId: 'm3' }), (err) => grpcCode(err) === grpc.status.UNAVAILABLE);
  biz.mode = 'error';
  await assert.rejects(handle(client, { messageId: 'm4' }), (err) => grpcCode(err) === grpc.status.INTERNAL);
  biz.mode = 'slow';
  await assert.rejects(handle(client, { messageId: 'm5' }, 100), (err) => grpcCode(err) === grpc.status.DEADLINE_EXCEEDED);
  assert.deepEqual(
    biz.messages.map((m) => m.messageId),
    ['m1', 'm2', 'm3', 'm4', 'm5'],
  );
  await assert.rejects(biz.waitForMessages(10, 50), /10 HandleMessage call\(s\).*got 5/);

  // a slow call pending at stop() ends promptly
  const pending = handle(client, { messageId: 'm6' }, 20_000);
  await biz.waitForMessage((m) => m.messageId === 'm6', 2_000);
  const t0 = Date.now();
  const rejected = assert.rejects(pending, (err) => grpcCode(err) === grpc.status.UNAVAILABLE);
  await biz.stop();
  await rejected;
  assert.ok(Date.now() - t0 < 3_000);
});

test('TestBusinessService: OnConnectionStatus records accepted statuses', async (t) => {
  const biz = await TestBusinessService.start();
  t.after(() => biz.stop());
  const client = businessClient(biz.address);
  t.after(() => client.close());

  biz.statusMode = 'unavailable';
  await assert.rejects(
    status(client, { userId: 'u1', deviceId: 'd1', event: 'CONNECTION_EVENT_CONNECTED', online: true }),
    (err) => grpcCode(err) === grpc.status.UNAVAILABLE,
  );
  assert.equal(biz.statuses.length, 0);
  assert.equal(biz.statusAttempts.length, 1);

  biz.statusMode = 'ok';
  const waiting = biz.waitForStatuses((s) => s.event === 'CONNECTION_EVENT_DISCONNECTED', 2_000);
  assert.equal((await status(client, { userId: 'u1', deviceId: 'd1', event: 'CONNECTION_EVENT_CONNECTED', online: true })).success, true);
  await status(client, { userId: 'u1', deviceId: 'd1', event: 'CONNECTION_EVENT_DISCONNECTED', reason: 'bye' });
  const [disc] = await waiting;
  assert.equal(disc?.reason, 'bye');
  assert.equal(disc?.online, false);
  const both = await biz.waitForStatuses((s) => s.userId === 'u1', 1_000, 2);
  assert.equal(both.length, 2);
  await assert.rejects(biz.waitForStatuses((s) => s.event === 'CONNECTION_EVENT_KICKED', 50), /accepted OnConnectionStatus/);
});

test('TestServerPushService: heartbeats, commands, stop ends streams, restart', async (t) => {
  const push = await TestServerPushService.start(await freePort());
  const port = push.port;
  t.after(() => push.stop());
  const client = new v1.ServerPushService(push.address, insecure);
  t.after(() => client.close());

  const md = new grpc.Metadata();
  md.set('x-instance', 'gw-1');
  const stream = client.Connect(md);
  const received: ServerPushOutput[] = [];
  const ended = new Promise<number | undefined>((resolve) => {
    stream.on('error', (err) => resolve(grpcCode(err)));
    stream.on('end', () => resolve(grpc.status.OK));
  });
  let onCommand: ((c: ServerPushOutput) => void) | undefined;
  stream.on('data', (c: ServerPushOutput) => {
    received.push(c);
    onCommand?.(c);
  });

  stream.write({ instanceId: 'gw-1', address: '127.0.0.1:1', connections: 3, users: 2, timestamp: Date.now() });
  assert.equal(await push.waitForStream(2_000), 1);
  const hb = await push.waitForHeartbeat(2_000);
  assert.equal(hb.instanceId, 'gw-1');
  assert.equal(hb.connections, 3);
  assert.equal(push.streamMetadata[0]?.['x-instance'], 'gw-1');
  stream.write({ instanceId: 'gw-1', connections: 4 });
  assert.equal((await push.waitForHeartbeat(2_000, (h) => h.connections === 4)).connections, 4);
  await push.waitForHeartbeats(2, 1_000);

  const got = new Promise<ServerPushOutput>((resolve) => {
    onCommand = resolve;
  });
  assert.equal(push.sendCommand({ commandId: 'c1', kick: { userId: 'u1', reason: 'test' } }), 1);
  const cmd = await got;
  assert.equal(cmd.commandId, 'c1');
  assert.equal(cmd.command, 'kick');
  assert.equal(cmd.kick?.userId, 'u1');

  await push.stop();
  assert.equal(await ended, grpc.status.UNAVAILABLE);
  assert.equal(push.streamCount, 0);
  assert.equal(push.sendCommand({ commandId: 'c2' }), 0);

  const again = await TestServerPushService.start(port);
  t.after(() => again.stop());
  const stream2 = client.Connect();
  stream2.on('error', () => undefined);
  await again.waitForStream(10_000);
  stream2.write({ instanceId: 'gw-2' });
  assert.equal((await again.waitForHeartbeat(2_000)).instanceId, 'gw-2');
  assert.equal(again.endStreams(), 1);
  await again.waitForNoStream(1_000);
});

async function startWsServer(t: { after(fn: () => unknown): void }): Promise<{ wss: WebSocketServer; url: string; httpServer: http.Server }> {
  const port = await freePort();
  const httpServer = http.createServer();
  const wss = new WebSocketServer({ noServer: true });
  httpServer.on('upgrade', (req, socket, head) => {
    if (req.url?.startsWith('/full')) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfull');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  wss.on('connection', (ws, req) => {
    ws.send(JSON.stringify({ type: 'auth', ok: true, auth: req.headers.authorization ?? null }));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      if (text === 'not json') {
        ws.send('plain text');
        return;
      }
      const f = JSON.parse(text) as { type: string; id?: string };
      if (f.type === 'ping') ws.send(JSON.stringify({ type: 'pong', ts: Date.now() }));
      else if (f.type === 'kick-me') {
        ws.send(JSON.stringify({ type: 'kick', code: 4002, reason: 'kicked' }));
        ws.close(4002, 'kicked');
      } else ws.send(JSON.stringify({ type: 'ack', id: f.id, code: 0 }));
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(port, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      }),
  );
  return { wss, url: `ws://127.0.0.1:${port}`, httpServer };
}

test('TestWsClient: frames, next(), ping/pong, close codes', async (t) => {
  const { url } = await startWsServer(t);
  const c = await TestWsClient.connect(`${url}/ws`, { headers: { authorization: 'Bearer abc' } });
  t.after(() => c.terminate());
  assert.equal(c.opened, true);
  const auth = await c.next('auth');
  assert.equal(auth.ok, true);
  assert.equal(auth.auth, 'Bearer abc');

  c.send({ type: 'chat', id: 'a1', payload: {} });
  c.send({ type: 'chat', id: 'a2', payload: {} });
  c.send({ type: 'ping' });
  // a later frame first, then the earlier one, already received
  assert.equal((await c.next((f) => f.type === 'pong')).type, 'pong');
  assert.equal((await c.next((f) => f.type === 'ack')).id, 'a1');
  assert.equal((await c.next((f) => f.type === 'ack')).id, 'a2');
  assert.equal(c.frames.length, 4);
  assert.equal(c.unconsumed.length, 0);

  await assert.rejects(c.next((f) => f.type === 'never', 50), (err: Error) => /timed out after 50 ms.*never.*frames seen: \[.*"auth"/s.test(err.message));

  c.sendRaw('not json');
  c.ping();
  await c.waitPong(2_000);
  c.send({ type: 'chat', id: 'a3' });
  await c.next('ack');
  assert.deepEqual(c.otherFrames, ['plain text']);

  const pendingForever = c.next('never', 5_000);
  c.send({ type: 'kick-me' });
  assert.equal((await c.next('kick')).code, 4002);
  assert.deepEqual(await c.closed, { code: 4002, reason: 'kicked' });
  await assert.rejects(pendingForever, /socket closed \(code 4002.*never/);
  await assert.rejects(c.next('ack', 100), /already closed/);
});

test('TestWsClient: client close and refused upgrade', async (t) => {
  const { url, wss } = await startWsServer(t);
  const serverClosed = new Promise<number>((resolve) => wss.once('connection', (ws) => ws.once('close', (code) => resolve(code))));
  const c = await TestWsClient.connect(`${url}/ws`);
  await c.next('auth');
  assert.deepEqual(await c.close(1000, 'bye'), { code: 1000, reason: 'bye' });
  assert.equal(await serverClosed, 1000);

  const refused = await TestWsClient.connect(`${url}/full`);
  assert.equal(refused.opened, false);
  assert.equal(refused.upgradeStatus, 503);
  assert.equal(refused.upgradeBody, 'full');
  assert.equal((await refused.closed).code, 1006);

  const nobody = await TestWsClient.connect(`ws://127.0.0.1:${await freePort()}/ws`);
  assert.equal(nobody.opened, false);
  assert.equal(nobody.upgradeStatus, undefined);
  assert.match(nobody.error?.message ?? '', /ECONNREFUSED/);
});

test('admin helpers: httpGet and httpPostJson', async (t) => {
  const port = await freePort();
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/text') {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('down');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, auth: req.headers.authorization ?? null, body: Buffer.concat(chunks).toString() }));
    });
  });
  await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => srv.close(() => resolve())));

  const get = await httpGet(`http://127.0.0.1:${port}/healthz`);
  assert.equal(get.status, 200);
  assert.deepEqual(get.json, { method: 'GET', auth: null, body: '' });
  const post = await httpPostJson(`http://127.0.0.1:${port}/x`, { a: 1 }, { authorization: 'Bearer t' });
  assert.deepEqual(post.json, { method: 'POST', auth: 'Bearer t', body: '{"a":1}' });
  const text = await httpGet(`http://127.0.0.1:${port}/text`);
  assert.equal(text.status, 503);
  assert.equal(text.body, 'down');
  assert.equal(text.json, undefined);
});

/** A stand-in for dist/main.js: serves /healthz on IMA_ADMIN_PORT, logs JSON lines, exits on SIGTERM. */
const FAKE_GATEWAY = `
const http = require('node:http');
const log = (o) => process.stdout.write(JSON.stringify({ level: 30, ...o }) + '\\n');
if (process.env.FAKE_FAIL) { process.stderr.write('config error: app.yml: server.port: expected a number\\n'); process.exit(1); }
const srv = http.createServer((req, res) => { res.writeHead(req.url === '/healthz' ? 200 : 404); res.end('ok'); });
srv.listen(Number(process.env.IMA_ADMIN_PORT), '127.0.0.1', () => log({ msg: 'listening', ws: process.env.IMA_WS_PORT, level_env: process.env.IMA_LOG_LEVEL, cfg: process.env.IMA_CONFIG_DIR, extra: process.env.EXTRA }));
process.on('SIGTERM', () => { log({ msg: 'draining' }); if (!process.env.FAKE_HANG) srv.close(() => process.exit(0)); });
`;

test('gateway-process: start, logs, stop, kill and expected failures (fake entry)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-fake-gw-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const entry = path.join(dir, 'fake-main.js');
  fs.writeFileSync(entry, FAKE_GATEWAY);

  const gw = await startGateway({ entry, env: { EXTRA: 'x1' }, configDir: dir });
  t.after(() => gw.kill9());
  for (const p of [gw.wsPort, gw.grpcPort, gw.adminPort]) assert.ok(p < 32768);
  assert.equal(gw.grpcAddress, `127.0.0.1:${gw.grpcPort}`);
  assert.equal(gw.wsUrl({ token: 't', device_id: 'd 1' }), `ws://127.0.0.1:${gw.wsPort}/ws?token=t&device_id=d+1`);
  const line = await gw.waitForLog(/"msg":"listening"/, 2_000);
  const parsed = JSON.parse(line) as Record<string, unknown>;
  assert.deepEqual([parsed.ws, parsed.level_env, parsed.cfg, parsed.extra], [String(gw.wsPort), 'debug', dir, 'x1']);
  assert.equal((await httpGet(`${gw.adminUrl}/healthz`)).status, 200);
  await assert.rejects(gw.waitForLog(/never logged/, 50), /timed out after 50 ms.*listening/s);
  const exit = await gw.stop();
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(gw.jsonLogs().some((l) => l.msg === 'draining'));

  const hung = await startGateway({ entry, env: { FAKE_HANG: '1' } });
  t.after(() => hung.kill9());
  assert.deepEqual(await hung.stop('SIGTERM', 300), { code: null, signal: 'SIGKILL' });

  const failed = await runGatewayExpectingFailure({ entry, env: { FAKE_FAIL: '1' } });
  assert.equal(failed.code, 1);
  assert.match(failed.output, /app\.yml: server\.port/);
  await assert.rejects(startGateway({ entry, env: { FAKE_FAIL: '1' } }), /exited \(code 1.*app\.yml/s);
});

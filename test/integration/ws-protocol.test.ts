/**
 * The WebSocket contract of SPEC.md sections 4 and 8 against a real gateway process, a real MUC
 * gRPC service and a real business gRPC service: auth frames and close codes, ping/pong, error
 * and ack codes, limits, ordering, dedupe and identity.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { TestBusinessService, TestMucService, payloadJson } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import { configDir, eventually } from './helpers';

let muc: TestMucService;
let biz: TestBusinessService;
let gw: GatewayProcess;
let cleanup: () => void;
let seq = 0;

const LIMITS = `
websocket:
  maxPayloadBytes: 65536
  idleTimeoutSec: 5
  heartbeatIntervalSec: 2
  maxConnections: 40
  rateLimit:
    perSecond: 20
    burst: 20
    closeAfterViolations: 30
forward:
  timeoutMs: 2000
  maxInFlight: 3
  maxPayloadBytes: 8192
  dedupeWindowSec: 60
`;

before(async () => {
  muc = await TestMucService.start();
  biz = await TestBusinessService.start();
  const c = configDir({ 'websocket.yml': LIMITS, 'app.yml': 'multiDevice:\n  policy: allow_all\nauth:\n  timeoutMs: 500\n' });
  cleanup = c.cleanup;
  gw = await startGateway({ configDir: c.dir, env: { IMA_MUC_ADDR: muc.address, IMA_BUSINESS_ADDR: biz.address } });
});

after(async () => {
  await gw?.stop();
  await Promise.all([muc?.stop(), biz?.stop()]);
  cleanup?.();
});

/** A fresh user with a token known to the MUC. */
function user(opts: { expireAt?: number } = {}): { userId: string; token: string } {
  seq++;
  const userId = `user-${seq}`;
  const token = `tok-${seq}-${Math.random().toString(36).slice(2)}`;
  muc.addToken(token, userId, opts.expireAt !== undefined ? { expireAt: opts.expireAt } : {});
  return { userId, token };
}

async function connect(token: string, device = `dev-${++seq}`, platform = 'ios'): Promise<TestWsClient> {
  return TestWsClient.connect(gw.wsUrl({ token, device_id: device, platform }));
}

async function authed(device?: string, platform?: string): Promise<{ c: TestWsClient; userId: string }> {
  const u = user();
  const c = await connect(u.token, device, platform);
  const auth = await c.next('auth');
  assert.equal(auth['ok'], true, `auth failed: ${JSON.stringify(auth)}`);
  return { c, userId: u.userId };
}

test('the first frame is auth ok with identity, instance and heartbeat interval', async () => {
  const u = user();
  const c = await connect(u.token, 'phone-1', 'android');
  const auth = await c.next();
  assert.equal(auth['type'], 'auth');
  assert.equal(auth['ok'], true);
  assert.equal(auth['userId'], u.userId);
  assert.equal(auth['deviceId'], 'phone-1');
  assert.equal(auth['platform'], 'android');
  assert.equal(typeof auth['instanceId'], 'string');
  assert.equal(auth['heartbeatIntervalMs'], 2000);
  const call = muc.callsFor(u.token)[0];
  assert.ok(call, 'MUC was called');
  assert.equal(call.deviceId, 'phone-1');
  assert.equal(call.platform, 'android');
  assert.equal(call.instanceId, auth['instanceId']);
  assert.equal(call.clientIp, '127.0.0.1');
  await c.close();
});

test('the token may come as Authorization: Bearer', async () => {
  const u = user();
  const c = await TestWsClient.connect(gw.wsUrl({ device_id: 'd', platform: 'web' }), { headers: { authorization: `Bearer ${u.token}` } });
  const auth = await c.next('auth');
  assert.equal(auth['ok'], true);
  assert.equal(auth['userId'], u.userId);
  await c.close();
});

test('ping frames get pong frames; WebSocket pings get pongs', async () => {
  const { c } = await authed();
  const before = Date.now();
  c.send({ type: 'ping' });
  const pong = await c.next('pong');
  assert.equal(typeof pong['ts'], 'number');
  assert.ok((pong['ts'] as number) >= before - 1000);
  c.ping();
  await c.waitPong(2000);
  await c.close();
});

async function refused(query: Record<string, string>, code: number): Promise<Record<string, unknown>> {
  const c = await TestWsClient.connect(gw.wsUrl(query));
  assert.equal(c.opened, true, 'the upgrade is accepted so the auth frame can explain the refusal');
  const auth = await c.next('auth');
  assert.equal(auth['ok'], false);
  assert.equal(auth['code'], code);
  assert.equal(typeof auth['reason'], 'string');
  const closed = await c.waitClosed(3000);
  assert.equal(closed.code, code);
  return auth;
}

test('missing token: auth ok:false then close 4401', async () => {
  await refused({ device_id: 'd', platform: 'ios' }, 4401);
});

test('unknown token: 4401, and the MUC message is the reason', async () => {
  const auth = await refused({ token: 'nope', device_id: 'd', platform: 'ios' }, 4401);
  assert.match(String(auth['reason']), /unknown token/);
});

test('missing device_id, missing or unknown platform: 4000 without calling the MUC', async () => {
  const u = user();
  await refused({ token: u.token, platform: 'ios' }, 4000);
  await refused({ token: u.token, device_id: 'd' }, 4000);
  await refused({ token: u.token, device_id: 'd', platform: 'symbian' }, 4000);
  await refused({ token: u.token, device_id: 'x'.repeat(129), platform: 'ios' }, 4000);
  assert.equal(muc.callsFor(u.token).length, 0);
});

test('every platform of the contract is accepted', async () => {
  for (const p of ['ios', 'android', 'windows', 'macos', 'linux', 'web', 'ipad', 'apad', 'miniweb']) {
    const { c } = await authed(`dev-${p}`, p);
    await c.close();
  }
});

test('a token that expired before connecting: 4003', async () => {
  const u = user({ expireAt: Date.now() - 1000 });
  await refused({ token: u.token, device_id: 'd', platform: 'ios' }, 4003);
});

test('a connection whose token expires gets kick 4003 and close 4003', async () => {
  const u = user({ expireAt: Date.now() + 1500 });
  const c = await connect(u.token);
  assert.equal((await c.next('auth'))['ok'], true);
  const kick = await c.next('kick', 5000);
  assert.equal(kick['code'], 4003);
  assert.equal((await c.waitClosed(3000)).code, 4003);
});

test('MUC unavailable: 4503; MUC slower than the auth deadline: 4503', async () => {
  const u1 = user();
  muc.mode = 'unavailable';
  try {
    await refused({ token: u1.token, device_id: 'd', platform: 'ios' }, 4503);
  } finally {
    muc.mode = 'ok';
  }
  const u2 = user();
  muc.mode = 'slow';
  try {
    const t0 = Date.now();
    await refused({ token: u2.token, device_id: 'd', platform: 'ios' }, 4503);
    assert.ok(Date.now() - t0 < 3000, 'answered at the auth deadline, not the MUC delay');
  } finally {
    muc.mode = 'ok';
  }
  // an unavailable answer is not cached: the same token works once the MUC is back
  const c = await connect(u1.token);
  assert.equal((await c.next('auth'))['ok'], true);
  await c.close();
});

test('malformed frames get error 1000 and the connection stays open', async () => {
  const { c } = await authed();
  c.sendRaw('not json');
  let e = await c.next('error');
  assert.equal(e['code'], 1000);
  c.sendRaw('[1,2]');
  e = await c.next('error');
  assert.equal(e['code'], 1000);
  c.send({ id: 'x1', payload: {} });
  e = await c.next('error');
  assert.equal(e['code'], 1000);
  assert.equal(e['id'], 'x1');
  c.send({ type: 'chat', payload: {} });
  e = await c.next('error');
  assert.equal(e['code'], 1000);
  c.send({ type: 'chat', id: 'y'.repeat(65), payload: {} });
  e = await c.next('error');
  assert.equal(e['code'], 1000);
  c.send({ type: 'ping' });
  await c.next('pong');
  assert.equal(c.isOpen, true);
  await c.close();
});

test('reserved and control types get error 1001 and are not forwarded', async () => {
  const { c, userId } = await authed();
  for (const type of ['auth', 'ack', 'pong', 'kick', 'error', 'ima.subscribe']) {
    c.send({ type, id: `r-${type}`, payload: {} });
    const e = await c.next('error');
    assert.equal(e['code'], 1001, type);
    assert.equal(e['id'], `r-${type}`);
  }
  assert.equal(biz.messages.filter((m) => m.userId === userId).length, 0);
  await c.close();
});

test('a message is forwarded with identity from the connection only, and acked with the business code', async () => {
  const { c, userId } = await authed('laptop-7', 'macos');
  biz.handler = (msg) => (msg.type === 'rejected' ? { code: 3107, message: 'not your group', replies: [] } : { code: 0, message: '', replies: [] });
  try {
    c.send({ type: 'chat', id: 'm-1', payload: { text: 'hi', userId: 'mallory', user_id: 'mallory' }, userId: 'mallory', deviceId: 'evil', metadata: { conv: 'c1' } });
    const ack = await c.next('ack');
    assert.deepEqual(ack, { type: 'ack', id: 'm-1', code: 0 });
    const msg = biz.messages.find((m) => m.messageId === 'm-1' && m.userId === userId);
    assert.ok(msg, 'forwarded');
    assert.equal(msg.type, 'chat');
    assert.equal(msg.userId, userId);
    assert.equal(msg.deviceId, 'laptop-7');
    assert.equal(msg.platform, 'macos');
    assert.equal(msg.instanceId, (c.frames[0] as { instanceId: string }).instanceId);
    assert.deepEqual(payloadJson(msg), { text: 'hi', userId: 'mallory', user_id: 'mallory' });
    assert.deepEqual(msg.metadata, { conv: 'c1' });
    assert.match(msg.traceId, /^[0-9a-f]{32}$/);
    assert.ok(msg.timestamp > 0);
    const md = biz.messageMetadata[biz.messages.indexOf(msg)];
    assert.match(md?.['traceparent'] ?? '', new RegExp(`^00-${msg.traceId}-[0-9a-f]{16}-01$`));
    c.send({ type: 'rejected', id: 'm-2', payload: null });
    const ack2 = await c.next('ack');
    assert.equal(ack2['code'], 3107);
    assert.equal(ack2['message'], 'not your group');
  } finally {
    delete biz.handler;
  }
  await c.close();
});

test('a traceparent on the upgrade request is carried to the business service', async () => {
  const u = user();
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const c = await TestWsClient.connect(gw.wsUrl({ token: u.token, device_id: 't', platform: 'web' }), {
    headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
  });
  await c.next('auth');
  c.send({ type: 'chat', id: 'tp-1', payload: 1 });
  await c.next('ack');
  const msg = biz.messages.find((m) => m.userId === u.userId);
  assert.equal(msg?.traceId, traceId);
  await c.close();
});

test('replies come after the ack: JSON payloads as JSON, other bytes as base64', async () => {
  const { c } = await authed();
  biz.handler = (msg) => ({
    code: 0,
    message: 'ok',
    replies: [
      { messageId: 'r1', type: 'chat.reply', payload: Buffer.from(JSON.stringify({ echo: msg.messageId })), timestamp: 1234, metadata: { k: 'v' } },
      { type: 'blob', payload: Buffer.from([0xff, 0x00, 0x01]) },
    ],
  });
  try {
    c.send({ type: 'chat', id: 'with-replies', payload: {} });
    const ack = await c.next();
    assert.equal(ack['type'], 'ack');
    assert.equal(ack['message'], 'ok');
    const r1 = await c.next();
    // replies are pushes to the user: numbered per user (recovery, SPEC.md section 10)
    assert.deepEqual(r1, { type: 'chat.reply', id: 'r1', payload: { echo: 'with-replies' }, ts: 1234, replyTo: 'with-replies', metadata: { k: 'v' }, seq: r1['seq'] });
    assert.ok(Number.isSafeInteger(r1['seq']) && (r1['seq'] as number) >= 1);
    const r2 = await c.next();
    assert.equal(r2['seq'], (r1['seq'] as number) + 1);
    assert.equal(r2['type'], 'blob');
    assert.equal(r2['payload'], Buffer.from([0xff, 0x00, 0x01]).toString('base64'));
    assert.equal(r2['payloadEncoding'], 'base64');
    assert.equal(typeof r2['id'], 'string');
    assert.ok((r2['id'] as string).length > 0, 'an empty message_id is generated');
    assert.ok((r2['ts'] as number) > 0, 'a zero timestamp is filled');
  } finally {
    delete biz.handler;
  }
  await c.close();
});

test('messages reach the business service in the order the connection sent them', async () => {
  const { c, userId } = await authed();
  biz.handler = async (msg) => {
    // earlier messages answer slower: order must still hold
    await new Promise((r) => setTimeout(r, Math.max(0, 20 - Number(msg.messageId.slice(2)))));
    return { code: 0, message: '', replies: [] };
  };
  try {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(`o-${i}`);
      c.send({ type: 'chat', id: `o-${i}`, payload: i });
    }
    const acks: string[] = [];
    for (let i = 0; i < 3; i++) acks.push(String((await c.next('ack'))['id']));
    assert.deepEqual(acks, ids);
    assert.deepEqual(
      biz.messages.filter((m) => m.userId === userId).map((m) => m.messageId),
      ids,
    );
  } finally {
    delete biz.handler;
  }
  await c.close();
});

test('a repeated id gets the earlier ack and is not forwarded again', async () => {
  const { c, userId } = await authed();
  c.send({ type: 'chat', id: 'dup-1', payload: { n: 1 } });
  const first = await c.next('ack');
  c.send({ type: 'chat', id: 'dup-1', payload: { n: 2 } });
  const second = await c.next('ack');
  assert.deepEqual(second, first);
  assert.equal(biz.messages.filter((m) => m.userId === userId && m.messageId === 'dup-1').length, 1);
  await c.close();
});

test('a payload over forward.maxPayloadBytes gets ack 1004 and is not forwarded', async () => {
  const { c, userId } = await authed();
  c.send({ type: 'chat', id: 'big-1', payload: 'x'.repeat(9000) });
  const ack = await c.next('ack');
  assert.equal(ack['code'], 1004);
  assert.equal(biz.messages.filter((m) => m.userId === userId).length, 0);
  assert.equal(c.isOpen, true);
  await c.close();
});

test('a frame over websocket.maxPayloadBytes closes with 1009', async () => {
  const { c } = await authed();
  c.sendRaw(JSON.stringify({ type: 'chat', id: 'huge', payload: 'x'.repeat(70_000) }));
  assert.equal((await c.waitClosed(3000)).code, 1009);
});

test('the in-flight queue is bounded: beyond maxInFlight, ack 1003', async () => {
  const { c } = await authed();
  biz.delayMs = 300;
  try {
    for (let i = 0; i < 6; i++) c.send({ type: 'chat', id: `q-${i}`, payload: i });
    const acks = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      const a = await c.next('ack', 5000);
      acks.set(String(a['id']), Number(a['code']));
    }
    const limited = [...acks.values()].filter((code) => code === 1003).length;
    const accepted = [...acks.values()].filter((code) => code === 0).length;
    // one in flight + 3 queued are accepted; the rest are refused at once
    assert.equal(accepted, 4, JSON.stringify([...acks]));
    assert.equal(limited, 2, JSON.stringify([...acks]));
  } finally {
    biz.delayMs = 0;
  }
  await c.close();
});

test('over the rate limit: ack 1003, error 1003 for pings; sustained abuse closes with 1008', async () => {
  const { c } = await authed();
  for (let i = 0; i < 25; i++) c.send({ type: 'ping' });
  const e = await c.next((f) => f['type'] === 'error' && f['code'] === 1003);
  assert.equal(e['code'], 1003);
  c.send({ type: 'chat', id: 'rl-1', payload: {} });
  const ack = await c.next((f) => f['type'] === 'ack' && f['id'] === 'rl-1');
  assert.equal(ack['code'], 1003);
  for (let i = 0; i < 60; i++) c.send({ type: 'ping' });
  assert.equal((await c.waitClosed(3000)).code, 1008);
});

test('no frame for idleTimeoutSec: close 4004; pings keep it alive', async () => {
  const { c: idle } = await authed();
  const { c: busy } = await authed();
  const timer = setInterval(() => busy.send({ type: 'ping' }), 1000);
  try {
    const t0 = Date.now();
    assert.equal((await idle.waitClosed(12_000)).code, 4004);
    assert.ok(Date.now() - t0 >= 4000, 'not before the idle timeout');
    assert.equal(busy.isOpen, true);
  } finally {
    clearInterval(timer);
  }
  await busy.close();
});

test('at websocket.maxConnections, upgrades are refused with HTTP 503; a freed slot admits again', async () => {
  const clients: TestWsClient[] = [];
  try {
    let refused: TestWsClient | undefined;
    // connections of earlier tests may still be closing: connect until the limit answers
    for (let i = 0; i < 80 && refused === undefined; i++) {
      const c = await connect(user().token);
      if (c.opened) clients.push(c);
      else refused = c;
    }
    assert.ok(refused, 'an upgrade was refused');
    assert.equal(refused.upgradeStatus, 503);
    assert.ok(clients.length <= 40, `at most maxConnections (40) open, got ${clients.length}`);
    await clients.pop()?.close();
    await eventually(
      async () => {
        const c = await connect(user().token);
        if (c.opened) clients.push(c);
        return c.opened;
      },
      5000,
      'a freed slot to admit a new connection',
    );
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

/**
 * Recovery and token refresh (SPEC.md section 10) end to end: real gateway processes (one in
 * memory; two on a real redis-server), real WebSocket clients, the push API over HTTP/JSON.
 *
 * - a client disconnects, pushes go on, it reconnects with its last seq and epoch and gets exactly
 *   the missed pushes in order, then live ones; the same across two instances on Redis;
 * - pushes racing the replay: seqs arrive gapless and without duplicate;
 * - a window that overflowed, a history past its TTL, another epoch, and Redis restarted without
 *   persistence all give recovered:false;
 * - a room subscription recovers with recoverSeq / recoverEpoch;
 * - token refresh in band: expiring notice, refresh keeps the connection past the old expiry; a
 *   refused refresh gets 1005 and the connection still closes with 4003 at the old expiry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { httpRequest } from '../support/admin';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { startRedis } from '../support/redis';
import type { TestRedis } from '../support/redis';
import { TestMucService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import type { Frame } from '../support/ws-client';
import { TEST_JWT_SECRET, configDir, eventually, jwtFor } from './helpers';

const cleanups: Array<() => Promise<void> | void> = [];
const clients: TestWsClient[] = [];

after(async () => {
  await Promise.allSettled(clients.map((c) => c.terminate()));
  for (const c of cleanups.reverse()) await c();
});

let n = 0;
const uid = (tag: string): string => `${tag}-${++n}-${process.pid}`;
const payload = (id: string): string => Buffer.from(JSON.stringify({ id })).toString('base64');

async function gateway(env: Record<string, string>, files: Record<string, string> = {}): Promise<GatewayProcess> {
  const cfg = configDir(files);
  const gw = await startGateway({ configDir: cfg.dir, env: { IMA_JWT_SECRET: TEST_JWT_SECRET, IMA_KICK_POLICY: 'allow_all', ...env } });
  cleanups.push(async () => {
    await gw.stop();
    cfg.cleanup();
  });
  return gw;
}

async function ok(gw: GatewayProcess, method: string, body: unknown): Promise<Record<string, unknown>> {
  const r = await httpRequest('POST', `${gw.adminUrl}/im.gateway.v1.IMAGatewayService/${method}`, JSON.stringify(body), { headers: { 'content-type': 'application/json' }, timeoutMs: 10_000 });
  assert.equal(r.status, 200, `${method}: ${r.body}`);
  return r.json as Record<string, unknown>;
}

const push = (gw: GatewayProcess, user: string, id: string): Promise<Record<string, unknown>> => ok(gw, 'PushToUser', { userId: user, message: { messageId: id, type: 'n', payload: payload(id) } });

interface Conn {
  readonly c: TestWsClient;
  readonly auth: Frame;
}

async function connect(gw: GatewayProcess, user: string, query: Record<string, string> = {}, token = jwtFor(user)): Promise<Conn> {
  const c = await TestWsClient.connect(gw.wsUrl({ token, device_id: 'phone', platform: 'ios', ...query }));
  clients.push(c);
  const auth = await c.next('auth');
  assert.equal(auth['ok'], true, JSON.stringify(auth));
  return { c, auth };
}

/** The next `k` pushes (frames with a seq) on the connection. */
async function pushes(c: TestWsClient, k: number): Promise<Frame[]> {
  const out: Frame[] = [];
  for (let i = 0; i < k; i++) out.push(await c.next((f) => typeof f['seq'] === 'number' && f['type'] !== 'ack', 5_000));
  return out;
}

describe('recovery on one instance', () => {
  let gw: GatewayProcess;
  before(async () => {
    gw = await gateway({}, { 'websocket.yml': 'rooms:\n  clientSubscribe: allow\n' });
  });

  test('reconnect with the last seq: the missed pushes in order after the auth frame, then live ones', async () => {
    const user = uid('alice');
    const first = await connect(gw, user);
    const epoch = String(first.auth['epoch']);
    assert.ok(epoch.length > 0, 'the auth frame carries the epoch');
    await push(gw, user, 'a1');
    const [p1] = await pushes(first.c, 1);
    assert.equal(p1?.['seq'], 1);
    await first.c.close();
    for (const id of ['a2', 'a3', 'a4']) assert.deepEqual((await push(gw, user, id))['offlineUserIds'], [user]);
    const again = await connect(gw, user, { recover_seq: '1', recover_epoch: epoch });
    assert.equal(again.auth['recovered'], true);
    assert.equal(again.auth['missed'], 3);
    assert.equal(again.auth['epoch'], epoch);
    const missed = await pushes(again.c, 3);
    assert.deepEqual(missed.map((f) => [f['id'], f['seq']]), [['a2', 2], ['a3', 3], ['a4', 4]]);
    assert.deepEqual(missed[0]?.['payload'], { id: 'a2' });
    await push(gw, user, 'a5');
    assert.deepEqual((await pushes(again.c, 1)).map((f) => [f['id'], f['seq']]), [['a5', 5]]);
    // nothing missed: recovered with 0
    await again.c.close();
    const third = await connect(gw, user, { recover_seq: '5', recover_epoch: epoch });
    assert.deepEqual([third.auth['recovered'], third.auth['missed']], [true, 0]);
  });

  test('pushes racing the reconnect arrive gapless, in order, without duplicate', async () => {
    const user = uid('racer');
    const first = await connect(gw, user);
    const epoch = String(first.auth['epoch']);
    await first.c.close();
    let stop = false;
    let sent = 0;
    const pusher = (async () => {
      // paced well inside the window of 100
      while (!stop) {
        await push(gw, user, `r${++sent}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    const again = await connect(gw, user, { recover_seq: '0', recover_epoch: epoch });
    assert.equal(again.auth['recovered'], true);
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await pusher;
    const got = await pushes(again.c, sent);
    assert.deepEqual(got.map((f) => f['seq']), Array.from({ length: sent }, (_, i) => i + 1));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(again.c.frames.filter((f) => typeof f['seq'] === 'number').length, sent, 'no duplicate');
  });

  test('another epoch gives recovered:false (missed 0) and the current epoch', async () => {
    const user = uid('bob');
    const first = await connect(gw, user);
    await first.c.close();
    await push(gw, user, 'b1');
    const again = await connect(gw, user, { recover_seq: '0', recover_epoch: 'some-other-epoch' });
    assert.deepEqual([again.auth['recovered'], again.auth['missed'], again.auth['epoch']], [false, 0, first.auth['epoch']]);
  });

  test('a room subscription recovers what the connection missed (recoverSeq / recoverEpoch)', async () => {
    const room = `live/${uid('show')}`;
    const user = uid('viewer');
    const first = await connect(gw, user);
    first.c.send({ type: 'subscribe', id: 's1', room });
    const ack = await first.c.next((f) => f['id'] === 's1');
    assert.equal(ack['code'], 0);
    const roomEpoch = String(ack['epoch']);
    const r1 = await ok(gw, 'PushToRoom', { room, message: { messageId: 'x1', type: 'room.msg', payload: payload('x1') } });
    assert.equal(Number(r1['delivered']), 1);
    const [x1] = await pushes(first.c, 1);
    assert.deepEqual([x1?.['room'], x1?.['seq']], [room, 1]);
    await first.c.close();
    for (const id of ['x2', 'x3']) await ok(gw, 'PushToRoom', { room, message: { messageId: id, type: 'room.msg', payload: payload(id) } });
    const again = await connect(gw, user);
    again.c.send({ type: 'subscribe', id: 's2', room, recoverSeq: 1, recoverEpoch: roomEpoch });
    const ack2 = await again.c.next((f) => f['id'] === 's2');
    assert.deepEqual([ack2['code'], ack2['recovered'], ack2['missed'], ack2['epoch']], [0, true, 2, roomEpoch]);
    assert.deepEqual((await pushes(again.c, 2)).map((f) => [f['id'], f['seq'], f['room']]), [['x2', 2, room], ['x3', 3, room]]);
    await ok(gw, 'PushToRoom', { room, message: { messageId: 'x4', type: 'room.msg', payload: payload('x4') } });
    assert.deepEqual((await pushes(again.c, 1)).map((f) => f['seq']), [4]);
  });
});

describe('the recovery window', () => {
  test('overflow (historySize) and expiry (historyTtlSec) give recovered:false', async () => {
    const gw = await gateway({}, { 'app.yml': 'recovery:\n  historySize: 3\n  historyTtlSec: 5\n' });
    const user = uid('carol');
    const first = await connect(gw, user);
    const epoch = String(first.auth['epoch']);
    await first.c.close();
    for (let i = 1; i <= 5; i++) await push(gw, user, `c${i}`);
    const over = await connect(gw, user, { recover_seq: '1', recover_epoch: epoch });
    assert.deepEqual([over.auth['recovered'], over.auth['missed']], [false, 0]);
    await over.c.close();
    const inside = await connect(gw, user, { recover_seq: '2', recover_epoch: epoch });
    assert.deepEqual([inside.auth['recovered'], inside.auth['missed']], [true, 3]);
    await inside.c.close();
    await new Promise((r) => setTimeout(r, 5_500));
    const late = await connect(gw, user, { recover_seq: '4', recover_epoch: epoch });
    assert.equal(late.auth['recovered'], false);
    assert.notEqual(late.auth['epoch'], epoch, 'the idle stream expired: a new epoch');
  });
});

describe('recovery across two instances on Redis', () => {
  let redis: TestRedis;
  let A: GatewayProcess;
  let B: GatewayProcess;
  before(async () => {
    redis = await startRedis();
    cleanups.push(() => redis.stop());
    const files = { 'redis.yml': 'redis:\n  leaseTtlSec: 3\n  leaseRefreshSec: 1\n  sweepEverySec: 1\n' };
    [A, B] = (await Promise.all(['rc-a', 'rc-b'].map((id) => gateway({ IMA_REDIS_URL: redis.url, IMA_INSTANCE_ID: id, IMA_ADVERTISE_HOST: '127.0.0.1' }, files)))) as [GatewayProcess, GatewayProcess];
  });

  test('disconnect from one instance, pushes through the other, reconnect to the other: exactly the missed ones', async () => {
    const user = uid('dan');
    const first = await connect(A, user);
    const epoch = String(first.auth['epoch']);
    await push(B, user, 'd1');
    const [d1] = await pushes(first.c, 1);
    assert.equal(d1?.['seq'], 1);
    await first.c.close();
    for (const id of ['d2', 'd3']) await push(A, user, id);
    const again = await connect(B, user, { recover_seq: '1', recover_epoch: epoch });
    assert.deepEqual([again.auth['recovered'], again.auth['missed'], again.auth['epoch']], [true, 2, epoch]);
    assert.deepEqual((await pushes(again.c, 2)).map((f) => [f['id'], f['seq']]), [['d2', 2], ['d3', 3]]);
    // a push through the instance not holding the connection is numbered once
    await push(A, user, 'd4');
    assert.deepEqual((await pushes(again.c, 1)).map((f) => [f['id'], f['seq']]), [['d4', 4]]);
  });

  test('Redis restarted without persistence: a new epoch, recovered:false', async () => {
    const user = uid('erin');
    const first = await connect(A, user);
    const epoch = String(first.auth['epoch']);
    await push(A, user, 'e1');
    await pushes(first.c, 1);
    await first.c.close();
    await redis.restart();
    await eventually(async () => {
      const r = await httpRequest('GET', `${A.adminUrl}/readyz`);
      return r.status === 200;
    }, 15_000, 'A ready again');
    await push(A, user, 'e2');
    const again = await connect(B, user, { recover_seq: '1', recover_epoch: epoch });
    assert.equal(again.auth['recovered'], false);
    assert.notEqual(again.auth['epoch'], epoch);
  });
});

describe('token refresh in band', () => {
  let gw: GatewayProcess;
  before(async () => {
    gw = await gateway({}, { 'app.yml': 'auth:\n  refreshNoticeSec: 2\n  jwt:\n    clockSkewSec: 0\n' });
  });

  test('expiring notice, then a refresh keeps the connection past the old expiry', async () => {
    const user = uid('frank');
    const { c } = await connect(gw, user, {}, jwtFor(user, { ttlSec: 4, device: 'phone', platform: 'ios' }));
    const notice = await c.next('expiring', 5_000);
    assert.equal(typeof notice['expiresAt'], 'number');
    c.send({ type: 'refresh', id: 'r1', token: jwtFor(user, { ttlSec: 60, device: 'phone', platform: 'ios' }) });
    const ack = await c.next((f) => f['id'] === 'r1');
    assert.equal(ack['code'], 0);
    assert.ok((ack['expiresAt'] as number) > Date.now() + 50_000);
    await new Promise((r) => setTimeout(r, 4_000));
    assert.equal(c.closeInfo, undefined, 'still open past the old expiry');
    c.send({ type: 'ping' });
    await c.next('pong');
  });

  test('a refresh for another user gets 1005 and the connection closes with 4003 at the old expiry', async () => {
    const user = uid('gina');
    const { c } = await connect(gw, user, {}, jwtFor(user, { ttlSec: 3, device: 'phone', platform: 'ios' }));
    c.send({ type: 'refresh', id: 'r1', token: jwtFor(uid('mallory'), { ttlSec: 60, device: 'phone', platform: 'ios' }) });
    const ack = await c.next((f) => f['id'] === 'r1');
    assert.equal(ack['code'], 1005);
    c.send({ type: 'refresh', id: 'r2', token: 'not-a-jwt' });
    assert.equal((await c.next((f) => f['id'] === 'r2'))['code'], 1005);
    const kick = await c.next('kick', 6_000);
    assert.equal(kick['code'], 4003);
    assert.equal((await c.waitClosed(5_000)).code, 4003);
  });
});

describe('token refresh with the MUC provider', () => {
  test('the MUC validates the refresh token: the same user extends the connection, another user gets 1005', async () => {
    const muc = await TestMucService.start();
    cleanups.push(() => muc.stop());
    const gw = await gateway({ IMA_MUC_ADDR: muc.address }, { 'app.yml': 'auth:\n  refreshNoticeSec: 2\n' });
    const user = uid('hank');
    muc.tokens.set('t-old', { userId: user, expireAt: Date.now() + 3_500 });
    muc.tokens.set('t-new', { userId: user, expireAt: Date.now() + 120_000 });
    muc.tokens.set('t-other', { userId: uid('ivan'), expireAt: Date.now() + 120_000 });
    const { c } = await connect(gw, user, {}, 't-old');
    await c.next('expiring', 5_000);
    c.send({ type: 'refresh', id: 'x', token: 't-other' });
    assert.equal((await c.next((f) => f['id'] === 'x'))['code'], 1005);
    c.send({ type: 'refresh', id: 'y', token: 't-new' });
    const ack = await c.next((f) => f['id'] === 'y');
    assert.equal(ack['code'], 0);
    assert.ok(muc.calls.some((call) => call.token === 't-new' && call.deviceId === 'phone' && call.platform === 'ios'), 'the MUC saw the refresh with the connection\'s device');
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(c.closeInfo, undefined, 'open past the old expiry');
  });
});

/**
 * PushStreamClient against a real ServerPushService (TestServerPushService): heartbeats, command
 * execution, reconnects after restarts and server-side ends, backoff growth, close().
 */
import { after, afterEach, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { BroadcastRequestOutput } from '../../api/gen/im/gateway/v1/BroadcastRequest';
import type { Heartbeat } from '../../api/gen/im/gateway/v1/Heartbeat';
import type { KickUserRequestOutput } from '../../api/gen/im/gateway/v1/KickUserRequest';
import type { PushRequestOutput } from '../../api/gen/im/gateway/v1/PushRequest';
import type { ServerPushServiceClient } from '../../api/gen/im/gateway/v1/ServerPushService';
import type { Result } from '../../pkg/result';
import { err, ok } from '../../pkg/result';
import { freePort } from '../../test/support/ports';
import { TestServerPushService } from '../../test/support/test-services';
import { createLogger } from '../observability/logger';
import type { Logger } from '../observability/logger';
import type { ApiError, CallContext } from './api';
import { loadProto } from './proto';
import { PushStreamClient } from './push-stream';
import type { PushCommandOutcome, PushStreamSettings, PushStreamState } from './push-stream';
import { UpstreamPool } from './upstream';

type Method = 'PushToUser' | 'PushToUsers' | 'Broadcast' | 'KickUser' | 'PushToRoom';

interface Recorded {
  readonly method: Method;
  readonly req: unknown;
  readonly ctx: CallContext;
}

/** Records every call and answers ok, or with `answers[method]` when set. */
class FakeApi {
  readonly calls: Recorded[] = [];
  readonly events = new EventEmitter();
  readonly answers: Partial<Record<Method, (req: unknown) => Promise<Result<unknown, ApiError>>>> = {};

  private record(method: Method, req: unknown, ctx: CallContext, fallback: unknown): Promise<Result<never, ApiError>> {
    this.calls.push({ method, req, ctx });
    this.events.emit('call');
    const a = this.answers[method];
    return (a ? a(req) : Promise.resolve(ok(fallback))) as Promise<Result<never, ApiError>>;
  }

  PushToUser(req: PushRequestOutput, ctx: CallContext) {
    return this.record('PushToUser', req, ctx, { success: true, delivered: 1, offlineUserIds: [] });
  }
  PushToUsers(req: PushRequestOutput, ctx: CallContext) {
    return this.record('PushToUsers', req, ctx, { success: true, delivered: 2, offlineUserIds: [] });
  }
  Broadcast(req: BroadcastRequestOutput, ctx: CallContext) {
    return this.record('Broadcast', req, ctx, { success: true, delivered: 3, instances: 1 });
  }
  KickUser(req: KickUserRequestOutput, ctx: CallContext) {
    return this.record('KickUser', req, ctx, { success: true, kicked: 1 });
  }
  PushToRoom(req: unknown, ctx: CallContext) {
    return this.record('PushToRoom', req, ctx, { success: true, delivered: 4, instances: 1 });
  }

  /** Resolves with the first call (existing or future) of `method` matching the predicate. */
  waitFor(method: Method, pred: (req: any) => boolean = () => true, timeoutMs = 5_000): Promise<Recorded> {
    return waitForEvent(this.events, 'call', () => this.calls.find((c) => c.method === method && pred(c.req)), timeoutMs, `a ${method} call`);
  }
}

/**
 * Resolves with check()'s first non-undefined result, checked now and on every `event`; rejects
 * after timeoutMs.
 */
function waitForEvent<T>(emitter: EventEmitter, event: string, check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const now = check();
  if (now !== undefined) return Promise.resolve(now);
  return new Promise<T>((resolve, reject) => {
    const on = (): void => {
      const r = check();
      if (r === undefined) return;
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(r);
    };
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    emitter.on(event, on);
  });
}

function captureLogger(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      raw.push(chunk.toString());
      cb();
    },
  });
  return { log: createLogger('debug', 'test-gw', stream), lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

type Pool = UpstreamPool<ServerPushServiceClient & grpc.Client>;

interface Harness {
  readonly client: PushStreamClient;
  readonly pool: Pool;
  readonly api: FakeApi;
  readonly states: PushStreamState[];
  readonly delays: number[];
  readonly outcomes: PushCommandOutcome[];
  readonly logLines: () => Array<Record<string, unknown>>;
  /** Resolves once the client is (or gets) in state s. */
  waitState(s: PushStreamState, timeoutMs?: number): Promise<void>;
  /** Resolves once `n` command outcomes were reported in total. */
  waitOutcomes(n: number, timeoutMs?: number): Promise<PushCommandOutcome[]>;
}

const clients: PushStreamClient[] = [];
const servers: TestServerPushService[] = [];

const FAST: PushStreamSettings = { heartbeatIntervalMs: 100, reconnectInitialMs: 30, reconnectMaxMs: 200 };
const TRIPLE = { version: '1.0.0', group: 'im', appName: 'ima-gateway-test' };

function harness(addresses: string[], settings: PushStreamSettings = FAST, heartbeat?: () => Heartbeat): Harness {
  const pool: Pool = new UpstreamPool('ServerPushService', loadProto().grpcType.im.gateway.v1.ServerPushService, addresses);
  const api = new FakeApi();
  const { log, lines } = captureLogger();
  let n = 0;
  const hb = heartbeat ?? ((): Heartbeat => ({ instanceId: 'gw-test', address: '127.0.0.1:50051', connections: ++n, users: n, timestamp: Date.now() }));
  const client = new PushStreamClient(pool, TRIPLE, hb, api, settings, log);
  clients.push(client);
  const states: PushStreamState[] = [];
  const delays: number[] = [];
  const outcomes: PushCommandOutcome[] = [];
  client.on('state', (s: PushStreamState) => states.push(s));
  client.on('backoff', (ms: number) => delays.push(ms));
  client.on('command', (o: PushCommandOutcome) => outcomes.push(o));
  return {
    client,
    pool,
    api,
    states,
    delays,
    outcomes,
    logLines: lines,
    waitState: (s, timeoutMs = 5_000) =>
      waitForEvent(client, 'state', () => (client.state === s ? true : undefined), timeoutMs, `state ${s} (now ${client.state}; seen ${states.join(',')})`).then(() => undefined),
    waitOutcomes: (k, timeoutMs = 5_000) =>
      waitForEvent(client, 'command', () => (outcomes.length >= k ? outcomes.slice() : undefined), timeoutMs, `${k} command outcome(s), got ${outcomes.length}`),
  };
}

async function server(port = 0): Promise<TestServerPushService> {
  const s = await TestServerPushService.start(port);
  servers.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

describe('PushStreamClient', () => {
  test('sends a heartbeat at once with the callback figures, then periodically; Triple metadata', async () => {
    const push = await server();
    let calls = 0;
    const h = harness([push.address], { ...FAST, heartbeatIntervalMs: 100 }, () => {
      calls++;
      return { instanceId: 'gw-a', address: '10.1.2.3:50051', connections: 10 + calls, users: 5 + calls, timestamp: Date.now() };
    });
    assert.equal(h.client.state, 'idle');
    const startedAt = Date.now();
    h.client.start();
    h.client.start(); // idempotent
    const first = await push.waitForHeartbeat(5_000);
    assert.equal(first.instanceId, 'gw-a');
    assert.equal(first.address, '10.1.2.3:50051');
    assert.equal(first.connections, 11);
    assert.equal(first.users, 6);
    assert.ok(first.timestamp >= startedAt && first.timestamp <= Date.now());
    await h.waitState('open');

    const hbs = await push.waitForHeartbeats(4, 5_000);
    // figures come from the callback, called for every heartbeat
    assert.deepEqual(
      hbs.slice(0, 4).map((x) => x.connections),
      [11, 12, 13, 14],
    );
    assert.ok(hbs[3]!.timestamp - hbs[0]!.timestamp >= 250, 'heartbeats are spaced by the interval');
    assert.equal(push.streamsOpened, 1, 'one stream (start() is idempotent)');
    assert.equal(h.client.stats.connects, 1);
    assert.equal(h.client.stats.disconnects, 0);
    assert.ok(h.client.stats.heartbeats >= 4);
    assert.deepEqual(h.states, ['connecting', 'open']);

    const md = push.streamMetadata[0]!;
    assert.equal(md['tri-service-version'], '1.0.0');
    assert.equal(md['tri-service-group'], 'im');
    assert.equal(md['tri-consumer-appname'], 'ima-gateway-test');
  });

  test('push (user_id / user_ids), broadcast and kick reach the matching API method', async () => {
    const push = await server();
    const h = harness([push.address]);
    h.client.start();
    await push.waitForStream();
    await h.waitState('open');

    const message = { messageId: 'm-1', type: 'notice', payload: Buffer.from('{"a":1}'), timestamp: 1234 };
    assert.equal(push.sendCommand({ commandId: 'c-user', push: { userId: 'u1', message, deviceIds: ['d1'], platforms: ['ios'], excludeDeviceIds: ['d9'] } }), 1);
    const one = await h.api.waitFor('PushToUser');
    const r1 = one.req as PushRequestOutput;
    assert.equal(r1.userId, 'u1');
    assert.deepEqual(r1.userIds, []);
    assert.equal(r1.message?.messageId, 'm-1');
    assert.equal(r1.message?.type, 'notice');
    assert.equal(Buffer.from(r1.message?.payload ?? []).toString(), '{"a":1}');
    assert.equal(r1.message?.timestamp, 1234);
    assert.deepEqual(r1.deviceIds, ['d1']);
    assert.deepEqual(r1.platforms, ['ios']);
    assert.deepEqual(r1.excludeDeviceIds, ['d9']);
    assert.equal(one.ctx.headers['x-ima-source'], 'push-stream');
    assert.ok(one.ctx.deadline > Date.now() + 5_000 && one.ctx.deadline <= Date.now() + 10_000);

    push.sendCommand({ commandId: 'c-users', push: { userIds: ['u2', 'u3'], message: { messageId: 'm-2', type: 't' } } });
    const many = await h.api.waitFor('PushToUsers');
    const r2 = many.req as PushRequestOutput;
    assert.deepEqual(r2.userIds, ['u2', 'u3']);
    assert.equal(r2.message?.messageId, 'm-2');

    push.sendCommand({ commandId: 'c-bc', broadcast: { message: { messageId: 'm-3', type: 'b' }, platforms: ['web', 'android'] } });
    const bc = await h.api.waitFor('Broadcast');
    const r3 = bc.req as BroadcastRequestOutput;
    assert.equal(r3.message?.messageId, 'm-3');
    assert.deepEqual(r3.platforms, ['web', 'android']);
    assert.equal(bc.ctx.headers['x-ima-source'], 'push-stream');

    push.sendCommand({ commandId: 'c-kick', kick: { userId: 'u4', deviceId: 'pc', reason: 'banned' } });
    const kick = await h.api.waitFor('KickUser');
    assert.deepEqual(kick.req, { userId: 'u4', deviceId: 'pc', reason: 'banned' });

    push.sendCommand({ commandId: 'c-room', roomPush: { room: 'g1', message: { messageId: 'm-5', type: 'r' }, excludeUserIds: ['u9'] } });
    const room = await h.api.waitFor('PushToRoom');
    const r5 = room.req as { room: string; excludeUserIds: string[]; message: { messageId: string } };
    assert.equal(r5.room, 'g1');
    assert.deepEqual(r5.excludeUserIds, ['u9']);
    assert.equal(r5.message.messageId, 'm-5');

    const outcomes = await h.waitOutcomes(5);
    assert.deepEqual(
      outcomes.map((o) => [o.commandId, o.method, o.ok]),
      [
        ['c-user', 'PushToUser', true],
        ['c-users', 'PushToUsers', true],
        ['c-bc', 'Broadcast', true],
        ['c-kick', 'KickUser', true],
        ['c-room', 'PushToRoom', true],
      ],
    );
    assert.equal(h.client.stats.commands, 5);
    assert.equal(h.client.stats.commandErrors, 0);
    assert.equal(h.api.calls.length, 5);
    // a received command marks the stream stable and is logged with its id
    const done = h.logLines().filter((l) => l['msg'] === 'push stream command done');
    assert.deepEqual(
      done.map((l) => l['commandId']),
      ['c-user', 'c-users', 'c-bc', 'c-kick', 'c-room'],
    );
  });

  test('a command with no oneof, an ApiError and a rejecting handler count as errors; none blocks the stream', async () => {
    const push = await server();
    const h = harness([push.address]);
    let release: (() => void) | undefined;
    h.api.answers.KickUser = () => new Promise((resolve) => (release = () => resolve(ok({ success: true, kicked: 0 }))));
    h.api.answers.Broadcast = () => Promise.resolve(err({ code: grpc.status.INVALID_ARGUMENT, message: 'message: required' }));
    h.api.answers.PushToUsers = () => Promise.reject(new Error('handler exploded'));
    h.client.start();
    await push.waitForStream();

    push.sendCommand({ commandId: 'slow-kick', kick: { userId: 'u1' } }); // pending until released
    push.sendCommand({ commandId: 'empty' });
    push.sendCommand({ commandId: 'bad-bc', broadcast: {} });
    push.sendCommand({ commandId: 'boom', push: { userIds: ['x'] } });
    push.sendCommand({ commandId: 'fine', push: { userId: 'u2' } });
    const outcomes = await h.waitOutcomes(4);
    assert.deepEqual(
      outcomes.map((o) => [o.commandId, o.ok]).sort(),
      [
        ['bad-bc', false],
        ['boom', false],
        ['empty', false],
        ['fine', true],
      ],
    );
    assert.equal(outcomes.find((o) => o.commandId === 'bad-bc')?.error?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(h.client.stats.commands, 5);
    assert.equal(h.client.stats.commandErrors, 3);
    assert.equal(h.client.state, 'open', 'the stream stays open');

    release?.();
    const all = await h.waitOutcomes(5);
    assert.deepEqual(all[4], { commandId: 'slow-kick', method: 'KickUser', ok: true });
    assert.equal(h.client.stats.commandErrors, 3);

    const warns = h.logLines().filter((l) => l['level'] === 'warn');
    for (const id of ['empty', 'bad-bc', 'boom']) assert.ok(warns.some((l) => l['commandId'] === id), `warn logged for ${id}`);
    assert.equal(h.client.stats.connects, 1, 'no reconnect was caused by the failures');
  });

  test('reconnects after the service is stopped and restarted on the same port', async () => {
    let push = await server();
    const port = push.port;
    const h = harness([push.address]);
    h.client.start();
    await push.waitForHeartbeat();
    await h.waitState('open');

    await push.stop();
    await h.waitState('backoff');
    assert.ok(h.client.stats.disconnects >= 1);
    push = await server(port);
    await push.waitForStream(10_000);
    await push.waitForHeartbeat(5_000);
    await h.waitState('open');
    assert.ok(h.client.stats.connects >= 2);

    push.sendCommand({ commandId: 'after-restart', kick: { userId: 'u-r', reason: 'r' } });
    const kick = await h.api.waitFor('KickUser', (r: KickUserRequestOutput) => r.userId === 'u-r');
    assert.equal((kick.req as KickUserRequestOutput).reason, 'r');
  });

  test('reconnects when the server ends the stream (OK or an error status)', async () => {
    const push = await server();
    const h = harness([push.address]);
    h.client.start();
    await push.waitForStreamsOpened(1);
    await h.waitState('open');

    assert.equal(push.endStreams(), 1);
    await push.waitForStreamsOpened(2, 5_000);
    push.reset();
    await push.waitForHeartbeat(5_000);

    assert.equal(push.endStreams(grpc.status.INTERNAL, 'boom'), 1);
    await push.waitForStreamsOpened(3, 5_000);
    await h.waitState('open');
    assert.equal(push.streamCount, 1);
    push.sendCommand({ commandId: 'after-end', push: { userId: 'u-e' } });
    await h.api.waitFor('PushToUser', (r: PushRequestOutput) => r.userId === 'u-e');
    assert.equal(h.client.stats.connects, 3);
    assert.equal(h.client.stats.disconnects, 2);
    assert.deepEqual(h.states, ['connecting', 'open', 'backoff', 'connecting', 'open', 'backoff', 'connecting', 'open']);
  });

  test('close() ends the stream and stops everything: no heartbeat, no reconnect', async () => {
    const push = await server();
    const h = harness([push.address], { heartbeatIntervalMs: 50, reconnectInitialMs: 10, reconnectMaxMs: 20 });
    h.client.start();
    await push.waitForStream();
    await h.waitState('open');
    await h.client.close();
    assert.equal(h.client.state, 'closed');
    await push.waitForNoStream(2_000);
    const opened = push.streamsOpened;
    const beats = push.heartbeats.length;
    const stats = { ...h.client.stats };

    await new Promise((r) => setTimeout(r, 300)); // many heartbeat intervals and backoff delays
    assert.equal(push.streamsOpened, opened, 'no reconnect after close()');
    assert.equal(push.heartbeats.length, beats, 'no heartbeat after close()');
    assert.deepEqual(h.client.stats, stats);
    h.client.start(); // a closed client stays closed
    await h.client.close(); // idempotent
    assert.equal(h.client.state, 'closed');
    assert.equal(push.streamsOpened, opened);
    assert.equal(h.states.at(-1), 'closed');
    assert.equal(h.delays.length, 0, 'close() schedules no reconnect');
  });

  test('backoff grows while nothing listens, and is reset once a stream is stable', async () => {
    const port = await freePort();
    const settings = { heartbeatIntervalMs: 50, reconnectInitialMs: 20, reconnectMaxMs: 320 };
    const h = harness([`127.0.0.1:${port}`], settings);
    h.client.start();
    // 6 failed attempts: bases 20, 40, 80, 160, 320, 320 with up to 20 % jitter off
    await waitForEvent(h.client, 'backoff', () => (h.delays.length >= 6 ? true : undefined), 10_000, '6 backoffs');
    const d = h.delays.slice(0, 6);
    const bases = [20, 40, 80, 160, 320, 320];
    d.forEach((ms, i) => assert.ok(ms >= Math.floor(bases[i]! * 0.8) && ms <= bases[i]!, `delay ${i} = ${ms} within [0.8, 1] x ${bases[i]}`));
    for (let i = 1; i < 5; i++) assert.ok(d[i]! > d[i - 1]!, `delays grow: ${d.join(', ')}`);
    assert.ok(h.client.stats.connects >= 6);
    assert.ok(h.client.stats.disconnects >= 6);
    assert.ok(!h.states.includes('open'), `never open: ${h.states.join(',')}`);
    assert.deepEqual(h.states.slice(0, 4), ['connecting', 'backoff', 'connecting', 'backoff']);

    // a server appears: the client connects, the stream gets stable, the backoff starts over
    const push = await server(port);
    await push.waitForStream(10_000);
    await h.waitState('open');
    await push.waitForHeartbeats(3, 5_000);
    const before = h.delays.length;
    push.endStreams();
    await waitForEvent(h.client, 'backoff', () => (h.delays.length > before ? true : undefined), 5_000, 'a backoff after endStreams');
    assert.ok(h.delays[before]! <= settings.reconnectInitialMs, `reset delay ${h.delays[before]}`);
    await push.waitForStreamsOpened(2, 5_000);
  });

  test('no provider: backs off and retries until the pool has an address', async () => {
    const push = await server();
    const h = harness([]);
    h.client.start();
    await waitForEvent(h.client, 'backoff', () => (h.delays.length >= 3 ? true : undefined), 5_000, '3 backoffs');
    assert.equal(h.client.stats.connects, h.client.stats.disconnects + (h.client.state === 'connecting' ? 1 : 0));
    assert.ok(h.logLines().some((l) => String(l['reason']).includes('no provider')));
    h.pool.setAddresses([push.address]);
    await push.waitForHeartbeat(5_000);
    await h.waitState('open');
  });
});

/**
 * The gateway core driven in-process as the WebSocket transport drives it (upgrade -> open ->
 * message -> close) through fake sockets: real memory presence store, connection registry, ids
 * and stats; fake verifier, business client, event sink and remote kicker; a mocked clock.
 */
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import type { ConnectionStatus } from '../../api/gen/im/gateway/v1/ConnectionStatus';
import { IdGenerator } from '../../pkg/ids';
import { ConnectionManager } from '../connection/manager';
import { decide } from '../policy/policy';
import type { PolicySettings } from '../policy/policy';
import { MemoryPresenceStore } from '../presence/memory';
import type { NewLogin, PresenceEntry, PresenceStore, RegisterResult } from '../presence/types';
import type { UpgradeInfo } from './ports';
import { BROADCAST_TOPIC, Gateway } from './gateway';
import type { GatewaySettings } from './gateway';
import type { Attempt } from './session';
import { Rejection, Session } from './session';
import { GatewayStats } from './stats';
import type { FakeSocket, Frame, TestClient, TokenOutcome } from './testing';
import { FakeBusinessClient, FakeTokenVerifier, FakeTopics, TEST_GATEWAY_SETTINGS, RecordingEvents, RecordingRemoteKicker, connect, reply, settle, silentLogger } from './testing';
import { RoomHub } from './rooms';
import type { ClientSubscribeMode } from './rooms';
import { LocalRoomInstances, MemoryRoomMembers } from '../rooms/memory';
import type { HistoryStore, RecoverResult } from '../recovery/types';
import { MemoryHistoryStore } from '../recovery/memory';

/** The mocked clock's start (a whole second, so token expiries fall on second boundaries). */
const T0 = 1_700_000_000_000;
const INSTANCE = 'gw-a';

const TOKENS: ReadonlyArray<readonly [string, TokenOutcome]> = [
  ['tok-alice', { userId: 'alice' }],
  ['tok-bob', { userId: 'bob' }],
  ['tok-erin', { userId: 'erin' }],
  ['tok-carol', { userId: 'carol', expireAt: T0 + 30_000 }],
  ['tok-carol-later', { userId: 'carol', expireAt: T0 + 120_000 }],
  ['tok-stale', { userId: 'dave', expireAt: T0 - 1 }],
  ['tok-expired', 'expired'],
  ['tok-bad', { invalid: 'signature mismatch' }],
  ['tok-down', 'unavailable'],
];

const BASE_SETTINGS = TEST_GATEWAY_SETTINGS;

interface SettingsOverrides {
  readonly policy?: Partial<PolicySettings>;
  readonly rateLimit?: Partial<GatewaySettings['rateLimit']>;
  readonly forward?: Partial<GatewaySettings['forward']>;
  readonly refreshNoticeMs?: number;
}

interface HarnessOptions {
  readonly instanceId?: string;
  readonly settings?: SettingsOverrides;
  /** Shared by several gateways to make a cluster; a new memory store by default. */
  readonly presence?: PresenceStore;
  readonly remote?: RecordingRemoteKicker | null;
  readonly clientSubscribe?: ClientSubscribeMode;
  readonly history?: HistoryStore;
  readonly maxRooms?: number;
}

interface Harness {
  readonly gw: Gateway;
  readonly verifier: FakeTokenVerifier;
  readonly business: FakeBusinessClient;
  readonly presence: PresenceStore;
  readonly registry: ConnectionManager<Session>;
  readonly stats: GatewayStats;
  readonly events: RecordingEvents;
  readonly settings: GatewaySettings;
  readonly topics: FakeTopics;
  readonly rooms: RoomHub;
  readonly members: MemoryRoomMembers;
}

const clocked = new WeakSet<TestContext>();

/**
 * Mocks setTimeout, setInterval and Date for the test (once per test), starting at T0. Done before
 * any gateway is built: the dedupe window and each session's token bucket read `Date.now`.
 */
function fakeClock(t: TestContext): void {
  if (clocked.has(t)) return;
  clocked.add(t);
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: T0 });
}

/** The room topics a socket is subscribed to (every live socket is also in BROADCAST_TOPIC), sorted. */
function roomTopics(socket: FakeSocket): string[] {
  return [...socket.topics].filter((t) => t.startsWith('r:')).sort();
}

/** The one place a Gateway is built: adjust here when its constructor changes. */
function makeGateway(t: TestContext, o: HarnessOptions = {}): Harness {
  fakeClock(t);
  const s = o.settings ?? {};
  const settings: GatewaySettings = {
    ...BASE_SETTINGS,
    refreshNoticeMs: s.refreshNoticeMs ?? BASE_SETTINGS.refreshNoticeMs,
    policy: { ...BASE_SETTINGS.policy, ...s.policy },
    rateLimit: { ...BASE_SETTINGS.rateLimit, ...s.rateLimit },
    forward: { ...BASE_SETTINGS.forward, ...s.forward },
  };
  const verifier = new FakeTokenVerifier(TOKENS);
  const business = new FakeBusinessClient();
  const presence = o.presence ?? new MemoryPresenceStore();
  const registry = new ConnectionManager<Session>();
  const stats = new GatewayStats();
  const events = new RecordingEvents();
  const topics = new FakeTopics();
  const members = new MemoryRoomMembers();
  const rooms = new RoomHub({
    publisher: topics,
    registry,
    members,
    instances: new LocalRoomInstances(o.instanceId ?? INSTANCE),
    stats,
    log: silentLogger(),
    settings: { clientSubscribe: o.clientSubscribe ?? 'allow', maxPerConnection: o.maxRooms ?? 3, maxHeldBytes: 4096 },
  });
  const gw = new Gateway({
    topics,
    instanceId: o.instanceId ?? INSTANCE,
    verifier,
    presence,
    registry,
    business,
    ids: new IdGenerator('TESTTAG0'),
    stats,
    log: silentLogger(),
    settings,
    events,
    remote: o.remote ?? null,
    rooms,
    history: o.history ?? null,
  });
  t.after(() => gw.stop());
  return { gw, verifier, business, presence, registry, stats, events, settings, topics, rooms, members };
}

function sessionOf(c: TestClient<Attempt>): Session {
  assert.ok(c.attempt instanceof Session, 'the connect request was refused');
  return c.attempt;
}

function epochOf(c: TestClient<Attempt>): number {
  return sessionOf(c).epoch;
}

async function devicesOf(presence: PresenceStore, userId: string): Promise<string[]> {
  return (await presence.sessions(userId)).map((e) => `${e.deviceId}@${e.instanceId}#${e.epoch}`);
}

/** An opened, authenticated client whose auth frame was read. */
async function online(h: Harness, info: Partial<UpgradeInfo> = {}): Promise<TestClient<Attempt>> {
  const c = await connect(h.gw, info);
  const [auth, ...rest] = c.take();
  assert.equal(auth?.['ok'], true, `auth refused: ${JSON.stringify(auth)}`);
  assert.deepEqual(rest, []);
  return c;
}

function ack(id: string, code: number, message?: string): Frame {
  return message === undefined ? { type: 'ack', id, code } : { type: 'ack', id, code, message };
}

const AUTH_OK_ALICE: Frame = { type: 'auth', ok: true, userId: 'alice', deviceId: 'phone-1', platform: 'ios', instanceId: INSTANCE, heartbeatIntervalMs: 25_000 };

function status(fields: Partial<ConnectionStatus> & Pick<ConnectionStatus, 'event'>): ConnectionStatus {
  return {
    userId: 'alice',
    deviceId: 'phone-1',
    platform: 'ios',
    online: fields.event === 'CONNECTION_EVENT_CONNECTED',
    instanceId: INSTANCE,
    connectedAt: T0,
    clientIp: '10.0.0.1',
    reason: '',
    ...fields,
  };
}

// ----- connect --------------------------------------------------------------------------------

describe('connect', () => {
  test('auth ok names the user, device, platform (lowercased), instance and heartbeat interval', async (t) => {
    const h = makeGateway(t);
    const c = await connect(h.gw, { platform: 'IOS' });
    assert.deepEqual(c.take(), [AUTH_OK_ALICE]);
    assert.deepEqual(c.socket.ends, []);
    assert.deepEqual(h.verifier.requests, [{ token: 'tok-alice', deviceId: 'phone-1', platform: 'ios', clientIp: '10.0.0.1', instanceId: INSTANCE }]);
    assert.equal(h.registry.getConnectionCount(), 1);
    assert.deepEqual(await devicesOf(h.presence, 'alice'), [`phone-1@${INSTANCE}#1`]);
    assert.equal(h.stats.connectsAccepted, 1);
  });

  interface Refusal {
    readonly name: string;
    readonly info: Partial<UpgradeInfo>;
    readonly code: number;
    readonly reason: string;
    /** Whether the verifier is asked (bad requests are refused before it). */
    readonly verified: boolean;
    readonly before?: (h: Harness) => void;
  }
  const BAD_DEVICE = 'missing or invalid device_id (1 to 128 printable characters)';
  const REFUSALS: readonly Refusal[] = [
    { name: 'an empty device_id', info: { deviceId: '' }, code: 4000, reason: BAD_DEVICE, verified: false },
    { name: 'a device_id with a space', info: { deviceId: 'my phone' }, code: 4000, reason: BAD_DEVICE, verified: false },
    { name: 'a device_id of 129 characters', info: { deviceId: 'd'.repeat(129) }, code: 4000, reason: BAD_DEVICE, verified: false },
    { name: 'an unknown platform', info: { platform: 'symbian' }, code: 4000, reason: 'missing or unknown platform', verified: false },
    { name: 'a missing platform', info: { platform: '' }, code: 4000, reason: 'missing or unknown platform', verified: false },
    { name: 'a missing token', info: { token: '' }, code: 4401, reason: 'missing token', verified: false },
    { name: 'an unknown token', info: { token: 'tok-nobody' }, code: 4401, reason: 'unknown token', verified: true },
    { name: 'a token the verifier refuses', info: { token: 'tok-bad' }, code: 4401, reason: 'signature mismatch', verified: true },
    { name: 'the verifier unavailable', info: { token: 'tok-down' }, code: 4503, reason: 'auth service unavailable', verified: true },
    { name: 'the auth service down', info: {}, code: 4503, reason: 'auth service unavailable', verified: true, before: (h) => void (h.verifier.down = true) },
    { name: 'a token the verifier reports expired (code 4003)', info: { token: 'tok-expired' }, code: 4003, reason: 'token expired', verified: true },
    { name: 'an identity whose expireAt has passed', info: { token: 'tok-stale' }, code: 4003, reason: 'token expired', verified: true },
    { name: 'a login while draining', info: {}, code: 1001, reason: 'gateway shutting down', verified: true, before: (h) => h.gw.startDraining() },
  ];
  for (const r of REFUSALS) {
    test(`refused with ${r.code}: ${r.name} -> auth ok:false, then close ${r.code}`, async (t) => {
      const h = makeGateway(t);
      r.before?.(h);
      const c = await connect(h.gw, r.info);
      assert.ok(c.attempt instanceof Rejection);
      assert.deepEqual(c.take(), [{ type: 'auth', ok: false, code: r.code, reason: r.reason }]);
      assert.deepEqual(c.socket.ends, [{ code: r.code, reason: r.reason }]);
      assert.equal(h.verifier.requests.length, r.verified ? 1 : 0);
      assert.equal(h.registry.getConnectionCount(), 0);
      assert.deepEqual(await devicesOf(h.presence, 'alice'), []);
      assert.deepEqual(h.events.events, []);
      assert.equal(h.stats.connectsRejected.get(r.code), 1);
      assert.equal(h.stats.connectsAccepted, 0);
    });
  }

  test('refused with 4001 under reject_new when another login holds the slot; the holder stays', async (t) => {
    const h = makeGateway(t, { settings: { policy: { onConflict: 'reject_new' } } });
    const first = await online(h);
    const second = await connect(h.gw, { deviceId: 'phone-2' });
    const reason = 'another login holds this slot (multi-device policy)';
    assert.deepEqual(second.take(), [{ type: 'auth', ok: false, code: 4001, reason }]);
    assert.deepEqual(second.socket.ends, [{ code: 4001, reason }]);
    assert.deepEqual(first.take(), []);
    assert.deepEqual(first.socket.ends, []);
    assert.deepEqual(await devicesOf(h.presence, 'alice'), [`phone-1@${INSTANCE}#1`]);
  });

  test('a login still being verified when draining starts is refused with 1001 and registers nothing', async (t) => {
    const h = makeGateway(t);
    h.verifier.hold();
    const pending = connect(h.gw);
    await settle();
    assert.equal(h.verifier.requests.length, 1);
    h.gw.startDraining();
    h.verifier.release();
    const c = await pending;
    assert.deepEqual(c.take(), [{ type: 'auth', ok: false, code: 1001, reason: 'gateway shutting down' }]);
    assert.deepEqual(c.socket.ends, [{ code: 1001, reason: 'gateway shutting down' }]);
    assert.deepEqual(await devicesOf(h.presence, 'alice'), []);
  });
});

// ----- frames ---------------------------------------------------------------------------------

describe('frames', () => {
  test('ping -> pong with the current time; nothing is forwarded', async (t) => {
    const h = makeGateway(t);
    const c = await online(h);
    c.send({ type: 'ping' });
    assert.deepEqual(c.take(), [{ type: 'pong', ts: T0 }]);
    t.mock.timers.tick(1234);
    c.send({ type: 'ping', id: 'p1' });
    assert.deepEqual(c.take(), [{ type: 'pong', ts: T0 + 1234 }]);
    assert.deepEqual(h.business.calls, []);
    assert.deepEqual(c.socket.ends, []);
  });

  const MALFORMED: ReadonlyArray<{ readonly name: string; readonly text?: string; readonly bytes?: Uint8Array; readonly binary?: boolean; readonly error: Frame }> = [
    { name: 'text that is not JSON', text: '{"type":', error: { type: 'error', code: 1000, message: 'frame is not valid UTF-8 JSON' } },
    { name: 'bytes that are not UTF-8', bytes: Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), error: { type: 'error', code: 1000, message: 'frame is not valid UTF-8 JSON' } },
    { name: 'a JSON array', text: '[1,2]', error: { type: 'error', code: 1000, message: 'frame must be a JSON object' } },
    { name: 'a frame without type', text: '{"id":"x1"}', error: { type: 'error', id: 'x1', code: 1000, message: 'missing or invalid "type" (a string of 1 to 64 characters)' } },
    { name: 'a frame without id', text: '{"type":"chat"}', error: { type: 'error', code: 1000, message: 'missing or invalid "id" (a string of 1 to 64 characters)' } },
    { name: 'an id of 65 characters', text: JSON.stringify({ type: 'chat', id: 'i'.repeat(65) }), error: { type: 'error', code: 1000, message: 'missing or invalid "id" (a string of 1 to 64 characters)' } },
    { name: 'metadata that is not strings', text: '{"type":"chat","id":"x2","metadata":{"a":1}}', error: { type: 'error', id: 'x2', code: 1000, message: '"metadata" must be an object of strings' } },
    {
      name: 'a frame nesting 100 levels deep',
      text: `{"type":"chat","id":"deep","payload":${'['.repeat(99)}${']'.repeat(99)}}`,
      error: { type: 'error', id: 'deep', code: 1000, message: 'frame nests deeper than 64 levels' },
    },
    { name: 'a binary frame', bytes: Buffer.from('{"type":"chat","id":"b1"}'), binary: true, error: { type: 'error', code: 1000, message: 'binary frames are not accepted: send JSON text frames' } },
  ];
  for (const m of MALFORMED) {
    test(`malformed: ${m.name} -> error 1000, the connection stays`, async (t) => {
      const h = makeGateway(t);
      const c = await online(h);
      if (m.text !== undefined) c.sendText(m.text);
      else if (m.bytes !== undefined) c.sendBytes(m.bytes, m.binary === true);
      assert.deepEqual(c.take(), [m.error]);
      assert.deepEqual(h.business.calls, []);
      assert.deepEqual(c.socket.ends, []);
      c.send({ type: 'ping' });
      assert.deepEqual(c.take(), [{ type: 'pong', ts: T0 }]);
    });
  }

  for (const type of ['auth', 'ack', 'pong', 'kick', 'error', 'ima.resume']) {
    test(`reserved type "${type}" -> error 1001 with the id, not forwarded`, async (t) => {
      const h = makeGateway(t);
      const c = await online(h);
      c.send({ type, id: 'r1', payload: {} });
      assert.deepEqual(c.take(), [{ type: 'error', id: 'r1', code: 1001, message: `type "${type}" is reserved and cannot be sent by clients` }]);
      assert.deepEqual(h.business.calls, []);
      assert.deepEqual(c.socket.ends, []);
    });
  }
});

// ----- forwarding -----------------------------------------------------------------------------

describe('forwarding', () => {
  test('one call in flight per connection: later messages wait, acks in order, replies after their ack', async (t) => {
    const h = makeGateway(t);
    const c = await online(h, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    c.send({ type: 'chat', id: 'm1', payload: { text: 'one' }, metadata: { k: 'v' }, userId: 'mallory', deviceId: 'evil' });
    t.mock.timers.tick(5);
    c.send({ type: 'chat', id: 'm2', payload: 'two' });
    c.send({ type: 'typing', id: 'm3' });
    assert.deepEqual(h.business.ids(), ['m1']);

    const first = h.business.call(0);
    const { payload: _payload, ...fields } = first.msg;
    assert.deepEqual(fields, {
      messageId: 'm1',
      type: 'chat',
      timestamp: T0,
      userId: 'alice',
      deviceId: 'phone-1',
      platform: 'ios',
      instanceId: INSTANCE,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      metadata: { k: 'v' },
    });
    assert.equal(first.payloadText, '{"text":"one"}');
    assert.match(first.traceparent, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    assert.deepEqual(c.take(), []);

    first.respond(0, '', [
      reply({ type: 'chat.echo', payload: { text: 'one' } }),
      reply({ messageId: 'srv-2', type: 'receipt', payload: Buffer.from([0xff, 0x00]), timestamp: 42, replyTo: 'other', metadata: { a: 'b' } }),
    ]);
    await settle();
    const frames = c.take();
    const generated = frames[1]?.['id'];
    assert.equal(typeof generated, 'string');
    assert.match(String(generated), /^[0-9A-HJKMNP-TV-Z]{15}TESTTAG0$/);
    assert.deepEqual(frames, [
      ack('m1', 0),
      { type: 'chat.echo', id: generated, payload: { text: 'one' }, ts: T0 + 5, replyTo: 'm1' },
      { type: 'receipt', id: 'srv-2', payload: '/wA=', payloadEncoding: 'base64', ts: 42, replyTo: 'other', metadata: { a: 'b' } },
    ]);
    assert.equal(c.socket.corks, 1);
    assert.deepEqual([...c.socket.corked], [c.socket.sent.length - 3, c.socket.sent.length - 2, c.socket.sent.length - 1]);

    assert.deepEqual(h.business.ids(), ['m1', 'm2']);
    assert.equal(h.business.call(1).payloadText, '"two"');
    h.business.call(1).respond(4001, 'blocked');
    await settle();
    assert.deepEqual(c.take(), [ack('m2', 4001, 'blocked')]);

    assert.deepEqual(h.business.ids(), ['m1', 'm2', 'm3']);
    assert.equal(h.business.call(2).payloadText, 'null');
    assert.deepEqual(h.business.call(2).msg.metadata, {});
    h.business.call(2).respond();
    await settle();
    assert.deepEqual(c.take(), [ack('m3', 0)]);
    assert.equal(h.stats.forwarded, 3);
  });

  test('different connections forward in parallel', async (t) => {
    const h = makeGateway(t);
    const a = await online(h);
    const b = await online(h, { token: 'tok-bob', deviceId: 'pc-1', platform: 'windows' });
    a.send({ type: 'chat', id: 'a1' });
    b.send({ type: 'chat', id: 'b1' });
    assert.deepEqual(h.business.ids(), ['a1', 'b1']);
    h.business.call(1).respond();
    await settle();
    assert.deepEqual(b.take(), [ack('b1', 0)]);
    assert.deepEqual(a.take(), []);
  });

  const FAILURES = [
    { kind: 'timeout', code: 2001, message: 'business service timed out' },
    { kind: 'unavailable', code: 2000, message: 'business service unavailable' },
    { kind: 'failed', code: 2000, message: 'business service unavailable' },
  ] as const;
  for (const f of FAILURES) {
    test(`a forward that fails with "${f.kind}" is acked ${f.code}; the next message goes on`, async (t) => {
      const h = makeGateway(t);
      const c = await online(h);
      c.send({ type: 'chat', id: 'm1' });
      c.send({ type: 'chat', id: 'm2' });
      h.business.call(0).fail(f.kind);
      await settle();
      assert.deepEqual(c.take(), [ack('m1', f.code, f.message)]);
      assert.deepEqual(h.business.ids(), ['m1', 'm2']);
      assert.equal(h.stats.upstream.get('business.HandleMessage')?.errors, 1);
    });
  }

  test(`in-flight bound: past forward.maxInFlight waiting messages -> ack 1003 at once`, async (t) => {
    const h = makeGateway(t, { settings: { forward: { maxInFlight: 2 } } });
    const c = await online(h);
    for (const id of ['a', 'b', 'c', 'd']) c.send({ type: 'chat', id });
    // 'a' in flight, 'b' and 'c' waiting: 'd' is one too many
    assert.deepEqual(c.take(), [ack('d', 1003, 'too many messages in flight')]);
    assert.deepEqual(h.business.ids(), ['a']);
    for (let i = 0; i < 3; i++) {
      h.business.call(i).respond();
      await settle();
    }
    assert.deepEqual(c.take(), [ack('a', 0), ack('b', 0), ack('c', 0)]);
    assert.deepEqual(h.business.ids(), ['a', 'b', 'c']);
    c.send({ type: 'chat', id: 'e' });
    assert.deepEqual(h.business.ids(), ['a', 'b', 'c', 'e']);
  });

  test('payload over forward.maxPayloadBytes (as UTF-8 JSON) -> ack 1004, not forwarded', async (t) => {
    const h = makeGateway(t, { settings: { forward: { maxPayloadBytes: 16 } } });
    const c = await online(h);
    c.send({ type: 'chat', id: 'fits', payload: 'x'.repeat(14) }); // "xx..." = 16 bytes
    c.send({ type: 'chat', id: 'big', payload: 'x'.repeat(15) }); // 17 bytes
    c.send({ type: 'chat', id: 'euro', payload: '€'.repeat(5) }); // 7 characters, 17 bytes
    assert.deepEqual(c.take(), [ack('big', 1004, 'payload over 16 bytes'), ack('euro', 1004, 'payload over 16 bytes')]);
    assert.deepEqual(h.business.ids(), ['fits']);
  });
});

// ----- dedupe ---------------------------------------------------------------------------------

describe('dedupe', () => {
  test('a repeated id while the first is in flight is not forwarded and gets the same ack when it comes', async (t) => {
    const h = makeGateway(t);
    const c = await online(h);
    c.send({ type: 'chat', id: 'm1', payload: 1 });
    c.send({ type: 'chat', id: 'm1', payload: 1 });
    assert.deepEqual(c.take(), []);
    assert.deepEqual(h.business.ids(), ['m1']);
    h.business.call(0).respond(0, 'stored');
    await settle();
    assert.deepEqual(c.take(), [ack('m1', 0, 'stored'), ack('m1', 0, 'stored')]);
    assert.deepEqual(h.business.ids(), ['m1']);
    assert.equal(h.stats.duplicates, 1);
  });

  test('a repeated id from a new connection of the same device waits for the first one in flight', async (t) => {
    const h = makeGateway(t);
    const old = await online(h);
    old.send({ type: 'chat', id: 'm1' });
    const fresh = await online(h); // same device: replaces the old connection
    assert.equal(old.socket.closeCode, 4001);
    fresh.send({ type: 'chat', id: 'm1' });
    assert.deepEqual(h.business.ids(), ['m1']);
    h.business.call(0).respond(0);
    await settle();
    assert.deepEqual(fresh.take(), [ack('m1', 0)]);
  });

  test('after the first is answered, a repeated id gets the remembered ack at once, within the window only', async (t) => {
    const h = makeGateway(t);
    const c = await online(h);
    c.send({ type: 'chat', id: 'm1' });
    h.business.call(0).respond(7, 'seen');
    await settle();
    assert.deepEqual(c.take(), [ack('m1', 7, 'seen')]);
    t.mock.timers.tick(59_999);
    c.send({ type: 'chat', id: 'm1' });
    assert.deepEqual(c.take(), [ack('m1', 7, 'seen')]);
    assert.deepEqual(h.business.ids(), ['m1']);
    // another device of the same user is another sender
    const other = await online(h, { deviceId: 'pc-1', platform: 'macos' });
    other.send({ type: 'chat', id: 'm1' });
    assert.deepEqual(h.business.ids(), ['m1', 'm1']);
    // past the window the id is forwarded again
    t.mock.timers.tick(1);
    c.send({ type: 'chat', id: 'm1' });
    assert.deepEqual(h.business.ids(), ['m1', 'm1', 'm1']);
  });

  test('a failed forward is not remembered: a waiting duplicate gets the failure, a retry is forwarded again', async (t) => {
    const h = makeGateway(t);
    const c = await online(h);
    c.send({ type: 'chat', id: 'm1' });
    c.send({ type: 'chat', id: 'm1' });
    h.business.call(0).fail('timeout');
    await settle();
    assert.deepEqual(c.take(), [ack('m1', 2001, 'business service timed out'), ack('m1', 2001, 'business service timed out')]);
    c.send({ type: 'chat', id: 'm1' });
    assert.deepEqual(h.business.ids(), ['m1', 'm1']);
    h.business.call(1).fail('unavailable');
    await settle();
    assert.deepEqual(c.take(), [ack('m1', 2000, 'business service unavailable')]);
    c.send({ type: 'chat', id: 'm1' });
    assert.deepEqual(h.business.ids(), ['m1', 'm1', 'm1']);
    h.business.call(2).respond(0);
    await settle();
    assert.deepEqual(c.take(), [ack('m1', 0)]);
    c.send({ type: 'chat', id: 'm1' });
    assert.deepEqual(c.take(), [ack('m1', 0)]);
    assert.equal(h.business.calls.length, 3);
  });

  test(
    'a message still queued when its connection closes is not remembered: its retry on a new connection is forwarded',
    async (t) => {
      const h = makeGateway(t);
      const old = await online(h);
      old.send({ type: 'chat', id: 'm1' });
      old.send({ type: 'chat', id: 'm2' }); // queued behind m1
      old.disconnect(1006);
      const fresh = await online(h);
      fresh.send({ type: 'chat', id: 'm2' });
      h.business.call(0).respond(0); // m1 (its connection is gone)
      await settle();
      assert.deepEqual(h.business.ids(), ['m1', 'm2']);
      h.business.call(1).respond(0);
      await settle();
      assert.deepEqual(fresh.take(), [ack('m2', 0)]);
    },
  );
});

// ----- rate limit -----------------------------------------------------------------------------

describe('rate limit', () => {
  // burst 2 and a refill too slow to matter within the test (0.1 token per 10 s)
  const LIMITS = { rateLimit: { perSecond: 0.01, burst: 2, closeAfterViolations: 3 } };

  test('burst exhausted: ack 1003 with the id (read without parsing), error 1003 without one; nothing forwarded', async (t) => {
    const h = makeGateway(t, { settings: LIMITS });
    const c = await online(h);
    c.send({ type: 'ping' });
    c.send({ type: 'ping' });
    assert.deepEqual(c.take(), [{ type: 'pong', ts: T0 }, { type: 'pong', ts: T0 }]);
    c.sendText('{"type":"chat","id":"r1","payload":'); // broken JSON: not parsed, so no error 1000
    c.send({ type: 'chat' });
    c.sendBytes(Buffer.from('{"type":"chat","id":"b1"}'), true);
    assert.deepEqual(c.take(), [ack('r1', 1003, 'rate limited'), { type: 'error', code: 1003, message: 'rate limited' }, { type: 'error', code: 1003, message: 'rate limited' }]);
    assert.deepEqual(h.business.calls, []);
    assert.deepEqual(c.socket.ends, []);
    assert.equal(h.stats.rateLimited, 3);
  });

  test('more than closeAfterViolations rate-limited frames within 10 s -> close 1008', async (t) => {
    const h = makeGateway(t, { settings: LIMITS });
    const c = await online(h);
    c.send({ type: 'ping' });
    c.send({ type: 'ping' });
    c.take();
    for (let i = 1; i <= 3; i++) c.send({ type: 'chat', id: `v${i}` });
    assert.deepEqual(c.take(), [ack('v1', 1003, 'rate limited'), ack('v2', 1003, 'rate limited'), ack('v3', 1003, 'rate limited')]);
    t.mock.timers.tick(10_000); // still the same window
    c.send({ type: 'chat', id: 'v4' });
    assert.deepEqual(c.take(), []);
    assert.deepEqual(c.socket.ends, [{ code: 1008, reason: 'rate limit exceeded' }]);
    assert.equal(h.stats.closedByGateway.get(1008), 1);
    assert.deepEqual(h.events.events.at(-1), status({ event: 'CONNECTION_EVENT_DISCONNECTED', reason: 'rate limit exceeded' }));
  });

  test('the violation window restarts after 10 s', async (t) => {
    const h = makeGateway(t, { settings: LIMITS });
    const c = await online(h);
    c.send({ type: 'ping' });
    c.send({ type: 'ping' });
    c.take();
    for (let i = 1; i <= 3; i++) c.send({ type: 'chat', id: `v${i}` });
    t.mock.timers.tick(10_001);
    for (let i = 4; i <= 6; i++) c.send({ type: 'chat', id: `v${i}` });
    assert.deepEqual(
      c.take().map((f) => `${String(f['id'])}:${String(f['code'])}`),
      ['v1:1003', 'v2:1003', 'v3:1003', 'v4:1003', 'v5:1003', 'v6:1003'],
    );
    assert.deepEqual(c.socket.ends, []);
    c.send({ type: 'chat', id: 'v7' });
    assert.deepEqual(c.socket.ends, [{ code: 1008, reason: 'rate limit exceeded' }]);
  });
});

// ----- token expiry ---------------------------------------------------------------------------

describe('token expiry', () => {
  test('expireTokens(now) kicks 4003 once expireAt has passed, and not before', async (t) => {
    const h = makeGateway(t);
    const c = await online(h, { token: 'tok-carol' });
    h.gw.expireTokens(T0 + 29_999);
    assert.deepEqual(c.take(), []);
    assert.deepEqual(c.socket.ends, []);
    h.gw.expireTokens(T0 + 30_000);
    assert.deepEqual(c.take(), [{ type: 'kick', code: 4003, reason: 'token expired' }]);
    assert.deepEqual(c.socket.ends, [{ code: 4003, reason: 'token expired' }]);
    await settle();
    assert.deepEqual(await devicesOf(h.presence, 'carol'), []);
    assert.deepEqual(h.events.events.at(-1), status({ userId: 'carol', event: 'CONNECTION_EVENT_DISCONNECTED', reason: 'token expired' }));
  });

  test('expiring notice before the expiry; a refresh moves the expiry past the old one (ack 0 with expiresAt)', async (t) => {
    const h = makeGateway(t, { settings: { refreshNoticeMs: 10_000 } });
    const c = await online(h, { token: 'tok-carol' });
    h.gw.expireTokens(T0 + 19_000);
    assert.deepEqual(c.take(), []);
    h.gw.expireTokens(T0 + 20_000);
    assert.deepEqual(c.take(), [{ type: 'expiring', expiresAt: T0 + 30_000 }]);
    c.send({ type: 'refresh', id: 'r1', token: 'tok-carol-later' });
    await settle();
    assert.deepEqual(c.take(), [{ type: 'ack', id: 'r1', code: 0, expiresAt: T0 + 120_000 }]);
    h.gw.expireTokens(T0 + 60_000);
    assert.deepEqual(c.socket.ends, [], 'alive past the old expiry');
    h.gw.expireTokens(T0 + 110_000);
    assert.deepEqual(c.take(), [{ type: 'expiring', expiresAt: T0 + 120_000 }]);
    h.gw.expireTokens(T0 + 120_000);
    assert.deepEqual(c.socket.ends, [{ code: 4003, reason: 'token expired' }]);
    assert.equal(h.stats.refreshes, 1);
    assert.equal(h.stats.expiringNotices, 2);
  });

  test('a refused refresh (another user, invalid, expired, auth down, malformed) gets 1005 and the old expiry stays', async (t) => {
    const h = makeGateway(t, { settings: { refreshNoticeMs: 10_000 } });
    const c = await online(h, { token: 'tok-carol' });
    for (const [id, token] of [['r1', 'tok-bob'], ['r2', 'tok-bad'], ['r3', 'tok-stale'], ['r4', 'tok-down'], ['r5', 'tok-expired']] as const) c.send({ type: 'refresh', id, token });
    await settle();
    assert.deepEqual(
      c.take().map((f) => [f['id'], f['code'], f['message']]),
      [
        ['r1', 1005, 'the token belongs to another user'],
        ['r2', 1005, 'signature mismatch'],
        ['r3', 1005, 'the token belongs to another user'],
        ['r4', 1005, 'auth service unavailable'],
        ['r5', 1005, 'token expired'],
      ],
    );
    c.send({ type: 'refresh', id: 'r6' });
    assert.deepEqual(c.take().map((f) => [f['type'], f['id'], f['code']]), [['error', 'r6', 1000]]);
    assert.equal(h.stats.refreshesRejected, 5);
    h.gw.expireTokens(T0 + 30_000);
    assert.deepEqual(c.socket.ends, [{ code: 4003, reason: 'token expired' }]);
  });

  test('start() checks expiries every second on the clock', async (t) => {
    const h = makeGateway(t);
    const c = await online(h, { token: 'tok-carol' });
    h.gw.start();
    t.mock.timers.tick(29_000);
    assert.deepEqual(c.socket.ends, []);
    t.mock.timers.tick(1_000);
    assert.deepEqual(c.take(), [{ type: 'kick', code: 4003, reason: 'token expired' }]);
    assert.deepEqual(c.socket.ends, [{ code: 4003, reason: 'token expired' }]);
  });

  test('a connection that closed before its expiry, or has none, is never kicked', async (t) => {
    const h = makeGateway(t);
    const carol = await online(h, { token: 'tok-carol' });
    const alice = await online(h);
    carol.disconnect(1000);
    h.gw.expireTokens(T0 + 365 * 24 * 3600 * 1000);
    assert.deepEqual(alice.take(), []);
    assert.deepEqual(alice.socket.ends, []);
    assert.equal(h.stats.kicks, 0);
  });
});

// ----- kicks ----------------------------------------------------------------------------------

describe('kicks', () => {
  test('a policy victim whose socket has not opened yet is kicked as soon as it opens', async (t) => {
    const h = makeGateway(t);
    const older = await connect(h.gw, { deviceId: 'phone-1' }, false);
    const newer = await online(h, { deviceId: 'phone-2' }); // one_per_platform: same slot (ios)
    assert.deepEqual(older.socket.sent, []);
    older.open();
    const reason = 'replaced by another login (multi-device policy)';
    assert.deepEqual(older.take(), [AUTH_OK_ALICE, { type: 'kick', code: 4001, reason }]);
    assert.deepEqual(older.socket.ends, [{ code: 4001, reason }]);
    assert.deepEqual(newer.take(), []);
    assert.deepEqual(newer.socket.ends, []);
    await settle();
    assert.deepEqual(await devicesOf(h.presence, 'alice'), [`phone-2@${INSTANCE}#2`]);
    assert.deepEqual(h.registry.getUserDevices('alice'), ['phone-2']);
    assert.deepEqual(h.events.summary(), ['connected/phone-2/', 'connected/phone-1/', `kicked/phone-1/${reason}`]);
  });

  test('a pending policy victim is counted as one kick', async (t) => {
    const h = makeGateway(t);
    const older = await connect(h.gw, { deviceId: 'phone-1' }, false);
    await online(h, { deviceId: 'phone-2' });
    older.open();
    assert.equal(older.socket.closeCode, 4001);
    assert.equal(h.stats.kicks, 1);
  });

  test('same device: the new login replaces the open one (kick 4001) at once', async (t) => {
    const h = makeGateway(t);
    const old = await online(h);
    const fresh = await connect(h.gw);
    const reason = 'replaced by a new login on the same device';
    assert.deepEqual(old.take(), [{ type: 'kick', code: 4001, reason }]);
    assert.deepEqual(old.socket.ends, [{ code: 4001, reason }]);
    assert.deepEqual(fresh.take(), [AUTH_OK_ALICE]);
    assert.deepEqual(fresh.socket.ends, []);
    assert.equal(h.registry.get('alice', 'phone-1'), fresh.attempt);
    await settle();
    assert.deepEqual(await devicesOf(h.presence, 'alice'), [`phone-1@${INSTANCE}#2`]);
    assert.deepEqual(h.events.summary(), ['connected/phone-1/', `kicked/phone-1/${reason}`, 'connected/phone-1/']);
  });

  test(
    'same device, the older login still pending: when it opens after the newer one, only the older one goes',
    async (t) => {
      const h = makeGateway(t);
      const older = await connect(h.gw, {}, false);
      const newer = await online(h);
      older.open();
      assert.equal(older.socket.closeCode, 4001);
      assert.deepEqual(newer.take(), []);
      assert.deepEqual(newer.socket.ends, []);
      assert.equal(h.registry.get('alice', 'phone-1'), newer.attempt);
    },
  );

  test('kickEpoch kicks only the connection of that user, device and epoch, open or pending', async (t) => {
    const h = makeGateway(t);
    const c = await online(h);
    const epoch = epochOf(c);
    assert.equal(h.gw.kickEpoch('alice', 'phone-1', epoch + 1, 4002, 'x'), 0);
    assert.equal(h.gw.kickEpoch('bob', 'phone-1', epoch, 4002, 'x'), 0);
    assert.equal(h.gw.kickEpoch('alice', 'phone-2', epoch, 4002, 'x'), 0);
    assert.deepEqual(c.take(), []);
    assert.equal(h.gw.kickEpoch('alice', 'phone-1', epoch, 4002, 'kicked by admin'), 1);
    assert.deepEqual(c.take(), [{ type: 'kick', code: 4002, reason: 'kicked by admin' }]);
    assert.deepEqual(c.socket.ends, [{ code: 4002, reason: 'kicked by admin' }]);
    assert.equal(h.gw.kickEpoch('alice', 'phone-1', epoch, 4002, 'again'), 0);

    const pending = await connect(h.gw, { deviceId: 'tab-1', platform: 'ipad' }, false);
    assert.equal(h.gw.kickEpoch('alice', 'tab-1', epochOf(pending), 4001, 'replaced elsewhere'), 1);
    pending.open();
    assert.deepEqual(pending.take(), [
      { type: 'auth', ok: true, userId: 'alice', deviceId: 'tab-1', platform: 'ipad', instanceId: INSTANCE, heartbeatIntervalMs: 25_000 },
      { type: 'kick', code: 4001, reason: 'replaced elsewhere' },
    ]);
    assert.deepEqual(pending.socket.ends, [{ code: 4001, reason: 'replaced elsewhere' }]);
  });

  test('a victim on another instance is kicked through the remote kicker (4001 with its epoch)', async (t) => {
    const presence = new MemoryPresenceStore();
    const a = makeGateway(t, { instanceId: 'gw-a', presence });
    const remote = new RecordingRemoteKicker((k) => a.gw.kickEpoch(k.userId, k.deviceId, k.epoch, k.code, k.reason) === 1);
    const b = makeGateway(t, { instanceId: 'gw-b', presence, remote });
    const onA = await online(a);
    const onB = await connect(b.gw, { deviceId: 'phone-2' });
    const reason = 'replaced by another login (multi-device policy)';
    assert.deepEqual(remote.kicks, [{ instanceId: 'gw-a', userId: 'alice', deviceId: 'phone-1', epoch: epochOf(onA), code: 4001, reason }]);
    assert.deepEqual(onA.take(), [{ type: 'kick', code: 4001, reason }]);
    assert.deepEqual(onA.socket.ends, [{ code: 4001, reason }]);
    assert.deepEqual(onB.take(), [{ type: 'auth', ok: true, userId: 'alice', deviceId: 'phone-2', platform: 'ios', instanceId: 'gw-b', heartbeatIntervalMs: 25_000 }]);
    await settle();
    assert.deepEqual(await devicesOf(presence, 'alice'), ['phone-2@gw-b#2']);
  });

  test('without a cluster, a victim named on another instance is left alone and the login admitted', async (t) => {
    const presence = new MemoryPresenceStore();
    presence.registerSync({ userId: 'alice', deviceId: 'phone-1', platform: 'ios', instanceId: 'gw-elsewhere', connectedAt: T0 - 1000, clientIp: '' }, BASE_SETTINGS.policy);
    const h = makeGateway(t, { presence, remote: null });
    const c = await connect(h.gw, { deviceId: 'phone-2' });
    assert.deepEqual(c.take(), [{ type: 'auth', ok: true, userId: 'alice', deviceId: 'phone-2', platform: 'ios', instanceId: INSTANCE, heartbeatIntervalMs: 25_000 }]);
    assert.equal(h.stats.kicks, 0);
  });

  test(
    "a victim's epoch never selects another user's pending session (the Redis store's epochs are per user)",
    async (t) => {
      const presence = new PerUserEpochPresence();
      // alice's connection on this instance is gone, its mapping not yet removed (a slow store)
      presence.seed({ userId: 'alice', deviceId: 'phone-1', platform: 'ios', instanceId: INSTANCE, connectedAt: T0 - 1000, clientIp: '', epoch: 1 });
      const h = makeGateway(t, { presence });
      const bob = await connect(h.gw, { token: 'tok-bob', deviceId: 'pc-1', platform: 'windows' }, false);
      assert.equal(epochOf(bob), 1);
      await online(h, { deviceId: 'phone-2' }); // alice's victim: phone-1, epoch 1
      bob.open();
      assert.deepEqual(bob.take(), [{ type: 'auth', ok: true, userId: 'bob', deviceId: 'pc-1', platform: 'windows', instanceId: INSTANCE, heartbeatIntervalMs: 25_000 }]);
      assert.deepEqual(bob.socket.ends, []);
    },
  );
});

// ----- aborted upgrades -----------------------------------------------------------------------

describe('aborted upgrades', () => {
  test('aborted() releases the presence registration: a new login on the single slot is admitted without victims', async (t) => {
    const h = makeGateway(t, { settings: { policy: { policy: 'single_session', onConflict: 'reject_new' } } });
    // control: a pending login that is not aborted keeps the slot
    await connect(h.gw, { token: 'tok-bob', deviceId: 'pc-1', platform: 'windows' }, false);
    const refused = await connect(h.gw, { token: 'tok-bob', deviceId: 'tab-1', platform: 'ipad' });
    assert.equal(refused.socket.closeCode, 4001);

    const gone = await connect(h.gw, {}, false);
    h.gw.aborted(gone.attempt);
    await settle();
    assert.deepEqual(await devicesOf(h.presence, 'alice'), []);
    const next = await connect(h.gw, { deviceId: 'tab-1', platform: 'ipad' });
    assert.deepEqual(next.take(), [{ type: 'auth', ok: true, userId: 'alice', deviceId: 'tab-1', platform: 'ipad', instanceId: INSTANCE, heartbeatIntervalMs: 25_000 }]);
    assert.equal(h.stats.kicks, 0);
    assert.deepEqual(h.events.summary(), ['connected/tab-1/']);
    // an aborted session can no longer be kicked by its epoch
    assert.equal(h.gw.kickEpoch('alice', 'phone-1', epochOf(gone), 4001, 'x'), 0);
  });

  test('aborted() of a refused request does nothing', async (t) => {
    const h = makeGateway(t);
    const c = await connect(h.gw, { token: '' }, false);
    h.gw.aborted(c.attempt);
    assert.deepEqual(c.socket.sent, []);
    assert.deepEqual(h.events.events, []);
  });
});

// ----- drain ----------------------------------------------------------------------------------

describe('drain', () => {
  test('startDraining refuses new logins with 1001; open connections stay until closeAll, which ends them with 1001', async (t) => {
    const h = makeGateway(t);
    const alice = await online(h);
    const bob = await online(h, { token: 'tok-bob' });
    h.gw.startDraining();
    const late = await connect(h.gw, { token: 'tok-erin' });
    assert.deepEqual(late.take(), [{ type: 'auth', ok: false, code: 1001, reason: 'gateway shutting down' }]);
    assert.deepEqual(alice.socket.ends, []);
    assert.deepEqual(bob.socket.ends, []);
    await h.gw.closeAll(0);
    for (const c of [alice, bob]) {
      assert.deepEqual(c.take(), []);
      assert.deepEqual(c.socket.ends, [{ code: 1001, reason: 'gateway shutting down' }]);
    }
    assert.equal(h.registry.getConnectionCount(), 0);
  });

  test('closeAll(spreadMs) spreads the closes over the window', async (t) => {
    const h = makeGateway(t);
    const clients = [await online(h), await online(h, { token: 'tok-bob' }), await online(h, { token: 'tok-erin' })];
    const closed = (): number => clients.filter((c) => c.socket.closeCode === 1001).length;
    let finished = false;
    const done = h.gw.closeAll(900).then(() => {
      finished = true;
    });
    await settle();
    assert.equal(closed(), 1);
    t.mock.timers.tick(299);
    await settle();
    assert.equal(closed(), 1);
    t.mock.timers.tick(1);
    await settle();
    assert.equal(closed(), 2);
    t.mock.timers.tick(300);
    await settle();
    assert.equal(closed(), 3);
    await done;
    assert.equal(finished, true);
  });

  test('a login still pending at closeAll is closed with 1001 as soon as it opens', async (t) => {
    const h = makeGateway(t);
    const pending = await connect(h.gw, {}, false);
    h.gw.startDraining();
    await h.gw.closeAll(0);
    pending.open();
    assert.deepEqual(pending.take(), [AUTH_OK_ALICE, { type: 'kick', code: 1001, reason: 'gateway shutting down' }]);
    assert.deepEqual(pending.socket.ends, [{ code: 1001, reason: 'gateway shutting down' }]);
  });

  test('drain closes are counted as closed by the gateway', async (t) => {
    const h = makeGateway(t);
    await online(h);
    await h.gw.closeAll(0);
    assert.equal(h.stats.closedByGateway.get(1001), 1);
    assert.deepEqual(h.events.events.at(-1), status({ event: 'CONNECTION_EVENT_DISCONNECTED', reason: 'gateway shutting down' }));
  });

  test('inFlight() counts forwards waiting for the business service', async (t) => {
    const h = makeGateway(t);
    const c = await online(h);
    assert.equal(h.gw.inFlight(), 0);
    c.send({ type: 'chat', id: 'm1' });
    c.send({ type: 'chat', id: 'm2' }); // queued, not in flight
    assert.equal(h.gw.inFlight(), 1);
    h.business.call(0).respond();
    await settle();
    assert.equal(h.gw.inFlight(), 1);
    h.business.call(1).respond();
    await settle();
    assert.equal(h.gw.inFlight(), 0);
  });

  test('idle(deadline): true once the last forward is answered (also of a closed connection), false at the deadline', async (t) => {
    const h = makeGateway(t);
    assert.equal(await h.gw.idle(T0 + 1000), true);
    const first = await online(h);
    first.send({ type: 'chat', id: 'm1' });
    const answered = h.gw.idle(T0 + 5000);
    first.disconnect(1001);
    h.business.call(0).respond();
    assert.equal(await answered, true);

    const second = await online(h);
    second.send({ type: 'chat', id: 'm2' });
    let outcome: boolean | undefined;
    const waiting = h.gw.idle(T0 + 5000).then((r) => {
      outcome = r;
    });
    t.mock.timers.tick(4999);
    await settle();
    assert.equal(outcome, undefined);
    t.mock.timers.tick(1);
    await waiting;
    assert.equal(outcome, false);
  });
});

// ----- status events --------------------------------------------------------------------------

describe('status events', () => {
  test('connected, kicked (policy) and disconnected are published with the connection fields', async (t) => {
    const h = makeGateway(t);
    const first = await online(h);
    t.mock.timers.tick(100);
    const second = await online(h, { deviceId: 'phone-2', clientIp: '10.0.0.2' });
    assert.equal(first.socket.closeCode, 4001);
    second.disconnect(1000);
    assert.deepEqual(h.events.events, [
      status({ event: 'CONNECTION_EVENT_CONNECTED' }),
      status({ event: 'CONNECTION_EVENT_KICKED', reason: 'replaced by another login (multi-device policy)' }),
      status({ event: 'CONNECTION_EVENT_CONNECTED', deviceId: 'phone-2', clientIp: '10.0.0.2', connectedAt: T0 + 100 }),
      status({ event: 'CONNECTION_EVENT_DISCONNECTED', deviceId: 'phone-2', clientIp: '10.0.0.2', connectedAt: T0 + 100, reason: 'closed (code 1000)' }),
    ]);
    assert.deepEqual(h.stats.disconnects.get(1000), 1);
    assert.deepEqual(h.stats.disconnects.get(4001), 1);
  });

  test('a KickUser-style kick (4002) is published as kicked', async (t) => {
    const h = makeGateway(t);
    const c = await online(h);
    h.gw.kick(sessionOf(c), 4002, 'banned');
    assert.deepEqual(h.events.events.at(-1), status({ event: 'CONNECTION_EVENT_KICKED', reason: 'banned' }));
  });
});

/**
 * A presence store giving each user their own epoch counter, as the Redis store does (seeded per
 * user key), so that two users' logins can carry the same epoch. The policy is `decide()`.
 */
class PerUserEpochPresence implements PresenceStore {
  private readonly users = new Map<string, { epoch: number; devices: Map<string, PresenceEntry> }>();

  seed(e: PresenceEntry): void {
    const u = this.user(e.userId);
    u.devices.set(e.deviceId, e);
    u.epoch = Math.max(u.epoch, e.epoch);
  }

  async register(login: NewLogin, settings: PolicySettings): Promise<RegisterResult> {
    const u = this.user(login.userId);
    const decision = decide([...u.devices.values()], login, settings);
    if (!decision.admit) return { admitted: false, conflicts: decision.conflicts };
    for (const v of decision.victims) u.devices.delete(v.session.deviceId);
    const epoch = ++u.epoch;
    u.devices.set(login.deviceId, { ...login, epoch });
    return { admitted: true, epoch, victims: decision.victims };
  }

  async unregister(userId: string, deviceId: string, epoch: number): Promise<boolean> {
    const u = this.users.get(userId);
    if (u?.devices.get(deviceId)?.epoch !== epoch) return false;
    u.devices.delete(deviceId);
    return true;
  }

  async sessions(userId: string): Promise<PresenceEntry[]> {
    return [...(this.users.get(userId)?.devices.values() ?? [])];
  }

  async sessionsMany(userIds: readonly string[]): Promise<Map<string, PresenceEntry[]>> {
    return new Map(await Promise.all(userIds.map(async (u) => [u, await this.sessions(u)] as const)));
  }

  async close(): Promise<void> {}

  private user(userId: string): { epoch: number; devices: Map<string, PresenceEntry> } {
    let u = this.users.get(userId);
    if (u === undefined) {
      u = { epoch: 0, devices: new Map() };
      this.users.set(userId, u);
    }
    return u;
  }
}

describe('rooms: subscribe frames and member rooms', () => {
  /** An opened client whose socket takes part in the harness's topics. */
  async function inRoom(h: Harness, info: Partial<UpgradeInfo> = {}): Promise<TestClient<Attempt>> {
    const c = await connect(h.gw, info, true, h.topics);
    const [auth] = c.take();
    assert.equal(auth?.['ok'], true);
    return c;
  }

  test('allow: subscribe acks 0 and joins the topic; unsubscribe leaves it; the limit answers 3001; a bad name 1000', async (t) => {
    const h = makeGateway(t, { clientSubscribe: 'allow', maxRooms: 2 });
    const c = await inRoom(h);
    c.send({ type: 'subscribe', id: 's1', room: 'lobby' });
    c.send({ type: 'subscribe', id: 's2', room: 'games' });
    c.send({ type: 'subscribe', id: 's3', room: 'third' });
    c.send({ type: 'subscribe', id: 's4', room: 'bad name' });
    c.send({ type: 'unsubscribe', id: 's5', room: 'games' });
    assert.deepEqual(c.take().map((f) => [f['id'], f['code']]), [
      ['s1', 0],
      ['s2', 0],
      ['s3', 3001],
      ['s4', 1000],
      ['s5', 0],
    ]);
    assert.deepEqual(roomTopics(c.socket), ['r:lobby']);
    assert.equal(h.rooms.connections('lobby'), 1);
    assert.equal(h.rooms.publish('lobby', Buffer.from('{"type":"x"}'), new Set(), new Set()), 1);
    assert.deepEqual(c.take(), [{ type: 'x' }]);
    c.disconnect();
    assert.equal(h.rooms.roomCount, 0);
    assert.equal(h.rooms.subscriptions, 0);
  });

  test('deny answers 3000 and subscribes nothing', async (t) => {
    const h = makeGateway(t, { clientSubscribe: 'deny' });
    const c = await inRoom(h);
    c.send({ type: 'subscribe', id: 's1', room: 'lobby' });
    assert.deepEqual(c.take().map((f) => [f['id'], f['code']]), [['s1', 3000]]);
    assert.equal(roomTopics(c.socket).length, 0);
  });

  test('business: the subscription waits in the ordered queue for HandleMessage (ima.subscribe); 0 subscribes, another code is 3000', async (t) => {
    const h = makeGateway(t, { clientSubscribe: 'business' });
    const c = await inRoom(h);
    c.send({ type: 'chat', id: 'm1', payload: 1 });
    c.send({ type: 'subscribe', id: 's1', room: 'vip' });
    c.send({ type: 'subscribe', id: 's2', room: 'lobby' });
    h.business.call(0).respond(0);
    await settle();
    const sub = h.business.call(1);
    assert.equal(sub.msg.type, 'ima.subscribe');
    assert.deepEqual(JSON.parse(Buffer.from(sub.msg.payload ?? new Uint8Array()).toString('utf8')), { room: 'vip' });
    sub.respond(403, 'members only');
    await settle();
    h.business.call(2).respond(0);
    await settle();
    assert.deepEqual(c.take().map((f) => [f['id'], f['code'], f['message']]), [
      ['m1', 0, undefined],
      ['s1', 3000, 'members only'],
      ['s2', 0, undefined],
    ]);
    assert.deepEqual(roomTopics(c.socket), ['r:lobby']);
  });

  test('member rooms: subscribed at login; JoinRoom reaches a login still upgrading; membership and own subscription are kept apart', async (t) => {
    const h = makeGateway(t, { clientSubscribe: 'allow' });
    await h.members.join('team', ['alice']);
    const a = await inRoom(h);
    assert.deepEqual(roomTopics(a.socket), ['r:team']);
    // a second device of alice between upgrade and open
    const pending = await connect(h.gw, { deviceId: 'pc', platform: 'windows' }, false, h.topics);
    assert.equal(h.rooms.joinLocal('news', ['alice'], (u) => h.gw.pendingOf(u)), 2);
    pending.open();
    assert.deepEqual(roomTopics(pending.socket), ['r:news', 'r:team']);
    // her own subscription survives LeaveRoom
    a.send({ type: 'subscribe', id: 's1', room: 'news' });
    assert.equal(h.rooms.leaveLocal('news', ['alice'], (u) => h.gw.pendingOf(u)), 1);
    assert.deepEqual(roomTopics(a.socket), ['r:news', 'r:team']);
    assert.deepEqual(roomTopics(pending.socket), ['r:team']);
    // excluded users are skipped by a native publish and back in the topic after it
    assert.equal(h.rooms.publish('team', Buffer.from('{"type":"t"}'), new Set(['alice']), new Set()), 0);
    assert.equal(h.rooms.publish('team', Buffer.from('{"type":"t"}'), new Set(), new Set(['windows'])), 1);
    assert.equal(h.rooms.publish('team', Buffer.from('{"type":"t"}'), new Set(), new Set()), 2);
  });
});

describe('broadcast topic', () => {
  test('a live connection joins BROADCAST_TOPIC at open; a pending or a closed one is not written or counted', async (t) => {
    const h = makeGateway(t);
    const a = await connect(h.gw, { token: 'tok-alice', deviceId: 'a1', platform: 'ios' }, true, h.topics);
    const b = await connect(h.gw, { token: 'tok-bob', deviceId: 'b1', platform: 'web' }, true, h.topics);
    const pending = await connect(h.gw, { token: 'tok-erin', deviceId: 'e1', platform: 'web' }, false, h.topics);
    await settle();
    a.take();
    b.take();
    assert.ok(a.socket.topics.has(BROADCAST_TOPIC) && b.socket.topics.has(BROADCAST_TOPIC));
    const f = Buffer.from('{"type":"n","id":"x","payload":null,"ts":1}');
    assert.equal(h.gw.broadcast(f), 2);
    assert.deepEqual(a.take().map((m) => m['id']), ['x']);
    assert.deepEqual(pending.take(), []);
    b.socket.end(1000, 'bye');
    assert.equal(h.gw.broadcast(f), 1);
  });
});

describe('recovery at login', () => {
  /** A memory history whose reads wait for `release()` (a slow Redis), to race pushes against the replay. */
  class SlowHistory extends MemoryHistoryStore {
    private gate: (() => void) | null = null;
    hold(): void {
      let open!: () => void;
      const p = new Promise<void>((r) => (open = r));
      this.gate = open;
      this.wait = p;
    }
    release(): void {
      this.gate?.();
      this.gate = null;
      this.wait = null;
    }
    private wait: Promise<void> | null = null;
    override async recover(stream: string, since: number | null, epoch: string | null): Promise<RecoverResult> {
      const r = super.recover(stream, since, epoch);
      if (this.wait !== null) await this.wait;
      return r;
    }
  }

  const frame = (id: string): string => `{"type":"n","id":"${id}","payload":null,"ts":1`;

  test('missed pushes come after the auth frame, in order; pushes written during the read follow without duplicate', async (t) => {
    const history = new SlowHistory({ historySize: 10, historyTtlMs: 60_000, maxStreams: 100 });
    t.after(() => history.close());
    const h = makeGateway(t, { history });
    const { epoch } = await history.recover('u:alice', null, null);
    await history.append([1, 2, 3].map((i) => ({ stream: 'u:alice', framePrefix: frame(`m${i}`), filter: '' })));
    await history.append([{ stream: 'u:alice', framePrefix: frame('other-device'), filter: JSON.stringify({ d: ['tablet'] }) }]);
    history.hold();
    const c = await connect(h.gw, { recoverSeq: '1', recoverEpoch: epoch });
    await settle();
    assert.deepEqual(c.take(), [], 'nothing before the auth frame');
    // a push numbered before the read (seq 4, already in the history) and one after it (seq 5)
    h.registry.broadcastToUser('alice', '{"type":"n","id":"other-device","payload":null,"ts":1,"seq":4}');
    const [seq5] = await history.append([{ stream: 'u:alice', framePrefix: frame('m5'), filter: '' }]);
    assert.equal(seq5, 5);
    h.registry.broadcastToUser('alice', `{"type":"n","id":"m5","payload":null,"ts":1,"seq":5}`);
    history.release();
    await settle();
    const frames = c.take();
    assert.deepEqual(frames[0], { type: 'auth', ok: true, userId: 'alice', deviceId: 'phone-1', platform: 'ios', instanceId: INSTANCE, heartbeatIntervalMs: 25_000, epoch, recovered: true, missed: 2 });
    assert.deepEqual(frames.slice(1).map((f) => [f['id'], f['seq']]), [
      ['m2', 2],
      ['m3', 3],
      ['m5', 5],
    ]);
    assert.equal(h.stats.replayed, 2);
  });

  test('a Broadcast during the read: one topic publish reaches the live connections, the recovering one holds it and gets it after its auth frame, then joins the topic', async (t) => {
    const history = new SlowHistory({ historySize: 10, historyTtlMs: 60_000, maxStreams: 100 });
    t.after(() => history.close());
    const h = makeGateway(t, { history });
    const live = await connect(h.gw, { deviceId: 'live-1', platform: 'android' }, true, h.topics);
    await settle();
    assert.equal(live.take()[0]?.['type'], 'auth');
    assert.ok(live.socket.topics.has(BROADCAST_TOPIC), 'a live connection is in the broadcast topic');
    history.hold();
    const late = await connect(h.gw, { deviceId: 'late-1', platform: 'ios' }, true, h.topics);
    await settle();
    assert.equal(late.socket.topics.has(BROADCAST_TOPIC), false, 'not while its recovery is read');
    const b1 = Buffer.from('{"type":"n","id":"b1","payload":null,"ts":1}');
    assert.equal(h.gw.broadcast(b1), 2);
    assert.deepEqual(live.take().map((f) => f['id']), ['b1']);
    assert.deepEqual(late.take(), [], 'held');
    history.release();
    await settle();
    assert.deepEqual(late.take().map((f) => f['type'] === 'auth' ? 'auth' : f['id']), ['auth', 'b1']);
    assert.ok(late.socket.topics.has(BROADCAST_TOPIC));
    assert.equal(h.gw.broadcast(Buffer.from('{"type":"n","id":"b2","payload":null,"ts":1}')), 2, 'each connection once');
    assert.deepEqual(late.take().map((f) => f['id']), ['b2']);
    assert.deepEqual(live.take().map((f) => f['id']), ['b2']);
  });

  test('what is held during the read is bounded by the send-buffer limit: beyond it the connection is closed as a slow consumer (4005)', async (t) => {
    const history = new SlowHistory({ historySize: 10, historyTtlMs: 60_000, maxStreams: 100 });
    t.after(() => history.close());
    const h = makeGateway(t, { history });
    history.hold();
    const c = await connect(h.gw, {});
    const big = `{"type":"n","id":"big","payload":"${'x'.repeat(1500)}","ts":1}`;
    const written = [1, 2, 3, 4].map(() => h.registry.broadcastToUser('alice', big).delivered);
    assert.deepEqual(written, [1, 1, 0, 0], 'held up to maxHeldBytes (4096), then refused');
    assert.deepEqual(c.socket.ends, [{ code: 4005, reason: 'slow consumer' }]);
    history.release();
    await settle();
    assert.deepEqual(c.take(), [], 'no auth frame and nothing held is sent to a closed connection');
  });

  test('a recovering room subscription holds its room pushes within the send-buffer limit; beyond it 4005', async (t) => {
    const history = new SlowHistory({ historySize: 10, historyTtlMs: 60_000, maxStreams: 100 });
    t.after(() => history.close());
    const h = makeGateway(t, { history, clientSubscribe: 'allow' });
    const c = await connect(h.gw, {}, true, h.topics);
    await settle();
    c.take();
    history.hold();
    c.send({ type: 'subscribe', id: 's1', room: 'live', recoverSeq: 0, recoverEpoch: 'e' });
    await settle();
    assert.deepEqual(c.take(), []);
    assert.equal(h.rooms.connections('live'), 1);
    const big = Buffer.from(`{"type":"n","id":"big","payload":"${'x'.repeat(1500)}","ts":1,"room":"live","seq":1}`);
    // held (counted as delivered: they go out after the replay) until the limit
    assert.deepEqual([1, 2, 3].map(() => h.rooms.publish('live', big, new Set(), new Set())), [1, 1, 0]);
    assert.deepEqual(c.socket.ends, [{ code: 4005, reason: 'slow consumer' }]);
    history.release();
    await settle();
    assert.deepEqual(c.take(), []);
  });

  test('another epoch, or a position the window lost, gives recovered:false and no replay', async (t) => {
    const history = new MemoryHistoryStore({ historySize: 2, historyTtlMs: 60_000, maxStreams: 100 });
    t.after(() => history.close());
    const h = makeGateway(t, { history });
    const { epoch } = await history.recover('u:alice', null, null);
    await history.append([1, 2, 3, 4].map((i) => ({ stream: 'u:alice', framePrefix: frame(`m${i}`), filter: '' })));
    const lost = await connect(h.gw, { recoverSeq: '1', recoverEpoch: epoch });
    await settle();
    assert.deepEqual(lost.take().map((f) => [f['type'], f['recovered'], f['missed']]), [['auth', false, 0]]);
    const other = await connect(h.gw, { deviceId: 'pc', platform: 'windows', recoverSeq: '3', recoverEpoch: 'not-it' });
    await settle();
    assert.deepEqual(other.take().map((f) => [f['type'], f['recovered'], f['epoch']]), [['auth', false, epoch]]);
    const fine = await connect(h.gw, { deviceId: 'web', platform: 'web', recoverSeq: '3', recoverEpoch: epoch });
    await settle();
    assert.deepEqual(fine.take().map((f) => [f['type'], f['recovered'] ?? f['id']]), [
      ['auth', true],
      ['n', 'm4'],
    ]);
    const bad = await connect(h.gw, { deviceId: 'x', recoverSeq: 'abc' });
    assert.deepEqual(bad.take().map((f) => [f['type'], f['ok'], f['code']]), [['auth', false, 4000]]);
  });
});

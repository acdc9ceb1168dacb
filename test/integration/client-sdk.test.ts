/**
 * The client SDK (pkg/client/ima-client.ts, SPEC.md section 11) in Node against real gateway
 * processes: what it does by itself when the gateway closes, fails, restarts or asks for a new
 * token. Each close code is provoked for real where the gateway can be made to send it:
 *
 * | code | how | SDK |
 * |---|---|---|
 * | 4000 | unknown platform | connect() rejects 4000, closed |
 * | 4001 | a second login of the same user and device | kick event, pending send rejects 4001, closed; connect() again works and does not loop |
 * | 4002 | KickUser | kick event, pending send rejects 4002, closed |
 * | 1009 | a frame over websocket.maxPayloadBytes (4 KiB here) | that send and a pending one reject 1009, closed |
 * | 4003 | an expired JWT | token function: called again, reconnects; fixed token: connect() rejects 4003 |
 * | 4401 | a token that is not a JWT | the same as 4003 |
 * | 4005 | a client that stops reading (its TCP socket paused) under large broadcasts | reconnects (the client sees 4005, or 1006 when the gateway had to drop it) |
 * | 4503 | the MUC provider with TestMucService answering UNAVAILABLE | retries with backoff, connects once the MUC answers |
 * | 4004 | a gateway whose advised heartbeat (30 s) is slower than its idle timeout (5 s) | reconnects |
 * | 1001 | SIGTERM, the gateway started again on the same WebSocket port | reconnects |
 * | 1006 | kill -9, started again on the same WebSocket port | reconnects |
 *
 * and once more, exactly, against a minimal WebSocket server (the ws package) that closes with
 * each code of SPEC section 4 (1008 and 1011 too), so that the client sees that very code.
 *
 * Also: backoff delays within [0, min(max, initial * 2^attempt)] (against a port where nothing
 * listens and a server refusing upgrades with HTTP 503); send() rejecting after its timeoutMs
 * when the business service never answers; a message whose ack was lost re-sent with the same id
 * after the reconnect and seen once by the business service (the gateway's dedupe window); a
 * message sent while the gateway restarts delivered once after it; pushes and room pushes made
 * while the gateway is down recovered after it restarts (two gateways on one redis-server: B takes
 * the pushes, A holds the client and restarts), in order, once, and the room resubscribed; the
 * token refreshed in band on `expiring`; a subscribe cut by a disconnect completed by the next
 * login; a server that upgrades and then says nothing given up after connectTimeoutMs; pings at
 * the advertised interval and a connection whose pongs stop replaced.
 *
 * The soak: 1,000 SDK clients (default first backoff delay, longest delay 5 s) on A, pushes to all
 * of them through B every 250 ms all along, three SIGTERM restarts of A: every client receives
 * every push exactly once and in order (by seq), and the successful reconnect attempts are spread
 * out (no 100 ms window holds more than 20% of them; the histogram is printed).
 *
 * A restarts on its WebSocket and admin ports and, but for the last test of the restarts group,
 * on a new gRPC port. That last test restarts A at the same gRPC address: B's channel to it is in
 * grpc-js reconnect backoff when A comes back, and B's forwards must still reach A's reconnected
 * clients (the PeerForwarder retries a forward that found no connection).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { ImaClient, ImaError } from '../../pkg/client/ima-client';
import type { Ack, ClientState, Frame as ImaFrame, KickEvent, RecoveryEvent, WebSocketConstructor } from '../../pkg/client/ima-client';
import { httpRequest } from '../support/admin';
import { startGateway } from '../support/gateway-process';
import type { GatewayProcess, StartGatewayOptions } from '../support/gateway-process';
import { freePort, freePorts } from '../support/ports';
import { startRedis } from '../support/redis';
import type { TestRedis } from '../support/redis';
import { TestBusinessService, TestMucService, payloadJson } from '../support/test-services';
import { TEST_JWT_SECRET, configDir, eventually, jwtFor } from './helpers';

const cleanups: Array<() => Promise<void> | void> = [];
const probes: Probe[] = [];

after(async () => {
  for (const p of probes) p.client.close();
  for (const c of cleanups.reverse()) await c();
});

let n = 0;
const uid = (tag: string): string => `${tag}-${++n}-${process.pid}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');

// ---------------------------------------------------------------------------------------------
// What the SDK did on the wire: a `ws` WebSocket subclass passed as options.WebSocket records each
// socket it opens, its close code and (optionally) the frames both ways.
// ---------------------------------------------------------------------------------------------

interface WireFrame {
  readonly socket: number;
  readonly frame: Record<string, unknown>;
}

class Wire {
  /** Date.now() when the SDK created socket i */
  readonly opened: number[] = [];
  readonly urls: string[] = [];
  readonly closes: Array<{ readonly at: number; readonly code: number; readonly socket: number }> = [];
  readonly sent: WireFrame[] = [];
  readonly received: WireFrame[] = [];
  readonly sockets: WebSocket[] = [];
  readonly WebSocket: WebSocketConstructor;

  constructor(keepFrames: boolean) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const wire = this;
    class Recording extends WebSocket {
      constructor(url: string) {
        super(url);
        const socket = wire.sockets.length;
        wire.sockets.push(this);
        wire.urls.push(url);
        wire.opened.push(Date.now());
        // registered before the SDK's onclose: the close is recorded before the SDK reacts to it
        this.addEventListener('close', (ev) => wire.closes.push({ at: Date.now(), code: ev.code, socket }));
        if (!keepFrames) return;
        this.addEventListener('message', (ev) => {
          if (typeof ev.data === 'string') wire.received.push({ socket, frame: JSON.parse(ev.data) as Record<string, unknown> });
        });
        const send = this.send.bind(this);
        this.send = ((data: string) => {
          wire.sent.push({ socket, frame: JSON.parse(data) as Record<string, unknown> });
          send(data);
        }) as typeof this.send;
      }
    }
    this.WebSocket = Recording as unknown as WebSocketConstructor;
  }

  /** The TCP socket under socket i (to pause it or cut it like a network would). */
  tcp(i: number): net.Socket {
    const s = (this.sockets[i] as unknown as { _socket: net.Socket | null })._socket;
    assert.ok(s, `socket ${i} has a TCP socket`);
    return s;
  }

  query(i: number): URLSearchParams {
    return new URL(this.urls[i] ?? '').searchParams;
  }
}

interface ProbeOptions {
  readonly url: string;
  readonly user?: string;
  readonly deviceId?: string;
  readonly platform?: string;
  /** a fixed token, or the token for the i-th call of the token function */
  readonly token: string | ((call: number) => string);
  readonly backoff?: { initialMs?: number; maxMs?: number };
  readonly ackTimeoutMs?: number;
  /** record frames both ways (default true) */
  readonly keepFrames?: boolean;
  /** record push frames (default true; the soak keeps only ids and seqs) */
  readonly keepPushes?: boolean;
}

/** An ImaClient and everything it reported. */
class Probe {
  readonly client: ImaClient;
  readonly wire: Wire;
  readonly states: Array<{ readonly at: number; readonly state: ClientState }> = [];
  readonly pushes: ImaFrame[] = [];
  readonly kicks: KickEvent[] = [];
  readonly errors: Error[] = [];
  readonly recoveries: RecoveryEvent[] = [];
  /** the tokens the token function handed out, in order */
  readonly tokens: string[] = [];
  /** user pushes (no room): [id, seq (-1: none)] */
  readonly userPushes: Array<[string, number]> = [];
  /** the socket (index) each user push came on, and when */
  readonly pushTrace: Array<[number, number]> = [];

  constructor(readonly o: ProbeOptions) {
    this.wire = new Wire(o.keepFrames ?? true);
    const tok = o.token;
    this.client = new ImaClient({
      url: o.url,
      deviceId: o.deviceId ?? 'dev',
      platform: o.platform ?? 'ios',
      token:
        typeof tok === 'string'
          ? tok
          : async () => {
              const t = tok(this.tokens.length);
              this.tokens.push(t);
              return t;
            },
      WebSocket: this.wire.WebSocket,
      backoff: o.backoff ?? { initialMs: 50, maxMs: 200 },
      ...(o.ackTimeoutMs !== undefined ? { ackTimeoutMs: o.ackTimeoutMs } : {}),
    });
    const keepPushes = o.keepPushes ?? true;
    this.client.on('state', (state) => this.states.push({ at: Date.now(), state }));
    this.client.on('push', (f) => {
      if (keepPushes) this.pushes.push(f);
      if (f['room'] === undefined && f['type'] !== 'blob') {
        this.userPushes.push([String(f['id']), typeof f['seq'] === 'number' ? f['seq'] : -1]);
        this.pushTrace.push([this.wire.sockets.length - 1, Date.now()]);
      }
    });
    this.client.on('kick', (k) => this.kicks.push(k));
    this.client.on('error', (e) => this.errors.push(e));
    this.client.on('recovery', (r) => this.recoveries.push(r));
    probes.push(this);
  }

  get state(): ClientState {
    return this.client.state;
  }

  /** connect(), settled: the error (with its code) when it rejects. */
  async connect(): Promise<Error | undefined> {
    try {
      await this.client.connect();
      return undefined;
    } catch (e) {
      return e as Error;
    }
  }

  /** Resolves once the client is in `state`, a state it stays in (polled: a brief 'disconnected' may be missed). */
  waitState(state: ClientState, timeoutMs = 10_000): Promise<void> {
    return waitFor(() => this.client.state === state, timeoutMs, () => `state ${state} (now ${this.client.state}; states ${this.states.map((s) => s.state).join(',')})`);
  }

  /** 'connected' reached on socket i (the i-th connection the SDK opened, from 0). */
  waitConnectedOn(i: number, timeoutMs = 15_000): Promise<void> {
    return waitFor(
      () => this.wire.sockets.length === i + 1 && this.client.state === 'connected',
      timeoutMs,
      () => `connected on socket ${i} (sockets ${this.wire.sockets.length}, state ${this.client.state}, closes ${JSON.stringify(this.wire.closes.map((c) => c.code))})`,
    );
  }

  closeCodes(): number[] {
    return this.wire.closes.map((c) => c.code);
  }
}

/** `eventually` with the description built when it times out. */
/** A bare `ws` server on a free port standing in for the gateway; closed (its clients cut) after the suite. */
async function miniServer(): Promise<{ port: number; wss: WebSocketServer }> {
  const port = await freePort();
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  );
  return { port, wss };
}

async function waitFor(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(20);
  }
}

/** Settles a promise into its value or its error. */
async function outcome<T>(p: Promise<T>): Promise<{ value?: T; error?: Error }> {
  try {
    return { value: await p };
  } catch (e) {
    return { error: e as Error };
  }
}

function assertImaError(e: Error | undefined, code: number, what: string): void {
  assert.ok(e instanceof ImaError, `${what}: expected an ImaError with code ${code}, got ${String(e)}`);
  assert.equal(e.code, code, `${what}: ${e.message}`);
}

/** The client ended for good: state closed, and no new socket within `ms` (backoff max here is 200 ms). */
async function assertNoReconnect(p: Probe, ms = 600): Promise<void> {
  await p.waitState('closed', 5_000);
  const sockets = p.wire.sockets.length;
  await sleep(ms);
  assert.equal(p.wire.sockets.length, sockets, `no reconnect after ${JSON.stringify(p.closeCodes())}`);
  assert.equal(p.state, 'closed');
}

async function api(gw: GatewayProcess, method: string, body: unknown, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const r = await httpRequest('POST', `${gw.adminUrl}/im.gateway.v1.IMAGatewayService/${method}`, JSON.stringify(body), { headers: { 'content-type': 'application/json' }, timeoutMs });
  assert.equal(r.status, 200, `${method}: ${r.status} ${r.body.slice(0, 300)}`);
  return r.json as Record<string, unknown>;
}

const pushTo = (gw: GatewayProcess, user: string, id: string): Promise<Record<string, unknown>> => api(gw, 'PushToUser', { userId: user, message: { messageId: id, type: 'note', payload: b64({ id }) } });
const pushToRoom = (gw: GatewayProcess, room: string, id: string): Promise<Record<string, unknown>> => api(gw, 'PushToRoom', { room, message: { messageId: id, type: 'room.note', payload: b64({ id }) } });

async function gateway(env: Record<string, string>, files: Record<string, string> = {}, extra: Omit<StartGatewayOptions, 'env' | 'configDir'> = {}): Promise<GatewayProcess> {
  const cfg = configDir(files);
  const gw = await startGateway({ ...extra, configDir: cfg.dir, env: { IMA_JWT_SECRET: TEST_JWT_SECRET, ...env } });
  cleanups.push(async () => {
    await gw.stop('SIGKILL', 5_000);
    cfg.cleanup();
  });
  return gw;
}

/**
 * A gateway that can be stopped and started again on the same WebSocket and admin ports (the SDK
 * reconnects to the URL it has), with the same instance id and configuration. Its gRPC port is a
 * new one at each start unless asked otherwise (the same address is tested on its own below:
 * the PeerForwarder retries a forward that found no connection, waiting for the peer's channel).
 * While it is down, its ports are held by the test (see holdPorts).
 */
class RestartableGateway {
  private current: GatewayProcess | undefined;
  private readonly cfg: { dir: string; cleanup: () => void };
  private starts = 0;
  private release: (() => Promise<void>) | undefined;

  private constructor(
    private readonly ports: { ws: number; grpc: number; admin: number },
    private readonly env: Record<string, string>,
    files: Record<string, string>,
  ) {
    this.cfg = configDir(files);
    cleanups.push(async () => {
      await this.current?.stop('SIGKILL', 5_000);
      await this.release?.();
      this.cfg.cleanup();
    });
  }

  static async start(env: Record<string, string>, files: Record<string, string>): Promise<RestartableGateway> {
    const [ws, grpc, admin] = (await freePorts(3)) as [number, number, number];
    const g = new RestartableGateway({ ws, grpc, admin }, env, files);
    await g.up();
    return g;
  }

  get gw(): GatewayProcess {
    assert.ok(this.current, 'the gateway is running');
    return this.current;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.ports.ws}/ws`;
  }

  async up(opts: { sameGrpcPort?: boolean } = {}): Promise<void> {
    const release = this.release;
    this.release = undefined;
    await release?.();
    if (this.starts++ > 0 && opts.sameGrpcPort !== true) this.ports.grpc = await freePort();
    this.current = await startGateway({ ports: this.ports, configDir: this.cfg.dir, env: { IMA_JWT_SECRET: TEST_JWT_SECRET, ...this.env } });
  }

  /** SIGTERM (asserting a clean exit 0) or kill -9. */
  async down(how: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const gw = this.gw;
    this.current = undefined;
    if (how === 'SIGKILL') await gw.kill9();
    else {
      const exit = await gw.stop('SIGTERM', 20_000);
      assert.equal(exit.code, 0, `SIGTERM exit: ${JSON.stringify(exit)}`);
    }
    // other test processes looking for free ports must not take these while the gateway is down
    this.release = await holdPorts([this.ports.ws, this.ports.admin, this.ports.grpc]);
  }
}

/**
 * Listeners holding ports while their gateway is down, so that other test processes probing for
 * free ports skip them. A connection is dropped at once (the client sees what a closed port
 * gives it: a failed attempt, 1006). Resolves with the release.
 */
async function holdPorts(ports: readonly number[]): Promise<() => Promise<void>> {
  const servers = await Promise.all(
    ports.map(
      (port) =>
        new Promise<net.Server | undefined>((resolve) => {
          const srv = net.createServer((sock) => sock.destroy());
          srv.once('error', () => resolve(undefined));
          srv.listen({ port, host: '0.0.0.0', exclusive: true }, () => resolve(srv));
        }),
    ),
  );
  return async () => {
    await Promise.all(servers.map((srv) => (srv === undefined ? undefined : new Promise<void>((r) => srv.close(() => r())))));
  };
}

// =============================================================================================
// All but the soak run side by side (each group has its own gateways); the soak runs alone after.
// =============================================================================================

describe('client SDK against real gateways', { concurrency: true }, () => {
  // -------------------------------------------------------------------------------------------
  describe('close codes, acks and token refresh on one gateway', { concurrency: 1 }, () => {
    let gw: GatewayProcess;
    let biz: TestBusinessService;
    before(async () => {
      biz = await TestBusinessService.start();
      cleanups.push(() => biz.stop());
      biz.handler = async (msg) => {
        // 'hold' stays unanswered for a while (a pending send), 'dedupe' a little
        if (msg.type === 'hold') await new Promise((r) => setTimeout(r, 3_000).unref());
        if (msg.type === 'dedupe') await new Promise((r) => setTimeout(r, 800).unref());
        return { code: 0, message: `ok ${msg.type}`, replies: [] };
      };
      gw = await gateway(
        { IMA_BUSINESS_ADDR: biz.address },
        {
          'websocket.yml': 'websocket:\n  maxPayloadBytes: 4096\n  maxBackpressureBytes: 65536\nrooms:\n  clientSubscribe: allow\n',
          'app.yml': 'auth:\n  refreshNoticeSec: 2\n  jwt:\n    clockSkewSec: 0\nstatusEvents:\n  enabled: false\n',
        },
      );
    });
    const url = (): string => gw.wsUrl();

    test('4000 (unknown platform): connect() rejects with 4000, state closed, no reconnect', async () => {
      const user = uid('c4000');
      const p = new Probe({ url: url(), user, platform: 'nokia', token: jwtFor(user) });
      assertImaError(await p.connect(), 4000, 'connect()');
      await assertNoReconnect(p);
      assert.deepEqual(p.closeCodes(), [4000]);
      const auth = p.wire.received[0]?.frame;
      assert.deepEqual([auth?.['type'], auth?.['ok'], auth?.['code']], ['auth', false, 4000]);
    });

    test('4001 (same device logs in again): kick event, pending send rejected with 4001, closed; connect() again replaces the other once, no loop', async () => {
      const user = uid('c4001');
      const first = new Probe({ url: url(), user, token: () => jwtFor(user) });
      assert.equal(await first.connect(), undefined);
      const pending = outcome(first.client.send('hold', { n: 1 }));
      await biz.waitForMessage((m) => m.userId === user && m.type === 'hold');
      const second = new Probe({ url: url(), user, token: () => jwtFor(user) });
      assert.equal(await second.connect(), undefined);
      assertImaError((await pending).error, 4001, 'the pending send');
      await assertNoReconnect(first);
      assert.deepEqual(first.closeCodes(), [4001]);
      assert.equal(first.kicks[0]?.code, 4001);
      assert.equal(second.state, 'connected');
      // the user chose to use the first device again: one explicit connect(), which ends the other
      assert.equal(await first.connect(), undefined);
      await second.waitState('closed');
      await assertNoReconnect(second);
      await sleep(300);
      assert.equal(first.state, 'connected');
      assert.deepEqual([first.wire.sockets.length, second.wire.sockets.length], [2, 1], 'one socket each: no login loop');
    });

    test('4002 (KickUser): kick event, pending send rejected with 4002, closed, no reconnect', async () => {
      const user = uid('c4002');
      const p = new Probe({ url: url(), user, token: () => jwtFor(user) });
      assert.equal(await p.connect(), undefined);
      const pending = outcome(p.client.send('hold', {}));
      await biz.waitForMessage((m) => m.userId === user);
      assert.equal((await api(gw, 'KickUser', { userId: user, reason: 'test kick' }))['kicked'], 1);
      assertImaError((await pending).error, 4002, 'the pending send');
      await assertNoReconnect(p);
      assert.deepEqual(p.kicks, [{ code: 4002, reason: 'test kick' }]);
      assert.deepEqual(p.closeCodes(), [4002]);
    });

    test('1009 (a frame over websocket.maxPayloadBytes): that send and a pending one reject with 1009, closed, no reconnect', async () => {
      const user = uid('c1009');
      const p = new Probe({ url: url(), user, token: () => jwtFor(user) });
      assert.equal(await p.connect(), undefined);
      const pending = outcome(p.client.send('hold', {}));
      await biz.waitForMessage((m) => m.userId === user);
      const big = outcome(p.client.send('big', { text: 'x'.repeat(5_000) }));
      assertImaError((await big).error, 1009, 'the big send');
      assertImaError((await pending).error, 1009, 'the pending send');
      await assertNoReconnect(p);
      assert.deepEqual(p.closeCodes(), [1009]);
    });

    test('4003 (an expired JWT): a token function is called again and the client connects; a fixed token ends with 4003', async () => {
      const user = uid('c4003');
      const fn = new Probe({ url: url(), user, token: (i) => jwtFor(user, { ttlSec: i === 0 ? -60 : 600 }) });
      assert.equal(await fn.connect(), undefined);
      assert.deepEqual(fn.closeCodes(), [4003]);
      assert.equal(fn.tokens.length, 2, 'a new token after 4003');
      assert.equal(fn.wire.query(1).get('token'), fn.tokens[1]);
      assert.equal(fn.state, 'connected');
      const fixed = new Probe({ url: url(), user: uid('c4003f'), token: jwtFor(user, { ttlSec: -60 }) });
      assertImaError(await fixed.connect(), 4003, 'connect() with a fixed expired token');
      await assertNoReconnect(fixed);
      assert.deepEqual(fixed.closeCodes(), [4003]);
    });

    test('4401 (not a token): a token function is called again and the client connects; a fixed token ends with 4401', async () => {
      const user = uid('c4401');
      const fn = new Probe({ url: url(), user, token: (i) => (i === 0 ? 'not-a-token' : jwtFor(user)) });
      assert.equal(await fn.connect(), undefined);
      assert.deepEqual(fn.closeCodes(), [4401]);
      assert.equal(fn.tokens.length, 2);
      assert.equal(fn.state, 'connected');
      const fixed = new Probe({ url: url(), token: 'not-a-token' });
      assertImaError(await fixed.connect(), 4401, 'connect() with a fixed bad token');
      await assertNoReconnect(fixed);
      assert.deepEqual(fixed.closeCodes(), [4401]);
    });

    test('4005 (a client that stops reading, large broadcasts): the SDK reconnects once it reads again', async (t) => {
      const user = uid('c4005');
      // miniweb: only this client gets the broadcasts (the other tests use other platforms)
      const p = new Probe({ url: url(), user, platform: 'miniweb', token: () => jwtFor(user), keepFrames: false, keepPushes: false });
      assert.equal(await p.connect(), undefined);
      const tcp = p.wire.tcp(0);
      tcp.pause();
      const from = gw.logs.length;
      const blob = b64({ blob: 'x'.repeat(200_000) });
      let sent = 0;
      while (!gw.logs.slice(from).some((l) => /"code":4005/.test(l) && l.includes(user))) {
        assert.ok(++sent <= 80, 'the gateway closed the non-reading client with 4005 within 80 broadcasts of 200 KB');
        await api(gw, 'Broadcast', { message: { type: 'blob', payload: blob }, platforms: ['miniweb'] });
      }
      tcp.resume();
      await p.waitConnectedOn(1);
      const code = p.closeCodes()[0];
      t.diagnostic(`4005 after ${sent} broadcasts; the client saw close code ${code}`);
      assert.ok(code === 4005 || code === 1006, `closed with ${code}`);
      assert.deepEqual(p.kicks, []);
    });

    test('ack timeout: send() rejects after its timeoutMs when the business service never answers; the connection stays', async () => {
      const user = uid('ackto');
      const p = new Probe({ url: url(), user, token: () => jwtFor(user) });
      assert.equal(await p.connect(), undefined);
      biz.mode = 'slow';
      try {
        const started = Date.now();
        const r = await outcome(p.client.send('slow', { n: 1 }, { timeoutMs: 600 }));
        const took = Date.now() - started;
        assertImaError(r.error, -1, 'send()');
        assert.match(r.error?.message ?? '', /no ack .* within 600 ms/);
        assert.ok(took >= 590 && took < 1_600, `rejected after ${took} ms`);
        assert.equal((await biz.waitForMessage((m) => m.userId === user)).type, 'slow', 'it was forwarded: the ack is what is missing');
        assert.equal(p.state, 'connected');
        assert.equal(p.wire.sockets.length, 1);
      } finally {
        biz.mode = 'ok';
      }
    });

    test('resend with dedupe: a message whose ack was lost (connection cut while it was forwarded) is re-sent with the same id and seen once by the business service', async () => {
      const user = uid('dedupe');
      const p = new Probe({ url: url(), user, token: () => jwtFor(user) });
      assert.equal(await p.connect(), undefined);
      const ack = p.client.send('dedupe', { text: 'once' });
      const forwarded = await biz.waitForMessage((m) => m.userId === user && m.type === 'dedupe');
      // the network drops the connection while the business service works on it (800 ms)
      p.wire.tcp(0).destroy();
      assert.deepEqual(await ack, { code: 0, message: 'ok dedupe' } satisfies Ack);
      assert.equal(p.wire.sockets.length, 2, 'acknowledged on the second connection');
      const sentIds = (socket: number): unknown[] => p.wire.sent.filter((f) => f.socket === socket && f.frame['type'] === 'dedupe').map((f) => f.frame['id']);
      assert.deepEqual(sentIds(0), [forwarded.messageId]);
      assert.deepEqual(sentIds(1), [forwarded.messageId], 're-sent with the same id');
      // and a message sent while the client is disconnected (sent from the 'disconnected' event)
      // goes out once, after the reconnect
      const later = new Promise<Ack>((resolve, reject) => {
        const onState = (st: ClientState): void => {
          if (st !== 'disconnected') return;
          p.client.off('state', onState);
          p.client.send('later', { n: 2 }).then(resolve, reject);
        };
        p.client.on('state', onState);
      });
      p.wire.tcp(1).destroy();
      assert.deepEqual(await later, { code: 0, message: 'ok later' });
      assert.deepEqual(p.wire.sent.filter((f) => f.frame['type'] === 'later').map((f) => f.socket), [2], 'written once, on the next connection');
      await sleep(300);
      const mine = biz.messages.filter((m) => m.userId === user);
      assert.deepEqual(mine.map((m) => m.type), ['dedupe', 'later'], 'each message reached the business service once');
      assert.deepEqual(payloadJson(mine[0]!), { text: 'once' });
    });

    test('token refresh on `expiring`: the token function is called, the refresh is accepted, the connection outlives the first token', async () => {
      const user = uid('refresh');
      const p = new Probe({ url: url(), user, token: (i) => jwtFor(user, { ttlSec: i === 0 ? 3 : 600 }) });
      assert.equal(await p.connect(), undefined);
      const expiresAt = Number(JSON.parse(Buffer.from(p.tokens[0]!.split('.')[1]!, 'base64url').toString())['exp']) * 1000;
      await eventually(() => p.tokens.length === 2, 5_000, 'the token function called on `expiring`');
      const refresh = p.wire.sent.find((f) => f.frame['type'] === 'refresh');
      assert.equal(refresh?.frame['token'], p.tokens[1]);
      const notice = p.wire.received.find((f) => f.frame['type'] === 'expiring');
      assert.equal(notice?.frame['expiresAt'], expiresAt);
      await eventually(() => p.wire.received.some((f) => f.frame['id'] === refresh?.frame['id']), 5_000, 'the refresh ack');
      const ack = p.wire.received.find((f) => f.frame['id'] === refresh?.frame['id'])!.frame;
      assert.equal(ack['code'], 0);
      assert.ok(Number(ack['expiresAt']) > Date.now() + 500_000);
      // past the first token's expiry (the gateway closes expired connections within a second)
      await sleep(Math.max(0, expiresAt + 1_500 - Date.now()));
      assert.equal(p.state, 'connected');
      assert.equal(p.wire.sockets.length, 1, 'the same connection');
      assert.deepEqual(p.closeCodes(), []);
      assert.deepEqual(p.errors, []);
      assert.deepEqual(await p.client.send('after', {}), { code: 0, message: 'ok after' });
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('reconnect rules against a minimal WebSocket server, and backoff', { concurrency: 1 }, () => {
    test('every close code of SPEC section 4: which ones reconnect, which ones end the client, which ones fetch a new token', async (t) => {
      // at connect (auth ok:false then the close, as the gateway does) or after the login
      const AT_CONNECT = new Set([4000, 4003, 4401, 4503]);
      const { port, wss } = await miniServer();
      const seen = new Map<string, number>();
      wss.on('connection', (ws, req) => {
        const q = new URL(req.url ?? '/', 'http://x').searchParams;
        const device = q.get('device_id') ?? '';
        const code = Number(device.split('-')[1]);
        const k = (seen.get(device) ?? 0) + 1;
        seen.set(device, k);
        const authOk = JSON.stringify({ type: 'auth', ok: true, userId: 'u', deviceId: device, platform: 'ios', instanceId: 'tiny', heartbeatIntervalMs: 25_000, epoch: 'e1' });
        if (k > 1) {
          ws.send(authOk);
          return;
        }
        if (AT_CONNECT.has(code)) {
          ws.send(JSON.stringify({ type: 'auth', ok: false, code, reason: 'test' }));
          ws.close(code, 'test');
          return;
        }
        ws.send(authOk);
        // after the client had time to send something that stays unacknowledged
        setTimeout(() => (code === 1006 ? ws.terminate() : ws.close(code, 'test')), 50);
      });
      const RECONNECT = [1001, 1006, 1008, 1011, 4004, 4005, 4503];
      const END = [4000, 4001, 4002, 1009];
      const NEW_TOKEN = [4003, 4401];
      const url = `ws://127.0.0.1:${port}/ws`;
      const run = async (code: number, fixedToken: boolean): Promise<string> => {
        const p = new Probe({ url, deviceId: `d-${code}-${fixedToken ? 'fixed' : 'fn'}`, token: fixedToken ? 'fixed-token' : (i) => `token-${i}` });
        const connected = await p.connect();
        const pending = connected === undefined ? outcome(p.client.send('x', {})) : undefined;
        if (END.includes(code) || (NEW_TOKEN.includes(code) && fixedToken)) {
          await assertNoReconnect(p);
          if (AT_CONNECT.has(code)) assertImaError(connected, code, `${code}: connect()`);
          else assertImaError((await pending!).error, code, `${code}: the pending send`);
          assert.equal(p.wire.sockets.length, 1);
          return `${code}${fixedToken ? ' (fixed token)' : ''}: closed`;
        }
        assert.equal(connected, undefined, `${code}: connect() resolves`);
        await p.waitConnectedOn(1, 5_000);
        assert.equal(p.closeCodes()[0], code, 'the client saw that very code');
        if (NEW_TOKEN.includes(code)) {
          assert.deepEqual(p.tokens, ['token-0', 'token-1'], `${code}: a new token`);
          assert.equal(p.wire.query(1).get('token'), 'token-1');
        } else if (!fixedToken) {
          assert.deepEqual(p.tokens, ['token-0'], `${code}: the token is kept`);
        }
        p.client.close();
        return `${code}: reconnected${NEW_TOKEN.includes(code) ? ' with a new token' : ''}`;
      };
      const results = await Promise.all([
        ...RECONNECT.map((c) => run(c, false)),
        ...END.map((c) => run(c, false)),
        ...NEW_TOKEN.map((c) => run(c, false)),
        ...NEW_TOKEN.map((c) => run(c, true)),
      ]);
      for (const r of results) t.diagnostic(r);
    });

    test('a subscribe in flight when the connection drops is done by the next login; close() settles requests at once; a silent server is given up after connectTimeoutMs', async () => {
      // a server that drops the connection on the first subscribe, acks the next one, and never answers 'hang'
      const { port, wss } = await miniServer();
      let logins = 0;
      wss.on('connection', (ws) => {
        const login = ++logins;
        ws.send(JSON.stringify({ type: 'auth', ok: true, userId: 'u', deviceId: 'd', platform: 'ios', instanceId: 'tiny', heartbeatIntervalMs: 25_000, epoch: 'e1' }));
        ws.on('message', (data: Buffer) => {
          const f = JSON.parse(data.toString()) as Record<string, unknown>;
          if (f['type'] !== 'subscribe' || f['room'] === 'hang') return;
          if (login === 1) ws.terminate();
          else ws.send(JSON.stringify({ type: 'ack', id: f['id'], code: 0, epoch: 'r1' }));
        });
      });
      // and one that completes the upgrade, then says nothing and answers no close frame
      const silentPort = await freePort();
      const silent = http.createServer();
      const silentSockets = new Set<net.Socket>();
      silent.on('upgrade', (req, socket: net.Socket) => {
        silentSockets.add(socket);
        const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      });
      await new Promise<void>((r) => silent.listen(silentPort, '127.0.0.1', r));
      cleanups.push(
        () =>
          new Promise<void>((r) => {
            for (const sock of silentSockets) sock.destroy();
            silent.close(() => r());
          }),
      );

      const p = new Probe({ url: `ws://127.0.0.1:${port}/ws`, token: 't' });
      assert.equal(await p.connect(), undefined);
      await p.client.subscribe('lobby'); // resolves: the connection dropped first, the next login subscribes
      await p.waitConnectedOn(1, 5_000);
      await eventually(() => p.wire.received.some((f) => f.socket === 1 && f.frame['type'] === 'ack'), 5_000, 'the resubscription acked');
      assert.deepEqual(p.wire.sent.filter((f) => f.frame['type'] === 'subscribe').map((f) => [f.socket, f.frame['room']]), [[0, 'lobby'], [1, 'lobby']]);
      assert.deepEqual(p.errors, []);
      const hanging = outcome(p.client.subscribe('hang'));
      const closedAt = Date.now();
      p.client.close();
      assert.match(String((await hanging).error?.message), /client closed/);
      assert.ok(Date.now() - closedAt < 1_000, 'rejected at close, not after the ack timeout');

      const s = new ImaClient({ url: `ws://127.0.0.1:${silentPort}/ws`, deviceId: 'd', platform: 'ios', token: 't', WebSocket: new Wire(false).WebSocket, connectTimeoutMs: 300, backoff: { initialMs: 10, maxMs: 20 } });
      const states: Array<[ClientState, number]> = [];
      s.on('state', (st) => states.push([st, Date.now()]));
      const started = Date.now();
      const connecting = outcome(s.connect());
      await eventually(() => states.filter(([st]) => st === 'connecting').length >= 3, 5_000, 'three attempts');
      s.close();
      for (const sock of silentSockets) sock.destroy(); // the SDK's sockets there wait for a close frame that never comes (ws gives them 30 s)
      assert.match(String((await connecting).error?.message), /client closed/);
      const took = Date.now() - started;
      assert.ok(took < 2_500, `three attempts of 300 ms each took ${took} ms (the close handshake with a silent server is not awaited)`);
    });

    test('heartbeat: pings at the advertised interval; a connection whose pongs stop is given up and replaced', async () => {
      // advertises 200 ms; the first connection never answers a ping (a dead path that sends no RST), the next ones do
      const { port, wss } = await miniServer();
      let logins = 0;
      wss.on('connection', (ws) => {
        const login = ++logins;
        ws.send(JSON.stringify({ type: 'auth', ok: true, userId: 'u', deviceId: 'd', platform: 'ios', instanceId: 'tiny', heartbeatIntervalMs: 200, epoch: 'e1' }));
        ws.on('message', (data: Buffer) => {
          if (login > 1 && (JSON.parse(data.toString()) as Record<string, unknown>)['type'] === 'ping') ws.send(JSON.stringify({ type: 'pong', ts: Date.now() }));
        });
      });
      const p = new Probe({ url: `ws://127.0.0.1:${port}/ws`, token: 't' });
      assert.equal(await p.connect(), undefined);
      await p.waitConnectedOn(1, 5_000);
      const gaveUp = p.wire.opened[1]! - p.wire.opened[0]!;
      assert.ok(gaveUp >= 350 && gaveUp < 2_000, `replaced ${gaveUp} ms after the first connection (two 200 ms intervals without a pong)`);
      assert.equal(p.wire.sent.filter((f) => f.socket === 0 && f.frame['type'] === 'ping').length, 1, 'one unanswered ping, then the connection was given up');
      // the answered one lives on
      await sleep(1_000);
      assert.equal(p.wire.sockets.length, 2);
      assert.ok(p.wire.sent.filter((f) => f.socket === 1 && f.frame['type'] === 'ping').length >= 3, 'pings every 200 ms');
      assert.equal(p.state, 'connected');
    });

    test('backoff: each delay is within [0, min(maxMs, initialMs * 2^attempt)], growing and jittered (nothing listening; HTTP 503)', async (t) => {
      const INITIAL = 100;
      const MAX = 800;
      // timers fire late on a loaded machine (the SDK's own steps between the close and the next socket are synchronous)
      const SLACK = 250;
      const ATTEMPTS = 14;
      const closedPort = await freePort();
      const refusing = http.createServer((_req, res) => res.writeHead(503).end());
      refusing.on('upgrade', (_req, socket: net.Socket) => socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
      const refusingPort = await freePort();
      await new Promise<void>((r) => refusing.listen(refusingPort, '127.0.0.1', r));
      cleanups.push(
        () =>
          new Promise<void>((r) => {
            refusing.closeAllConnections();
            refusing.close(() => r());
          }),
      );
      const measure = async (label: string, port: number): Promise<void> => {
        const p = new Probe({ url: `ws://127.0.0.1:${port}/ws`, token: 't', backoff: { initialMs: INITIAL, maxMs: MAX }, keepFrames: false });
        const connecting = p.connect();
        await eventually(() => p.wire.sockets.length > ATTEMPTS, 20_000, `${ATTEMPTS} reconnects to ${label}`);
        p.client.close();
        assert.match(String((await connecting)?.message), /client closed/);
        const rows: string[] = [];
        const ratios: number[] = [];
        for (let k = 0; k < ATTEMPTS; k++) {
          const close = p.wire.closes.find((c) => c.socket === k);
          assert.ok(close, `socket ${k} closed`);
          const delay = p.wire.opened[k + 1]! - close.at;
          const cap = Math.min(MAX, INITIAL * 2 ** k);
          rows.push(`${delay}/${cap}`);
          ratios.push(delay / cap);
          assert.ok(delay >= 0 && delay <= cap + SLACK, `${label}: attempt ${k}: delay ${delay} ms, cap ${cap} ms`);
        }
        t.diagnostic(`${label}: delay/cap ms per attempt: ${rows.join(' ')}; close codes ${[...new Set(p.closeCodes())].join(',')}`);
        // the caps grow: from attempt 3 on the cap is 800 ms, so not all of those eleven delays stay
        // under 300 ms (the chance that they do: 0.375^11, 2e-5); a cap stuck at 100 ms would keep them there
        const late = p.wire.closes.filter((c) => c.socket >= 3 && c.socket < ATTEMPTS).map((c) => p.wire.opened[c.socket + 1]! - c.at);
        assert.ok(Math.max(...late) > 3 * INITIAL, `the delays grow: ${late.join(',')}`);
        // full jitter: not all near the cap (the chance that they are: 0.2^14)
        assert.ok(Math.min(...ratios) < 0.8, `jittered: ${ratios.map((r) => r.toFixed(2)).join(',')}`);
      };
      await Promise.all([measure('a port where nothing listens', closedPort), measure('a server refusing upgrades with 503', refusingPort)]);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('the MUC provider: 4503, and an idle timeout shorter than the heartbeat', { concurrency: 1 }, () => {
    let gw: GatewayProcess;
    let muc: TestMucService;
    before(async () => {
      muc = await TestMucService.start();
      cleanups.push(() => muc.stop());
      gw = await gateway({ IMA_MUC_ADDR: muc.address }, { 'websocket.yml': 'websocket:\n  idleTimeoutSec: 5\n  heartbeatIntervalSec: 30\n' });
    });

    test('4503 (the MUC unavailable): retried with backoff, connected once the MUC answers, the token kept', async () => {
      const user = uid('c4503');
      muc.addToken(`tok-${user}`, user);
      muc.mode = 'unavailable';
      const p = new Probe({ url: gw.wsUrl(), user, token: () => `tok-${user}`, backoff: { initialMs: 100, maxMs: 400 } });
      const connecting = p.connect();
      await eventually(() => p.closeCodes().length >= 3, 10_000, 'three 4503 refusals');
      muc.mode = 'ok';
      assert.equal(await connecting, undefined);
      const codes = p.closeCodes();
      assert.ok(codes.length >= 3 && codes.every((c) => c === 4503), `close codes ${codes.join(',')}`);
      assert.equal(p.tokens.length, 1, 'the token function is not called again for 4503');
      assert.equal(p.state, 'connected');
    });

    test('4004 (no frame within websocket.idleTimeoutSec, the advised heartbeat being slower): the SDK reconnects', async () => {
      const user = uid('c4004');
      muc.addToken(`tok-${user}`, user);
      const p = new Probe({ url: gw.wsUrl(), user, token: `tok-${user}` });
      assert.equal(await p.connect(), undefined);
      assert.equal(p.wire.received[0]?.frame['heartbeatIntervalMs'], 30_000);
      await p.waitConnectedOn(1, 15_000);
      assert.equal(p.closeCodes()[0], 4004);
      const idle = p.wire.closes[0]!.at - p.wire.opened[0]!;
      assert.ok(idle >= 4_500, `closed after ${idle} ms idle`);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('restarts: two gateways on one redis-server (A restarts on the same ports, B takes the pushes)', { concurrency: 1 }, () => {
    let redis: TestRedis;
    let A: RestartableGateway;
    let B: GatewayProcess;
    let biz: TestBusinessService;
    before(async () => {
      redis = await startRedis();
      cleanups.push(() => redis.stop());
      biz = await TestBusinessService.start();
      cleanups.push(() => biz.stop());
      const files = {
        // a lease that outlives a kill -9 and the restart: B keeps forwarding to A meanwhile
        'redis.yml': 'redis:\n  leaseTtlSec: 10\n  leaseRefreshSec: 1\n  sweepEverySec: 1\n',
        'websocket.yml': 'rooms:\n  clientSubscribe: allow\n',
        'app.yml': 'statusEvents:\n  enabled: false\n',
      };
      const env = { IMA_REDIS_URL: redis.url, IMA_ADVERTISE_HOST: '127.0.0.1', IMA_BUSINESS_ADDR: biz.address };
      [A, B] = await Promise.all([RestartableGateway.start({ ...env, IMA_INSTANCE_ID: 'sdk-a' }, files), gateway({ ...env, IMA_INSTANCE_ID: 'sdk-b' }, files)]);
    });

    test('1001 (SIGTERM): the SDK reconnects once the gateway is back; a message sent meanwhile is delivered once', async () => {
      const user = uid('c1001');
      const p = new Probe({ url: A.url, user, token: () => jwtFor(user) });
      assert.equal(await p.connect(), undefined);
      await A.down('SIGTERM');
      await waitFor(() => p.wire.closes.length > 0, 5_000, () => 'the close');
      assert.equal(p.closeCodes()[0], 1001);
      assert.notEqual(p.state, 'connected');
      const sent = p.client.send('while-down', { n: 1 });
      await A.up();
      assert.deepEqual(await sent, { code: 0, message: 'ok' });
      assert.equal(p.state, 'connected');
      assert.deepEqual(biz.messages.filter((m) => m.userId === user).map((m) => m.type), ['while-down']);
      assert.deepEqual(p.kicks, []);
    });

    test('1006 (kill -9): the SDK reconnects once the gateway is back; pushes made meanwhile through B arrive', async () => {
      const user = uid('c1006');
      const p = new Probe({ url: A.url, user, token: () => jwtFor(user) });
      assert.equal(await p.connect(), undefined);
      await A.down('SIGKILL');
      await waitFor(() => p.wire.closes.length > 0, 5_000, () => 'the close');
      assert.equal(p.closeCodes()[0], 1006);
      await pushTo(B, user, 'k1');
      await A.up();
      await eventually(() => p.userPushes.length === 1, 15_000, 'the push made while A was down');
      assert.deepEqual(p.userPushes, [['k1', 1]]);
      assert.equal(p.state, 'connected');
    });

    test('recovery across a restart: user pushes and room pushes made while A is down arrive after the reconnect, in order, once; live ones follow; the room is resubscribed', async () => {
      const user = uid('rec');
      const room = `sdk-room-${uid('r')}`;
      const p = new Probe({ url: A.url, user, token: () => jwtFor(user) });
      assert.equal(await p.connect(), undefined);
      await p.client.subscribe(room);
      await pushTo(B, user, 'u1');
      assert.equal(Number((await pushToRoom(B, room, 'r1'))['delivered']), 1);
      await eventually(() => p.pushes.length === 2, 5_000, 'the first two pushes');
      await A.down('SIGTERM');
      for (const id of ['u2', 'u3', 'u4']) assert.deepEqual((await pushTo(B, user, id))['offlineUserIds'], [user]);
      for (const id of ['r2', 'r3']) await pushToRoom(B, room, id);
      await A.up();
      await p.waitState('connected', 15_000);
      await eventually(() => p.pushes.length === 7, 10_000, 'the five missed pushes');
      await pushTo(B, user, 'u5');
      await pushToRoom(B, room, 'r4');
      await eventually(() => p.pushes.length === 9, 10_000, 'the two live pushes');
      await sleep(300);
      const userSide = p.pushes.filter((f) => f['room'] === undefined).map((f) => [f['id'], f['seq']]);
      const roomSide = p.pushes.filter((f) => f['room'] === room).map((f) => [f['id'], f['seq']]);
      assert.deepEqual(userSide, [['u1', 1], ['u2', 2], ['u3', 3], ['u4', 4], ['u5', 5]]);
      assert.deepEqual(roomSide, [['r1', 1], ['r2', 2], ['r3', 3], ['r4', 4]]);
      assert.equal(p.pushes.length, 9, 'nothing twice');
      assert.deepEqual(p.recoveries, [{ recovered: true, missed: 3 }, { room, recovered: true, missed: 2 }]);
      // what the SDK sent: recover_seq / recover_epoch in the URL, recoverSeq / recoverEpoch in the subscribe
      const epoch = p.wire.received.find((f) => f.socket === 0 && f.frame['type'] === 'auth')?.frame['epoch'];
      assert.equal(p.wire.query(p.wire.sockets.length - 1).get('recover_seq'), '1');
      assert.equal(p.wire.query(p.wire.sockets.length - 1).get('recover_epoch'), epoch);
      const resub = p.wire.sent.filter((f) => f.frame['type'] === 'subscribe').pop()?.frame;
      assert.deepEqual([resub?.['room'], resub?.['recoverSeq']], [room, 1]);
      assert.deepEqual(p.errors, []);
    });

    test(
      'an instance restarted at the same gRPC address: pushes through the other instance reach its reconnected clients at once',
      async () => {
        const user = uid('samegrpc');
        const p = new Probe({ url: A.url, user, token: () => jwtFor(user) });
        assert.equal(await p.connect(), undefined);
        // kill -9: A's mappings and lease stay in Redis for a moment, so B keeps forwarding to A's
        // address while A is down, starting, and after the client is back; B's channel fails and
        // backs off meanwhile
        await A.down('SIGKILL');
        let k = 0;
        let stop = false;
        const afterReconnect: Array<[string, unknown]> = [];
        const pusher = (async () => {
          while (!stop) {
            const id = `g${++k}`;
            const connected = p.state === 'connected';
            const r = await pushTo(B, user, id);
            if (connected) afterReconnect.push([id, r['offlineUserIds']]);
            await sleep(100);
          }
        })();
        // B forwards to A all the while (A is back within its lease of 10 s); after ~3 s of failures
        // B's channel retries A's address only every ~2 s
        await sleep(3_000);
        await A.up({ sameGrpcPort: true });
        await p.waitState('connected', 15_000);
        // pushes that found no connection wait for it (up to 2.5 s): give several a chance after the reconnect
        await sleep(3_500);
        stop = true;
        await pusher;
        assert.ok(afterReconnect.length >= 3);
        assert.deepEqual(afterReconnect.filter(([, off]) => (off as unknown[]).length > 0).map(([id]) => id), [], 'B found the reconnected user online');
        await eventually(() => p.userPushes.length === k, 3_000, `all ${k} pushes (the ${afterReconnect.length} made after the reconnect included)`);
      },
    );
  });
});

// =============================================================================================
// The soak
// =============================================================================================

describe('soak: 1,000 SDK clients through three gateway restarts', () => {
  const CLIENTS = 1_000;
  const RESTARTS = 3;
  const PUSH_EVERY_MS = 250;
  const BUCKET_MS = 100;
  /** at most this share of the clients may reconnect within any 100 ms window */
  const HERD_SHARE = 0.2;

  let redis: TestRedis;
  let A: RestartableGateway;
  let B: GatewayProcess;
  before(async () => {
    redis = await startRedis();
    cleanups.push(() => redis.stop());
    const files = { 'redis.yml': 'redis:\n  leaseTtlSec: 3\n  leaseRefreshSec: 1\n  sweepEverySec: 1\n', 'app.yml': 'statusEvents:\n  enabled: false\n' };
    const env = { IMA_REDIS_URL: redis.url, IMA_ADVERTISE_HOST: '127.0.0.1', IMA_KICK_POLICY: 'allow_all' };
    [A, B] = await Promise.all([RestartableGateway.start({ ...env, IMA_INSTANCE_ID: 'soak-a' }, files), gateway({ ...env, IMA_INSTANCE_ID: 'soak-b' }, files)]);
  });

  test('every push to every client exactly once and in order; reconnects spread out', { timeout: 120_000 }, async (t) => {
    const started = Date.now();
    const users = Array.from({ length: CLIENTS }, (_, i) => `soak-${i}-${process.pid}`);
    // the default first delay (500 ms), the longest one cut from 30 s to 5 s: a gateway back after ~2 s has every client back within seconds
    const clients = users.map((user) => new Probe({ url: A.url, user, deviceId: 'd', platform: 'android', token: jwtFor(user), keepFrames: false, keepPushes: false, backoff: { initialMs: 500, maxMs: 5_000 } }));
    for (let i = 0; i < CLIENTS; i += 100) {
      const errs = await Promise.all(clients.slice(i, i + 100).map((c) => c.connect()));
      assert.deepEqual(errs.filter((e) => e !== undefined), []);
    }
    t.diagnostic(`${CLIENTS} clients connected in ${Date.now() - started} ms`);

    // pushes to every user, one after the other, all along
    let pushes = 0;
    let stop = false;
    const failures: string[] = [];
    const pushTimes: Array<[number, number, number]> = [];
    const pusher = (async () => {
      while (!stop) {
        const k = pushes + 1;
        const r = await httpRequest('POST', `${B.adminUrl}/im.gateway.v1.IMAGatewayService/PushToUsers`, JSON.stringify({ userIds: users, message: { messageId: `s${k}`, type: 'soak', payload: b64({ k }) } }), {
          headers: { 'content-type': 'application/json' },
          timeoutMs: 15_000,
        });
        if (r.status !== 200 || (r.json as { success?: boolean }).success !== true) failures.push(`push ${k}: ${r.status} ${r.body.slice(0, 200)}`);
        pushTimes.push([k, Date.now() - started, (r.json as { offlineUserIds?: string[] }).offlineUserIds?.length ?? -1]);
        pushes = k;
        await sleep(PUSH_EVERY_MS);
      }
    })();

    const restarts: Array<{ sigterm: number; ready: number; back: number }> = [];
    for (let r = 0; r < RESTARTS; r++) {
      await sleep(1_500); // live pushes in between
      const sigterm = Date.now();
      await A.down('SIGTERM');
      await A.up();
      const ready = Date.now();
      await eventually(() => clients.every((c) => c.state === 'connected' && c.states.some((s) => s.state === 'connected' && s.at > sigterm)), 30_000, `all ${CLIENTS} clients back after restart ${r + 1}`);
      restarts.push({ sigterm, ready, back: Date.now() });
    }
    await sleep(1_000);
    stop = true;
    await pusher;
    assert.deepEqual(failures, [], 'every push call succeeded');
    const total = pushes;
    const expected = (): Array<[string, number]> => Array.from({ length: total }, (_, i): [string, number] => [`s${i + 1}`, i + 1]);
    try {
      await eventually(() => clients.every((c) => c.userPushes.length >= total), 20_000, `every client has all ${total} pushes`);
    } catch (e) {
      const short = clients.filter((c) => c.userPushes.length < total);
      t.diagnostic(`${short.length} clients short of ${total} pushes`);
      for (const c of short.slice(0, 10)) {
        const got = new Set(c.userPushes.map(([id]) => id));
        const missing = expected().filter(([id]) => !got.has(id)).map(([id]) => id);
        t.diagnostic(`${c.o.user}: ${JSON.stringify(c.userPushes.map(([id, seq], i) => `${id}/${seq}/${c.pushTrace[i]![0]}@${c.pushTrace[i]![1] - started}`))}`);
        t.diagnostic(`${c.o.user}: ${c.userPushes.length} pushes, missing ${missing.slice(0, 20).join(',')}; closes ${JSON.stringify(c.wire.closes.map((x) => [x.code, x.at - started]))}; recoveries ${JSON.stringify(c.recoveries)}; states ${JSON.stringify(c.states.map((x) => [x.state, x.at - started]))}`);
      }
      t.diagnostic(`restarts ${JSON.stringify(restarts.map((x) => [x.sigterm - started, x.ready - started, x.back - started]))}`);
      for (const l of B.logs.filter((x) => /"level":"(warn|error)"/.test(x)).slice(0, 30)) t.diagnostic(`B: ${l.slice(0, 400)}`);
      for (const l of A.gw.logs.filter((x) => /"level":"(warn|error)"/.test(x)).slice(0, 30)) t.diagnostic(`A: ${l.slice(0, 400)}`);
      t.diagnostic(`push times ${JSON.stringify(pushTimes)}`);
      throw e;
    }
    await sleep(500);

    // exactly once, in order, nothing else
    for (const c of clients) assert.deepEqual(c.userPushes, expected(), `${c.o.user}: every push once, in order`);
    for (const c of clients) {
      assert.equal(c.state, 'connected');
      assert.deepEqual(c.errors, []);
      assert.ok(c.recoveries.length === RESTARTS && c.recoveries.every((x) => x.recovered), `${c.o.user}: recovered after each restart: ${JSON.stringify(c.recoveries)}`);
    }
    const codes = new Map<number, number>();
    for (const c of clients) for (const code of c.closeCodes()) codes.set(code, (codes.get(code) ?? 0) + 1);
    assert.equal(
      clients.filter((c) => c.wire.closes.filter((x) => x.code === 1001).length === RESTARTS).length,
      CLIENTS,
      'each client closed with 1001 once per restart',
    );

    // The reconnects, relative to the SIGTERM of each restart: when the SDK opened the socket that
    // got through (the handshake the gateway then has to serve: what a herd would pile up), and
    // when that login completed.
    t.diagnostic(`${total} pushes to each of ${CLIENTS} clients (${total * CLIENTS} frames), all received once and in order; close codes seen: ${JSON.stringify(Object.fromEntries(codes))}`);
    const mostWithin = (sorted: number[]): number => {
      let most = 0;
      for (let i = 0, j = 0; j < sorted.length; j++) {
        while (sorted[j]! - sorted[i]! >= BUCKET_MS) i++;
        most = Math.max(most, j - i + 1);
      }
      return most;
    };
    const pct = (k: number): string => `${((100 * k) / CLIENTS).toFixed(1)}%`;
    let worstAttempts = 0;
    const histograms = restarts.map((rs, r) => {
      const connectedAt = clients.map((c) => c.states.find((s) => s.state === 'connected' && s.at > rs.sigterm)!.at);
      const attempts = clients.map((c, k) => Math.max(...c.wire.opened.filter((at) => at <= connectedAt[k]!)) - rs.sigterm).sort((a, b) => a - b);
      const connected = connectedAt.map((at) => at - rs.sigterm).sort((a, b) => a - b);
      const down = clients.map((c, k) => connectedAt[k]! - c.wire.closes.find((x) => x.at >= rs.sigterm)!.at).sort((a, b) => a - b);
      const most = mostWithin(attempts);
      worstAttempts = Math.max(worstAttempts, most);
      t.diagnostic(
        `restart ${r + 1}: gateway back (/healthz) ${rs.ready - rs.sigterm} ms after SIGTERM, all ${CLIENTS} clients back ${rs.back - rs.sigterm} ms after it; ` +
          `close-to-connected per client: median ${down[CLIENTS >> 1]} ms, p95 ${down[Math.floor(CLIENTS * 0.95)]} ms, max ${down[CLIENTS - 1]} ms; ` +
          `most successful reconnect attempts within ${BUCKET_MS} ms: ${most} (${pct(most)}), most logins completed within ${BUCKET_MS} ms: ${mostWithin(connected)} (${pct(mostWithin(connected))})`,
      );
      const buckets = new Map<number, number>();
      for (const ms of attempts) buckets.set(Math.floor(ms / BUCKET_MS), (buckets.get(Math.floor(ms / BUCKET_MS)) ?? 0) + 1);
      return buckets;
    });
    const keys = histograms.flatMap((h) => [...h.keys()]);
    t.diagnostic(`successful reconnect attempts per ${BUCKET_MS} ms after SIGTERM (restart 1 | 2 | 3; # = 10 clients over the three):`);
    for (let b = Math.min(...keys); b <= Math.max(...keys); b++) {
      const counts = histograms.map((h) => h.get(b) ?? 0);
      const sum = counts.reduce((a, x) => a + x, 0);
      t.diagnostic(`  ${String(b * BUCKET_MS).padStart(5)}-${String((b + 1) * BUCKET_MS).padEnd(5)} ms ${counts.map((x) => String(x).padStart(4)).join(' |')}  ${'#'.repeat(Math.round(sum / 10))}`);
    }
    t.diagnostic(`soak took ${Date.now() - started} ms`);
    assert.ok(worstAttempts <= CLIENTS * HERD_SHARE, `no thundering herd: at most ${CLIENTS * HERD_SHARE} successful reconnect attempts within any ${BUCKET_MS} ms, saw ${worstAttempts}`);
    for (const c of clients) c.client.close();
  });
});

/**
 * In-memory fakes for driving the gateway core without processes, sockets or a clock: a fake
 * transport socket, a scripted token verifier, a business client whose answers the test gives,
 * a recording status-event sink and a recording remote kicker. Used by unit tests only.
 */
import pino from 'pino';
import type { ClientMessage } from '../../api/gen/im/gateway/v1/ClientMessage';
import type { ConnectionStatus } from '../../api/gen/im/gateway/v1/ConnectionStatus';
import type { HandleMessageResponseOutput } from '../../api/gen/im/gateway/v1/HandleMessageResponse';
import type { ServerMessageOutput } from '../../api/gen/im/gateway/v1/ServerMessage';
import type { Result } from '../../pkg/result';
import { err, ok } from '../../pkg/result';
import type { Identity, TokenRequest, TokenVerifier, VerifyError } from '../auth/types';
import type { Logger } from '../observability/logger';
import { CloseCode } from '../protocol/codes';
import type { GatewaySettings } from './gateway';
import type { BusinessClient } from './ports';
import type { UpstreamError } from './ports';
import type { TopicPublisher, TransportSocket, UpgradeInfo, WsHandler } from './ports';

/** Gateway settings of the in-process tests: the config defaults, with small forward and hold limits. */
export const TEST_GATEWAY_SETTINGS: GatewaySettings = {
  policy: { policy: 'one_per_platform', maxConnectionsPerUser: 10, onConflict: 'kick_old' },
  heartbeatIntervalMs: 25_000,
  refreshNoticeMs: 0,
  maxHeldBytes: 4096,
  rateLimit: { perSecond: 100, burst: 200, closeAfterViolations: 100 },
  forward: { maxInFlight: 64, maxPayloadBytes: 1024, dedupeWindowMs: 60_000, dedupeMaxEntries: 1000 },
};

/** A logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Lets every promise continuation that is ready run (one turn of the real event loop; mocked
 * timers do not mock setImmediate unless asked to).
 */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** A server frame as the client parses it. */
export type Frame = Readonly<Record<string, unknown>>;

/**
 * A TransportSocket that records what the gateway writes. `send` parses nothing (frames are kept
 * as text, parsed on read) and returns false once the socket was ended; `end` records the close
 * and, like uWebSockets.js, reports the close to `onEnd` synchronously (the transport's close
 * callback). `cork` runs its function at once and counts the call.
 */
export class FakeSocket implements TransportSocket {
  readonly sent: string[] = [];
  readonly ends: Array<{ readonly code: number; readonly reason: string }> = [];
  corks = 0;
  /** Frames written inside a cork() call, by index in `sent`. */
  readonly corked = new Set<number>();
  private read = 0;
  private inCork = false;

  /** The topics this socket is subscribed to. */
  readonly topics = new Set<string>();

  constructor(
    private readonly onEnd: (code: number) => void = () => {},
    private readonly hub?: FakeTopics,
  ) {}

  get isOpen(): boolean {
    return this.ends.length === 0;
  }

  subscribe(topic: string): void {
    if (!this.isOpen) return;
    this.topics.add(topic);
    this.hub?.sockets.add(this);
  }

  unsubscribe(topic: string): void {
    this.topics.delete(topic);
  }

  send(frame: string | Uint8Array): boolean {
    if (!this.isOpen) return false;
    if (this.inCork) this.corked.add(this.sent.length);
    this.sent.push(typeof frame === 'string' ? frame : Buffer.from(frame).toString('utf8'));
    return true;
  }

  end(code: number, reason: string): void {
    if (!this.isOpen) return;
    this.ends.push({ code, reason });
    this.onEnd(code);
  }

  cork(fn: () => void): void {
    this.corks++;
    this.inCork = true;
    try {
      fn();
    } finally {
      this.inCork = false;
    }
  }

  /** Every frame written so far, parsed. */
  frames(): Frame[] {
    return this.sent.map((s) => JSON.parse(s) as Frame);
  }

  /** The frames written since the previous take(), parsed. */
  take(): Frame[] {
    const out = this.sent.slice(this.read).map((s) => JSON.parse(s) as Frame);
    this.read = this.sent.length;
    return out;
  }

  /** The close code, or undefined while open. */
  get closeCode(): number | undefined {
    return this.ends[0]?.code;
  }
}

/** Topics as uWS keeps them: a publish writes to every open socket subscribed to the topic. */
export class FakeTopics implements TopicPublisher {
  readonly sockets = new Set<FakeSocket>();
  readonly published: Array<{ readonly topic: string; readonly written: number }> = [];

  publish(topic: string, frame: Uint8Array): number {
    let n = 0;
    for (const s of this.sockets) if (s.isOpen && s.topics.has(topic) && s.send(frame)) n++;
    this.published.push({ topic, written: n });
    return n;
  }
}

/** An ArrayBuffer holding exactly the UTF-8 bytes of `text` (what uWS hands to `message`). */
export function textBuffer(text: string): ArrayBuffer {
  const bytes = Buffer.from(text, 'utf8');
  const out = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(out).set(bytes);
  return out;
}

/**
 * One client driven as the transport drives a WsHandler: `upgrade` then `open`, frames in
 * through `message`, and `close` when the socket ends (from either side).
 */
export class TestClient<A> {
  readonly socket: FakeSocket;
  private closed = false;

  constructor(
    private readonly handler: WsHandler<A>,
    readonly attempt: A,
    topics?: FakeTopics,
  ) {
    this.socket = new FakeSocket((code) => this.closedWith(code), topics);
  }

  /** The socket opened (the transport's open callback). */
  open(): this {
    this.handler.open(this.attempt, this.socket);
    return this;
  }

  /** A text frame holding `frame` as JSON. */
  send(frame: unknown): void {
    this.sendText(JSON.stringify(frame));
  }

  sendText(text: string): void {
    if (this.closed) return;
    this.handler.message(this.attempt, textBuffer(text), false);
  }

  /** A frame of raw bytes: binary, or text carrying bytes that may not be UTF-8. */
  sendBytes(bytes: Uint8Array, isBinary: boolean): void {
    if (this.closed) return;
    const out = new ArrayBuffer(bytes.byteLength);
    new Uint8Array(out).set(bytes);
    this.handler.message(this.attempt, out, isBinary);
  }

  /** The client closed the connection (or it dropped) with `code`. */
  disconnect(code = 1000): void {
    if (!this.socket.isOpen) return;
    this.socket.ends.push({ code, reason: 'client' });
    this.closedWith(code);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  take(): Frame[] {
    return this.socket.take();
  }

  private closedWith(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.handler.close(this.attempt, code);
  }
}

/** An upgrade request with defaults for the fields a test does not set. */
export function upgradeInfo(overrides: Partial<UpgradeInfo> = {}): UpgradeInfo {
  return { token: 'tok-alice', deviceId: 'phone-1', platform: 'ios', clientIp: '10.0.0.1', traceparent: '', userAgent: 'test', recoverSeq: '', recoverEpoch: '', ...overrides };
}

/** Upgrade request, decision, then the socket (opened unless `open` is false). */
export async function connect<A>(handler: WsHandler<A>, info: Partial<UpgradeInfo> = {}, open = true, topics?: FakeTopics): Promise<TestClient<A>> {
  const attempt = await handler.upgrade(upgradeInfo(info));
  const client = new TestClient(handler, attempt, topics);
  return open ? client.open() : client;
}

/**
 * What the fake verifier answers for a token: a user (with an optional expiry, unix ms), an
 * invalid token (4401 with `message`), an expired token (4003) or an unavailable service (4503).
 */
export type TokenOutcome =
  | { readonly userId: string; readonly expireAt?: number }
  | { readonly invalid: string }
  | 'expired'
  | 'unavailable';

/**
 * A TokenVerifier answering from a table by token (an unknown token is invalid, "unknown
 * token"). `down` makes every call unavailable; `hold()` makes calls wait until `release()`
 * (a slow MUC).
 */
export class FakeTokenVerifier implements TokenVerifier {
  readonly table = new Map<string, TokenOutcome>();
  readonly requests: TokenRequest[] = [];
  down = false;
  closed = false;
  private gate: Deferred<void> | null = null;

  constructor(entries: Iterable<readonly [string, TokenOutcome]> = []) {
    for (const [token, outcome] of entries) this.table.set(token, outcome);
  }

  /** Calls from now on wait until release(). */
  hold(): void {
    this.gate ??= deferred<void>();
  }

  release(): void {
    const g = this.gate;
    this.gate = null;
    g?.resolve();
  }

  async verify(request: TokenRequest): Promise<Result<Identity, VerifyError>> {
    this.requests.push(request);
    if (this.gate !== null) await this.gate.promise;
    if (this.down) return err({ kind: 'unavailable', message: 'MUC unreachable' });
    const o = this.table.get(request.token);
    if (o === undefined) return err({ kind: 'invalid', code: 0, message: 'unknown token' });
    if (o === 'unavailable') return err({ kind: 'unavailable', message: 'MUC unreachable' });
    if (o === 'expired') return err({ kind: 'invalid', code: CloseCode.TOKEN_EXPIRED, message: 'token expired' });
    if ('invalid' in o) return err({ kind: 'invalid', code: 0, message: o.invalid });
    return ok({ userId: o.userId, deviceId: request.deviceId, platform: request.platform, expireAt: o.expireAt ?? 0, boundDeviceId: '', boundPlatform: '' });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

type ForwardResult = Result<HandleMessageResponseOutput, UpstreamError>;

/** A reply in a HandleMessageResponse, with defaults (empty id and timestamp 0: the gateway fills them). */
export function reply(fields: Partial<Omit<ServerMessageOutput, 'payload'>> & { readonly payload?: unknown }): ServerMessageOutput {
  const { payload, ...rest } = fields;
  return {
    messageId: '',
    type: 'reply',
    timestamp: 0,
    replyTo: '',
    metadata: {},
    ...rest,
    payload: payload === undefined ? Buffer.alloc(0) : Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload)),
  };
}

/** One HandleMessage call the fake business client received, with the means to answer it. */
export class ForwardCall {
  private answered = false;

  constructor(
    readonly msg: ClientMessage,
    readonly traceparent: string,
    private readonly answer: Deferred<ForwardResult>,
  ) {}

  get settled(): boolean {
    return this.answered;
  }

  /** Answers HandleMessageResponse{code, message, replies}. */
  respond(code = 0, message = '', replies: readonly ServerMessageOutput[] = []): void {
    this.resolve(ok({ code, message, replies: [...replies] }));
  }

  /** Fails the call as the gRPC client classifies it. */
  fail(kind: UpstreamError['kind'], message = `business ${kind}`): void {
    this.resolve(err(kind === 'failed' ? { kind, code: 13, message } : { kind, message }));
  }

  /** The payload the gateway forwarded, as text. */
  get payloadText(): string {
    const p = this.msg.payload;
    return p === undefined ? '' : typeof p === 'string' ? p : Buffer.from(p).toString('utf8');
  }

  private resolve(r: ForwardResult): void {
    if (this.answered) throw new Error(`call for ${this.msg.messageId ?? '?'} answered twice`);
    this.answered = true;
    this.answer.resolve(r);
  }
}

/**
 * A BusinessClient whose HandleMessage calls wait until the test answers them (`calls[i]`).
 * Status events are accepted at once and recorded.
 */
export class FakeBusinessClient implements BusinessClient {
  readonly calls: ForwardCall[] = [];
  readonly statuses: ConnectionStatus[] = [];

  handleMessage(msg: ClientMessage, traceparent: string): Promise<ForwardResult> {
    const answer = deferred<ForwardResult>();
    this.calls.push(new ForwardCall(msg, traceparent, answer));
    return answer.promise;
  }

  /** The call number `i`; throws naming the calls made when there is none. */
  call(i: number): ForwardCall {
    const c = this.calls[i];
    if (c === undefined) throw new Error(`HandleMessage call #${i} was not made; calls: [${this.ids().join(', ')}]`);
    return c;
  }

  /** Message ids of the calls made, in call order. */
  ids(): string[] {
    return this.calls.map((c) => c.msg.messageId ?? '');
  }

  async onConnectionStatus(status: ConnectionStatus): Promise<Result<void, UpstreamError>> {
    this.statuses.push(status);
    return ok(undefined);
  }

  async close(): Promise<void> {}
}

/** A status-event sink that keeps every event. */
export class RecordingEvents {
  readonly events: ConnectionStatus[] = [];

  publish(event: ConnectionStatus): void {
    this.events.push(event);
  }

  /** `event/deviceId/reason` of each event, in order. */
  summary(): string[] {
    return this.events.map((e) => `${String(e.event).replace('CONNECTION_EVENT_', '').toLowerCase()}/${e.deviceId ?? ''}/${e.reason ?? ''}`);
  }
}

export interface RemoteKick {
  readonly instanceId: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly epoch: number;
  readonly code: number;
  readonly reason: string;
}

/**
 * The cluster's kick of a policy victim owned by another instance: records each call and hands it
 * to `deliver` (e.g. the other instance's Gateway.kickEpoch); resolves whether it was delivered.
 */
export class RecordingRemoteKicker {
  readonly kicks: RemoteKick[] = [];

  constructor(private readonly deliver: (k: RemoteKick) => boolean = () => true) {}

  async kickRemote(instanceId: string, userId: string, deviceId: string, epoch: number, code: number, reason: string): Promise<boolean> {
    const k: RemoteKick = { instanceId, userId, deviceId, epoch, code, reason };
    this.kicks.push(k);
    return this.deliver(k);
  }
}

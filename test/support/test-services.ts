/**
 * Real gRPC test services for integration tests and manual runs: an MUC token service, a business
 * message service and a server-push stream service. They are grpc-js servers speaking the
 * contract in api/im_gateway.proto (not mocks), with knobs to make them slow, unavailable or
 * failing, and awaitable records of everything they received.
 *
 * Every service: `await X.start(port?, host?)` (port 0 = a free port below 32768), `.port`,
 * `.address`, `await .stop()` (idempotent; ends pending slow calls and open streams). A stopped service's port can be reused at once by
 * `X.start(samePort)` (restart tests).
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '../../internal/rpc/proto';
import { freePort } from './ports';
import type { TokenValidateRequestOutput } from '../../api/gen/im/gateway/v1/TokenValidateRequest';
import type { TokenValidateResponse } from '../../api/gen/im/gateway/v1/TokenValidateResponse';
import type { MUCServiceHandlers } from '../../api/gen/im/gateway/v1/MUCService';
import type { ClientMessageOutput } from '../../api/gen/im/gateway/v1/ClientMessage';
import type { HandleMessageResponse } from '../../api/gen/im/gateway/v1/HandleMessageResponse';
import type { ConnectionStatusOutput } from '../../api/gen/im/gateway/v1/ConnectionStatus';
import type { BusinessMessageServiceHandlers } from '../../api/gen/im/gateway/v1/BusinessMessageService';
import type { HeartbeatOutput } from '../../api/gen/im/gateway/v1/Heartbeat';
import type { ServerPush } from '../../api/gen/im/gateway/v1/ServerPush';
import type { ServerPushServiceHandlers } from '../../api/gen/im/gateway/v1/ServerPushService';

export type { TokenValidateRequestOutput, TokenValidateResponse, ClientMessageOutput, HandleMessageResponse };
export type { ConnectionStatusOutput, HeartbeatOutput, ServerPush };

/** How long stop() lets in-flight calls finish before it forces the server down. */
const SHUTDOWN_GRACE_MS = 300;
/** How long start(port) retries a port that is still held (restart right after stop()). */
const BIND_RETRY_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/** gRPC metadata as a plain object: string values as-is, binary (-bin) values as base64. */
export function metadataToRecord(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) {
    out[k] = typeof v === 'string' ? v : Buffer.from(v).toString('base64');
  }
  return out;
}

function brief(value: unknown, max = 2_000): string {
  let s: string;
  try {
    s = JSON.stringify(value, (_k, v: unknown) => {
      if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
        return `<Buffer ${Buffer.from((v as { data: number[] }).data).toString('utf8')}>`;
      }
      return v;
    });
  } catch {
    s = String(value);
  }
  return s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
}

/**
 * Resolves with check()'s first non-undefined result, checking now and after each of `events` on
 * `emitter`; rejects after timeoutMs with a message naming what was awaited and what was seen.
 */
function waitUntil<T>(
  emitter: EventEmitter,
  events: string[],
  check: () => T | undefined,
  timeoutMs: number,
  describe: () => string,
): Promise<T> {
  const first = check();
  if (first !== undefined) return Promise.resolve(first);
  return new Promise<T>((resolve, reject) => {
    const onEvent = (): void => {
      let r: T | undefined;
      try {
        r = check();
      } catch (err) {
        cleanup();
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (r !== undefined) {
        cleanup();
        resolve(r);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      for (const e of events) emitter.off(e, onEvent);
    };
    for (const e of events) emitter.on(e, onEvent);
  });
}

type PauseResult = 'elapsed' | 'closed' | 'cancelled';

function bindOnce(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) reject(err);
      else resolve(bound);
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Shared lifecycle: bind (with retry on a just-released port), pausable calls, stop(). */
abstract class GrpcTestServer {
  /** Emits 'call', 'message', 'status', 'heartbeat', 'stream', 'streamClosed', 'stopped'. */
  readonly events = new EventEmitter();
  private server: grpc.Server | undefined;
  private boundPort = 0;
  private boundHost = '127.0.0.1';
  private stopping: Promise<void> | undefined;
  private readonly pauses = new Set<(r: PauseResult) => void>();

  protected constructor() {
    this.events.setMaxListeners(0);
  }

  /** The bound port. */
  get port(): number {
    return this.boundPort;
  }

  /** `127.0.0.1:<port>` (or `<host>:<port>` when bound to another host than 0.0.0.0/::). */
  get address(): string {
    const h = this.boundHost === '0.0.0.0' || this.boundHost === '::' ? '127.0.0.1' : this.boundHost;
    return `${h}:${this.boundPort}`;
  }

  /** True once stop() was called. */
  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  protected abstract addServices(server: grpc.Server): void;

  /** Called by stop() before the server shuts down (e.g. to end open streams). */
  protected beforeShutdown(): void {
    // nothing by default
  }

  /**
   * Binds port on host. Port 0 picks a free port below 32768 (this machine's listening ports
   * must be below 32768, while the OS would pick one in its ephemeral range above).
   */
  protected async listen(port: number, host: string): Promise<void> {
    const deadline = Date.now() + BIND_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      const server = new grpc.Server();
      this.addServices(server);
      const wanted = port === 0 ? await freePort(host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host) : port;
      try {
        this.boundPort = await bindOnce(server, host, wanted);
        this.boundHost = host;
        this.server = server;
        return;
      } catch (err) {
        server.forceShutdown();
        if (port === 0 && attempt < 10) continue; // someone took the free port meanwhile
        // A port released a moment ago by a stopped instance may still be held briefly.
        if (port === 0 || Date.now() >= deadline) {
          const msg = err instanceof Error ? err.message : String(err);
          throw new Error(`${this.constructor.name}: cannot bind ${host}:${port}: ${msg}`, { cause: err });
        }
        await delay(50);
      }
    }
  }

  /**
   * Waits ms, unless the server stops first ('closed') or the client cancels the call
   * ('cancelled', e.g. its deadline passed).
   */
  protected pause(ms: number, call?: EventEmitter): Promise<PauseResult> {
    if (this.stopping) return Promise.resolve('closed');
    if (ms <= 0) return Promise.resolve('elapsed');
    return new Promise<PauseResult>((resolve) => {
      const finish = (r: PauseResult): void => {
        clearTimeout(timer);
        this.pauses.delete(finish);
        call?.off('cancelled', onCancelled);
        resolve(r);
      };
      const onCancelled = (): void => finish('cancelled');
      const timer = setTimeout(() => finish('elapsed'), ms);
      this.pauses.add(finish);
      call?.on('cancelled', onCancelled);
    });
  }

  /** Stops the server: ends pending slow calls, lets in-flight calls finish briefly, then forces. */
  stop(): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    for (const finish of [...this.pauses]) finish('closed');
    this.beforeShutdown();
    const server = this.server;
    if (server) {
      await new Promise<void>((resolve) => {
        let done = false;
        const timer = setTimeout(() => {
          if (done) return;
          done = true;
          server.forceShutdown();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          // Closes anything tryShutdown left (idle client sessions) so the port is free at once.
          server.forceShutdown();
          resolve();
        });
      });
      // Let the listening handle close before anyone rebinds the port.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.events.emit('stopped');
  }
}

function unavailable(details: string): grpc.ServerErrorResponse {
  return Object.assign(new Error(details), { code: grpc.status.UNAVAILABLE, details });
}

function statusError(code: grpc.status, details: string): grpc.ServerErrorResponse {
  return Object.assign(new Error(details), { code, details });
}

/** Calls a unary callback, ignoring failures of a call that the server already tore down. */
function safeAnswer<T>(callback: grpc.sendUnaryData<T>, err: grpc.ServerErrorResponse | null, value?: T): void {
  try {
    if (err) callback(err);
    else callback(null, value);
  } catch {
    // the call is gone (server force-stopped or client cancelled)
  }
}

// ---------------------------------------------------------------------------------------------
// MUC service
// ---------------------------------------------------------------------------------------------

export interface TestTokenEntry {
  userId: string;
  /** Unix ms; 0 = no expiry. */
  expireAt: number;
  /** When set, returned instead of the request's device_id. */
  deviceId?: string;
}

export type TestServiceMode = 'ok' | 'unavailable' | 'slow';

/** MUCService.ValidateToken backed by a token table. */
export class TestMucService extends GrpcTestServer {
  readonly tokens = new Map<string, TestTokenEntry>();
  /** Every request received, in order (whatever the mode). */
  readonly calls: TokenValidateRequestOutput[] = [];
  /** Incoming metadata of each call, parallel to `calls`. */
  readonly metadata: Record<string, string>[] = [];
  /** ok: answer from the table; unavailable: UNAVAILABLE status; slow: answer after slowMs. */
  mode: TestServiceMode = 'ok';
  slowMs = 10_000;
  /** Artificial delay before every answer (any mode). */
  delayMs = 0;
  /** Calls that the client cancelled (deadline) before they were answered. */
  cancelledCalls = 0;
  /**
   * Optional override: when it returns a response, that is the answer; when it returns
   * undefined, the token table decides.
   */
  handler?: (req: TokenValidateRequestOutput) => TokenValidateResponse | undefined;
  /** Optional fallback for tokens missing from the table (e.g. accept a prefix in benchmarks). */
  resolveToken?: (token: string) => TestTokenEntry | undefined;

  private constructor() {
    super();
  }

  static async start(port = 0, host = '127.0.0.1'): Promise<TestMucService> {
    const s = new TestMucService();
    await s.listen(port, host);
    return s;
  }

  get callCount(): number {
    return this.calls.length;
  }

  addToken(token: string, userId: string, opts: { expireAt?: number; deviceId?: string } = {}): this {
    const entry: TestTokenEntry = { userId, expireAt: opts.expireAt ?? 0 };
    if (opts.deviceId !== undefined) entry.deviceId = opts.deviceId;
    this.tokens.set(token, entry);
    return this;
  }

  removeToken(token: string): boolean {
    return this.tokens.delete(token);
  }

  /** Clears the recorded calls (not the token table or the modes). */
  reset(): void {
    this.calls.length = 0;
    this.metadata.length = 0;
    this.cancelledCalls = 0;
  }

  /** Calls of one token, in order. */
  callsFor(token: string): TokenValidateRequestOutput[] {
    return this.calls.filter((c) => c.token === token);
  }

  /** Resolves once at least n calls were received in total; with the calls so far. */
  waitForCalls(n: number, timeoutMs = 5_000): Promise<TokenValidateRequestOutput[]> {
    return waitUntil(
      this.events,
      ['call'],
      () => (this.calls.length >= n ? this.calls.slice() : undefined),
      timeoutMs,
      () => `${n} ValidateToken call(s) on TestMucService ${this.address}; got ${this.calls.length}: ${brief(this.calls.map((c) => ({ ...c, token: '…' })))}`,
    );
  }

  /** The answer the table gives for a request (mode and delays aside). */
  answer(req: TokenValidateRequestOutput): TokenValidateResponse {
    const custom = this.handler?.(req);
    if (custom) return custom;
    const entry = this.tokens.get(req.token) ?? this.resolveToken?.(req.token);
    if (!entry) return { valid: false, code: 4401, message: 'unknown token' };
    return {
      valid: true,
      userId: entry.userId,
      deviceId: entry.deviceId ?? req.deviceId,
      platform: req.platform,
      expireAt: entry.expireAt,
      code: 0,
      message: 'ok',
    };
  }

  protected addServices(server: grpc.Server): void {
    const handlers: MUCServiceHandlers = {
      ValidateToken: (call, callback) => {
        const req = call.request;
        const mode = this.mode;
        this.calls.push(req);
        this.metadata.push(metadataToRecord(call.metadata));
        this.events.emit('call', req);
        void (async () => {
          const gone = (r: PauseResult): boolean => {
            if (r === 'elapsed') return false;
            if (r === 'cancelled') this.cancelledCalls++;
            else safeAnswer(callback, unavailable('test MUC service stopped'));
            return true;
          };
          if (this.delayMs > 0 && gone(await this.pause(this.delayMs, call))) return;
          if (mode === 'unavailable') {
            safeAnswer(callback, unavailable('test MUC service unavailable'));
            return;
          }
          if (mode === 'slow' && gone(await this.pause(this.slowMs, call))) return;
          let res: TokenValidateResponse;
          try {
            res = this.answer(req);
          } catch (err) {
            safeAnswer(callback, statusError(grpc.status.INTERNAL, `test MUC handler threw: ${String(err)}`));
            return;
          }
          safeAnswer(callback, null, res);
        })();
      },
    };
    server.addService(loadProto().grpcType.im.gateway.v1.MUCService.service, handlers);
  }
}

// ---------------------------------------------------------------------------------------------
// Business message service
// ---------------------------------------------------------------------------------------------

export type TestBusinessMode = 'ok' | 'unavailable' | 'slow' | 'error';

/** The JSON value of a forwarded message's payload (undefined when it is not JSON). */
export function payloadJson(msg: ClientMessageOutput): unknown {
  try {
    return JSON.parse(Buffer.from(msg.payload).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** BusinessMessageService: HandleMessage and OnConnectionStatus. */
export class TestBusinessService extends GrpcTestServer {
  /** Every HandleMessage request received, in order (whatever the mode). */
  readonly messages: ClientMessageOutput[] = [];
  /** Incoming metadata of each HandleMessage call, parallel to `messages`. */
  readonly messageMetadata: Record<string, string>[] = [];
  /** Statuses that were accepted (answered with success); a rejected attempt is not listed. */
  readonly statuses: ConnectionStatusOutput[] = [];
  /** Every OnConnectionStatus request received, accepted or not. */
  readonly statusAttempts: ConnectionStatusOutput[] = [];
  /** Incoming metadata of each OnConnectionStatus call, parallel to `statusAttempts`. */
  readonly statusMetadata: Record<string, string>[] = [];
  /** Answers HandleMessage in 'ok' mode (and after slowMs in 'slow' mode). */
  handler?: (msg: ClientMessageOutput, metadata: Record<string, string>) => HandleMessageResponse | Promise<HandleMessageResponse>;
  /** ok: handler; unavailable: UNAVAILABLE; slow: no answer before slowMs or stop(); error: INTERNAL. */
  mode: TestBusinessMode = 'ok';
  slowMs = 30_000;
  /** Artificial delay before every HandleMessage answer (any mode). */
  delayMs = 0;
  statusMode: 'ok' | 'unavailable' = 'ok';
  /** HandleMessage calls that the client cancelled (deadline) before they were answered. */
  cancelledCalls = 0;
  /** HandleMessage calls received but not answered yet. */
  inFlight = 0;

  private constructor() {
    super();
  }

  static async start(port = 0, host = '127.0.0.1'): Promise<TestBusinessService> {
    const s = new TestBusinessService();
    await s.listen(port, host);
    return s;
  }

  /** Clears the records (not the modes or the handler). */
  reset(): void {
    this.messages.length = 0;
    this.messageMetadata.length = 0;
    this.statuses.length = 0;
    this.statusAttempts.length = 0;
    this.statusMetadata.length = 0;
    this.cancelledCalls = 0;
  }

  /** Resolves once at least n messages were received in total; with all messages so far. */
  waitForMessages(n: number, timeoutMs = 5_000): Promise<ClientMessageOutput[]> {
    return waitUntil(
      this.events,
      ['message'],
      () => (this.messages.length >= n ? this.messages.slice() : undefined),
      timeoutMs,
      () => `${n} HandleMessage call(s) on TestBusinessService ${this.address}; got ${this.messages.length}: ${brief(this.messages)}`,
    );
  }

  /** Resolves with the first received message (existing or future) that matches. */
  waitForMessage(predicate: (m: ClientMessageOutput) => boolean, timeoutMs = 5_000): Promise<ClientMessageOutput> {
    return waitUntil(
      this.events,
      ['message'],
      () => this.messages.find(predicate),
      timeoutMs,
      () => `a HandleMessage call matching ${String(predicate).slice(0, 200)} on ${this.address}; got ${this.messages.length}: ${brief(this.messages)}`,
    );
  }

  /**
   * Resolves once at least `count` accepted statuses match the predicate; with the matching
   * statuses (existing or future).
   */
  waitForStatuses(
    predicate: (s: ConnectionStatusOutput) => boolean = () => true,
    timeoutMs = 5_000,
    count = 1,
  ): Promise<ConnectionStatusOutput[]> {
    return waitUntil(
      this.events,
      ['status'],
      () => {
        const m = this.statuses.filter(predicate);
        return m.length >= count ? m : undefined;
      },
      timeoutMs,
      () =>
        `${count} accepted OnConnectionStatus call(s) matching ${String(predicate).slice(0, 200)} on ${this.address}; ` +
        `accepted ${this.statuses.length}: ${brief(this.statuses)}; attempts ${this.statusAttempts.length}`,
    );
  }

  protected addServices(server: grpc.Server): void {
    const handlers: BusinessMessageServiceHandlers = {
      HandleMessage: (call, callback) => {
        const msg = call.request;
        const md = metadataToRecord(call.metadata);
        const mode = this.mode;
        this.messages.push(msg);
        this.messageMetadata.push(md);
        this.inFlight++;
        this.events.emit('message', msg);
        let answered = false;
        const answer = (err: grpc.ServerErrorResponse | null, value?: HandleMessageResponse): void => {
          if (answered) return;
          answered = true;
          this.inFlight--;
          safeAnswer(callback, err, value);
        };
        void (async () => {
          const gone = (r: PauseResult): boolean => {
            if (r === 'elapsed') return false;
            if (r === 'cancelled') {
              this.cancelledCalls++;
              if (!answered) {
                answered = true;
                this.inFlight--;
              }
            } else answer(unavailable('test business service stopped'));
            return true;
          };
          if (this.delayMs > 0 && gone(await this.pause(this.delayMs, call))) return;
          if (mode === 'unavailable') return answer(unavailable('test business service unavailable'));
          if (mode === 'error') return answer(statusError(grpc.status.INTERNAL, 'test business service error'));
          if (mode === 'slow' && gone(await this.pause(this.slowMs, call))) return;
          try {
            const res = this.handler ? await this.handler(msg, md) : { code: 0, message: 'ok', replies: [] };
            answer(null, res);
          } catch (err) {
            answer(statusError(grpc.status.INTERNAL, `test business handler threw: ${String(err)}`));
          }
        })();
      },
      OnConnectionStatus: (call, callback) => {
        const st = call.request;
        this.statusAttempts.push(st);
        this.statusMetadata.push(metadataToRecord(call.metadata));
        this.events.emit('statusAttempt', st);
        if (this.statusMode === 'unavailable' || this.stopped) {
          safeAnswer(callback, unavailable('test business service unavailable'));
          return;
        }
        this.statuses.push(st);
        safeAnswer(callback, null, { success: true });
        this.events.emit('status', st);
      },
    };
    server.addService(loadProto().grpcType.im.gateway.v1.BusinessMessageService.service, handlers);
  }
}

// ---------------------------------------------------------------------------------------------
// Server push stream service
// ---------------------------------------------------------------------------------------------

type PushStream = grpc.ServerDuplexStream<HeartbeatOutput, ServerPush>;

/** ServerPushService.Connect: records heartbeats, keeps the open streams, sends commands. */
export class TestServerPushService extends GrpcTestServer {
  readonly heartbeats: HeartbeatOutput[] = [];
  /** Incoming metadata of each stream, in the order the streams were opened. */
  readonly streamMetadata: Record<string, string>[] = [];
  /** Streams opened since start (open or not). */
  streamsOpened = 0;
  private readonly open = new Set<PushStream>();

  private constructor() {
    super();
  }

  static async start(port = 0, host = '127.0.0.1'): Promise<TestServerPushService> {
    const s = new TestServerPushService();
    await s.listen(port, host);
    return s;
  }

  /** Streams open now. */
  get streamCount(): number {
    return this.open.size;
  }

  reset(): void {
    this.heartbeats.length = 0;
  }

  /** Writes the command to every open stream; returns how many streams it was written to. */
  sendCommand(cmd: ServerPush): number {
    let n = 0;
    for (const s of this.open) {
      try {
        s.write(cmd);
        n++;
      } catch {
        this.open.delete(s);
      }
    }
    return n;
  }

  /**
   * Ends every open stream: with status OK by default, or with the given error status (the
   * gateway is expected to reconnect either way).
   */
  endStreams(code: grpc.status = grpc.status.OK, details = 'closed by test'): number {
    const streams = [...this.open];
    this.open.clear();
    for (const s of streams) {
      try {
        if (code === grpc.status.OK) s.end();
        else s.emit('error', statusError(code, details));
      } catch {
        // already gone
      }
    }
    if (streams.length > 0) this.events.emit('streamClosed');
    return streams.length;
  }

  /** Resolves once at least one stream is open; with the number of open streams. */
  waitForStream(timeoutMs = 5_000): Promise<number> {
    return waitUntil(
      this.events,
      ['stream'],
      () => (this.open.size > 0 ? this.open.size : undefined),
      timeoutMs,
      () => `an open ServerPushService.Connect stream on ${this.address} (opened so far: ${this.streamsOpened})`,
    );
  }

  /** Resolves once at least n streams were opened since start. */
  waitForStreamsOpened(n: number, timeoutMs = 5_000): Promise<number> {
    return waitUntil(
      this.events,
      ['stream'],
      () => (this.streamsOpened >= n ? this.streamsOpened : undefined),
      timeoutMs,
      () => `${n} ServerPushService.Connect stream(s) opened on ${this.address}; got ${this.streamsOpened}`,
    );
  }

  /** Resolves once no stream is open. */
  waitForNoStream(timeoutMs = 5_000): Promise<void> {
    return waitUntil(
      this.events,
      ['streamClosed'],
      () => (this.open.size === 0 ? true : undefined),
      timeoutMs,
      () => `all ServerPushService streams on ${this.address} to close; open: ${this.open.size}`,
    ).then(() => undefined);
  }

  /** Resolves with the first heartbeat (already received or future) matching the predicate. */
  waitForHeartbeat(timeoutMs = 5_000, predicate: (hb: HeartbeatOutput) => boolean = () => true): Promise<HeartbeatOutput> {
    return waitUntil(
      this.events,
      ['heartbeat'],
      () => this.heartbeats.find(predicate),
      timeoutMs,
      () => `a Heartbeat matching ${String(predicate).slice(0, 200)} on ${this.address}; got ${this.heartbeats.length}: ${brief(this.heartbeats.slice(-10))}`,
    );
  }

  /** Resolves once at least n heartbeats were received since start; with all of them. */
  waitForHeartbeats(n: number, timeoutMs = 5_000): Promise<HeartbeatOutput[]> {
    return waitUntil(
      this.events,
      ['heartbeat'],
      () => (this.heartbeats.length >= n ? this.heartbeats.slice() : undefined),
      timeoutMs,
      () => `${n} Heartbeat(s) on ${this.address}; got ${this.heartbeats.length}`,
    );
  }

  protected override beforeShutdown(): void {
    this.endStreams(grpc.status.UNAVAILABLE, 'test push service stopped');
  }

  protected addServices(server: grpc.Server): void {
    const handlers: ServerPushServiceHandlers = {
      Connect: (call) => {
        if (this.stopped) {
          call.emit('error', unavailable('test push service stopped'));
          return;
        }
        this.open.add(call);
        this.streamsOpened++;
        this.streamMetadata.push(metadataToRecord(call.metadata));
        const closed = (): void => {
          if (this.open.delete(call)) this.events.emit('streamClosed');
        };
        call.on('data', (hb: HeartbeatOutput) => {
          this.heartbeats.push(hb);
          this.events.emit('heartbeat', hb);
        });
        call.on('end', () => {
          // the client half-closed: finish our side too
          closed();
          try {
            call.end();
          } catch {
            // already ended
          }
        });
        call.on('cancelled', closed);
        call.on('error', closed);
        call.on('close', closed);
        this.events.emit('stream', call);
      },
    };
    server.addService(loadProto().grpcType.im.gateway.v1.ServerPushService.service, handlers);
  }
}

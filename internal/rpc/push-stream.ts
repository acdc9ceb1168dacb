import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Heartbeat } from '../../api/gen/im/gateway/v1/Heartbeat';
import type { PushRequestOutput } from '../../api/gen/im/gateway/v1/PushRequest';
import type { ServerPushOutput } from '../../api/gen/im/gateway/v1/ServerPush';
import type { ServerPushServiceClient } from '../../api/gen/im/gateway/v1/ServerPushService';
import { Backoff } from '../../pkg/backoff';
import type { Result } from '../../pkg/result';
import type { Logger } from '../observability/logger';
import type { ApiError, CallContext, GatewayApi } from './api';
import type { TripleIdentity, UpstreamPool } from './upstream';
import { tripleMetadata } from './upstream';

export interface PushStreamSettings {
  /** Interval between heartbeats on an open stream, in ms (one is also sent at once). */
  readonly heartbeatIntervalMs: number;
  /** First reconnect delay, in ms. */
  readonly reconnectInitialMs: number;
  /** Largest reconnect delay, in ms. */
  readonly reconnectMaxMs: number;
}

/**
 * - `idle`: constructed, start() not called yet;
 * - `connecting`: a Connect call exists but is not known to be established yet;
 * - `open`: the stream is established (a heartbeat went out on a ready channel, or the server
 *   sent metadata or a command);
 * - `backoff`: the last stream ended or could not be opened; a reconnect is scheduled;
 * - `closed`: close() was called; nothing happens any more.
 */
export type PushStreamState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

export interface PushStreamStats {
  /** Connect calls made (attempts, successful or not). */
  connects: number;
  /** Attempts that ended (stream ended or failed, or could not be made), except by close(). */
  disconnects: number;
  /** ServerPush commands received. */
  commands: number;
  /** Commands that failed: an ApiError answer, no command set, or a handler that threw. */
  commandErrors: number;
  /** Heartbeats written (write acknowledged by grpc-js). */
  heartbeats: number;
}

/** Outcome of one executed command, as emitted with the 'command' event. */
export interface PushCommandOutcome {
  readonly commandId: string;
  /** The IMAGatewayService method called; '' when the command had no oneof set. */
  readonly method: 'PushToUser' | 'PushToUsers' | 'Broadcast' | 'KickUser' | 'PushToRoom' | '';
  readonly ok: boolean;
  readonly error?: ApiError;
}

type PushApi = Pick<GatewayApi, 'PushToUser' | 'PushToUsers' | 'Broadcast' | 'KickUser' | 'PushToRoom'>;
type PushClient = ServerPushServiceClient & grpc.Client;
type PushCall = grpc.ClientDuplexStream<Heartbeat, ServerPushOutput>;

/** Deadline given to every command, as the CallContext of the API call. */
export const COMMAND_DEADLINE_MS = 10_000;
/** CallContext header naming where a call came from. */
export const PUSH_STREAM_SOURCE_HEADERS: Readonly<Record<string, string>> = { 'x-ima-source': 'push-stream' };
/** Successful heartbeats after which a stream counts as stable (the backoff is reset). */
const STABLE_AFTER_HEARTBEATS = 2;
/** Longest single wait on the channel's connectivity state (re-armed while connecting). */
const READY_WATCH_MS = 1_000;
/** How long close() waits for the cancelled call to report its status. */
const CLOSE_WAIT_MS = 500;

/** One Connect call and what is known about it. */
interface Attempt {
  readonly id: number;
  readonly client: PushClient;
  readonly call: PushCall;
  /** The first heartbeat write was acknowledged. */
  written: boolean;
  open: boolean;
  done: boolean;
  /** Heartbeats acknowledged on this stream. */
  heartbeatsOk: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The gateway side of `ServerPushService.Connect` (SPEC.md section 6, "Server push stream").
 *
 * Keeps one stream open to a provider of the pool, sends a `Heartbeat` (from the `heartbeat`
 * callback, called for every heartbeat) at once and every `heartbeatIntervalMs`, and executes each
 * received `ServerPush` like the matching IMAGatewayService call: `push` with `user_ids` ->
 * PushToUsers (a `user_id` also set is added to the list), `push` with only `user_id` ->
 * PushToUser, `broadcast` -> Broadcast, `kick` -> KickUser, `room_push` -> PushToRoom. Commands run concurrently (the stream
 * is never blocked by one); failures are counted and logged, never thrown.
 *
 * A stream that ends or fails (or a missing provider) is reopened after an exponential backoff
 * with jitter; the backoff is reset once a stream is stable (two heartbeats acknowledged on a
 * ready channel, or a command received).
 *
 * grpc-js has no "stream open" event and acknowledges writes early (its retry buffer), so a
 * stream counts as `open` when its first heartbeat was acknowledged while the channel is READY
 * (watched while connecting), or when the server sent metadata or a command.
 *
 * The client owns the pool: close() closes it. Events: 'state' (state, previous), 'backoff'
 * (delayMs, attempt), 'command' (PushCommandOutcome), for observers and tests.
 */
export class PushStreamClient extends EventEmitter {
  readonly stats: PushStreamStats = { connects: 0, disconnects: 0, commands: 0, commandErrors: 0, heartbeats: 0 };
  private currentState: PushStreamState = 'idle';
  private readonly backoff: Backoff;
  private attempt: Attempt | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly pool: UpstreamPool<PushClient>,
    private readonly triple: TripleIdentity,
    private readonly heartbeat: () => Heartbeat,
    private readonly api: PushApi,
    private readonly settings: PushStreamSettings,
    private readonly log: Logger,
  ) {
    super();
    this.backoff = new Backoff({ initialMs: settings.reconnectInitialMs, maxMs: Math.max(settings.reconnectInitialMs, settings.reconnectMaxMs), jitter: 0.2 });
  }

  get state(): PushStreamState {
    return this.currentState;
  }

  /** Opens the stream; idempotent (does nothing once started or closed). */
  start(): void {
    if (this.currentState !== 'idle') return;
    this.connect();
  }

  /**
   * Ends the stream (half-close, then cancel), stops every timer and closes the pool; no
   * reconnect follows. Resolves once the call reported its end (or after a short wait).
   */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.setState('closed');
    if (this.reconnectTimer !== undefined) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
    const a = this.attempt;
    this.attempt = undefined;
    if (a !== undefined) {
      this.stopHeartbeats(a);
      a.done = true;
      const call = a.call;
      await new Promise<void>((resolve) => {
        const finish = (): void => {
          clearTimeout(timer);
          call.off('status', finish);
          call.off('close', finish);
          resolve();
        };
        const timer = setTimeout(finish, CLOSE_WAIT_MS);
        timer.unref();
        call.once('status', finish);
        call.once('close', finish);
        try {
          call.end();
        } catch (e) {
          this.log.debug({ err: errText(e) }, 'push stream: half-close failed');
        }
        call.cancel();
      });
    }
    this.pool.close();
    this.log.info({ stats: { ...this.stats } }, 'push stream closed');
  }

  // -------------------------------------------------------------------------------------------
  // connection lifecycle
  // -------------------------------------------------------------------------------------------

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.currentState === 'closed') return;
    this.setState('connecting');
    this.stats.connects++;
    const client = this.pool.pick();
    if (client === undefined) {
      this.failed(undefined, `no provider of ${this.pool.service}`);
      return;
    }
    let call: PushCall;
    try {
      call = client.Connect(tripleMetadata(this.triple));
    } catch (e) {
      this.failed(undefined, errText(e));
      return;
    }
    const a: Attempt = { id: ++this.attempts, client, call, written: false, open: false, done: false, heartbeatsOk: 0, timer: undefined };
    this.attempt = a;

    call.on('metadata', () => this.markOpen(a));
    call.on('data', (cmd: ServerPushOutput) => {
      if (a.done) return;
      this.markOpen(a);
      this.backoff.reset();
      this.execute(cmd);
    });
    call.on('error', (e: unknown) => this.ended(a, errText(e)));
    call.on('end', () => this.ended(a, 'stream ended by the server'));
    call.on('status', (s: grpc.StatusObject) => this.ended(a, `status ${grpc.status[s.code] ?? s.code}: ${s.details}`));

    this.sendHeartbeat(a);
    a.timer = setInterval(() => this.sendHeartbeat(a), Math.max(1, this.settings.heartbeatIntervalMs));
    a.timer.unref();
    this.watchReady(a);
  }

  /** The stream is established: it goes 'open' (once). */
  private markOpen(a: Attempt): void {
    if (a.done || a.open || this.attempt !== a) return;
    a.open = true;
    this.setState('open');
    this.log.info({ attempt: a.id, peer: safePeer(a.call) }, 'push stream open');
  }

  /** 'open' once the first heartbeat was acknowledged and the channel is READY. */
  private maybeOpen(a: Attempt): void {
    if (a.written && channelState(a.client) === grpc.connectivityState.READY) this.markOpen(a);
  }

  /** While connecting, follows the channel's connectivity state to notice READY. */
  private watchReady(a: Attempt): void {
    if (a.done || a.open || this.attempt !== a) return;
    this.maybeOpen(a);
    if (a.open) return;
    const st = channelState(a.client);
    if (st === undefined || st === grpc.connectivityState.SHUTDOWN) return;
    try {
      a.client.getChannel().watchConnectivityState(st, Date.now() + READY_WATCH_MS, () => this.watchReady(a));
    } catch (e) {
      // the channel was shut down meanwhile (pool changed or closed): the call fails on its own
      this.log.debug({ err: errText(e) }, 'push stream: cannot watch the channel');
    }
  }

  /** The attempt's stream ended or failed (first report wins): back off and reconnect. */
  private ended(a: Attempt, reason: string): void {
    if (a.done) return;
    a.done = true;
    this.stopHeartbeats(a);
    if (this.attempt !== a) return; // close() took it
    this.attempt = undefined;
    // the server may have finished only its side; make sure ours is gone too
    a.call.cancel();
    this.failed(a, reason);
  }

  private failed(a: Attempt | undefined, reason: string): void {
    this.stats.disconnects++;
    if (this.currentState === 'closed') return;
    const delay = this.backoff.next();
    const attempt = this.backoff.attempts;
    const fields = { reason, attempt, reconnectInMs: delay, heartbeats: a?.heartbeatsOk ?? 0 };
    if (a?.open === true) this.log.warn(fields, 'push stream lost; reconnecting');
    else if (attempt === 1) this.log.warn(fields, 'push stream could not be opened; retrying');
    else this.log.debug(fields, 'push stream could not be opened; retrying');
    this.setState('backoff');
    this.emit('backoff', delay, attempt);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
  }

  /**
   * The provider set changed (registry): while waiting to reconnect, try now with a fresh backoff
   * instead of sleeping out a delay that grew while no provider existed.
   */
  providersChanged(): void {
    if (this.currentState !== 'backoff' || this.reconnectTimer === undefined || this.pool.size === 0) return;
    clearTimeout(this.reconnectTimer);
    this.backoff.reset();
    this.connect();
  }

  private stopHeartbeats(a: Attempt): void {
    if (a.timer !== undefined) {
      clearInterval(a.timer);
      a.timer = undefined;
    }
  }

  private sendHeartbeat(a: Attempt): void {
    if (a.done || this.attempt !== a) return;
    // a stream the server does not read: skip rather than pile heartbeats up
    if (a.call.writableNeedDrain) return;
    let hb: Heartbeat;
    try {
      hb = this.heartbeat();
    } catch (e) {
      this.log.error({ err: errText(e) }, 'push stream: heartbeat callback threw');
      return;
    }
    try {
      a.call.write(hb, (e: Error | null | undefined) => {
        if (e || a.done) return;
        this.stats.heartbeats++;
        a.written = true;
        this.maybeOpen(a);
        if (a.open && ++a.heartbeatsOk === STABLE_AFTER_HEARTBEATS) this.backoff.reset();
      });
    } catch (e) {
      this.log.debug({ err: errText(e) }, 'push stream: heartbeat write failed');
    }
  }

  private setState(s: PushStreamState): void {
    const prev = this.currentState;
    if (prev === s) return;
    this.currentState = s;
    this.emit('state', s, prev);
  }

  // -------------------------------------------------------------------------------------------
  // commands
  // -------------------------------------------------------------------------------------------

  /** Starts the matching API call; does not wait for it. */
  private execute(cmd: ServerPushOutput): void {
    this.stats.commands++;
    const commandId = cmd.commandId;
    const ctx: CallContext = { headers: { ...PUSH_STREAM_SOURCE_HEADERS }, deadline: Date.now() + COMMAND_DEADLINE_MS };
    let method: PushCommandOutcome['method'] = '';
    let run: (() => Promise<Result<unknown, ApiError>>) | undefined;
    if (cmd.command === 'push' && cmd.push) {
      const req: PushRequestOutput = cmd.push;
      if (req.userIds.length > 0) {
        method = 'PushToUsers';
        const users = req.userId !== '' && !req.userIds.includes(req.userId) ? [req.userId, ...req.userIds] : req.userIds;
        run = () => this.api.PushToUsers({ ...req, userIds: users }, ctx);
      } else {
        method = 'PushToUser';
        run = () => this.api.PushToUser(req, ctx);
      }
    } else if (cmd.command === 'broadcast' && cmd.broadcast) {
      const req = cmd.broadcast;
      method = 'Broadcast';
      run = () => this.api.Broadcast(req, ctx);
    } else if (cmd.command === 'kick' && cmd.kick) {
      const req = cmd.kick;
      method = 'KickUser';
      run = () => this.api.KickUser(req, ctx);
    } else if (cmd.command === 'roomPush' && cmd.roomPush) {
      const req = cmd.roomPush;
      method = 'PushToRoom';
      run = () => this.api.PushToRoom(req, ctx);
    }
    if (run === undefined) {
      this.stats.commandErrors++;
      this.log.warn({ commandId, command: cmd.command ?? null }, 'push stream: command has no push, broadcast, kick or room_push; ignored');
      this.emit('command', { commandId, method, ok: false, error: { code: grpc.status.INVALID_ARGUMENT, message: 'command: none set' } } satisfies PushCommandOutcome);
      return;
    }
    const started = Date.now();
    const report = (outcome: PushCommandOutcome, value?: unknown): void => {
      if (outcome.ok) {
        this.log.debug({ commandId, method, ms: Date.now() - started, result: value }, 'push stream command done');
      } else {
        this.stats.commandErrors++;
        this.log.warn({ commandId, method, ms: Date.now() - started, code: outcome.error?.code, error: outcome.error?.message }, 'push stream command failed');
      }
      this.emit('command', outcome);
    };
    let pending: Promise<Result<unknown, ApiError>>;
    try {
      pending = run();
    } catch (e) {
      report({ commandId, method, ok: false, error: { code: grpc.status.INTERNAL, message: errText(e) } });
      return;
    }
    pending.then(
      (r) => (r.ok ? report({ commandId, method, ok: true }, r.value) : report({ commandId, method, ok: false, error: r.error })),
      (e: unknown) => report({ commandId, method, ok: false, error: { code: grpc.status.INTERNAL, message: errText(e) } }),
    ).catch((e: unknown) => {
      // a throwing 'command' listener or logger: never let it become an unhandled rejection
      this.log.error({ commandId, err: errText(e) }, 'push stream: command reporting failed');
    });
  }
}

function channelState(client: grpc.Client): grpc.connectivityState | undefined {
  try {
    return client.getChannel().getConnectivityState(false);
  } catch {
    return undefined;
  }
}

function safePeer(call: PushCall): string {
  try {
    return call.getPeer();
  } catch {
    return 'unknown';
  }
}

function errText(e: unknown): string {
  const se = e as Partial<grpc.ServiceError>;
  if (typeof se.code === 'number') return `${grpc.status[se.code] ?? se.code}: ${se.details ?? se.message ?? ''}`;
  return e instanceof Error ? e.message : String(e);
}

import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket, us_socket_context_t } from 'uWebSockets.js';
import type { Logger } from '../../observability/logger';
import { closeReason } from '../../protocol/codes';
import { uws } from './native';
import type { FaultSink, TopicPublisher, TransportSocket, UpgradeInfo, WsHandler, WsTransportSettings } from './types';

/** The frame size uWS itself refuses (by dropping the TCP connection): 64 MiB, or 1 MiB above ours. */
export function uwsFrameLimit(maxPayloadBytes: number): number {
  return Math.max(64 * 1024 * 1024, maxPayloadBytes + 1024 * 1024);
}

const textDecoder = new TextDecoder();

/**
 * The slow-consumer check after topic publishes scans every open socket: with many publishes in
 * flight, once per turn cost 5-8 % of the server at 10,000 connections (Broadcast, 64 in flight).
 */
const PRESSURE_CHECK_EVERY_MS = 20;

/** A decoded query parameter; uWS answers undefined (not '') for an absent key. */
function query(req: HttpRequest, key: string): string {
  return (req.getQuery(key) as string | undefined) ?? '';
}

function byteLength(frame: string | Uint8Array): number {
  return typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
}

/** Writes `frames` to `ws`; true when uWS dropped one (over its own buffer limit). */
function writeAll(ws: WebSocket<unknown>, frames: ReadonlyArray<string | Uint8Array>): boolean {
  let dropped = false;
  for (const f of frames) if (ws.send(f, false, false) === 2) dropped = true;
  return dropped;
}

// The arguments of the one corked write in progress: the flush corks thousands of sockets per
// turn, and a closure per socket would be garbage per socket per turn.
let corkWs: WebSocket<unknown> | null = null;
let corkFrames: ReadonlyArray<string | Uint8Array> = [];
let corkDropped = false;
function writeCorked(): void {
  if (corkWs !== null) corkDropped = writeAll(corkWs, corkFrames);
}

/** writeAll inside one uWS cork (one syscall for all of them). */
function corkedWriteAll(ws: WebSocket<unknown>, frames: ReadonlyArray<string | Uint8Array>): boolean {
  corkWs = ws;
  corkFrames = frames;
  corkDropped = false;
  try {
    ws.cork(writeCorked);
    return corkDropped;
  } finally {
    corkWs = null;
    corkFrames = [];
  }
}

/** Before `listen`: no socket exists, so nothing calls it. */
const NO_HANDLER: WsHandler<never> = {
  upgrade: () => Promise.reject(new Error('the transport is not listening')),
  aborted: () => undefined,
  open: () => undefined,
  message: () => undefined,
  close: () => undefined,
};

/**
 * Per-connection state, held in uWS UserData (never as fields on the uWS socket).
 *
 * Writes are coalesced per socket per event-loop turn: `send` outside a uWS callback of this
 * socket appends the frame to the socket's queue, and one flush (setImmediate, after the I/O
 * callbacks of the turn) writes each queued socket's frames inside one uWS cork, i.e. one
 * syscall per socket per turn however many pushes reached it. The slow-consumer rule is decided
 * at `send` from the send buffer read once per turn plus the bytes queued before the frame, so
 * `send`'s answer (and every `delivered` count built from it) is exact. Inside this socket's
 * own uWS callbacks (message, open) and inside `cork`, uWS already corks: frames are written at
 * once, after whatever was queued for the socket.
 */
class UwsSocket<S> implements TransportSocket {
  ws: WebSocket<UserData<S>> | null = null;
  lastActivity = Date.now();
  private ending = false;
  /** Frames waiting for the turn's flush; null when none. */
  queue: Array<string | Uint8Array> | null = null;
  /** The send buffer when the queue was started plus the bytes queued since. */
  private pending = 0;

  constructor(
    readonly session: S,
    private readonly owner: WsTransport<S>,
  ) {}

  get isOpen(): boolean {
    return this.ws !== null && !this.ending;
  }

  send(frame: string | Uint8Array): boolean {
    const ws = this.ws;
    if (ws === null || this.ending) return false;
    const limit = this.owner.settings.maxBackpressureBytes;
    if (this.owner.direct === this) {
      if (this.queue !== null) this.flush(ws);
      // 1 = written, 0 = written but buffered (backpressure), 2 = dropped (over uWS's own limit);
      // the buffered amount is only read when uWS reports backpressure. A slow consumer is one
      // whose buffer held more than the limit before this frame: one large frame to a reader
      // that keeps up never closes it.
      const status = ws.send(frame, false, false);
      if (status === 2 || (status === 0 && ws.getBufferedAmount() - byteLength(frame) > limit)) {
        this.slow();
        return false;
      }
      return true;
    }
    if (this.queue === null) {
      this.pending = ws.getBufferedAmount();
      if (this.pending > limit) {
        this.slow();
        return false;
      }
      this.queue = [frame];
      this.owner.queueFlush(this);
    } else {
      if (this.pending > limit) {
        this.slow();
        return false;
      }
      this.queue.push(frame);
    }
    this.pending += byteLength(frame);
    return true;
  }

  /** Writes the queued frames in one cork (the caller may already hold this socket's cork). */
  flush(ws: WebSocket<UserData<S>>): void {
    const queue = this.queue;
    if (queue === null) return;
    this.queue = null;
    const dropped = this.owner.direct === this || queue.length === 1 ? writeAll(ws, queue) : corkedWriteAll(ws, queue);
    // only past uWS's own limit (twice ours plus a frame), which the check in send() keeps us under
    if (dropped) this.slow();
  }

  private slow(): void {
    this.owner.slowConsumers++;
    this.end(this.owner.settings.closeCodes.slow, this.owner.settings.closeReasons.slow);
  }

  end(code: number, reason: string): void {
    const ws = this.ws;
    if (ws === null || this.ending) return;
    // what was accepted before the close goes out before the close frame
    if (this.queue !== null) this.flush(ws);
    this.ending = true;
    // a closing socket is no longer a subscriber: publishes do not count it as written
    for (const topic of ws.getTopics()) ws.unsubscribe(topic);
    ws.end(code, closeReason(reason));
  }

  cork(fn: () => void): void {
    const ws = this.ws;
    if (ws === null || this.ending) return;
    this.owner.runDirect(this, () => ws.cork(() => {
      if (this.queue !== null) this.flush(ws);
      fn();
    }));
  }

  subscribe(topic: string): void {
    const ws = this.ws;
    if (ws === null || this.ending) return;
    ws.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    const ws = this.ws;
    if (ws === null || this.ending) return;
    ws.unsubscribe(topic);
  }

  /** The send buffer is over the limit: close as a slow consumer (after a topic publish, which cannot tell us at once). */
  checkPressure(): void {
    const ws = this.ws;
    if (ws === null || this.ending) return;
    if (ws.getBufferedAmount() > this.owner.settings.maxBackpressureBytes) this.slow();
  }
}

interface UserData<S> {
  readonly sock: UwsSocket<S>;
}

/**
 * The uWebSockets.js adapter: upgrade (copy the request, handle aborts, async decision), frames
 * in, frames out with checked backpressure, and the transport-level limits of SPEC.md section 8:
 * connection cap (HTTP 503), frame size (1009), idle timeout (4004), send buffer (4005). uWS's own
 * limits are set above ours as a last line of defence: they end sockets with 1006 and no close
 * frame, which is why the codes come from our checks.
 */
export class WsTransport<S> implements TopicPublisher {
  private app: TemplatedApp | null = null;
  private pressureCheckDue = false;
  private lastPressureCheck = 0;
  /** Sockets with queued frames, written by the next flush (one per event-loop turn). */
  private dirty: Array<UwsSocket<S>> = [];
  private flushDue = false;
  /** The socket whose writes are corked by uWS right now (its own callback or `cork`): they go out at once. */
  direct: UwsSocket<S> | null = null;
  private listenSocket: us_listen_socket | null = null;
  private readonly open = new Set<UwsSocket<S>>();
  private pendingUpgrades = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private accepting = true;
  slowConsumers = 0;
  rejectedUpgrades = 0;
  port = 0;

  /** The use cases behind the sockets, given at `listen` (the transport exists before them: they publish through it). */
  private handler: WsHandler<S> = NO_HANDLER;

  constructor(
    readonly settings: WsTransportSettings,
    private readonly log: Logger,
    private readonly faults: FaultSink,
  ) {}

  get connectionCount(): number {
    return this.open.size;
  }

  get listening(): boolean {
    return this.listenSocket !== null;
  }

  /** True when the transport serves wss:// (a certificate and key are configured). */
  get tls(): boolean {
    return (this.settings.tlsCertFile ?? '') !== '' && (this.settings.tlsKeyFile ?? '') !== '';
  }

  /** A plain App, or an SSLApp over the configured PEM files (throws when they do not load). */
  private createApp(): TemplatedApp {
    const cert = this.settings.tlsCertFile ?? '';
    const key = this.settings.tlsKeyFile ?? '';
    if (cert === '' || key === '') return uws.App();
    if (typeof uws.SSLApp !== 'function') throw new Error('WebSocket TLS needs the native uWebSockets.js build (SSLApp is missing)');
    try {
      return uws.SSLApp({ cert_file_name: cert, key_file_name: key });
    } catch (e) {
      // uWS says only "App construction failed": name the files.
      throw new Error(
        `cannot serve wss://: the certificate ${cert} and key ${key} do not load as a PEM certificate and its matching unencrypted private key (${e instanceof Error ? e.message : String(e)})`,
        { cause: e },
      );
    }
  }

  /** Listens, handing every connection to `handler`; resolves with the bound port. */
  listen(handler: WsHandler<S>): Promise<number> {
    this.handler = handler;
    const s = this.settings;
    let app: TemplatedApp;
    try {
      app = this.createApp();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    app.ws<UserData<S>>(s.path, {
      // uWS drops a frame over its own limit with no close frame (the client sees 1006), so its
      // limit sits far above ours: any frame up to it, whole or fragmented, gets our 1009
      maxPayloadLength: uwsFrameLimit(s.maxPayloadBytes),
      maxBackpressure: s.maxBackpressureBytes * 2 + s.maxPayloadBytes,
      closeOnBackpressureLimit: 0,
      idleTimeout: Math.min(960, Math.ceil((s.idleTimeoutMs * 2) / 1000 / 4) * 4 + 8),
      sendPingsAutomatically: false,
      compression: uws.DISABLED,
      upgrade: (res, req, context) => this.guard('upgrade', () => this.onUpgrade(res, req, context)),
      open: (ws) => this.guard('open', () => this.onOpen(ws), ws),
      message: (ws, data, isBinary) => this.guard('message', () => this.runDirect(ws.getUserData().sock, () => this.onMessage(ws, data, isBinary)), ws),
      ping: (ws) => {
        ws.getUserData().sock.lastActivity = Date.now();
      },
      pong: (ws) => {
        ws.getUserData().sock.lastActivity = Date.now();
      },
      close: (ws, code) => this.guard('close', () => this.onClose(ws, code)),
    });
    this.app = app;
    const files = s.files;
    if (files !== undefined) {
      for (const [path, file] of files) {
        app.get(path, (res) => {
          res.writeStatus('200 OK').writeHeader('content-type', file.contentType).writeHeader('cache-control', 'no-cache').writeHeader('access-control-allow-origin', '*').end(file.body);
        });
      }
    }
    app.any('/*', (res) => {
      res.writeStatus('404 Not Found').end('not found');
    });
    return new Promise((resolve, reject) => {
      app.listen(s.host, s.port, (ls) => {
        if (ls === false) {
          reject(new Error(`cannot listen for WebSocket${this.tls ? ' (wss)' : ''} on ${s.host}:${s.port}`));
          return;
        }
        this.listenSocket = ls;
        this.port = uws.us_socket_local_port(ls as never);
        const every = Math.max(250, Math.min(1000, Math.floor(s.idleTimeoutMs / 4)));
        this.sweepTimer = setInterval(() => this.sweepIdle(), every);
        this.sweepTimer.unref();
        resolve(this.port);
      });
    });
  }

  /** Schedules the flush that writes `sock`'s queue (called on a socket's first queued frame of the turn). */
  queueFlush(sock: UwsSocket<S>): void {
    this.dirty.push(sock);
    if (this.flushDue) return;
    this.flushDue = true;
    setImmediate(this.flushAll);
  }

  /** Writes every queued frame: one cork per socket. Also run before a topic publish (order). */
  readonly flushAll = (): void => {
    this.flushDue = false;
    const dirty = this.dirty;
    if (dirty.length === 0) return;
    this.dirty = [];
    for (const sock of dirty) {
      const ws = sock.ws;
      if (ws === null) sock.queue = null;
      else if (sock.queue !== null) {
        try {
          sock.flush(ws);
        } catch (e) {
          // one socket's failure must not keep the others' frames
          this.faults.handlerError('flush', e);
          sock.queue = null;
        }
      }
    }
  };

  /** Runs `fn` with `sock` as the socket whose writes go out at once (uWS corks it). */
  runDirect(sock: UwsSocket<S>, fn: () => void): void {
    const prev = this.direct;
    this.direct = sock;
    try {
      fn();
    } finally {
      this.direct = prev;
    }
  }

  /**
   * One native publish to every subscriber of `topic` (uWS topics: no JavaScript loop over the
   * subscribers). Returns how many sockets were subscribed, i.e. written. uWS cannot report a send
   * buffer going over our limit during a publish, so a check of every open socket's buffer follows
   * on the next turn of the event loop, coalesced over all publishes until then and at most one
   * every PRESSURE_CHECK_EVERY_MS: a slow consumer is closed with 4005 as after a direct send, at
   * most that much later (uWS itself drops frames only past twice our limit plus a frame).
   */
  publish(topic: string, frame: Uint8Array): number {
    const app = this.app;
    if (app === null) return 0;
    const n = app.numSubscribers(topic);
    if (n === 0) return 0;
    // frames queued earlier in this turn go out before the published one
    if (this.dirty.length > 0) this.flushAll();
    app.publish(topic, frame, false, false);
    if (!this.pressureCheckDue) {
      this.pressureCheckDue = true;
      const wait = this.lastPressureCheck + PRESSURE_CHECK_EVERY_MS - Date.now();
      if (wait <= 0) setImmediate(this.checkPressure);
      else setTimeout(this.checkPressure, wait).unref();
    }
    return n;
  }

  /** The slow-consumer check after topic publishes: every open socket's send buffer against the limit. */
  private readonly checkPressure = (): void => {
    this.pressureCheckDue = false;
    this.lastPressureCheck = Date.now();
    for (const sock of this.open) sock.checkPressure();
  };

  /** Stops accepting new connections (the listen socket closes; open sockets stay). */
  stopAccepting(): void {
    this.accepting = false;
    if (this.listenSocket !== null) {
      uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  /** Stops everything; open sockets are closed without a close frame. */
  async close(): Promise<void> {
    this.stopAccepting();
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const sock of [...this.open]) sock.ws?.close();
  }

  private onUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    if (!this.accepting || this.open.size + this.pendingUpgrades >= this.settings.maxConnections) {
      this.rejectedUpgrades++;
      res.writeStatus('503 Service Unavailable').writeHeader('Retry-After', '5').end(this.accepting ? 'connection limit reached' : 'shutting down');
      return;
    }
    // HttpRequest is only valid during this call: copy everything first.
    const key = req.getHeader('sec-websocket-key');
    const protocolHeader = req.getHeader('sec-websocket-protocol');
    const protocol = protocolHeader === '' ? '' : (protocolHeader.split(',')[0] ?? '').trim();
    const extensions = req.getHeader('sec-websocket-extensions');
    const auth = req.getHeader('authorization');
    const bearer = /^Bearer\s+(.+)$/i.exec(auth);
    const info: UpgradeInfo = {
      token: query(req, 'token') || (bearer?.[1]?.trim() ?? ''),
      deviceId: query(req, 'device_id'),
      platform: query(req, 'platform'),
      clientIp: textDecoder.decode(res.getRemoteAddressAsText()),
      traceparent: req.getHeader('traceparent'),
      userAgent: req.getHeader('user-agent'),
      recoverSeq: query(req, 'recover_seq'),
      recoverEpoch: query(req, 'recover_epoch'),
    };
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    this.pendingUpgrades++;
    this.handler.upgrade(info).then(
      (session) => {
        this.pendingUpgrades--;
        if (state.aborted) {
          this.handler.aborted(session);
          return;
        }
        const sock = new UwsSocket(session, this);
        // Not inside res.cork: with this uWS build, an upgrade inside a cork leaves the cork held
        // by the new WebSocket (the socket moves on upgrade), and a connection upgraded before
        // uWS's loop runs again can be closed at once with 1006 (two logins whose token checks
        // resolved together; a login that kicks another session). Tried again with the upgrade
        // moved to the check phase: still one failure in a few full runs. The price of the
        // uncorked upgrade: the status line and each header are written with a syscall each, and
        // the native binding prints a "writes must be made from within a corked callback"
        // warning to stderr for every connection. The open handler's own writes are corked by uWS.
        res.upgrade<UserData<S>>({ sock }, key, protocol, extensions, context);
      },
      (e: unknown) => {
        this.pendingUpgrades--;
        this.log.error({ err: e }, 'upgrade handler failed');
        if (!state.aborted) res.cork(() => res.writeStatus('500 Internal Server Error').end('internal error'));
      },
    );
  }

  private onOpen(ws: WebSocket<UserData<S>>): void {
    const sock = ws.getUserData().sock;
    sock.ws = ws;
    sock.lastActivity = Date.now();
    this.open.add(sock);
    this.runDirect(sock, () => this.handler.open(sock.session, sock));
  }

  private onMessage(ws: WebSocket<UserData<S>>, data: ArrayBuffer, isBinary: boolean): void {
    const sock = ws.getUserData().sock;
    if (!sock.isOpen) return;
    sock.lastActivity = Date.now();
    if (data.byteLength > this.settings.maxPayloadBytes) {
      sock.end(this.settings.closeCodes.tooBig, this.settings.closeReasons.tooBig);
      return;
    }
    this.handler.message(sock.session, data, isBinary);
  }

  /**
   * Runs a uWS callback so that nothing it throws escapes into uWS (which would end the process):
   * the error is reported as a fault and the connection, when there is one, closes with 1011.
   */
  private guard(where: string, fn: () => void, ws?: WebSocket<UserData<S>>): void {
    try {
      fn();
    } catch (e) {
      this.faults.handlerError(where, e);
      if (ws !== undefined) {
        try {
          ws.getUserData().sock.end(this.settings.closeCodes.internal, this.settings.closeReasons.internal);
        } catch {
          // the socket is already gone: nothing left to close
        }
      }
    }
  }

  private onClose(ws: WebSocket<UserData<S>>, code: number): void {
    const sock = ws.getUserData().sock;
    sock.ws = null;
    sock.queue = null;
    this.open.delete(sock);
    this.handler.close(sock.session, code);
  }

  private sweepIdle(): void {
    const deadline = Date.now() - this.settings.idleTimeoutMs;
    const { idle } = this.settings.closeCodes;
    for (const sock of this.open) {
      if (sock.lastActivity < deadline) sock.end(idle, this.settings.closeReasons.idle);
    }
  }
}

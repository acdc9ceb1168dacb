/**
 * The IMA gateway client (SPEC.md section 11), for browsers and Node 20+, without a runtime
 * dependency. One file: the gateway serves it as an ES module at `GET /client/ima-client.js`
 * (built by `tsconfig.client.json`), and Node code imports it from `pkg/client/ima-client`.
 *
 * ```ts
 * const c = new ImaClient({ url: 'ws://127.0.0.1:8080/ws', deviceId: 'phone-1', platform: 'ios', token: () => fetchToken() });
 * c.on('push', (frame) => show(frame));
 * await c.connect();
 * const ack = await c.send('chat.send', { text: 'hi' });
 * await c.subscribe('lobby');
 * ```
 *
 * What it does by itself: reconnects with full-jitter exponential backoff (never after 4000,
 * 4001, 4002 or 1009; with a new token after 4003 / 4401), pings at the advertised interval and
 * treats a missing pong as a dead connection, recovers missed pushes with the last seq and epoch
 * of the user and of each room (recovered ones first, never one twice), resubscribes its rooms,
 * refreshes the token in band on `expiring`, and re-sends unacknowledged messages with the same
 * id (the gateway's dedupe window makes that safe).
 */

export type ClientState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** A frame from the gateway (JSON object). */
export type Frame = Record<string, unknown> & { readonly type: string };

/** The parts of a WebSocket this client uses (the browser's, or `ws` in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ImaClientOptions {
  /** `ws(s)://host:port/ws` */
  readonly url: string;
  readonly deviceId: string;
  readonly platform: string;
  /** A token, or a function returning a fresh one (called at each connect, after 4003 / 4401, and on `expiring`). */
  readonly token: string | (() => Promise<string>);
  /** The WebSocket implementation; default `globalThis.WebSocket` (browsers, Node 22+). */
  readonly WebSocket?: WebSocketConstructor;
  /** Reconnect backoff: delay = random(0, min(maxMs, initialMs * 2^attempt)). Default 500 ms / 30 s. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** How long `send` waits for its ack by default (ms). Default 10 s. */
  readonly ackTimeoutMs?: number;
  /** How long `connect`'s handshake (open to auth frame) may take before the attempt counts as failed. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Recover missed pushes after a reconnect (recover_seq / recover_epoch). Default true. */
  readonly recovery?: boolean;
}

export interface Ack {
  readonly code: number;
  readonly message?: string;
}

export interface KickEvent {
  readonly code: number;
  readonly reason: string;
}

/** After a (re)connect or a room (re)subscription that asked for recovery. */
export interface RecoveryEvent {
  /** undefined for the user's stream */
  readonly room?: string;
  readonly recovered: boolean;
  readonly missed: number;
}

export interface ClientEvents {
  state: (state: ClientState) => void;
  push: (frame: Frame) => void;
  kick: (kick: KickEvent) => void;
  /** The auth frame of each connection. */
  auth: (frame: Frame) => void;
  recovery: (r: RecoveryEvent) => void;
  /** Something the client could not handle (never thrown): a refused subscription on resubscribe, a failed token function, ... */
  error: (err: Error) => void;
}

/** Close codes after which the client does not reconnect by itself (SPEC.md section 4). */
export const NO_RECONNECT_CODES: ReadonlySet<number> = new Set([4000, 4001, 4002, 1009]);
/** Close codes after which a new token is needed. */
export const NEW_TOKEN_CODES: ReadonlySet<number> = new Set([4003, 4401]);

/** An error carrying the gateway's ack or close code. */
export class ImaError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'ImaError';
  }
}

interface Pending {
  readonly id: string;
  readonly frame: string;
  readonly resolve: (ack: Ack) => void;
  readonly reject: (err: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

interface RoomSub {
  /** position in the room's stream */
  seq: number;
  epoch: string | null;
  /** the client's own subscription (resubscribed after a reconnect) */
  subscribed: boolean;
}

type Listener = (...args: never[]) => void;

const OPEN = 1;
const FAILED_RECONNECT_MESSAGE = 'the gateway closed the connection for good';

export class ImaClient {
  private readonly listeners = new Map<keyof ClientEvents, Set<Listener>>();
  private readonly WS: WebSocketConstructor;
  private ws: WebSocketLike | null = null;
  private _state: ClientState = 'disconnected';
  private stopped = false;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private handshakeTimer: ReturnType<typeof setTimeout> | null = null;
  private awaitingPong = false;
  private heartbeatMs = 25_000;
  private needNewToken = false;
  private token: string | null = null;
  private idCounter = 0;
  private readonly idPrefix: string;
  /** user stream position */
  private seq = 0;
  private epoch: string | null = null;
  private readonly rooms = new Map<string, RoomSub>();
  /** messages sent and not acknowledged yet, by id, in send order */
  private readonly pending = new Map<string, Pending>();
  /** control requests (subscribe / unsubscribe / refresh) waiting for their ack: null = the connection was lost first */
  private readonly control = new Map<string, { readonly settle: (ack: Frame | null) => void; readonly reject: (e: Error) => void }>();
  /** connect() calls waiting for the next login */
  private connectWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** close() was called: the client is done (a close by the gateway can be followed by connect()) */
  private closedByUser = false;

  constructor(private readonly opts: ImaClientOptions) {
    const WS = opts.WebSocket ?? (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WS === undefined) throw new Error('no WebSocket implementation: pass one as options.WebSocket (e.g. the ws package in Node 20)');
    this.WS = WS;
    this.idPrefix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  }

  get state(): ClientState {
    return this._state;
  }

  /** The user stream's position: the last seq handled and its epoch (what a reconnect recovers from). */
  get position(): { readonly seq: number; readonly epoch: string | null } {
    return { seq: this.seq, epoch: this.epoch };
  }

  on<E extends keyof ClientEvents>(event: E, fn: ClientEvents[E]): this {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    set.add(fn as Listener);
    return this;
  }

  off<E extends keyof ClientEvents>(event: E, fn: ClientEvents[E]): this {
    this.listeners.get(event)?.delete(fn as Listener);
    return this;
  }

  private emit<E extends keyof ClientEvents>(event: E, ...args: Parameters<ClientEvents[E]>): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) {
      try {
        (fn as unknown as (...a: Parameters<ClientEvents[E]>) => void)(...args);
      } catch (e) {
        if (event !== 'error') this.emit('error', e instanceof Error ? e : new Error(String(e)));
      }
    }
  }

  /**
   * Connects; resolves once the gateway accepted a login. Rejects when the client ends before
   * that (a refusal it does not retry: 4000, 4001, 4002, 1009, or 4003 / 4401 with a fixed token;
   * or `close()`). Retryable failures (gateway down, 4503, ...) are retried with backoff. After the
   * gateway ended the client for good (state 'closed' by a close code above), calling `connect()`
   * again starts over with the same rooms and stream positions (e.g. once the user chose to log in
   * here again after 4001); after `close()` it rejects.
   */
  connect(): Promise<void> {
    if (this.closedByUser) return Promise.reject(new Error('client closed'));
    if (this._state === 'connected') return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => {
      this.connectWaiters.push({ resolve, reject });
    });
    if (this.stopped) {
      // closed by the gateway: an explicit connect() starts again
      this.stopped = false;
      this.attempt = 0;
      this._state = 'disconnected';
    }
    if (this._state === 'disconnected' && this.reconnectTimer === null) void this.open();
    return p;
  }

  /**
   * Sends `{type, id, payload}`; resolves with the ack (`code` 0 = accepted by the business
   * service, or the gateway's / service's code). Until acknowledged it is re-sent with the same id
   * after every reconnect. Rejects after `timeoutMs` without an ack, or when the client closes.
   */
  send(type: string, payload: unknown, options: { metadata?: Record<string, string>; timeoutMs?: number } = {}): Promise<Ack> {
    if (this.stopped) return Promise.reject(new Error('client closed'));
    const id = this.nextId();
    const frame = JSON.stringify({ type, id, payload: payload === undefined ? null : payload, ...(options.metadata !== undefined ? { metadata: options.metadata } : {}) });
    return new Promise<Ack>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.opts.ackTimeoutMs ?? 10_000;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ImaError(`no ack for ${type} ${id} within ${timeoutMs} ms`, -1));
      }, timeoutMs);
      this.pending.set(id, { id, frame, resolve, reject, timer });
      if (this._state === 'connected') this.write(frame);
    });
  }

  /**
   * Subscribes this connection (and the next ones) to a room; resolves on ack 0, rejects with the
   * code (3000 not allowed, 3001 too many rooms, 1000 bad name). Recovers the room's missed
   * pushes after a reconnect.
   */
  async subscribe(room: string): Promise<void> {
    if (this.closedByUser) throw new Error('client closed');
    const sub = this.rooms.get(room) ?? { seq: 0, epoch: null, subscribed: false };
    this.rooms.set(room, sub);
    sub.subscribed = true;
    if (this._state !== 'connected') return; // subscribed by the next login (failures are 'error' events)
    const ack = await this.request({ type: 'subscribe', room });
    if (ack === null) return; // the connection was lost first: resubscribed by the next login, like above
    if (ack['code'] !== 0) {
      sub.subscribed = false;
      throw new ImaError(`subscribe ${room}: ${String(ack['message'] ?? ack['code'])}`, Number(ack['code']));
    }
    this.roomAck(room, ack, false);
  }

  /** Ends this client's own subscription to `room` (a membership set by the backend stays). */
  async unsubscribe(room: string): Promise<void> {
    const sub = this.rooms.get(room);
    if (sub !== undefined) sub.subscribed = false;
    if (this._state !== 'connected') return;
    await this.request({ type: 'unsubscribe', room });
  }

  /** Closes for good: no reconnect; pending sends are rejected. */
  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.closedByUser = true;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws !== null) {
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(1000, 'client closed');
      } catch {
        // already closing
      }
    }
    this.fail(new Error('client closed'));
    this.setState('closed');
  }

  // ----- connection ---------------------------------------------------------------------------

  private async open(): Promise<void> {
    if (this.stopped) return;
    this.setState('connecting');
    let token: string;
    try {
      token = await this.currentToken();
    } catch (e) {
      this.emit('error', new Error(`token function failed: ${e instanceof Error ? e.message : String(e)}`));
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) return;
    const q = new URLSearchParams({ token, device_id: this.opts.deviceId, platform: this.opts.platform });
    if (this.opts.recovery !== false && this.epoch !== null) {
      q.set('recover_seq', String(this.seq));
      q.set('recover_epoch', this.epoch);
    }
    const url = `${this.opts.url}${this.opts.url.includes('?') ? '&' : '?'}${q.toString()}`;
    let ws: WebSocketLike;
    try {
      ws = new this.WS(url);
    } catch (e) {
      this.emit('error', e instanceof Error ? e : new Error(String(e)));
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.handshakeTimer = setTimeout(() => {
      // no auth frame in time: a dead attempt. Handled as closed at once: a peer that does not
      // answer would hold the close handshake (ws waits 30 s for it)
      this.handshakeTimer = null;
      if (this.ws !== ws || this._state === 'connected') return;
      try {
        ws.close(4000 + 900, 'handshake timeout');
      } catch {
        // already closing
      }
      this.onClose(ws, 1006, 'handshake timeout (client side)');
    }, this.opts.connectTimeoutMs ?? 10_000);
    ws.onmessage = (ev) => this.onFrame(ev.data);
    ws.onclose = (ev) => this.onClose(ws, ev.code, ev.reason);
    ws.onerror = () => undefined; // a close follows
  }

  private async currentToken(): Promise<string> {
    const t = this.opts.token;
    if (typeof t === 'string') return t;
    if (this.token === null || this.needNewToken) {
      this.token = await t();
      this.needNewToken = false;
    }
    return this.token;
  }

  private onFrame(data: unknown): void {
    let f: Frame;
    try {
      const text = typeof data === 'string' ? data : String(data);
      f = JSON.parse(text) as Frame;
    } catch {
      return;
    }
    if (typeof f !== 'object' || f === null || typeof f.type !== 'string') return;
    this.awaitingPong = false;
    switch (f.type) {
      case 'auth':
        this.onAuth(f);
        return;
      case 'pong':
        return;
      case 'ack':
        this.onAck(f);
        return;
      case 'kick':
        this.emit('kick', { code: Number(f['code']), reason: String(f['reason'] ?? '') });
        return;
      case 'expiring':
        void this.refresh();
        return;
      case 'error':
        this.onAck(f);
        return;
      default:
        this.onPush(f);
    }
  }

  private onAuth(f: Frame): void {
    if (f['ok'] !== true) return; // the close with the same code follows
    if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.attempt = 0;
    const epoch = typeof f['epoch'] === 'string' ? f['epoch'] : null;
    if (epoch !== this.epoch) {
      // a new stream (first connect, or the old one was lost): numbering starts over
      if (this.epoch !== null && f['recovered'] === undefined) this.emit('recovery', { recovered: false, missed: 0 });
      this.epoch = epoch;
      this.seq = 0;
    }
    if (typeof f['heartbeatIntervalMs'] === 'number' && f['heartbeatIntervalMs'] > 0) this.heartbeatMs = f['heartbeatIntervalMs'];
    this.setState('connected');
    this.emit('auth', f);
    if (f['recovered'] !== undefined) this.emit('recovery', { recovered: f['recovered'] === true, missed: Number(f['missed'] ?? 0) });
    this.startHeartbeat();
    // resend what was not acknowledged, in send order, with the same ids
    for (const p of this.pending.values()) this.write(p.frame);
    this.resubscribe();
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.resolve();
  }

  private resubscribe(): void {
    for (const [room, sub] of this.rooms) {
      if (!sub.subscribed) continue;
      const frame: Record<string, unknown> = { type: 'subscribe', room };
      const recover = this.opts.recovery !== false && sub.epoch !== null;
      if (recover) {
        frame['recoverSeq'] = sub.seq;
        frame['recoverEpoch'] = sub.epoch;
      }
      this.request(frame).then(
        (ack) => {
          if (ack === null) return; // lost again: the next login resubscribes
          if (ack['code'] !== 0) {
            sub.subscribed = false;
            this.emit('error', new ImaError(`resubscribe ${room}: ${String(ack['message'] ?? ack['code'])}`, Number(ack['code'])));
            return;
          }
          this.roomAck(room, ack, recover);
        },
        () => undefined,
      );
    }
  }

  private roomAck(room: string, ack: Frame, recovering: boolean): void {
    const sub = this.rooms.get(room);
    if (sub === undefined) return;
    const epoch = typeof ack['epoch'] === 'string' ? ack['epoch'] : null;
    if (epoch !== null && epoch !== sub.epoch) {
      sub.epoch = epoch;
      if (ack['recovered'] !== true) sub.seq = 0;
    }
    if (recovering || ack['recovered'] !== undefined) this.emit('recovery', { room, recovered: ack['recovered'] === true, missed: Number(ack['missed'] ?? 0) });
  }

  private onAck(f: Frame): void {
    const id = typeof f['id'] === 'string' ? f['id'] : undefined;
    if (id === undefined) return;
    const waiter = this.control.get(id);
    if (waiter !== undefined) {
      this.control.delete(id);
      waiter.settle(f);
      return;
    }
    const p = this.pending.get(id);
    if (p === undefined) return; // a duplicate ack of a resent message
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(typeof f['message'] === 'string' ? { code: Number(f['code']), message: f['message'] } : { code: Number(f['code']) });
  }

  /** A push: user pushes and room pushes are deduplicated by seq (recovered ones come first, live ones after). */
  private onPush(f: Frame): void {
    const seq = typeof f['seq'] === 'number' ? f['seq'] : undefined;
    if (seq !== undefined) {
      const room = typeof f['room'] === 'string' ? f['room'] : undefined;
      if (room !== undefined) {
        let sub = this.rooms.get(room);
        if (sub === undefined) this.rooms.set(room, (sub = { seq: 0, epoch: null, subscribed: false }));
        if (seq <= sub.seq) return;
        sub.seq = seq;
      } else {
        if (seq <= this.seq) return;
        this.seq = seq;
      }
    }
    this.emit('push', f);
  }

  private async refresh(): Promise<void> {
    if (typeof this.opts.token === 'string') return; // nothing fresher to offer: the connection ends at expiry and is not retried
    try {
      this.needNewToken = true;
      const token = await this.currentToken();
      const ack = await this.request({ type: 'refresh', token });
      if (ack === null) return; // the connection was lost: the next login uses the new token
      if (ack['code'] !== 0) this.emit('error', new ImaError(`token refresh refused: ${String(ack['message'] ?? ack['code'])}`, Number(ack['code'])));
    } catch (e) {
      this.emit('error', e instanceof Error ? e : new Error(String(e)));
    }
  }

  /**
   * A control frame with a fresh id on the current connection; resolves with its ack (or error)
   * frame, or with null when that connection is lost before the answer (it cannot come any more).
   * Rejects after timeoutMs, or when the client closes for good.
   */
  private request(frame: Record<string, unknown>, timeoutMs = this.opts.ackTimeoutMs ?? 10_000): Promise<Frame | null> {
    const id = this.nextId();
    return new Promise<Frame | null>((resolve, reject) => {
      if (this.ws === null || this.ws.readyState !== OPEN) {
        resolve(null);
        return;
      }
      const timer = setTimeout(() => {
        this.control.delete(id);
        reject(new ImaError(`no ack for ${String(frame['type'])} within ${timeoutMs} ms`, -1));
      }, timeoutMs);
      this.control.set(id, {
        settle: (ack) => {
          clearTimeout(timer);
          resolve(ack);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.write(JSON.stringify({ ...frame, id }));
    });
  }

  private write(text: string): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== OPEN) return;
    try {
      ws.send(text);
    } catch {
      // the close that follows takes care of it
    }
  }

  private startHeartbeat(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.awaitingPong = false;
    this.pingTimer = setInterval(() => {
      const ws = this.ws;
      if (ws === null) return;
      if (this.awaitingPong) {
        // nothing came back within a whole interval: the connection is dead
        ws.close(4000 + 904, 'heartbeat timeout');
        this.onClose(ws, 4004, 'heartbeat timeout (client side)');
        return;
      }
      this.awaitingPong = true;
      this.write('{"type":"ping"}');
    }, this.heartbeatMs);
  }

  private onClose(ws: WebSocketLike, code: number, reason: string): void {
    if (this.ws !== ws) return;
    this.ws = null;
    ws.onclose = null;
    ws.onmessage = null;
    this.clearTimers();
    if (this.stopped) return;
    // the gateway refused for good: no reconnect loop
    if (NO_RECONNECT_CODES.has(code) || (NEW_TOKEN_CODES.has(code) && typeof this.opts.token === 'string')) {
      this.stopped = true;
      const err = new ImaError(`${FAILED_RECONNECT_MESSAGE}: ${code} ${reason}`, code);
      this.fail(err);
      this.setState('closed');
      return;
    }
    // control requests of that connection cannot be answered any more: the next login redoes them
    const lost = [...this.control.values()];
    this.control.clear();
    for (const c of lost) c.settle(null);
    if (NEW_TOKEN_CODES.has(code)) this.needNewToken = true;
    this.setState('disconnected');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer !== null) return;
    const initial = this.opts.backoff?.initialMs ?? 500;
    const max = this.opts.backoff?.maxMs ?? 30_000;
    const cap = Math.min(max, initial * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const delay = Math.random() * cap; // full jitter
    if (this._state !== 'disconnected') this.setState('disconnected');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.open();
    }, delay);
  }

  private clearTimers(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private fail(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    const control = [...this.control.values()];
    this.control.clear();
    for (const c of control) c.reject(err);
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.reject(err);
  }

  private setState(s: ClientState): void {
    if (this._state === s) return;
    this._state = s;
    this.emit('state', s);
  }

  private nextId(): string {
    return `${this.idPrefix}-${(++this.idCounter).toString(36)}`;
  }
}

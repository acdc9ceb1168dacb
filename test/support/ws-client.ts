/**
 * A WebSocket test client over the `ws` package: collects JSON text frames, lets tests await
 * frames, pongs and the close, and reports refused upgrades.
 */
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';

export type Frame = Record<string, unknown>;
export type FramePredicate = (f: Frame) => boolean;

export interface ConnectOptions {
  headers?: Record<string, string>;
  localAddress?: string;
  /** Subprotocols to offer. */
  protocols?: string | string[];
  /** Rejects (and terminates) when neither open nor closed by then. Default 10 s. */
  timeoutMs?: number;
  /** wss://: CA certificate(s) to trust (e.g. a self-signed server certificate). */
  ca?: string | Buffer;
  /** wss://: false accepts any server certificate; default true (verify). */
  rejectUnauthorized?: boolean;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

interface FrameWaiter {
  predicate: FramePredicate;
  resolve: (f: Frame) => void;
  reject: (e: Error) => void;
}

function describePredicate(p: FramePredicate | string | undefined): string {
  if (p === undefined) return 'any frame';
  if (typeof p === 'string') return `a frame of type ${JSON.stringify(p)}`;
  const src = String(p).replace(/\s+/g, ' ');
  return `a frame matching ${src.length > 200 ? `${src.slice(0, 200)}…` : src}`;
}

export class TestWsClient {
  readonly url: string;
  readonly ws: WebSocket;
  /** Every JSON text frame received, in order (consumed or not). */
  readonly frames: Frame[] = [];
  /** Frames that were not JSON objects: non-JSON text or binary. */
  readonly otherFrames: (string | Buffer)[] = [];
  /** True once the socket opened; false when it closed or failed before opening. */
  opened = false;
  /** HTTP status of a refused upgrade. */
  upgradeStatus: number | undefined;
  upgradeHeaders: IncomingMessage['headers'] | undefined;
  upgradeBody: string | undefined;
  /** The last 'error' event, if any. */
  error: Error | undefined;
  /** Set when the close event arrived. */
  closeInfo: CloseInfo | undefined;
  /** Resolves on close (never rejects); code 1006 when there was no close frame. */
  readonly closed: Promise<CloseInfo>;
  /** WebSocket pong frames received. */
  pongs = 0;
  /** WebSocket ping frames received from the server (answered automatically). */
  pings = 0;
  /** Errors of send() calls (sends are fire-and-forget). */
  readonly sendErrors: Error[] = [];

  private readonly consumed = new Set<number>();
  private waiters: FrameWaiter[] = [];
  private pongsConsumed = 0;
  private pongWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private closeWaiters: ((info: CloseInfo) => void)[] = [];

  private constructor(url: string, opts: ConnectOptions) {
    this.url = url;
    const wsOpts: WebSocket.ClientOptions = { handshakeTimeout: opts.timeoutMs ?? 10_000 };
    if (opts.headers) wsOpts.headers = opts.headers;
    if (opts.localAddress) wsOpts.localAddress = opts.localAddress;
    if (opts.ca !== undefined) wsOpts.ca = opts.ca;
    if (opts.rejectUnauthorized !== undefined) wsOpts.rejectUnauthorized = opts.rejectUnauthorized;
    this.ws = opts.protocols !== undefined ? new WebSocket(url, opts.protocols, wsOpts) : new WebSocket(url, wsOpts);
    this.closed = new Promise<CloseInfo>((resolve) => this.closeWaiters.push(resolve));

    this.ws.on('open', () => {
      this.opened = true;
    });
    this.ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    this.ws.on('pong', () => {
      this.pongs++;
      this.flushPongWaiters();
    });
    this.ws.on('ping', () => {
      this.pings++;
    });
    this.ws.on('error', (err: Error) => {
      this.error = err;
    });
    this.ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      this.upgradeStatus = res.statusCode;
      this.upgradeHeaders = res.headers;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const done = (): void => {
        this.upgradeBody = Buffer.concat(chunks).toString('utf8');
        this.ws.terminate();
      };
      res.on('end', done);
      res.on('error', done);
      res.on('aborted', done);
    });
    this.ws.on('close', (code: number, reason: Buffer) => {
      const info = { code, reason: reason.toString('utf8') };
      this.closeInfo = info;
      for (const w of this.closeWaiters.splice(0)) w(info);
      const why = this.opened
        ? `socket closed (code ${code}${info.reason ? `, reason ${JSON.stringify(info.reason)}` : ''})`
        : `socket never opened (${this.upgradeStatus !== undefined ? `HTTP ${this.upgradeStatus}` : (this.error?.message ?? `close ${code}`)})`;
      for (const w of this.waiters.splice(0)) w.reject(new Error(why));
      for (const w of this.pongWaiters.splice(0)) w.reject(new Error(`${why} while waiting for a pong`));
    });
  }

  /**
   * Connects; resolves once the socket is open, or once it closed/failed before opening
   * (`opened === false`, `upgradeStatus` set for a refused upgrade).
   */
  static connect(url: string, opts: ConnectOptions = {}): Promise<TestWsClient> {
    const c = new TestWsClient(url, opts);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise<TestWsClient>((resolve, reject) => {
      const timer = setTimeout(() => {
        c.ws.terminate();
        reject(new Error(`timed out after ${timeoutMs} ms connecting to ${url}`));
      }, timeoutMs + 1_000);
      const done = (): void => {
        clearTimeout(timer);
        resolve(c);
      };
      c.ws.once('open', done);
      void c.closed.then(done);
    });
  }

  get readyState(): number {
    return this.ws.readyState;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** The frames not yet returned by next(). */
  get unconsumed(): Frame[] {
    return this.frames.filter((_f, i) => !this.consumed.has(i));
  }

  /** Frames of one type, consumed or not. */
  framesOfType(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  /**
   * Resolves with the first not-yet-consumed frame (already received or future) that matches
   * (a string matches the frame's `type`), and marks it consumed. Rejects on timeout or close.
   */
  next(predicate?: FramePredicate | string, timeoutMs = 5_000): Promise<Frame> {
    const pred: FramePredicate =
      predicate === undefined ? () => true : typeof predicate === 'string' ? (f) => f.type === predicate : predicate;
    for (let i = 0; i < this.frames.length; i++) {
      const f = this.frames[i];
      if (f !== undefined && !this.consumed.has(i) && pred(f)) {
        this.consumed.add(i);
        return Promise.resolve(f);
      }
    }
    const what = describePredicate(predicate);
    if (this.closeInfo) {
      return Promise.reject(new Error(`socket already closed (code ${this.closeInfo.code}) while waiting for ${what}; frames seen: ${this.describeFrames()}`));
    }
    return new Promise<Frame>((resolve, reject) => {
      const waiter: FrameWaiter = {
        predicate: pred,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(new Error(`${e.message} while waiting for ${what} on ${this.url}; frames seen: ${this.describeFrames()}`));
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} on ${this.url}; frames seen: ${this.describeFrames()}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Sends an object as JSON (a string is sent as-is). Fire-and-forget; errors go to sendErrors. */
  send(obj: unknown): void {
    this.sendRaw(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  /** Sends a text frame (string) or a binary frame (Buffer). */
  sendRaw(data: string | Buffer): void {
    try {
      this.ws.send(data, { binary: typeof data !== 'string' }, (err) => {
        if (err) this.sendErrors.push(err);
      });
    } catch (err) {
      this.sendErrors.push(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Sends a WebSocket ping frame. */
  ping(data?: string | Buffer): void {
    try {
      this.ws.ping(data);
    } catch (err) {
      this.sendErrors.push(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Resolves on the next pong not yet awaited (one already received counts). */
  waitPong(timeoutMs = 5_000): Promise<void> {
    if (this.pongs > this.pongsConsumed) {
      this.pongsConsumed++;
      return Promise.resolve();
    }
    if (this.closeInfo) return Promise.reject(new Error(`socket already closed (code ${this.closeInfo.code}) while waiting for a pong`));
    return new Promise<void>((resolve, reject) => {
      const w = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.pongWaiters = this.pongWaiters.filter((x) => x !== w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a pong on ${this.url}; frames seen: ${this.describeFrames()}`));
      }, timeoutMs);
      this.pongWaiters.push(w);
    });
  }

  /** Resolves with the close, or rejects after timeoutMs naming the frames seen. */
  waitClosed(timeoutMs = 5_000): Promise<CloseInfo> {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise<CloseInfo>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms waiting for the close of ${this.url}; frames seen: ${this.describeFrames()}`)),
        timeoutMs,
      );
      void this.closed.then((info) => {
        clearTimeout(timer);
        resolve(info);
      });
    });
  }

  /** Starts a closing handshake; resolves with the close. */
  close(code?: number, reason?: string): Promise<CloseInfo> {
    try {
      if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
      else this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
    return this.closed;
  }

  /** Drops the TCP connection without a close frame; resolves with the close (1006). */
  terminate(): Promise<CloseInfo> {
    this.ws.terminate();
    return this.closed;
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (isBinary) {
      this.otherFrames.push(buf);
      return;
    }
    const text = buf.toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.otherFrames.push(text);
      return;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      this.otherFrames.push(text);
      return;
    }
    const frame = parsed as Frame;
    const index = this.frames.length;
    this.frames.push(frame);
    const w = this.waiters.find((x) => x.predicate(frame));
    if (w) {
      this.waiters = this.waiters.filter((x) => x !== w);
      this.consumed.add(index);
      w.resolve(frame);
    }
  }

  private flushPongWaiters(): void {
    while (this.pongWaiters.length > 0 && this.pongs > this.pongsConsumed) {
      this.pongsConsumed++;
      this.pongWaiters.shift()?.resolve();
    }
  }

  private describeFrames(): string {
    let s = JSON.stringify(this.frames);
    if (s.length > 4_000) s = `${s.slice(0, 4_000)}…(${this.frames.length} frames)`;
    if (this.otherFrames.length > 0) s += ` and ${this.otherFrames.length} non-JSON frame(s)`;
    return s;
  }
}

/**
 * The demo chat's business service (`npm run demo` starts it beside the gateway): a real gRPC
 * BusinessMessageService written against api/im_gateway.proto, plus a token endpoint for the
 * demo page.
 *
 * - `ima.subscribe` (a client subscribing to a room, `rooms.clientSubscribe: business`): allowed
 *   (code 0) for every valid room name; the connection's user and device join the room's
 *   presence.
 * - `chat.send` `{room, text, cid?}`: stored in the room's history (the last HISTORY_SIZE
 *   messages) and acked 0, then pushed to the room through the gateway's
 *   `IMAGatewayService.PushToRoom` as a `chat.message` `{id, n, room, from, text, at, cid}`. A
 *   message is stored once per sender and `cid` (or client message id): a resend after a
 *   reconnect is acked 0 again and not stored twice.
 * - `chat.sync` `{room}`: answered with two replies, `chat.history` `{room, messages}` and
 *   `chat.presence`: what a page loads after joining, and again whenever the gateway says its
 *   missed pushes could not be recovered (`recovered: false`, e.g. after a gateway restart: the
 *   gateway's history is in memory).
 * - presence: who is in each room (from `ima.subscribe`, and from `OnConnectionStatus`
 *   disconnect and kick events, checked against `GetConnectionStatus` so that a late event of a
 *   replaced connection does not remove its successor); every change is pushed to the room as
 *   `chat.presence` `{room, v, users: [{user, devices}]}` (`v` grows with each change).
 * - Pushes to a room go out in order, one at a time, and are retried for up to PUSH_RETRY_MS
 *   while the gateway is unreachable (restarting): pages drop a message they already have by id.
 * - HTTP (node:http, CORS open): `GET /token?user=U&device=D&platform=P` answers
 *   `{token, userId, deviceId, platform, expiresAt}`, a JWT signed like `npm run token` does
 *   (the same configuration: config files, APP_ENV, IMA_JWT_SECRET; the dev profile's fixed
 *   secret when none is set). `GET /state` shows the rooms; `GET /healthz` answers ok.
 *
 * Run: node dist/demo/business-service.js [--grpc-port 50052] [--http-port 8090]
 *        [--host 127.0.0.1] [--gateway 127.0.0.1:50051] [--handle-delay-ms 0] [--token-ttl-sec N]
 * The push API token, when the gateway has one, comes from IMA_API_TOKEN.
 */
import * as http from 'node:http';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { BusinessMessageServiceHandlers } from '../api/gen/im/gateway/v1/BusinessMessageService';
import type { ClientMessageOutput } from '../api/gen/im/gateway/v1/ClientMessage';
import type { ConnectionStatusOutput } from '../api/gen/im/gateway/v1/ConnectionStatus';
import type { HandleMessageResponse } from '../api/gen/im/gateway/v1/HandleMessageResponse';
import type { IMAGatewayServiceClient } from '../api/gen/im/gateway/v1/IMAGatewayService';
import type { ServerMessage } from '../api/gen/im/gateway/v1/ServerMessage';
import { signJwt } from '../internal/auth/jwt';
import { formatIssue, loadConfig, resolveAuthProvider } from '../internal/config/load';
import { isPlatform } from '../internal/protocol/codes';
import { ROOM_NAME_RE } from '../internal/protocol/frames';
import { loadProto } from '../internal/rpc/proto';

/** Messages kept per room (what `chat.sync` returns). */
export const HISTORY_SIZE = 200;
/** Longest chat text, in characters. */
export const MAX_TEXT = 1000;
/** How long a push to a room is retried while the gateway is unreachable. */
const PUSH_RETRY_MS = 30_000;
/** Deadline of one PushToRoom attempt (it waits for the channel to be ready meanwhile). */
const PUSH_ATTEMPT_MS = 3_000;
/** Presence changes within this window go out as one push. */
const PRESENCE_DEBOUNCE_MS = 100;

/** The service's own answer codes (beside 0); gateway codes (1000-3001) are not reused. */
export const DemoCode = {
  OK: 0,
  BAD_REQUEST: 4400,
  UNKNOWN_TYPE: 4404,
} as const;

const USER_RE = /^[A-Za-z0-9_.@-]{1,32}$/;
const DEVICE_RE = /^[\x21-\x7e]{1,128}$/;
const CID_RE = /^[\x21-\x7e]{1,64}$/;

export interface ChatMessage {
  /** unique id (also the push's message id) */
  readonly id: string;
  /** position in the room, from 1 */
  readonly n: number;
  readonly room: string;
  readonly from: string;
  readonly text: string;
  /** unix ms, when the service stored it */
  readonly at: number;
  /** the sender's own id for it (pages match their pending copy with it) */
  readonly cid?: string;
}

export interface PresenceList {
  readonly room: string;
  /** grows with each change of this room's presence */
  readonly v: number;
  readonly users: ReadonlyArray<{ readonly user: string; readonly devices: number }>;
}

export interface DemoServiceOptions {
  /** gRPC BusinessMessageService port (0 = any free port). Default 50052. */
  readonly grpcPort?: number;
  /** HTTP token endpoint port (0 = any free port). Default 8090. */
  readonly httpPort?: number;
  /** Listen address of both. Default 127.0.0.1. */
  readonly host?: string;
  /** The gateway's gRPC address (IMAGatewayService). Default 127.0.0.1:50051. */
  readonly gateway?: string;
  /** Push API bearer token (IMA_API_TOKEN of the gateway); empty = none. */
  readonly apiToken?: string;
  /** Signs the tokens of GET /token. */
  readonly jwt: { readonly secret: string; readonly issuer: string; readonly audience: string; readonly ttlSec: number };
  /** Waits this long before handling each chat.send (to watch a gateway restart catch a message in flight). */
  readonly handleDelayMs?: number;
  /** One line per event; default: none. */
  readonly log?: (line: string) => void;
}

interface Room {
  readonly name: string;
  readonly history: ChatMessage[];
  next: number;
  /** user -> devices */
  readonly members: Map<string, Set<string>>;
  presenceVersion: number;
  presenceDirty: boolean;
  /** the push queue: pushes to one room go out one at a time, in order */
  chain: Promise<void>;
}

function payloadOf(msg: ClientMessageOutput): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(Buffer.from(msg.payload).toString('utf8')) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function deviceKey(user: string, device: string): string {
  return `${user}\n${device}`;
}

function answer(code: number, message: string, replies: ServerMessage[] = []): HandleMessageResponse {
  return { code, message, replies };
}

export class DemoChatService {
  private readonly rooms = new Map<string, Room>();
  /** user\ndevice -> rooms it is present in */
  private readonly deviceRooms = new Map<string, Set<string>>();
  /** user\0cid -> message id: a message is stored once */
  private readonly stored = new Map<string, string>();
  /** messages of the same sender and cid being handled right now */
  private readonly handling = new Map<string, Promise<HandleMessageResponse>>();
  private readonly bootId = Date.now().toString(36);
  private readonly server = new grpc.Server();
  private readonly httpServer: http.Server;
  private readonly gateway: IMAGatewayServiceClient;
  private presenceTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private _grpcPort = 0;
  private _httpPort = 0;

  private constructor(private readonly opts: DemoServiceOptions) {
    const { grpcType } = loadProto();
    const handlers: BusinessMessageServiceHandlers = {
      HandleMessage: (call, callback) => {
        this.handle(call.request).then(
          (res) => callback(null, res),
          (err: unknown) => callback({ code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) }),
        );
      },
      OnConnectionStatus: (call, callback) => {
        this.onStatus(call.request);
        callback(null, { success: true });
      },
    };
    this.server.addService(grpcType.im.gateway.v1.BusinessMessageService.service, handlers);
    this.gateway = new grpcType.im.gateway.v1.IMAGatewayService(opts.gateway ?? '127.0.0.1:50051', grpc.credentials.createInsecure(), {
      // the gateway may restart: find it again quickly
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
    });
    this.httpServer = http.createServer((req, res) => this.http(req, res));
  }

  /** Starts the gRPC service and the HTTP endpoint. */
  static async start(opts: DemoServiceOptions): Promise<DemoChatService> {
    const s = new DemoChatService(opts);
    const host = opts.host ?? '127.0.0.1';
    s._grpcPort = await new Promise<number>((resolve, reject) => {
      s.server.bindAsync(`${host}:${opts.grpcPort ?? 50052}`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    try {
      s._httpPort = await new Promise<number>((resolve, reject) => {
        s.httpServer.once('error', reject);
        s.httpServer.listen(opts.httpPort ?? 8090, host, () => {
          s.httpServer.off('error', reject);
          const a = s.httpServer.address();
          resolve(a !== null && typeof a === 'object' ? a.port : 0);
        });
      });
    } catch (e) {
      s.server.forceShutdown();
      s.gateway.close();
      throw e;
    }
    return s;
  }

  get grpcAddress(): string {
    return `${this.opts.host ?? '127.0.0.1'}:${this._grpcPort}`;
  }

  get httpUrl(): string {
    return `http://${this.opts.host ?? '127.0.0.1'}:${this._httpPort}`;
  }

  /** Stops both servers and the gateway client. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.presenceTimer !== null) clearTimeout(this.presenceTimer);
    this.httpServer.closeAllConnections();
    await Promise.all([
      new Promise<void>((resolve) => this.httpServer.close(() => resolve())),
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.server.forceShutdown();
          resolve();
        }, 1_000);
        this.server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
    ]);
    this.gateway.close();
  }

  /** The rooms as GET /state shows them. */
  state(): Record<string, { messages: number; presence: PresenceList }> {
    const out: Record<string, { messages: number; presence: PresenceList }> = {};
    for (const r of this.rooms.values()) out[r.name] = { messages: r.next - 1, presence: this.presence(r) };
    return out;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private room(name: string): Room {
    let r = this.rooms.get(name);
    if (r === undefined) {
      r = { name, history: [], next: 1, members: new Map(), presenceVersion: 0, presenceDirty: false, chain: Promise.resolve() };
      this.rooms.set(name, r);
    }
    return r;
  }

  // ----- HandleMessage ------------------------------------------------------------------------

  private async handle(msg: ClientMessageOutput): Promise<HandleMessageResponse> {
    const p = payloadOf(msg);
    switch (msg.type) {
      case 'ima.subscribe': {
        const room = p?.['room'];
        if (typeof room !== 'string' || !ROOM_NAME_RE.test(room)) return answer(DemoCode.BAD_REQUEST, 'bad room name');
        this.join(room, msg.userId, msg.deviceId);
        return answer(DemoCode.OK, 'ok');
      }
      case 'chat.send':
        return this.chatSend(msg, p);
      case 'chat.sync': {
        const room = p?.['room'];
        if (typeof room !== 'string' || !ROOM_NAME_RE.test(room)) return answer(DemoCode.BAD_REQUEST, 'bad room name');
        const r = this.room(room);
        const now = Date.now();
        return answer(DemoCode.OK, 'ok', [
          { type: 'chat.history', payload: Buffer.from(JSON.stringify({ room, messages: r.history })), timestamp: now },
          { type: 'chat.presence', payload: Buffer.from(JSON.stringify(this.presence(r))), timestamp: now },
        ]);
      }
      default:
        return answer(DemoCode.UNKNOWN_TYPE, `unknown message type ${msg.type}`);
    }
  }

  private async chatSend(msg: ClientMessageOutput, p: Record<string, unknown> | undefined): Promise<HandleMessageResponse> {
    const room = p?.['room'];
    const rawText = p?.['text'];
    const cid = p?.['cid'];
    if (typeof room !== 'string' || !ROOM_NAME_RE.test(room)) return answer(DemoCode.BAD_REQUEST, 'bad room name');
    if (typeof rawText !== 'string' || rawText.trim() === '') return answer(DemoCode.BAD_REQUEST, 'text: required');
    const text = rawText.trim();
    if (text.length > MAX_TEXT) return answer(DemoCode.BAD_REQUEST, `text: at most ${MAX_TEXT} characters`);
    if (cid !== undefined && (typeof cid !== 'string' || !CID_RE.test(cid))) return answer(DemoCode.BAD_REQUEST, 'cid: 1 to 64 printable ASCII characters');
    this.log(`chat.send received from ${msg.userId}/${msg.deviceId} in ${room}: ${JSON.stringify(text)} (id ${msg.messageId})`);
    // once per sender and message: the same cid (or the same client message id, which the SDK
    // keeps when it resends after a reconnect) is stored once
    const key = `${msg.userId}\0${typeof cid === 'string' ? `c:${cid}` : `m:${msg.messageId}`}`;
    const already = this.stored.get(key);
    if (already !== undefined) return answer(DemoCode.OK, `already stored as ${already}`);
    const running = this.handling.get(key);
    if (running !== undefined) return running;
    const work = (async (): Promise<HandleMessageResponse> => {
      const delay = this.opts.handleDelayMs ?? 0;
      if (delay > 0) await sleep(delay);
      const r = this.room(room);
      const n = r.next++;
      const m: ChatMessage = { id: `${this.bootId}-${room}-${n}`, n, room, from: msg.userId, text, at: Date.now(), ...(typeof cid === 'string' ? { cid } : {}) };
      r.history.push(m);
      if (r.history.length > HISTORY_SIZE) r.history.splice(0, r.history.length - HISTORY_SIZE);
      this.stored.set(key, m.id);
      if (this.stored.size > 100_000) this.stored.delete(this.stored.keys().next().value as string);
      this.log(`${room} #${n} <${m.from}> ${m.text}`);
      this.pushToRoom(r, { messageId: m.id, type: 'chat.message', payload: Buffer.from(JSON.stringify(m)), timestamp: m.at }, `message #${n}`);
      return answer(DemoCode.OK, m.id);
    })();
    this.handling.set(key, work);
    try {
      return await work;
    } finally {
      this.handling.delete(key);
    }
  }

  // ----- presence -----------------------------------------------------------------------------

  private presence(r: Room): PresenceList {
    const users = [...r.members.entries()].map(([user, devices]) => ({ user, devices: devices.size })).sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
    return { room: r.name, v: r.presenceVersion, users };
  }

  private join(room: string, user: string, device: string): void {
    const r = this.room(room);
    let devices = r.members.get(user);
    if (devices === undefined) r.members.set(user, (devices = new Set()));
    const key = deviceKey(user, device);
    let rooms = this.deviceRooms.get(key);
    if (rooms === undefined) this.deviceRooms.set(key, (rooms = new Set()));
    rooms.add(room);
    if (devices.has(device)) return;
    devices.add(device);
    this.log(`${user} (${device}) joined ${room}`);
    this.presenceChanged(r);
  }

  private leaveAll(user: string, device: string, why: string): void {
    const key = deviceKey(user, device);
    const rooms = this.deviceRooms.get(key);
    if (rooms === undefined) return;
    this.deviceRooms.delete(key);
    for (const name of rooms) {
      const r = this.rooms.get(name);
      const devices = r?.members.get(user);
      if (r === undefined || devices === undefined || !devices.delete(device)) continue;
      if (devices.size === 0) r.members.delete(user);
      this.log(`${user} (${device}) left ${name}: ${why}`);
      this.presenceChanged(r);
    }
  }

  private presenceChanged(r: Room): void {
    r.presenceVersion++;
    r.presenceDirty = true;
    if (this.presenceTimer !== null || this.stopping) return;
    // after the debounce: the subscription that caused the change is in place by then, so the
    // new member gets the push too
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = null;
      for (const room of this.rooms.values()) {
        if (!room.presenceDirty) continue;
        room.presenceDirty = false;
        // the list is taken when the push goes out: queued changes collapse into the latest
        this.pushToRoom(room, () => ({ type: 'chat.presence', payload: Buffer.from(JSON.stringify(this.presence(room))), timestamp: Date.now() }), 'presence');
      }
    }, PRESENCE_DEBOUNCE_MS);
  }

  private onStatus(s: ConnectionStatusOutput): void {
    if (s.event !== 'CONNECTION_EVENT_DISCONNECTED' && s.event !== 'CONNECTION_EVENT_KICKED') return;
    const why = s.event === 'CONNECTION_EVENT_KICKED' ? `kicked (${s.reason})` : s.reason;
    // a late event of a connection that another one of the same device already replaced must not
    // remove the newer one: ask the gateway who is online now
    this.gateway.GetConnectionStatus({ userIds: [s.userId] }, this.metadata(), { deadline: Date.now() + 1_000 }, (err, res) => {
      if (err === null && res !== undefined) {
        const newer = res.statuses.find((c) => c.deviceId === s.deviceId && c.online && c.connectedAt !== s.connectedAt);
        if (newer !== undefined) return;
      }
      this.leaveAll(s.userId, s.deviceId, why);
    });
  }

  // ----- pushes to the gateway ----------------------------------------------------------------

  /** `waitForReady`: a call waits for the channel to (re)connect instead of failing at once. */
  private metadata(waitForReady = false): grpc.Metadata {
    const md = new grpc.Metadata({ waitForReady });
    if (this.opts.apiToken !== undefined && this.opts.apiToken !== '') md.set('authorization', `Bearer ${this.opts.apiToken}`);
    return md;
  }

  /** Queues a PushToRoom behind the room's earlier pushes; retried while the gateway is unreachable. */
  private pushToRoom(r: Room, message: ServerMessage | (() => ServerMessage), what: string): void {
    r.chain = r.chain.then(async () => {
      const until = Date.now() + PUSH_RETRY_MS;
      for (let attempt = 1; !this.stopping; attempt++) {
        const m = typeof message === 'function' ? message() : message;
        try {
          const delivered = await new Promise<number>((resolve, reject) => {
            this.gateway.PushToRoom({ room: r.name, message: m }, this.metadata(true), { deadline: Date.now() + PUSH_ATTEMPT_MS }, (err, res) =>
              err !== null || res === undefined ? reject(err ?? new Error('no response')) : resolve(res.delivered),
            );
          });
          if (attempt > 1) this.log(`${r.name}: ${what} pushed after ${attempt} attempts (delivered to ${delivered})`);
          else if (what.startsWith('message')) this.log(`${r.name}: ${what} pushed (delivered to ${delivered})`);
          return;
        } catch (e) {
          const code = (e as { code?: number }).code;
          const retryable = code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED || code === grpc.status.CANCELLED;
          if (!retryable || Date.now() >= until) {
            this.log(`${r.name}: ${what} not pushed: ${e instanceof Error ? e.message : String(e)} (pages resync with chat.sync)`);
            return;
          }
          if (attempt === 1) this.log(`${r.name}: gateway unreachable for ${what} (${e instanceof Error ? e.message : String(e)}); retrying`);
          await sleep(200);
        }
      }
    });
  }

  // ----- HTTP: tokens -------------------------------------------------------------------------

  private http(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://demo');
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET', 'access-control-allow-headers': '*', 'access-control-max-age': '600' });
      res.end();
      return;
    }
    if (req.method !== 'GET') return send(405, { error: 'GET only' });
    switch (url.pathname) {
      case '/healthz':
        return send(200, { ok: true });
      case '/state':
        return send(200, { rooms: this.state() });
      case '/token': {
        const user = url.searchParams.get('user') ?? '';
        const device = url.searchParams.get('device') ?? '';
        const platform = url.searchParams.get('platform') ?? 'web';
        if (!USER_RE.test(user)) return send(400, { error: 'user: 1 to 32 characters of A-Z a-z 0-9 _ . @ -' });
        if (!DEVICE_RE.test(device)) return send(400, { error: 'device: 1 to 128 printable ASCII characters' });
        if (!isPlatform(platform)) return send(400, { error: `platform: unknown platform ${platform}` });
        const j = this.opts.jwt;
        const now = Math.floor(Date.now() / 1000);
        const exp = now + j.ttlSec;
        const token = signJwt(
          { sub: user, did: device, plt: platform, iat: now, exp, ...(j.issuer !== '' ? { iss: j.issuer } : {}), ...(j.audience !== '' ? { aud: j.audience } : {}) },
          { alg: 'HS256', secret: j.secret },
        );
        return send(200, { token, userId: user, deviceId: device, platform, expiresAt: exp * 1000 });
      }
      default:
        return send(404, { error: 'not found: GET /token?user=U&device=D&platform=P, /state, /healthz' });
    }
  }
}

// ----- command line ---------------------------------------------------------------------------

function fail(message: string): never {
  process.stderr.write(`demo service: ${message}\n`);
  process.exit(2);
}

function portArg(name: string, value: string | undefined, dflt: number): number {
  if (value === undefined) return dflt;
  if (!/^\d+$/.test(value) || Number(value) > 65_535) fail(`--${name} must be a port number, got ${JSON.stringify(value)}`);
  return Number(value);
}

async function main(): Promise<void> {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      options: {
        'grpc-port': { type: 'string' },
        'http-port': { type: 'string' },
        host: { type: 'string' },
        gateway: { type: 'string' },
        'handle-delay-ms': { type: 'string' },
        'token-ttl-sec': { type: 'string' },
      },
      strict: true,
    }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  const loaded = loadConfig({ env: process.env, cwd: process.cwd() });
  if (!loaded.ok) fail(`invalid configuration:\n${loaded.error.map(formatIssue).join('\n')}`);
  const config = loaded.value.config;
  if (resolveAuthProvider(config) !== 'jwt') process.stderr.write('demo service: warning: the configuration uses the muc auth provider; the tokens of GET /token are for the jwt provider (IMA_AUTH_PROVIDER=jwt)\n');
  const jwt = config.auth.jwt;
  if (jwt.secret === '') fail('no HS256 secret configured (IMA_JWT_SECRET): GET /token cannot sign tokens');
  const ttl = values['token-ttl-sec'];
  if (ttl !== undefined && (!/^\d+$/.test(ttl) || Number(ttl) < 1)) fail('--token-ttl-sec must be a positive number of seconds');
  const delay = values['handle-delay-ms'];
  if (delay !== undefined && !/^\d+$/.test(delay)) fail('--handle-delay-ms must be a number of milliseconds');
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const service = await DemoChatService.start({
    grpcPort: portArg('grpc-port', values['grpc-port'], 50052),
    httpPort: portArg('http-port', values['http-port'], 8090),
    host: values['host'] ?? '127.0.0.1',
    gateway: values['gateway'] ?? `127.0.0.1:${config.server.port}`,
    apiToken: config.server.apiToken,
    jwt: { secret: jwt.secret, issuer: jwt.issuer, audience: jwt.audience, ttlSec: ttl !== undefined ? Number(ttl) : jwt.defaultTtlSec },
    handleDelayMs: delay !== undefined ? Number(delay) : 0,
    log,
  }).catch((e: unknown) => fail(`cannot start: ${e instanceof Error ? e.message : String(e)}`));
  log(`demo service ready: BusinessMessageService on ${service.grpcAddress}, tokens at ${service.httpUrl}/token, gateway ${values['gateway'] ?? `127.0.0.1:${config.server.port}`}`);
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) return;
    stopping = true;
    void service.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (require.main === module) void main();

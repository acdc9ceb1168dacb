import type { ClientMessage } from '../../api/gen/im/gateway/v1/ClientMessage';
import type { ConnectionStatus } from '../../api/gen/im/gateway/v1/ConnectionStatus';
import type { HandleMessageResponseOutput } from '../../api/gen/im/gateway/v1/HandleMessageResponse';
import { DedupeWindow } from '../../pkg/dedupe-window';
import type { IdGenerator } from '../../pkg/ids';
import type { Result } from '../../pkg/result';
import type { TokenVerifier } from '../auth/types';
import type { ConnectionManager } from '../connection/manager';
import type { Logger } from '../observability/logger';
import type { PolicySettings, Victim } from '../policy/policy';
import type { PresenceStore } from '../presence/types';
import { AckCode, CLOSE_REASON, CloseCode, isPlatform } from '../protocol/codes';
import { decodeClientFrame, peekFrameId, encodeAck, encodeAuthFail, encodeAuthOk, encodeError, encodeExpiring, encodeKick, encodePong, encodeServerMessage } from '../protocol/frames';
import type { BusinessClient } from './ports';
import type { UpstreamError } from './ports';
import type { TopicPublisher, TransportSocket, UpgradeInfo, WsHandler } from './ports';
import type { RoomHub } from './rooms';
import type { HistoryEntry, HistoryStore, RecoverResult } from '../recovery/types';
import { filterMatches, roomStream, userStream, withSeq } from '../recovery/types';
import type { Attempt, QueuedMessage } from './session';
import { Rejection, Session } from './session';
import type { GatewayStats } from './stats';
import { newTraceId, parseTraceparent, traceparentFor } from './trace';
import type { Spans, TraceSpan } from '../observability/tracing';
import { ATTR } from '../observability/tracing';

export interface GatewaySettings {
  readonly policy: PolicySettings;
  readonly heartbeatIntervalMs: number;
  /** How long before a token's expiry the `expiring` notice goes out (0 = never). */
  readonly refreshNoticeMs: number;
  /** What a connection may hold while its recovery is read (the send-buffer limit, websocket.maxBackpressureBytes). */
  readonly maxHeldBytes: number;
  readonly rateLimit: { readonly perSecond: number; readonly burst: number; readonly closeAfterViolations: number };
  readonly forward: {
    readonly maxInFlight: number;
    readonly maxPayloadBytes: number;
    readonly dedupeWindowMs: number;
    readonly dedupeMaxEntries: number;
  };
}

export interface GatewayDeps {
  readonly instanceId: string;
  readonly verifier: TokenVerifier;
  readonly presence: PresenceStore;
  readonly registry: ConnectionManager<Session>;
  readonly business: BusinessClient;
  readonly ids: IdGenerator;
  readonly stats: GatewayStats;
  readonly log: Logger;
  readonly settings: GatewaySettings;
  /** Where connect / disconnect / kick events go (OnConnectionStatus); null = not reported. */
  readonly events: { publish(event: ConnectionStatus): void } | null;
  /** Kicks a policy victim owned by another instance (the cluster); null = single instance. */
  readonly remote: RemoteKicker | null;
  /** Rooms: member rooms at login, client subscriptions, cleanup at close. */
  readonly rooms: RoomHub;
  /** Numbered pushes and recovery; null = `recovery.enabled: false`. */
  readonly history: HistoryStore | null;
  /** Spans of upgrades and forwards (`tracing.enabled`); null or absent = off: hand-made traceparents, as without tracing. */
  readonly spans?: Spans | null;
  /** The transport's native fan-out: every live connection is subscribed to BROADCAST_TOPIC. */
  readonly topics: TopicPublisher;
}

/** The topic of every live connection (room topics are `r:<room>`): a Broadcast is one native publish. */
export const BROADCAST_TOPIC = 'b:all';

/** Reaches a connection held by another instance of the cluster. */
export interface RemoteKicker {
  /** Kicks the connection (user, device, epoch) of `instanceId` with `code`; false when that instance could not be reached. */
  kickRemote(instanceId: string, userId: string, deviceId: string, epoch: number, code: number, reason: string): Promise<boolean>;
}

/** A remembered ack of a forwarded message, and the duplicates waiting for it. */
interface DedupeEntry {
  ack: string | null;
  waiters: Session[] | null;
}

/** The ClientMessage type of a subscription asked of the business service (`rooms.clientSubscribe: business`). */
export const SUBSCRIBE_TYPE = 'ima.subscribe';

const DEVICE_ID_RE = /^[\x21-\x7e]{1,128}$/;
const VIOLATION_WINDOW_MS = 10_000;

/**
 * The client-side use cases: connect (validate -> authenticate -> policy -> register), client
 * frames (ping, forward with ordered per-connection queues, dedupe, rate limit), token expiry and
 * disconnect. It is the transport's WsHandler: it knows users and sessions, not uWS sockets.
 */
export class Gateway implements WsHandler<Attempt> {
  /** Sessions admitted but whose socket has not opened yet, by pendingKey (user and epoch: epochs are per user in the Redis store). */
  private readonly pending = new Map<string, Session>();
  /** Registered connections whose login recovery is being read: not in BROADCAST_TOPIC yet, their frames are held. */
  private readonly holding = new Set<Session>();
  /** Token expiry wheel: second -> sessions expiring then. */
  private readonly expiries = new Map<number, Set<Session>>();
  /** `expiring` notice wheel: second -> sessions to notify then. */
  private readonly notices = new Map<number, Set<Session>>();
  private expiryTimer: NodeJS.Timeout | null = null;
  private readonly dedupe: DedupeWindow<DedupeEntry> | null;
  private draining = false;
  /** HandleMessage calls in flight, and who waits for them to end (`idle`). */
  private forwarding = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly d: GatewayDeps) {
    const f = d.settings.forward;
    this.dedupe = f.dedupeWindowMs > 0 ? new DedupeWindow<DedupeEntry>({ windowMs: f.dedupeWindowMs, maxEntries: f.dedupeMaxEntries }) : null;
  }

  start(): void {
    this.expiryTimer = setInterval(() => this.expireTokens(Date.now()), 1000);
    this.expiryTimer.unref();
  }

  // ----- connect ------------------------------------------------------------------------------

  upgrade(info: UpgradeInfo): Promise<Attempt> {
    const spans = this.d.spans;
    return spans === undefined || spans === null ? this.admit(info, '') : this.tracedUpgrade(info, spans);
  }

  /**
   * The upgrade as a server span continuing the request's traceparent: the MUC call is its child,
   * and so are the connection's forwards (one trace per connection, as its traceId).
   */
  private async tracedUpgrade(info: UpgradeInfo, spans: Spans): Promise<Attempt> {
    const span = spans.start('ws.upgrade', 'server', info.traceparent, {
      [ATTR.deviceId]: info.deviceId,
      [ATTR.platform]: info.platform,
      [ATTR.clientAddress]: info.clientIp,
      [ATTR.instanceId]: this.d.instanceId,
    });
    try {
      const a = await this.admit({ ...info, traceparent: span.traceparent }, span.traceparent);
      if (a instanceof Rejection) {
        span.set(ATTR.closeCode, a.code);
        // a refused token or request is the client's failure; the span fails for ours only
        if (a.code === CloseCode.AUTH_UNAVAILABLE || a.code === CloseCode.INTERNAL_ERROR) span.fail(a.reason);
      } else {
        span.set(ATTR.userId, a.userId);
        a.spanParent = span.traceparent;
      }
      return a;
    } finally {
      span.end();
    }
  }

  /** `spanParent`: the upgrade span's traceparent, '' when tracing is off (the MUC call then carries none, as before). */
  private async admit(info: UpgradeInfo, spanParent: string): Promise<Attempt> {
    const reject = (code: number, reason: string): Rejection => {
      this.d.stats.connectsRejected.set(code, (this.d.stats.connectsRejected.get(code) ?? 0) + 1);
      this.d.log.info({ code, reason, deviceId: info.deviceId, platform: info.platform, clientIp: info.clientIp }, 'connect refused');
      return new Rejection(code, reason);
    };
    if (!DEVICE_ID_RE.test(info.deviceId)) return reject(CloseCode.BAD_REQUEST, 'missing or invalid device_id (1 to 128 printable characters)');
    const platform = info.platform.toLowerCase();
    if (!isPlatform(platform)) return reject(CloseCode.BAD_REQUEST, 'missing or unknown platform');
    if (info.token === '') return reject(CloseCode.AUTH_FAILED, 'missing token');
    let recover: { seq: number; epoch: string } | null = null;
    if (info.recoverSeq !== '') {
      const seq = Number(info.recoverSeq);
      if (!/^\d{1,16}$/.test(info.recoverSeq) || !Number.isSafeInteger(seq) || info.recoverEpoch.length > 64) {
        return reject(CloseCode.BAD_REQUEST, 'invalid recover_seq (a non-negative integer) or recover_epoch');
      }
      recover = { seq, epoch: info.recoverEpoch };
    }

    const started = Date.now();
    const verified = await this.d.verifier.verify({
      token: info.token,
      deviceId: info.deviceId,
      platform,
      clientIp: info.clientIp,
      instanceId: this.d.instanceId,
      ...(spanParent !== '' ? { traceparent: spanParent } : {}),
    });
    this.d.stats.recordUpstream('auth', 'ValidateToken', verified.ok ? 'ok' : verified.error.kind, Date.now() - started);
    if (!verified.ok) {
      const e = verified.error;
      if (e.kind === 'unavailable') return reject(CloseCode.AUTH_UNAVAILABLE, 'auth service unavailable');
      return e.code === CloseCode.TOKEN_EXPIRED ? reject(CloseCode.TOKEN_EXPIRED, 'token expired') : reject(CloseCode.AUTH_FAILED, e.message);
    }
    const id = verified.value;
    const now = Date.now();
    if (id.expireAt !== 0 && id.expireAt <= now) return reject(CloseCode.TOKEN_EXPIRED, 'token expired');
    if (this.draining) return reject(CloseCode.GOING_AWAY, 'gateway shutting down');

    // the user's member rooms are read beside the registration: subscribed before the auth frame goes out
    const memberRooms = this.d.rooms.roomsAtLogin(id.userId);
    const reg = await this.d.presence.register(
      { userId: id.userId, deviceId: info.deviceId, platform, instanceId: this.d.instanceId, connectedAt: now, clientIp: info.clientIp },
      this.d.settings.policy,
    );
    const rooms = await memberRooms;
    if (!reg.admitted) return reject(CloseCode.REPLACED, 'another login holds this slot (multi-device policy)');
    const incoming = parseTraceparent(info.traceparent);
    const rl = this.d.settings.rateLimit;
    const session = new Session({
      userId: id.userId,
      deviceId: info.deviceId,
      platform,
      epoch: reg.epoch,
      connectedAt: now,
      clientIp: info.clientIp,
      traceId: incoming ?? newTraceId(),
      expireAt: id.expireAt,
      ratePerSec: rl.perSecond,
      burst: rl.burst,
    });
    this.d.rooms.preset(session, rooms);
    session.recover = recover;
    this.pending.set(pendingKey(session.userId, session.epoch), session);
    this.kickVictims(reg.victims, session);
    return session;
  }

  aborted(attempt: Attempt): void {
    if (attempt instanceof Rejection) return;
    attempt.ended = true;
    this.pending.delete(pendingKey(attempt.userId, attempt.epoch));
    this.forgetPresence(attempt);
  }

  open(attempt: Attempt, socket: TransportSocket): void {
    if (attempt instanceof Rejection) {
      socket.send(encodeAuthFail(attempt.code, attempt.reason));
      socket.end(attempt.code, attempt.reason);
      return;
    }
    const s = attempt;
    this.pending.delete(pendingKey(s.userId, s.epoch));
    s.socket = socket;
    // a login kicked while its upgrade was pending is never registered: it would displace its own
    // replacement from the registry (same device) and get that connection kicked too
    if (s.revoked === null) {
      const replaced = this.d.registry.register(s);
      if (replaced !== undefined) this.kick(replaced, CloseCode.REPLACED, 'replaced by a new login on the same device');
      this.d.rooms.attach(s);
    }
    this.d.stats.connectsAccepted++;
    const history = this.d.history;
    if (history !== null && s.revoked === null) {
      // the auth frame waits for the user's stream (epoch, and the missed pushes when asked);
      // whatever is written to the connection meanwhile is held and follows the replay
      s.held = [];
      s.heldLimit = this.d.settings.maxHeldBytes;
      this.holding.add(s);
      history.recover(userStream(s.userId), s.recover?.seq ?? null, s.recover?.epoch ?? null).then(
        (r) => this.completeLogin(s, socket, r),
        (e: unknown) => {
          this.d.log.warn({ userId: s.userId, err: e instanceof Error ? e.message : String(e) }, 'recovery: history unreadable at login');
          this.completeLogin(s, socket, null);
        },
      );
    } else {
      this.count(socket.send(this.authOk(s, null)));
      if (s.revoked === null) socket.subscribe(BROADCAST_TOPIC);
    }
    this.d.log.info({ userId: s.userId, deviceId: s.deviceId, platform: s.platform, traceId: s.traceId, epoch: s.epoch, clientIp: s.clientIp }, 'connected');
    this.d.events?.publish(this.status(s, 'CONNECTION_EVENT_CONNECTED', ''));
    if (s.revoked !== null) {
      // the kick was decided (and counted) while pending: now the frame and the close
      this.count(s.send(encodeKick(s.revoked.code, s.revoked.reason)));
      this.closeByGateway(s, s.revoked.code, s.revoked.reason);
      return;
    }
    this.scheduleExpiry(s);
  }

  private authOk(s: Session, r: RecoverResult | null, missed = 0): string {
    return encodeAuthOk({
      userId: s.userId,
      deviceId: s.deviceId,
      platform: s.platform,
      instanceId: this.d.instanceId,
      heartbeatIntervalMs: this.d.settings.heartbeatIntervalMs,
      ...(r !== null ? { epoch: r.epoch } : {}),
      ...(s.recover !== null ? { recovered: r?.recovered === true, missed } : {}),
    });
  }

  /**
   * The login's recovery was read: in one corked write the auth frame (epoch, recovered, missed),
   * the missed pushes for this device in order, then what was held meanwhile. A held user push
   * that the read already saw (seq <= lastSeq) was replayed (or not for this device) and is
   * skipped: no gap, no duplicate.
   */
  private completeLogin(s: Session, socket: TransportSocket, r: RecoverResult | null): void {
    const held = s.held ?? [];
    s.held = null;
    this.holding.delete(s);
    if (s.ended || !socket.isOpen) return;
    const replay: HistoryEntry[] = r?.recovered === true ? r.entries.filter((e) => filterMatches(e.filter, s.userId, s.deviceId, s.platform)) : [];
    if (s.recover !== null) {
      this.d.stats.recoveries++;
      if (r?.recovered !== true) this.d.stats.recoveriesMissed++;
      this.d.stats.replayed += replay.length;
    }
    socket.cork(() => {
      this.count(s.send(this.authOk(s, r, replay.length)));
      for (const e of replay) this.count(s.send(e.frame));
      for (const f of held) {
        const seq = userSeqOf(f);
        if (seq !== undefined && r !== null && seq <= r.lastSeq) continue;
        s.send(f);
      }
      // from here on a Broadcast reaches it natively, after what it was sent above
      socket.subscribe(BROADCAST_TOPIC);
    });
  }

  /**
   * A frame to every live connection here: one native publish to BROADCAST_TOPIC (uWS writes it
   * to each subscriber, coalesced with the other publishes of the event-loop turn), plus the
   * connections whose login recovery is still being read (held, they follow their replay).
   * Returns the connections written.
   */
  broadcast(frame: Uint8Array): number {
    let delivered = this.d.topics.publish(BROADCAST_TOPIC, frame);
    for (const s of this.holding) if (s.send(frame)) delivered++;
    return delivered;
  }

  close(attempt: Attempt, code: number): void {
    if (attempt instanceof Rejection) return;
    const s = attempt;
    s.ended = true;
    this.holding.delete(s);
    // queued messages are never forwarded now: free their ids, so a retry on the next connection
    // is forwarded (duplicates waiting on them hear 2000 and may retry too)
    for (const item of s.queue) {
      if (item.dedupeKey !== undefined) this.forgetAck(item.dedupeKey, this.ack(item.id, AckCode.BUSINESS_UNAVAILABLE, 'connection closed before the message was forwarded'));
    }
    s.queue.length = 0;
    this.d.stats.disconnects.set(code, (this.d.stats.disconnects.get(code) ?? 0) + 1);
    this.d.registry.unregister(s);
    this.d.rooms.detach(s);
    this.unscheduleExpiry(s);
    this.forgetPresence(s);
    this.d.log.info({ userId: s.userId, deviceId: s.deviceId, traceId: s.traceId, code, reason: s.closeReason }, 'disconnected');
    // one terminal event per connection: kicked (policy, KickUser) or disconnected (anything else)
    this.d.events?.publish(
      s.kicked ? this.status(s, 'CONNECTION_EVENT_KICKED', s.closeReason) : this.status(s, 'CONNECTION_EVENT_DISCONNECTED', s.closeReason !== '' ? s.closeReason : `closed (code ${code})`),
    );
  }

  private status(s: Session, event: NonNullable<ConnectionStatus['event']>, reason: string): ConnectionStatus {
    return {
      userId: s.userId,
      deviceId: s.deviceId,
      platform: s.platform,
      online: event === 'CONNECTION_EVENT_CONNECTED',
      instanceId: this.d.instanceId,
      connectedAt: s.connectedAt,
      clientIp: s.clientIp,
      event,
      reason,
    };
  }

  // ----- frames -------------------------------------------------------------------------------

  message(attempt: Attempt, data: ArrayBuffer, isBinary: boolean): void {
    if (attempt instanceof Rejection) return;
    const s = attempt;
    if (s.ended) return;
    this.d.stats.messagesIn++;
    // the rate limit comes before any parsing: a flood costs a bounded peek per frame, no more
    if (!s.bucket.tryTake()) {
      this.rateLimited(s, isBinary ? undefined : peekFrameId(data));
      return;
    }
    const frame = decodeClientFrame(data, isBinary);
    switch (frame.kind) {
      case 'ping':
        this.count(s.send(encodePong(Date.now())));
        return;
      case 'invalid':
        this.count(s.send(encodeError(frame.code, frame.message, frame.id)));
        return;
      case 'message':
        this.enqueue(s, frame.id, frame.type, frame.payloadJson, frame.metadata);
        return;
      case 'refresh':
        this.refresh(s, frame.id, frame.token);
        return;
      case 'subscribe':
      case 'unsubscribe':
        if (frame.room === null) {
          this.count(s.send(this.roomAck(frame.id, AckCode.MALFORMED, 'missing or invalid "room" (1 to 128 characters of A-Z a-z 0-9 _ . : @ / -)')));
        } else if (frame.kind === 'subscribe') {
          this.subscribe(s, frame.id, frame.room, frame.recover);
        } else {
          this.d.rooms.unsubscribeClient(s, frame.room);
          this.count(s.send(this.roomAck(frame.id, AckCode.ACCEPTED)));
        }
        return;
    }
  }

  /**
   * A client's subscribe frame, per `rooms.clientSubscribe`: `deny` answers 3000; `allow`
   * subscribes; `business` asks HandleMessage (type `ima.subscribe`, payload `{"room":R}`) in the
   * connection's ordered queue and subscribes when it answers 0. Over `rooms.maxPerConnection`: 3001.
   */
  private subscribe(s: Session, id: string, room: string, recover?: { readonly seq: number; readonly epoch: string }): void {
    const mode = this.d.rooms.settings.clientSubscribe;
    if (mode === 'deny') {
      this.count(s.send(this.roomAck(id, AckCode.SUBSCRIBE_DENIED, 'room subscriptions are not allowed')));
      return;
    }
    if (this.d.rooms.wouldExceed(s, room)) {
      this.count(s.send(this.roomAck(id, AckCode.TOO_MANY_ROOMS, `at most ${this.d.rooms.settings.maxPerConnection} rooms per connection`)));
      return;
    }
    if (mode === 'allow') {
      void this.subscribeNow(s, id, room, recover);
      return;
    }
    this.enqueue(s, id, SUBSCRIBE_TYPE, JSON.stringify({ room }), undefined, room, recover);
  }

  /**
   * An allowed subscription. Without recovery: subscribed, ack 0. With it: the connection joins
   * the room but its room pushes are held while the room's stream is read; then, in one corked
   * write, the ack (epoch, and recovered / missed when asked), the missed pushes for this
   * connection, the held ones not already replayed, and the connection joins the topic.
   */
  private async subscribeNow(s: Session, id: string, room: string, recover: { readonly seq: number; readonly epoch: string } | undefined): Promise<void> {
    const history = this.d.history;
    const code = this.d.rooms.subscribeClient(s, room, history !== null);
    if (code !== AckCode.ACCEPTED || history === null) {
      this.count(s.send(this.roomAck(id, code, code === AckCode.ACCEPTED ? undefined : `at most ${this.d.rooms.settings.maxPerConnection} rooms per connection`)));
      return;
    }
    let r: RecoverResult | null = null;
    try {
      r = await history.recover(roomStream(room), recover?.seq ?? null, recover?.epoch ?? null);
    } catch (e) {
      this.d.log.warn({ userId: s.userId, room, err: e instanceof Error ? e.message : String(e) }, 'recovery: room history unreadable');
    }
    if (s.ended) return;
    const replay = r?.recovered === true ? r.entries.filter((e) => filterMatches(e.filter, s.userId, s.deviceId, s.platform)) : [];
    if (recover !== undefined) {
      this.d.stats.recoveries++;
      if (r?.recovered !== true) this.d.stats.recoveriesMissed++;
      this.d.stats.replayed += replay.length;
    }
    const extra: Record<string, unknown> = {};
    if (r !== null) extra['epoch'] = r.epoch;
    if (recover !== undefined) {
      extra['recovered'] = r?.recovered === true;
      extra['missed'] = replay.length;
    }
    const cork = s.socket?.cork.bind(s.socket) ?? ((fn: () => void) => fn());
    cork(() => {
      this.count(s.send(this.roomAck(id, AckCode.ACCEPTED, undefined, extra)));
      for (const e of replay) this.count(s.send(e.frame));
      this.d.rooms.release(s, room, r === null ? -1 : r.lastSeq);
    });
  }

  private roomAck(id: string, code: number, message?: string, extra?: Readonly<Record<string, unknown>>): string {
    this.d.stats.roomSubscribes.set(code, (this.d.stats.roomSubscribes.get(code) ?? 0) + 1);
    return this.ack(id, code, message, extra);
  }

  private rateLimited(s: Session, id: string | undefined): void {
    this.d.stats.rateLimited++;
    const now = Date.now();
    if (now - s.violationWindowStart > VIOLATION_WINDOW_MS) {
      s.violationWindowStart = now;
      s.violations = 0;
    }
    s.violations++;
    if (s.violations > this.d.settings.rateLimit.closeAfterViolations) {
      this.closeByGateway(s, CloseCode.POLICY_VIOLATION, CLOSE_REASON[CloseCode.POLICY_VIOLATION]);
      return;
    }
    this.count(s.send(id !== undefined ? this.ack(id, AckCode.RATE_LIMITED, 'rate limited') : encodeError(AckCode.RATE_LIMITED, 'rate limited')));
  }

  private enqueue(
    s: Session,
    id: string,
    type: string,
    payloadJson: string,
    metadata: Readonly<Record<string, string>> | undefined,
    subscribeRoom?: string,
    subscribeRecover?: { readonly seq: number; readonly epoch: string },
  ): void {
    const f = this.d.settings.forward;
    if (payloadJson.length > f.maxPayloadBytes || Buffer.byteLength(payloadJson) > f.maxPayloadBytes) {
      this.count(s.send(this.ack(id, AckCode.PAYLOAD_TOO_LARGE, `payload over ${f.maxPayloadBytes} bytes`)));
      return;
    }
    let dedupeKey: string | undefined;
    // a subscription is not deduplicated: its effect is on this connection, asking again is harmless
    if (this.dedupe !== null && subscribeRoom === undefined) {
      dedupeKey = `${s.userId}\n${s.deviceId}\n${id}`;
      const seen = this.dedupe.get(dedupeKey);
      if (seen !== undefined) {
        this.d.stats.duplicates++;
        if (seen.ack !== null) this.count(s.send(seen.ack));
        else (seen.waiters ??= []).push(s);
        return;
      }
    }
    if (s.queue.length >= f.maxInFlight) {
      this.count(s.send(this.ack(id, AckCode.RATE_LIMITED, 'too many messages in flight')));
      return;
    }
    if (dedupeKey !== undefined) this.dedupe?.set(dedupeKey, { ack: null, waiters: null });
    s.queue.push({ id, type, payloadJson, metadata, receivedAt: Date.now(), dedupeKey, subscribeRoom, subscribeRecover });
    if (!s.busy) this.pump(s);
  }

  /** Forwards the head of the session's queue; one call in flight per connection keeps the order. */
  private pump(s: Session): void {
    const item = s.queue.shift();
    if (item === undefined) return;
    s.busy = true;
    const msg: ClientMessage = {
      messageId: item.id,
      type: item.type,
      payload: Buffer.from(item.payloadJson),
      timestamp: item.receivedAt,
      userId: s.userId,
      deviceId: s.deviceId,
      platform: s.platform,
      instanceId: this.d.instanceId,
      traceId: s.traceId,
      metadata: item.metadata ?? {},
    };
    const started = Date.now();
    this.forwarding++;
    const span = this.d.spans === undefined || this.d.spans === null ? null : this.forwardSpan(this.d.spans, s, item, started);
    void this.d.business.handleMessage(msg, span === null ? traceparentFor(s.traceId) : span.traceparent).then((r) => {
      this.forwarding--;
      if (span !== null) endForwardSpan(span, r);
      this.forwarded(s, item, r, started);
      if (this.forwarding === 0 && this.idleWaiters.length > 0) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  /** A client message's span, from its arrival (queue wait included) to the business service's answer; the HandleMessage call is its child. */
  private forwardSpan(spans: Spans, s: Session, item: QueuedMessage, started: number): TraceSpan {
    const parent = s.spanParent !== '' ? s.spanParent : traceparentFor(s.traceId);
    return spans.start(
      'ws.forward',
      'server',
      parent,
      { [ATTR.userId]: s.userId, [ATTR.deviceId]: s.deviceId, [ATTR.messageId]: item.id, [ATTR.messageType]: item.type, [ATTR.queueMs]: started - item.receivedAt },
      item.receivedAt,
    );
  }

  private forwarded(s: Session, item: QueuedMessage, r: Result<HandleMessageResponseOutput, UpstreamError>, started: number): void {
    s.busy = false;
    // Forwarded = the business service received it (it answered, or failed with a status of its
    // own); refused before a call (no business service, breaker open), unreachable or timed out is
    // not. With no business service configured no call was made, so none is recorded either.
    if (r.ok || r.error.kind === 'failed') this.d.stats.forwarded++;
    if (r.ok || r.error.kind !== 'unconfigured') this.d.stats.recordUpstream('business', 'HandleMessage', r.ok ? 'ok' : r.error.kind, Date.now() - started);
    let ack: string;
    if (r.ok && item.subscribeRoom !== undefined) {
      // the business service's answer to a subscription: 0 subscribes (the ack comes from
      // subscribeNow, after any recovery; the queue waits for it), anything else refuses (3000)
      if (r.value.code === 0 && !s.ended) {
        void this.subscribeNow(s, item.id, item.subscribeRoom, item.subscribeRecover).then(() => {
          if (!s.ended) this.pump(s);
        });
        return;
      }
      ack = this.roomAck(item.id, AckCode.SUBSCRIBE_DENIED, r.value.message !== '' ? r.value.message : 'subscription refused');
    } else if (r.ok) {
      ack = this.ack(item.id, r.value.code, r.value.message);
      if (item.dedupeKey !== undefined) this.rememberAck(item.dedupeKey, ack);
    } else {
      const code = r.error.kind === 'timeout' ? AckCode.BUSINESS_TIMEOUT : AckCode.BUSINESS_UNAVAILABLE;
      ack = this.ack(item.id, code, code === AckCode.BUSINESS_TIMEOUT ? 'business service timed out' : 'business service unavailable');
      if (r.error.kind === 'failed') this.d.log.warn({ userId: s.userId, traceId: s.traceId, grpcCode: r.error.code, error: r.error.message }, 'business service failed');
      if (item.dedupeKey !== undefined) this.forgetAck(item.dedupeKey, ack);
    }
    if (s.ended) return;
    const replies = r.ok ? r.value.replies : [];
    if (replies.length === 0) {
      this.count(s.send(ack));
      this.pump(s);
      return;
    }
    const frames = replies.map((m) =>
      encodeServerMessage({
        messageId: m.messageId !== '' ? m.messageId : this.d.ids.next(),
        type: m.type,
        payload: m.payload,
        timestamp: m.timestamp !== 0 ? m.timestamp : Date.now(),
        replyTo: m.replyTo !== '' ? m.replyTo : item.id,
        metadata: m.metadata,
      }),
    );
    const write = (seqs: readonly number[] | null): void => {
      if (s.ended) return;
      s.socket?.cork(() => {
        this.count(s.send(ack));
        frames.forEach((f, i) => {
          const seq = seqs?.[i];
          this.count(s.send(seq === undefined ? f : withSeq(f.slice(0, -1), seq)));
        });
      });
      this.pump(s);
    };
    // replies are pushes to the user: numbered, kept for recovery, for this device only
    const history = this.d.history;
    if (history === null) {
      write(null);
      return;
    }
    const filter = JSON.stringify({ d: [s.deviceId] });
    history.append(frames.map((f) => ({ stream: userStream(s.userId), framePrefix: f.slice(0, -1), filter }))).then(
      (seqs) => {
        this.d.stats.numbered += seqs.length;
        write(seqs);
      },
      (e: unknown) => {
        this.d.stats.numberingErrors += frames.length;
        this.d.log.warn({ userId: s.userId, err: e instanceof Error ? e.message : String(e) }, 'recovery: replies not numbered');
        write(null);
      },
    );
  }

  private rememberAck(key: string, ack: string): void {
    const entry = this.dedupe?.get(key);
    if (entry === undefined) return;
    entry.ack = ack;
    const waiters = entry.waiters;
    entry.waiters = null;
    if (waiters !== null) for (const w of waiters) this.count(w.send(ack));
  }

  /** A failed forward is not remembered: the client may retry the same id. Waiting duplicates get the failure. */
  private forgetAck(key: string, ack: string): void {
    const entry = this.dedupe?.get(key);
    if (entry === undefined) return;
    this.dedupe?.delete(key);
    if (entry.waiters !== null) for (const w of entry.waiters) this.count(w.send(ack));
  }

  private ack(id: string, code: number, message?: string, extra?: Readonly<Record<string, unknown>>): string {
    this.d.stats.acks.set(code, (this.d.stats.acks.get(code) ?? 0) + 1);
    return encodeAck(id, code, message, extra);
  }

  private count(written: boolean): void {
    if (written) this.d.stats.messagesOut++;
  }

  // ----- kicks, expiry, shutdown -------------------------------------------------------------

  /** Sends a `kick` frame and closes with `code`. Works on pending sessions too (kicked at open). */
  kick(s: Session, code: number, reason: string): void {
    this.d.stats.kicks++;
    if (code === CloseCode.REPLACED || code === CloseCode.KICKED) s.kicked = true;
    if (s.socket !== null) this.count(s.send(encodeKick(code, reason)));
    this.closeByGateway(s, code, reason);
  }

  private closeByGateway(s: Session, code: number, reason: string): void {
    s.closeReason = reason;
    if (s.socket !== null) this.d.stats.closedByGateway.set(code, (this.d.stats.closedByGateway.get(code) ?? 0) + 1);
    s.close(code, reason);
  }

  /**
   * Kicks the connection of (user, device) carrying `epoch`, open or still upgrading (a policy
   * victim named by another instance). Returns how many were kicked (0 or 1).
   */
  kickEpoch(userId: string, deviceId: string, epoch: number, code: number, reason: string): number {
    const s = this.d.registry.getConnection(userId, deviceId, epoch) ?? this.pending.get(pendingKey(userId, epoch));
    if (s === undefined || s.userId !== userId || s.deviceId !== deviceId || s.ended) return 0;
    this.kick(s, code, reason);
    return 1;
  }

  /** Victims of the policy decided at admission: local ones are kicked here (4001). */
  private kickVictims(victims: readonly Victim[], by: Session): void {
    for (const v of victims) {
      const reason = v.reason === 'same_device' ? 'replaced by a new login on the same device' : v.reason === 'max_connections' ? 'too many connections for this user' : 'replaced by another login (multi-device policy)';
      if (v.session.instanceId !== this.d.instanceId) {
        if (this.d.remote === null) {
          this.d.log.warn({ userId: by.userId, victimInstance: v.session.instanceId }, 'victim on another instance but no cluster configured');
          continue;
        }
        this.d.log.info({ userId: by.userId, deviceId: v.session.deviceId, victimInstance: v.session.instanceId, reason: v.reason }, 'kicking older login on another instance');
        void this.d.remote.kickRemote(v.session.instanceId, by.userId, v.session.deviceId, v.session.epoch, CloseCode.REPLACED, reason);
        continue;
      }
      const local = this.d.registry.getConnection(by.userId, v.session.deviceId, v.session.epoch) ?? this.pending.get(pendingKey(by.userId, v.session.epoch));
      if (local !== undefined && local.deviceId === v.session.deviceId) {
        this.d.log.info({ userId: by.userId, deviceId: local.deviceId, byDeviceId: by.deviceId, reason: v.reason }, 'kicking older login');
        this.kick(local, CloseCode.REPLACED, reason);
      }
    }
  }

  /**
   * In-band token refresh (SPEC.md section 10): the new token is verified like a login's (same
   * device and platform); it must name the same user and not be expired. Accepted: ack 0 with the
   * new `expiresAt` and the expiry moves. Refused (invalid, another user, auth unavailable): ack
   * 1005 and the current expiry stays.
   */
  private refresh(s: Session, id: string, token: string): void {
    const started = Date.now();
    const trace = s.spanParent !== '' ? { traceparent: s.spanParent } : {};
    void this.d.verifier.verify({ token, deviceId: s.deviceId, platform: s.platform, clientIp: s.clientIp, instanceId: this.d.instanceId, ...trace }).then((r) => {
      this.d.stats.recordUpstream('auth', 'ValidateToken', r.ok ? 'ok' : r.error.kind, Date.now() - started);
      if (s.ended) return;
      let problem = '';
      if (!r.ok) problem = r.error.kind === 'unavailable' ? 'auth service unavailable' : r.error.message !== '' ? r.error.message : 'invalid token';
      else if (r.value.userId !== s.userId) problem = 'the token belongs to another user';
      else if (r.value.expireAt !== 0 && r.value.expireAt <= Date.now()) problem = 'token expired';
      if (problem !== '' || !r.ok) {
        this.d.stats.refreshesRejected++;
        this.d.log.info({ userId: s.userId, deviceId: s.deviceId, reason: problem }, 'token refresh refused');
        this.count(s.send(this.ack(id, AckCode.REFRESH_REJECTED, problem)));
        return;
      }
      this.unscheduleExpiry(s);
      s.expireAt = r.value.expireAt;
      this.scheduleExpiry(s);
      this.d.stats.refreshes++;
      this.d.log.info({ userId: s.userId, deviceId: s.deviceId, expiresAt: s.expireAt }, 'token refreshed in band');
      this.count(s.send(this.ack(id, AckCode.ACCEPTED, undefined, { expiresAt: s.expireAt })));
    });
  }

  /** Puts the session on the expiry wheel and, `refreshNoticeMs` before, on the notice wheel (a notice already due goes out now). */
  private scheduleExpiry(s: Session): void {
    if (s.expireAt === 0) return;
    addTo(this.expiries, Math.ceil(s.expireAt / 1000), s);
    const notice = this.d.settings.refreshNoticeMs;
    if (notice <= 0) return;
    s.noticeAt = s.expireAt - notice;
    if (s.noticeAt <= Date.now()) {
      this.sendExpiring(s);
      return;
    }
    addTo(this.notices, Math.floor(s.noticeAt / 1000), s);
  }

  private unscheduleExpiry(s: Session): void {
    if (s.expireAt === 0) return;
    this.expiries.get(Math.ceil(s.expireAt / 1000))?.delete(s);
    if (s.noticeAt !== 0) this.notices.get(Math.floor(s.noticeAt / 1000))?.delete(s);
    s.noticeAt = 0;
  }

  private sendExpiring(s: Session): void {
    s.noticeAt = 0;
    if (s.ended) return;
    this.d.stats.expiringNotices++;
    this.count(s.send(encodeExpiring(s.expireAt)));
  }

  /** Sends the due `expiring` notices, then closes (4003) every connection whose token expired by `now`. */
  expireTokens(now: number): void {
    const nowSec = Math.floor(now / 1000);
    for (const [sec, set] of this.notices) {
      if (sec > nowSec) continue;
      this.notices.delete(sec);
      for (const s of set) this.sendExpiring(s);
    }
    for (const [sec, set] of this.expiries) {
      if (sec > nowSec) continue;
      this.expiries.delete(sec);
      for (const s of set) if (!s.ended) this.kick(s, CloseCode.TOKEN_EXPIRED, CLOSE_REASON[CloseCode.TOKEN_EXPIRED]);
    }
  }

  /** The user's sessions admitted but not open yet (a JoinRoom must reach them too). */
  pendingOf(userId: string): Session[] {
    const out: Session[] = [];
    for (const s of this.pending.values()) if (s.userId === userId && !s.ended) out.push(s);
    return out;
  }

  /** Refuses new logins from now on (connect requests get 1001). */
  startDraining(): void {
    this.draining = true;
  }

  /** Closes every connection with 1001, spread over `spreadMs`. */
  async closeAll(spreadMs: number): Promise<void> {
    const reason = CLOSE_REASON[CloseCode.GOING_AWAY];
    for (const s of this.pending.values()) this.closeByGateway(s, CloseCode.GOING_AWAY, reason);
    await this.d.registry.closeAll((s) => this.closeByGateway(s, CloseCode.GOING_AWAY, reason), spreadMs);
  }

  /** Forward calls still waiting for the business service. */
  inFlight(): number {
    return this.forwarding;
  }

  /**
   * Resolves true once no forward is waiting for the business service (every ack sent), or false
   * at `deadline` (unix ms) if some still are.
   */
  idle(deadline: number): Promise<boolean> {
    if (this.forwarding === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, Math.max(0, deadline - Date.now()));
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  stop(): void {
    if (this.expiryTimer !== null) clearInterval(this.expiryTimer);
    this.expiryTimer = null;
  }

  private forgetPresence(s: Session): void {
    this.d.presence.unregister(s.userId, s.deviceId, s.epoch).catch((e: unknown) => {
      this.d.log.warn({ userId: s.userId, deviceId: s.deviceId, err: e }, 'presence unregister failed');
    });
  }

}

/** The seq of a numbered user push frame (`...,"seq":N}` without a room), else undefined. */
const ROOM_TAIL_RE = /,"room":"[A-Za-z0-9_.:@/-]{1,128}","seq":\d+\}$/;
const SEQ_TAIL_RE = /,"seq":(\d+)\}$/;
export function userSeqOf(frame: string | Uint8Array): number | undefined {
  const text = typeof frame === 'string' ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('utf8');
  const m = SEQ_TAIL_RE.exec(text);
  if (m === null || ROOM_TAIL_RE.test(text)) return undefined;
  return Number(m[1]);
}

/** Ends a forward span with the business service's answer: its code, or why there was none. */
function endForwardSpan(span: TraceSpan, r: Result<HandleMessageResponseOutput, UpstreamError>): void {
  if (r.ok) span.set(ATTR.ackCode, r.value.code);
  else if (r.error.kind === 'timeout') {
    span.set(ATTR.ackCode, AckCode.BUSINESS_TIMEOUT);
    span.fail(r.error.message);
  } else {
    span.set(ATTR.ackCode, AckCode.BUSINESS_UNAVAILABLE);
    span.fail(r.error.message);
  }
  span.end();
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(value);
}

function pendingKey(userId: string, epoch: number): string {
  return `${userId}\n${epoch}`;
}

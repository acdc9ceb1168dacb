import { createHash } from 'node:crypto';
import type { ServerMessageOutput } from '../../api/gen/im/gateway/v1/ServerMessage';
import type { Result } from '../../pkg/result';
import type { Logger } from '../observability/logger';
import type { RedisClient } from '../redis/client';
import type { RedisKeys } from '../redis/keys';
import type { ApiError, CallContext, GatewayApi } from './api';
import { decodeServerMessageJson } from './json-api';

/** How long one delivery may take (local only: it never waits on another instance). */
const DELIVERY_DEADLINE_MS = 5_000;

export interface IngressStats {
  received: number;
  delivered: number;
  /** Messages that were not a valid ServerMessage, or named a bad user id or room. */
  malformed: number;
}

/** Escapes the glob characters of a key prefix for PSUBSCRIBE. */
function globEscape(s: string): string {
  return s.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

/**
 * The Redis pub/sub way in (SPEC.md section 9, `redis.pubsubIngress`): services that speak no gRPC
 * publish the proto3 JSON of a `ServerMessage` on `<p>push:user:<userId>`, `<p>push:room:<room>`
 * or `<p>push:broadcast`. Every instance subscribes (on a connection of its own: a subscribed
 * connection can do nothing else) and delivers each message to its own connections through the
 * local push API (PushToUser / PushToRoom / Broadcast), so one PUBLISH reaches the whole cluster
 * without forwarding. A message that is not a ServerMessage, or a channel naming a bad user id or
 * room, is logged and counted, never thrown.
 */
export class RedisPubSubIngress {
  readonly stats: IngressStats = { received: 0, delivered: 0, malformed: 0 };
  private readonly userPrefix: string;
  private readonly roomPrefix: string;
  private readonly broadcast: string;

  constructor(
    private readonly subscriber: RedisClient,
    keys: RedisKeys,
    private readonly api: Pick<GatewayApi, 'PushToUser' | 'PushToRoom' | 'Broadcast'>,
    private readonly log: Logger,
  ) {
    this.userPrefix = keys.pushChannelPrefix('user');
    this.roomPrefix = keys.pushChannelPrefix('room');
    this.broadcast = keys.pushBroadcastChannel();
  }

  /** Subscribes; resolves once Redis confirmed the subscriptions (ioredis renews them after a reconnect). */
  async start(): Promise<void> {
    this.subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => this.onMessage(channel, message));
    this.subscriber.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    await this.subscriber.psubscribe(`${globEscape(this.userPrefix)}*`, `${globEscape(this.roomPrefix)}*`);
    await this.subscriber.subscribe(this.broadcast);
    this.log.info({ channels: [`${this.userPrefix}*`, `${this.roomPrefix}*`, this.broadcast] }, 'pub/sub ingress subscribed');
  }

  async stop(): Promise<void> {
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }

  private onMessage(channel: string, text: string): void {
    this.stats.received++;
    const decoded = decodeServerMessageJson(text);
    if (!decoded.ok) {
      this.malformed(channel, decoded.error);
      return;
    }
    const message = decoded.value;
    // every instance gets the message: the dedupe key makes its numbering (recovery) happen once,
    // each instance then delivering the same frame, seq included, to its own connections
    const dedupeKey = createHash('sha1').update(channel).update('\n').update(text).digest('hex');
    const ctx: CallContext = { headers: { 'x-ima-source': 'pubsub' }, deadline: Date.now() + DELIVERY_DEADLINE_MS, dedupeKey };
    let call: Promise<Result<{ delivered?: unknown }, ApiError>>;
    if (channel === this.broadcast) {
      call = this.api.Broadcast({ message, platforms: [] }, ctx);
    } else if (channel.startsWith(this.userPrefix)) {
      call = this.api.PushToUser(userPush(channel.slice(this.userPrefix.length), message), ctx);
    } else if (channel.startsWith(this.roomPrefix)) {
      call = this.api.PushToRoom({ room: channel.slice(this.roomPrefix.length), message, excludeUserIds: [], platforms: [] }, ctx);
    } else {
      this.malformed(channel, 'not an ingress channel');
      return;
    }
    call.then(
      (r) => {
        if (!r.ok) this.malformed(channel, r.error.message);
        else this.stats.delivered += Number(r.value.delivered ?? 0);
      },
      (e: unknown) => this.log.error({ err: e, channel }, 'pub/sub ingress: delivery failed'),
    );
  }

  private malformed(channel: string, why: string): void {
    this.stats.malformed++;
    this.log.warn({ channel, error: why }, 'pub/sub ingress: message ignored');
  }
}

function userPush(userId: string, message: ServerMessageOutput) {
  return { userId, userIds: [], message, deviceIds: [], platforms: [], excludeDeviceIds: [] };
}

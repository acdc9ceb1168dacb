import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger';

/**
 * The Redis client of the process, built once by the composition root and shared by everything
 * that uses Redis (presence, cluster leases): one connection (or one Cluster client) per process.
 */
export type RedisClient = Redis | Cluster;

/**
 * Builds the ioredis client the way its users (presence, leases) expect it, so that no call hangs and no
 * call runs later than its caller was told:
 * - `maxRetriesPerRequest: 1` and `commandTimeout` (default 3 s): a command rejects quickly;
 * - the offline queue is on only until the first `ready` (start-up needs no explicit wait), then
 *   turned off: while Redis is unreachable every call rejects at once, and a call that was
 *   rejected is never executed later on reconnection (`autoResendUnfulfilledCommands: false`
 *   for the same reason). A write whose connection died after sending it may still have been
 *   applied, as with any remote write.
 * - reconnection keeps going in the background with a capped backoff (max 2 s).
 * The store itself also works with any client built with `enableOfflineQueue: false`.
 * `url`: `redis://[user:pass@]host:port[/db]` (or `rediss://`); with `cluster`, a comma-separated
 * list of seed nodes (`redis://h1:7000,h2:7001`; the first one's credentials and TLS apply).
 * An `error` listener is always attached (logging to `log` when given), so connection errors never
 * become unhandled `error` events. The caller owns the client (`quit()` it at shutdown); it must
 * not set ioredis' `keyPrefix` (the store prefixes its keys itself).
 */
export function createRedisClient(
  url: string,
  cluster: boolean,
  opts: { log?: Logger; commandTimeoutMs?: number; connectTimeoutMs?: number } = {},
): RedisClient {
  const common = {
    maxRetriesPerRequest: 1,
    connectTimeout: opts.connectTimeoutMs ?? 5_000,
    commandTimeout: opts.commandTimeoutMs ?? 3_000,
    autoResendUnfulfilledCommands: false,
  } satisfies RedisOptions;
  let client: RedisClient;
  if (!cluster) {
    client = new Redis(url, {
      ...common,
      enableOfflineQueue: true,
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    });
  } else {
    const urls = url
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map((s) => new URL(s.includes('://') ? s : `redis://${s}`));
    const first = urls[0];
    if (first === undefined) throw new Error('createRedisClient: empty Redis Cluster URL');
    // without replyMapping: ioredis types it apart, and its two declarations disagree under exactOptionalPropertyTypes
    const redisOptions: Omit<NonNullable<ClusterOptions['redisOptions']>, 'replyMapping'> = {
      ...common,
      ...(first.username !== '' ? { username: decodeURIComponent(first.username) } : {}),
      ...(first.password !== '' ? { password: decodeURIComponent(first.password) } : {}),
      ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
    };
    client = new Cluster(
      urls.map((u) => ({ host: u.hostname, port: u.port === '' ? 6379 : Number(u.port) })),
      {
        redisOptions,
        enableOfflineQueue: true,
        clusterRetryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
      },
    );
  }
  const c = client;
  c.once('ready', () => {
    c.options.enableOfflineQueue = false;
  });
  c.on('error', (err: unknown) => {
    opts.log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'redis connection error');
  });
  return c;
}


/** A second connection with the same options (a subscriber connection can do nothing else). */
export function duplicateClient(client: RedisClient): RedisClient {
  return client instanceof Cluster ? client.duplicate() : client.duplicate();
}

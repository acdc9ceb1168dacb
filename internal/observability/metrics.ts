import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdminHandler } from '../transport/http/server';
import type { StatsSources } from './snapshot';

/**
 * The gateway's own metrics start with this. The default process and Node.js metrics keep their
 * standard names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, ...), so stock
 * dashboards and alerts work unchanged.
 */
export const METRIC_PREFIX = 'ima_';
const STANDARD_PREFIXES = ['process_', 'nodejs_'] as const;

/** Whether a metric name is ours (ima_) or a standard default one. */
export function isKnownMetricName(name: string): boolean {
  return name.startsWith(METRIC_PREFIX) || STANDARD_PREFIXES.some((p) => name.startsWith(p));
}

/** Upstream RPC latency buckets, in seconds (1 ms .. 10 s). */
export const UPSTREAM_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One labelled sample: label values and the value. */
type Sample = readonly [Readonly<Record<string, string>>, number];

/**
 * What a read function returns: a number (a metric without labels), samples (a labelled metric),
 * or null for "no sample" (the component is not configured: HELP and TYPE lines only).
 */
type Reading = number | Iterable<Sample> | null;

function isSamples(r: Reading): r is Iterable<Sample> {
  return r !== null && typeof r !== 'number';
}

/** Samples of a Map (close code, method...) under one label. */
function byLabel(label: string, map: ReadonlyMap<string | number, number> | Record<string, number>): Sample[] {
  const entries = map instanceof Map ? [...map] : Object.entries(map);
  return entries.map(([k, v]) => [{ [label]: String(k) }, v]);
}

/**
 * The gateway's Prometheus metrics, on a registry of their own (never prom-client's global one).
 *
 * Every figure is read from `sources` when Prometheus scrapes (`collect()` callbacks), so the hot
 * path only bumps the plain counters of GatewayStats and friends. The one exception is the
 * upstream latency histogram, which must see each call: it is observed through
 * `sources.stats.onUpstream` (any hook already set there is still called).
 *
 * Cumulative figures are exposed as real counters (`# TYPE ... counter`): their collect() resets
 * the counter and adds the current total, so the exposition is the source's running total.
 *
 * Unconfigured components (no Redis, no business service, no status events, no push stream)
 * expose no sample for their metrics (only the HELP and TYPE lines): `ima_redis_up` is 1 or 0
 * when Redis is configured, absent otherwise. A source that throws during a scrape leaves its
 * metric without samples for that scrape and bumps `ima_metrics_collect_errors_total`; the rest
 * of the scrape is served.
 */
export function createMetrics(sources: StatsSources): { registry: Registry; handler: AdminHandler } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const st = sources.stats;
  const registers = [registry];

  // Registered last (below), so that a scrape shows the failures of its own reads.
  const collectErrors = new Counter({
    name: 'ima_metrics_collect_errors_total',
    help: 'Metric reads that failed during a scrape (that metric had no samples for the scrape)',
    registers: [],
  });

  /** Resets `metric` and fills it from `read`; null or an error leaves it without samples. */
  function fill(metric: Counter | Gauge, read: () => Reading, add: (labels: Record<string, string>, value: number) => void): void {
    metric.reset();
    try {
      const r = read();
      if (r === null) {
        metric.remove({});
      } else if (isSamples(r)) {
        for (const [labels, value] of r) add({ ...labels }, value);
      } else {
        add({}, r);
      }
    } catch {
      metric.reset();
      metric.remove({});
      collectErrors.inc();
    }
  }

  /** A counter whose value is a running total kept elsewhere. */
  function counter(name: string, help: string, labelNames: readonly string[], read: () => Reading): void {
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect(this: Counter) {
        fill(this, read, (labels, value) => {
          // A counter cannot go down: a negative or non-finite figure is a bug upstream, not a sample.
          if (Number.isFinite(value) && value >= 0) this.inc(labels, value);
        });
      },
    });
  }

  function gauge(name: string, help: string, labelNames: readonly string[], read: () => Reading): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect(this: Gauge) {
        fill(this, read, (labels, value) => {
          if (Number.isFinite(value)) this.set(labels, value);
        });
      },
    });
  }

  const upstream = new Histogram({
    name: 'ima_upstream_request_duration_seconds',
    help: 'Upstream RPC duration by service, method and outcome (code: ok, invalid, unavailable, timeout, failed)',
    labelNames: ['service', 'method', 'code'],
    buckets: [...UPSTREAM_BUCKETS],
    registers,
  });
  const previousHook = st.onUpstream;
  st.onUpstream = (service, method, outcome, ms) => {
    previousHook?.(service, method, outcome, ms);
    if (Number.isFinite(ms) && ms >= 0) upstream.observe({ service, method, code: outcome }, ms / 1000);
  };

  // Build and lifecycle.
  gauge('ima_build_info', 'Build information (always 1)', ['version', 'instance_id'], () => [[{ version: sources.version, instance_id: sources.instanceId }, 1]]);
  gauge('ima_draining', '1 while the instance is shutting down (draining), else 0', [], () => (sources.draining() ? 1 : 0));
  gauge('ima_ready', '1 while /readyz answers 200 (ready), else 0 (starting, degraded or draining)', [], () => (sources.ready === undefined ? null : sources.ready() ? 1 : 0));

  // Connections.
  gauge('ima_ws_connections', 'Open WebSocket connections (authenticated)', [], () => sources.connections());
  gauge('ima_max_connections', 'WebSocket connection limit in force (websocket.maxConnections, capped below the open-file limit); further upgrades get 503', [], () =>
    sources.maxConnections === undefined ? null : sources.maxConnections(),
  );
  gauge('ima_ws_users', 'Distinct users online on this instance', [], () => sources.users());
  gauge('ima_ws_connections_by_platform', 'Open WebSocket connections by platform', ['platform'], () => byLabel('platform', sources.platforms()));
  counter('ima_auth_total', 'Connect requests by result: accepted, or the close code of the refusal', ['result'], () => [
    [{ result: 'accepted' }, st.connectsAccepted],
    ...byLabel('result', st.connectsRejected),
  ]);
  counter('ima_kicks_total', 'Connections kicked', [], () => st.kicks);
  counter('ima_disconnects_total', 'Connections that ended, by close code (whoever closed them)', ['code'], () => byLabel('code', st.disconnects));
  counter('ima_gateway_closes_total', 'Connections closed by the gateway, by close code', ['code'], () => byLabel('code', st.closedByGateway));
  counter('ima_internal_errors_total', 'Errors that escaped their handlers (each a bug, logged with its stack), by kind', ['kind'], () => byLabel('kind', sources.internalErrors?.() ?? {}));
  counter('ima_slow_consumers_total', 'Connections closed because they did not read fast enough', [], () => sources.slowConsumers());

  // Messages.
  counter('ima_messages_in_total', 'Client frames received after auth (pings included)', [], () => st.messagesIn);
  counter('ima_messages_out_total', 'Frames written to clients (acks, replies, pushes, pongs...)', [], () => st.messagesOut);
  counter('ima_messages_forwarded_total', 'Client messages the business service received (it answered, or failed with a status of its own); refused, unreachable or timed-out forwards are not counted', [], () => st.forwarded);
  counter('ima_messages_duplicate_total', 'Repeated client message ids answered with the earlier ack', [], () => st.duplicates);
  counter('ima_messages_rate_limited_total', 'Client messages refused by the rate limit', [], () => st.rateLimited);
  counter('ima_acks_total', 'Acks sent to clients, by code', ['code'], () => byLabel('code', st.acks));

  // Push API.
  counter('ima_pushes_total', 'Push API calls answered, by method', ['method'], () => byLabel('method', st.pushes));
  counter('ima_push_errors_total', 'Push API calls refused (invalid argument), by method', ['method'], () => byLabel('method', st.pushErrors));

  // Token cache.
  counter('ima_token_cache_hits_total', 'Token validations answered from the cache', [], () => sources.tokenCache().hits);
  counter('ima_token_cache_misses_total', 'Token validations that needed a validation', [], () => sources.tokenCache().misses);
  counter('ima_token_cache_coalesced_total', 'Token validations that joined one already in flight', [], () => sources.tokenCache().coalesced);
  counter('ima_token_cache_invalidations_total', 'Cached tokens invalidated (KickUser)', [], () => sources.tokenCache().invalidations);
  gauge('ima_token_cache_entries', 'Entries in the token cache', [], () => sources.tokenCache().size);

  // Dependencies.
  gauge('ima_redis_up', '1 when Redis is reachable, 0 when not (no sample without Redis)', [], () => {
    const state = sources.redis().state;
    return state === 'not configured' ? null : state === 'up' ? 1 : 0;
  });
  counter('ima_redis_reregistrations_total', 'Times the local mappings were registered again after Redis came back', [], () =>
    sources.redis().state === 'not configured' ? null : sources.redis().reRegistrations,
  );
  counter('ima_redis_swept_total', 'Stale mappings (expired instance lease) removed', [], () => (sources.redis().state === 'not configured' ? null : sources.redis().swept));
  gauge('ima_business_breaker_open', '1 while the business service circuit breaker is open, else 0 (no sample without a business service)', [], () => {
    const state = sources.businessBreaker();
    return state === 'not configured' ? null : state === 'open' ? 1 : 0;
  });

  // Status events (OnConnectionStatus).
  gauge('ima_status_events_queue_depth', 'Connection status events waiting to be sent', [], () => sources.statusEvents()?.depth ?? null);
  counter('ima_status_events_published_total', 'Connection status events queued', [], () => sources.statusEvents()?.published ?? null);
  counter('ima_status_events_sent_total', 'Connection status events delivered', [], () => sources.statusEvents()?.sent ?? null);
  counter('ima_status_events_dropped_total', 'Connection status events dropped (queue full or retries exhausted)', [], () => sources.statusEvents()?.dropped ?? null);
  counter('ima_status_events_retried_total', 'Connection status event deliveries retried', [], () => sources.statusEvents()?.retried ?? null);

  // Server push stream.
  gauge('ima_push_stream_up', '1 while the server push stream is open, else 0 (no sample when not configured)', [], () => {
    const ps = sources.pushStream();
    return ps === null ? null : ps.state === 'open' ? 1 : 0;
  });
  counter('ima_push_stream_connects_total', 'Server push stream connect attempts', [], () => sources.pushStream()?.connects ?? null);
  counter('ima_push_stream_commands_total', 'Server push commands executed', [], () => sources.pushStream()?.commands ?? null);
  counter('ima_push_stream_command_errors_total', 'Server push commands that failed', [], () => sources.pushStream()?.commandErrors ?? null);

  // Recovery and token refresh.
  counter('ima_pushes_numbered_total', 'Pushes numbered (seq) and kept for recovery, per user or room stream', [], () => st.numbered);
  counter('ima_push_numbering_errors_total', 'Pushes sent without seq because the history could not be written', [], () => st.numberingErrors);
  counter('ima_recoveries_total', 'Recoveries asked (reconnects with recover_seq, subscribes with recoverSeq), by result', ['result'], () => [
    [{ result: 'recovered' }, st.recoveries - st.recoveriesMissed],
    [{ result: 'missed' }, st.recoveriesMissed],
  ]);
  counter('ima_recovery_replayed_total', 'Pushes replayed to recovering clients', [], () => st.replayed);
  counter('ima_token_refreshes_total', 'In-band token refreshes, by result', ['result'], () => [
    [{ result: 'accepted' }, st.refreshes],
    [{ result: 'rejected' }, st.refreshesRejected],
  ]);
  counter('ima_expiring_notices_total', 'expiring frames sent ahead of a token expiry', [], () => st.expiringNotices);

  // Rooms.
  gauge('ima_rooms', 'Rooms with at least one subscribed connection on this instance', [], () => sources.rooms?.().rooms ?? 0);
  gauge('ima_room_subscriptions', '(connection, room) subscriptions on this instance', [], () => sources.rooms?.().subscriptions ?? 0);
  counter('ima_room_pushes_total', 'Room pushes executed on this instance (API, forwarded, push stream or pub/sub)', [], () => sources.rooms?.().pushes ?? 0);
  counter('ima_room_subscribes_total', 'Client subscribe frames answered, by ack code', ['code'], () => byLabel('code', sources.rooms?.().subscribes ?? {}));
  new Histogram({
    name: 'ima_room_subscriptions_per_connection',
    help: 'Rooms each open connection is subscribed to (sampled at scrape time)',
    buckets: [0, 1, 2, 5, 10, 20, 50, 100],
    registers,
    collect(this: Histogram) {
      this.reset();
      try {
        for (const n of sources.rooms?.().perConnection?.() ?? []) this.observe(n);
      } catch {
        collectErrors.inc();
      }
    },
  });
  counter('ima_pubsub_messages_total', 'Redis pub/sub ingress messages, by result (received, malformed)', ['result'], () => {
    const p = sources.rooms?.().pubsub ?? null;
    return p === null ? null : [
      [{ result: 'received' }, p.received],
      [{ result: 'malformed' }, p.malformed],
    ];
  });
  counter('ima_pubsub_delivered_total', 'Connections written by the Redis pub/sub ingress', [], () => sources.rooms?.().pubsub?.delivered ?? null);

  registry.registerMetric(collectErrors);

  const handler: AdminHandler = async () => ({ status: 200, body: await registry.metrics(), contentType: registry.contentType });
  return { registry, handler };
}

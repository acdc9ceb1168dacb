import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { register as globalRegistry } from 'prom-client';
import { GatewayStats } from '../gateway/stats';
import type { AdminRequest } from '../transport/http/server';
import { UPSTREAM_BUCKETS, createMetrics, isKnownMetricName } from './metrics';
import type { StatsSources } from './snapshot';

interface FakeState {
  connections: number;
  users: number;
  platforms: Record<string, number>;
  tokenCache: { hits: number; misses: number; coalesced: number; invalidations: number; size: number };
  statusEvents: { published: number; sent: number; retried: number; dropped: number; depth: number } | null;
  pushStream: { state: string; connects: number; disconnects: number; commands: number; commandErrors: number; heartbeats: number } | null;
  redis: 'up' | 'down' | 'not configured';
  breaker: string;
  slowConsumers: number;
  draining: boolean;
  failPlatforms: boolean;
}

function fakeSources(stats = new GatewayStats()): { sources: StatsSources; state: FakeState; stats: GatewayStats } {
  const state: FakeState = {
    connections: 0,
    users: 0,
    platforms: {},
    tokenCache: { hits: 0, misses: 0, coalesced: 0, invalidations: 0, size: 0 },
    statusEvents: null,
    pushStream: null,
    redis: 'not configured',
    breaker: 'not configured',
    slowConsumers: 0,
    draining: false,
    failPlatforms: false,
  };
  const sources: StatsSources = {
    instanceId: 'gw-test-1',
    version: '1.2.3',
    startedAt: Date.now(),
    stats,
    connections: () => state.connections,
    users: () => state.users,
    platforms: () => {
      if (state.failPlatforms) throw new Error('platforms broke');
      return { ...state.platforms };
    },
    tokenCache: () => ({ ...state.tokenCache }),
    statusEvents: () => (state.statusEvents === null ? null : { ...state.statusEvents }),
    pushStream: () => (state.pushStream === null ? null : { ...state.pushStream }),
    redis: () => ({ state: state.redis, lastError: '', reRegistrations: 2, swept: 5 }),
    businessBreaker: () => state.breaker,
    slowConsumers: () => state.slowConsumers,
    draining: () => state.draining,
    instances: async () => [],
  };
  return { sources, state, stats };
}

/** Parsed exposition: TYPE per metric name and sample lines by series (name{labels}). */
interface Scrape {
  readonly text: string;
  readonly types: Map<string, string>;
  readonly samples: Map<string, number>;
}

function parse(text: string): Scrape {
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    assert.ok(m !== null, `unparsable sample line: ${line}`);
    samples.set(m[1]!, Number(m[2]));
  }
  return { text, types, samples };
}

async function scrape(registry: { metrics(): Promise<string> }): Promise<Scrape> {
  return parse(await registry.metrics());
}

const REQUEST: AdminRequest = { method: 'GET', path: '/metrics', query: new URLSearchParams(), headers: {}, body: Buffer.alloc(0) };

describe('createMetrics', () => {
  test('every metric, default ones included, is prefixed ima_', async () => {
    const { sources } = fakeSources();
    const { registry } = createMetrics(sources);
    const s = await scrape(registry);
    assert.ok(s.types.size > 40, `expected many metrics, got ${s.types.size}`);
    // ours are prefixed ima_; the process and Node.js defaults keep their standard names (stock dashboards)
    for (const name of s.types.keys()) assert.ok(isKnownMetricName(name), `metric ${name} is neither ima_ nor a standard process_/nodejs_ one`);
    for (const series of s.samples.keys()) assert.ok(isKnownMetricName(series), `series ${series} is neither ima_ nor standard`);
    assert.ok([...s.types.keys()].filter((n) => n.startsWith('ima_')).length > 30);
    assert.equal(s.types.get('process_cpu_seconds_total'), 'counter');
    assert.equal(s.types.get('nodejs_heap_size_used_bytes'), 'gauge');
    assert.equal(s.types.get('nodejs_eventloop_lag_seconds'), 'gauge');
    // Counters end in _total.
    for (const [name, type] of s.types) if (type === 'counter') assert.ok(name.endsWith('_total'), `counter ${name} does not end in _total`);
  });

  test('uses its own registry, not the global one', () => {
    const a = createMetrics(fakeSources().sources);
    const b = createMetrics(fakeSources().sources);
    assert.notEqual(a.registry, b.registry);
    assert.equal(globalRegistry.getSingleMetric('ima_ws_connections'), undefined);
    assert.equal(globalRegistry.getSingleMetric('process_cpu_seconds_total'), undefined);
  });

  test('gauges and counters read the sources at scrape time', async () => {
    const { sources, state, stats } = fakeSources();
    const { registry } = createMetrics(sources);
    let s = await scrape(registry);
    assert.equal(s.samples.get('ima_ws_connections'), 0);
    assert.equal(s.samples.get('ima_messages_in_total'), 0);

    state.connections = 12;
    state.users = 7;
    state.platforms = { ios: 5, web: 7 };
    stats.messagesIn = 40;
    stats.messagesOut = 55;
    stats.forwarded = 30;
    stats.duplicates = 2;
    stats.rateLimited = 3;
    stats.kicks = 4;
    stats.connectsAccepted = 9;
    GatewayStats.bump(stats.connectsRejected, 4401, 2);
    GatewayStats.bump(stats.connectsRejected, 4503);
    GatewayStats.bump(stats.closedByGateway, 4002, 4);
    GatewayStats.bump(stats.disconnects, 4002, 4);
    GatewayStats.bump(stats.disconnects, 1000, 2);
    GatewayStats.bump(stats.acks, 0, 28);
    GatewayStats.bump(stats.acks, 4290, 3);
    stats.pushes.set('PushToUser', 6);
    stats.pushes.set('Broadcast', 1);
    stats.pushErrors.set('PushToUser', 2);
    state.slowConsumers = 1;
    state.tokenCache = { hits: 20, misses: 5, coalesced: 3, invalidations: 1, size: 17 };
    state.draining = true;

    s = await scrape(registry);
    const expect: Record<string, number> = {
      ima_ws_connections: 12,
      ima_ws_users: 7,
      'ima_ws_connections_by_platform{platform="ios"}': 5,
      'ima_ws_connections_by_platform{platform="web"}': 7,
      ima_messages_in_total: 40,
      ima_messages_out_total: 55,
      ima_messages_forwarded_total: 30,
      ima_messages_duplicate_total: 2,
      ima_messages_rate_limited_total: 3,
      ima_kicks_total: 4,
      'ima_auth_total{result="accepted"}': 9,
      'ima_auth_total{result="4401"}': 2,
      'ima_auth_total{result="4503"}': 1,
      'ima_disconnects_total{code="4002"}': 4,
      'ima_disconnects_total{code="1000"}': 2,
      'ima_gateway_closes_total{code="4002"}': 4,
      'ima_acks_total{code="0"}': 28,
      'ima_acks_total{code="4290"}': 3,
      'ima_pushes_total{method="PushToUser"}': 6,
      'ima_pushes_total{method="Broadcast"}': 1,
      'ima_push_errors_total{method="PushToUser"}': 2,
      ima_slow_consumers_total: 1,
      ima_token_cache_hits_total: 20,
      ima_token_cache_misses_total: 5,
      ima_token_cache_coalesced_total: 3,
      ima_token_cache_invalidations_total: 1,
      ima_token_cache_entries: 17,
      ima_draining: 1,
      'ima_build_info{version="1.2.3",instance_id="gw-test-1"}': 1,
    };
    for (const [series, value] of Object.entries(expect)) assert.equal(s.samples.get(series), value, series);

    // Values are the running totals, not added up scrape after scrape.
    stats.messagesIn = 41;
    s = await scrape(registry);
    assert.equal(s.samples.get('ima_messages_in_total'), 41);
    assert.equal(s.samples.get('ima_auth_total{result="accepted"}'), 9);
    // A platform that went away disappears.
    state.platforms = { web: 2 };
    s = await scrape(registry);
    assert.equal(s.samples.get('ima_ws_connections_by_platform{platform="ios"}'), undefined);
    assert.equal(s.samples.get('ima_ws_connections_by_platform{platform="web"}'), 2);
  });

  test('types: counters are counters, gauges are gauges', async () => {
    const { registry } = createMetrics(fakeSources().sources);
    const s = await scrape(registry);
    assert.match(s.text, /^# TYPE ima_messages_in_total counter$/m);
    const counters = [
      'ima_messages_in_total',
      'ima_messages_out_total',
      'ima_messages_forwarded_total',
      'ima_messages_duplicate_total',
      'ima_messages_rate_limited_total',
      'ima_acks_total',
      'ima_pushes_total',
      'ima_push_errors_total',
      'ima_auth_total',
      'ima_token_cache_hits_total',
      'ima_token_cache_misses_total',
      'ima_token_cache_coalesced_total',
      'ima_kicks_total',
      'ima_disconnects_total',
      'ima_slow_consumers_total',
      'ima_status_events_sent_total',
      'ima_status_events_dropped_total',
      'ima_status_events_retried_total',
      'ima_push_stream_commands_total',
    ];
    const gauges = [
      'ima_ws_connections',
      'ima_ws_users',
      'ima_ws_connections_by_platform',
      'ima_token_cache_entries',
      'ima_redis_up',
      'ima_business_breaker_open',
      'ima_status_events_queue_depth',
      'ima_push_stream_up',
      'ima_draining',
      'ima_build_info',
    ];
    for (const n of counters) assert.equal(s.types.get(n), 'counter', n);
    for (const n of gauges) assert.equal(s.types.get(n), 'gauge', n);
    assert.equal(s.types.get('ima_upstream_request_duration_seconds'), 'histogram');
  });

  test('upstream calls feed the histogram through stats.onUpstream', async () => {
    const { sources, stats } = fakeSources();
    const { registry } = createMetrics(sources);
    assert.notEqual(stats.onUpstream, null);
    stats.recordUpstream('business', 'HandleMessage', 'ok', 12);
    stats.recordUpstream('business', 'HandleMessage', 'timeout', 5000);
    stats.recordUpstream('muc', 'ValidateToken', 'ok', 0.5);
    const s = await scrape(registry);
    const ok = 'service="business",method="HandleMessage",code="ok"';
    const bucket = (le: string, labels: string): number | undefined => s.samples.get(`ima_upstream_request_duration_seconds_bucket{le="${le}",${labels}}`);
    // Every configured bucket, 1 ms .. 10 s, plus +Inf.
    assert.equal(UPSTREAM_BUCKETS[0], 0.001);
    assert.equal(UPSTREAM_BUCKETS[UPSTREAM_BUCKETS.length - 1], 10);
    for (const le of UPSTREAM_BUCKETS) assert.notEqual(bucket(String(le), ok), undefined, `bucket ${le}`);
    assert.equal(bucket('0.01', ok), 0);
    assert.equal(bucket('0.025', ok), 1);
    assert.equal(bucket('+Inf', ok), 1);
    assert.equal(s.samples.get(`ima_upstream_request_duration_seconds_count{${ok}}`), 1);
    assert.equal(s.samples.get(`ima_upstream_request_duration_seconds_sum{${ok}}`), 0.012);
    const timeout = 'service="business",method="HandleMessage",code="timeout"';
    assert.equal(bucket('2.5', timeout), 0);
    assert.equal(bucket('5', timeout), 1);
    assert.equal(bucket('0.001', 'service="muc",method="ValidateToken",code="ok"'), 1);
    // The /stats figures are still kept.
    assert.equal(stats.upstream.get('business.HandleMessage')?.calls, 2);
  });

  test('a hook already set on stats.onUpstream is still called', () => {
    const stats = new GatewayStats();
    const seen: string[] = [];
    stats.onUpstream = (service, method, outcome) => seen.push(`${service}.${method}:${outcome}`);
    createMetrics(fakeSources(stats).sources);
    stats.recordUpstream('business', 'OnConnectionStatus', 'failed', 3);
    assert.deepEqual(seen, ['business.OnConnectionStatus:failed']);
  });

  test('unconfigured components expose no samples; configured ones do', async () => {
    const { sources, state } = fakeSources();
    const { registry } = createMetrics(sources);
    let s = await scrape(registry);
    for (const n of [
      'ima_redis_up',
      'ima_business_breaker_open',
      'ima_status_events_queue_depth',
      'ima_status_events_sent_total',
      'ima_status_events_dropped_total',
      'ima_status_events_retried_total',
      'ima_push_stream_up',
      'ima_push_stream_commands_total',
    ]) {
      assert.ok(s.types.has(n), `${n} is declared`);
      assert.equal(s.samples.get(n), undefined, `${n} has no sample when not configured`);
    }

    state.redis = 'up';
    state.breaker = 'closed';
    state.statusEvents = { published: 10, sent: 7, retried: 2, dropped: 1, depth: 3 };
    state.pushStream = { state: 'open', connects: 1, disconnects: 0, commands: 8, commandErrors: 1, heartbeats: 4 };
    s = await scrape(registry);
    assert.equal(s.samples.get('ima_redis_up'), 1);
    assert.equal(s.samples.get('ima_business_breaker_open'), 0);
    assert.equal(s.samples.get('ima_status_events_queue_depth'), 3);
    assert.equal(s.samples.get('ima_status_events_sent_total'), 7);
    assert.equal(s.samples.get('ima_status_events_dropped_total'), 1);
    assert.equal(s.samples.get('ima_status_events_retried_total'), 2);
    assert.equal(s.samples.get('ima_push_stream_up'), 1);
    assert.equal(s.samples.get('ima_push_stream_commands_total'), 8);

    state.redis = 'down';
    state.breaker = 'open';
    state.pushStream = { ...state.pushStream, state: 'backoff' };
    s = await scrape(registry);
    assert.equal(s.samples.get('ima_redis_up'), 0);
    assert.equal(s.samples.get('ima_business_breaker_open'), 1);
    assert.equal(s.samples.get('ima_push_stream_up'), 0);

    state.breaker = 'half_open';
    s = await scrape(registry);
    assert.equal(s.samples.get('ima_business_breaker_open'), 0);
  });

  test('a failing source leaves its metric empty and the scrape still answers', async () => {
    const { sources, state } = fakeSources();
    const { registry } = createMetrics(sources);
    state.connections = 3;
    state.platforms = { ios: 3 };
    state.failPlatforms = true;
    let s = await scrape(registry);
    assert.equal(s.samples.get('ima_ws_connections'), 3);
    assert.equal(s.samples.get('ima_ws_connections_by_platform{platform="ios"}'), undefined);
    assert.equal(s.samples.get('ima_metrics_collect_errors_total'), 1);
    state.failPlatforms = false;
    s = await scrape(registry);
    assert.equal(s.samples.get('ima_ws_connections_by_platform{platform="ios"}'), 3);
    assert.equal(s.samples.get('ima_metrics_collect_errors_total'), 1);
  });

  test('the handler answers the exposition with the registry content type', async () => {
    const { sources, state } = fakeSources();
    state.connections = 2;
    const { registry, handler } = createMetrics(sources);
    const r = await handler(REQUEST);
    assert.equal(r.status, 200);
    assert.equal(r.contentType, registry.contentType);
    assert.match(r.contentType ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^ima_ws_connections 2$/m);
    assert.match(r.body, /^# TYPE ima_ws_users gauge$/m);
  });
});

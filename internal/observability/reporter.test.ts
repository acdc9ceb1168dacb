import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { GatewayStats } from '../gateway/stats';
import { createLogger } from './logger';
import { StatsReporter } from './reporter';
import type { StatsSources } from './snapshot';

/** A pino destination keeping every JSON line. */
class Capture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  private buffered = '';

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.buffered += chunk.toString('utf8');
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      if (line !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    cb();
  }

  stats(): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l['msg'] === 'stats');
  }
}

interface Knobs {
  tokenCache: { hits: number; misses: number };
  statusDepth: number | null;
  redis: 'up' | 'down' | 'not configured';
  breaker: string;
  failUsers: boolean;
}

function setup(): { stats: GatewayStats; knobs: Knobs; sources: StatsSources; out: Capture; clock: { t: number } } {
  const stats = new GatewayStats();
  const knobs: Knobs = { tokenCache: { hits: 0, misses: 0 }, statusDepth: null, redis: 'not configured', breaker: 'not configured', failUsers: false };
  const sources: StatsSources = {
    instanceId: 'gw-r',
    version: '0.0.0',
    startedAt: 0,
    stats,
    connections: () => 4,
    users: () => {
      if (knobs.failUsers) throw new Error('registry broke');
      return 3;
    },
    platforms: () => ({}),
    tokenCache: () => ({ ...knobs.tokenCache, coalesced: 0, invalidations: 0, size: 0 }),
    statusEvents: () => (knobs.statusDepth === null ? null : { published: 0, sent: 0, retried: 0, dropped: 0, depth: knobs.statusDepth }),
    pushStream: () => null,
    redis: () => ({ state: knobs.redis, lastError: '', reRegistrations: 0, swept: 0 }),
    businessBreaker: () => knobs.breaker,
    slowConsumers: () => 0,
    draining: () => false,
    instances: async () => [],
  };
  return { stats, knobs, sources, out: new Capture(), clock: { t: 1_000_000 } };
}

describe('StatsReporter', () => {
  test('one info line per report, with the summary fields', async () => {
    const { stats, knobs, sources, out, clock } = setup();
    const log = createLogger('info', 'gw-r', out);
    const reporter = new StatsReporter(sources, 10_000, log, () => clock.t);
    stats.messagesIn = 10;
    stats.messagesOut = 20;
    stats.kicks = 2;
    stats.pushes.set('PushToUser', 5);
    stats.pushes.set('Broadcast', 1);
    knobs.tokenCache = { hits: 3, misses: 1 };
    knobs.statusDepth = 7;
    knobs.redis = 'up';
    knobs.breaker = 'closed';
    clock.t += 10_000;
    await reporter.report();
    const lines = out.stats();
    assert.equal(lines.length, 1);
    const l = lines[0]!;
    assert.equal(l['level'], 'info');
    assert.equal(l['instanceId'], 'gw-r');
    assert.equal(l['connections'], 4);
    assert.equal(l['users'], 3);
    assert.equal(l['messagesIn'], 10);
    assert.equal(l['messagesOut'], 20);
    assert.equal(l['pushes'], 6);
    assert.equal(l['kicks'], 2);
    assert.deepEqual(l['ratePerSec'], { in: 1, out: 2 });
    assert.equal(l['redis'], 'up');
    assert.equal(l['businessBreaker'], 'closed');
    assert.equal(l['statusEventsDepth'], 7);
    assert.equal(l['tokenCacheHitRatio'], 0.75);
  });

  test('rates are computed from the deltas since the previous report', async () => {
    const { stats, sources, out, clock } = setup();
    const reporter = new StatsReporter(sources, 5000, createLogger('info', 'gw-r', out), () => clock.t);
    stats.messagesIn = 100; // before start(): not part of the first window
    stats.messagesOut = 100;
    reporter.start();
    try {
      stats.messagesIn += 50;
      stats.messagesOut += 25;
      clock.t += 5000;
      await reporter.report();
      stats.messagesIn += 3;
      clock.t += 2000;
      await reporter.report();
      clock.t += 1000;
      await reporter.report();
      // No time elapsed: rates are 0, not NaN / Infinity.
      stats.messagesIn += 9;
      await reporter.report();
    } finally {
      reporter.stop();
    }
    const rates = out.stats().map((l) => l['ratePerSec']);
    assert.deepEqual(rates, [
      { in: 10, out: 5 },
      { in: 1.5, out: 0 },
      { in: 0, out: 0 },
      { in: 0, out: 0 },
    ]);
    assert.deepEqual(
      out.stats().map((l) => l['messagesIn']),
      [150, 153, 153, 162],
    );
  });

  test('unconfigured parts and no token lookups are reported as such', async () => {
    const { sources, out } = setup();
    await new StatsReporter(sources, 1000, createLogger('info', 'gw-r', out)).report();
    const l = out.stats()[0]!;
    assert.equal(l['redis'], 'not configured');
    assert.equal(l['businessBreaker'], 'not configured');
    assert.equal(l['statusEventsDepth'], null);
    assert.equal(l['tokenCacheHitRatio'], null);
  });

  test('never throws: a failing source is logged as a warning', async () => {
    const { knobs, sources, out } = setup();
    const reporter = new StatsReporter(sources, 1000, createLogger('info', 'gw-r', out));
    knobs.failUsers = true;
    await assert.doesNotReject(reporter.report());
    assert.equal(out.stats().length, 0);
    const warn = out.lines.find((l) => l['msg'] === 'stats report failed');
    assert.ok(warn !== undefined);
    assert.equal(warn['level'], 'warn');
    knobs.failUsers = false;
    await reporter.report();
    assert.equal(out.stats().length, 1);
  });

  test('the timer reports every interval and is unref-ed; stop() stops it', async () => {
    const { sources, out } = setup();
    const reporter = new StatsReporter(sources, 20, createLogger('info', 'gw-r', out));
    reporter.start();
    reporter.start(); // idempotent: still one timer
    const timer = (reporter as unknown as { timer: NodeJS.Timeout }).timer;
    assert.equal(timer.hasRef(), false);
    const deadline = Date.now() + 5000;
    while (out.stats().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    reporter.stop();
    const n = out.stats().length;
    assert.ok(n >= 2, `expected at least two reports, got ${n}`);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(out.stats().length, n, 'no report after stop()');
  });
});

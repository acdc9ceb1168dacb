import type { Logger } from './logger';
import type { StatsSources } from './snapshot';

/** The fields of the periodic `stats` log line. */
export interface StatsReport {
  readonly connections: number;
  readonly users: number;
  /** Running totals since start. */
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** Push API calls answered, all methods. */
  readonly pushes: number;
  readonly kicks: number;
  /** Messages per second since the previous report (since start() for the first one). */
  readonly ratePerSec: { readonly in: number; readonly out: number };
  /** 'up' | 'down' | 'not configured'. */
  readonly redis: string;
  /** 'closed' | 'open' | 'half_open' | 'not configured'. */
  readonly businessBreaker: string;
  /** Status events waiting to be sent; null without status events. */
  readonly statusEventsDepth: number | null;
  /** hits / (hits + misses) since start, 3 decimals; null before the first lookup. */
  readonly tokenCacheHitRatio: number | null;
}

function total(map: ReadonlyMap<unknown, number>): number {
  let n = 0;
  for (const v of map.values()) n += v;
  return n;
}

function round(n: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(n * f) / f;
}

/**
 * Logs one `stats` info line every interval (a summary for log-based monitoring; /stats and
 * /metrics have the details). The timer is unref'd (it never keeps the process alive) and a
 * report never throws: a failing source is logged as a warning and the next report tries again.
 */
export class StatsReporter {
  private timer: NodeJS.Timeout | null = null;
  private lastAt: number;
  private lastIn: number;
  private lastOut: number;

  /** `now` (milliseconds) is for tests. */
  constructor(
    private readonly sources: StatsSources,
    private readonly intervalMs: number,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.lastAt = now();
    this.lastIn = sources.stats.messagesIn;
    this.lastOut = sources.stats.messagesOut;
  }

  /** Starts the timer (idempotent); rates of the first report are measured from here. */
  start(): void {
    if (this.timer !== null) return;
    this.mark(this.now());
    this.timer = setInterval(() => void this.report(), Math.max(1, this.intervalMs));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  /** Logs one report now (the timer calls this; it never rejects). */
  async report(): Promise<void> {
    try {
      this.log.info(this.collect(), 'stats');
    } catch (e: unknown) {
      try {
        this.log.warn({ err: e }, 'stats report failed');
      } catch {
        // Logging itself failed: nothing more to do; the next report tries again.
      }
    }
  }

  /** The figures of one report; moves the rate baseline to now. */
  private collect(): StatsReport {
    const s = this.sources;
    const st = s.stats;
    const at = this.now();
    const messagesIn = st.messagesIn;
    const messagesOut = st.messagesOut;
    const elapsedSec = (at - this.lastAt) / 1000;
    const rate = (current: number, previous: number): number => (elapsedSec > 0 ? round(Math.max(0, current - previous) / elapsedSec, 2) : 0);
    const ratePerSec = { in: rate(messagesIn, this.lastIn), out: rate(messagesOut, this.lastOut) };
    const cache = s.tokenCache();
    const lookups = cache.hits + cache.misses;
    const report: StatsReport = {
      connections: s.connections(),
      users: s.users(),
      messagesIn,
      messagesOut,
      pushes: total(st.pushes),
      kicks: st.kicks,
      ratePerSec,
      redis: s.redis().state,
      businessBreaker: s.businessBreaker(),
      statusEventsDepth: s.statusEvents()?.depth ?? null,
      tokenCacheHitRatio: lookups > 0 ? round(cache.hits / lookups, 3) : null,
    };
    this.mark(at, messagesIn, messagesOut);
    return report;
  }

  private mark(at: number, messagesIn = this.sources.stats.messagesIn, messagesOut = this.sources.stats.messagesOut): void {
    this.lastAt = at;
    this.lastIn = messagesIn;
    this.lastOut = messagesOut;
  }
}

/** Counters of the use cases since start (read by /stats and /metrics). Plain numbers: cheap to bump. */
export class GatewayStats {
  connectsAccepted = 0;
  /** Refused connect requests by close code (4000, 4001, 4003, 4401, 4503). */
  readonly connectsRejected = new Map<number, number>();
  /** Connections that ended (any side), by close code. */
  readonly disconnects = new Map<number, number>();
  /** Connections closed by the gateway, by close code. */
  readonly closedByGateway = new Map<number, number>();
  /** Client messages received (every frame after auth, pings included). */
  messagesIn = 0;
  /** Frames written to clients (acks, replies, pushes, pongs...). */
  messagesOut = 0;
  forwarded = 0;
  /** Acks sent, by code. */
  readonly acks = new Map<number, number>();
  duplicates = 0;
  rateLimited = 0;
  kicks = 0;
  /** Push API calls answered, by method. */
  readonly pushes = new Map<string, number>();
  /** Push API calls refused (invalid argument), by method. */
  readonly pushErrors = new Map<string, number>();
  /** In-band token refreshes: accepted, rejected; `expiring` notices sent. */
  refreshes = 0;
  refreshesRejected = 0;
  expiringNotices = 0;
  /** Recovery: pushes numbered, numbering failures (the push went out without seq), recoveries asked and their outcome, pushes replayed. */
  numbered = 0;
  numberingErrors = 0;
  recoveries = 0;
  recoveriesMissed = 0;
  replayed = 0;
  /** Room pushes executed on this instance (API, forwarded or pub/sub). */
  roomPushes = 0;
  /** Client subscribe frames answered, by ack code. */
  readonly roomSubscribes = new Map<number, number>();
  /** Upstream call outcomes, "service.method" -> counts and total latency. */
  readonly upstream = new Map<string, { calls: number; errors: number; totalMs: number; maxMs: number }>();
  /** Called for every upstream call (the metrics histograms hook in here); null = none. */
  onUpstream: ((service: string, method: string, outcome: string, ms: number) => void) | null = null;

  static bump(map: Map<number, number>, key: number, by = 1): void {
    map.set(key, (map.get(key) ?? 0) + by);
  }

  /**
   * One upstream call: `outcome` is 'ok' or the failure kind ('invalid', 'unavailable', 'timeout',
   * 'failed'); only 'unavailable', 'timeout' and 'failed' count as errors.
   */
  recordUpstream(service: string, method: string, outcome: string, ms: number): void {
    const failed = outcome === 'unavailable' || outcome === 'timeout' || outcome === 'failed';
    this.onUpstream?.(service, method, outcome, ms);
    const name = `${service}.${method}`;
    let u = this.upstream.get(name);
    if (u === undefined) {
      u = { calls: 0, errors: 0, totalMs: 0, maxMs: 0 };
      this.upstream.set(name, u);
    }
    u.calls++;
    if (failed) u.errors++;
    u.totalMs += ms;
    if (ms > u.maxMs) u.maxMs = ms;
  }
}

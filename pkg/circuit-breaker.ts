/** Circuit breaker: fail fast while a dependency keeps failing, probe it now and then. */

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Consecutive failures (integer >= 1) that open a closed circuit. */
  readonly failureThreshold: number;
  /**
   * How long the circuit stays open before letting probes through, in ms (>= 0); also how long a round
   * of probes may go without any reported outcome. 0 disables both waits.
   */
  readonly resetTimeoutMs: number;
  /** Probes (integer >= 1) let through while half-open; default 1. */
  readonly halfOpenMaxCalls?: number;
}

/**
 * A consecutive-failure circuit breaker. Usage: call `tryAcquire()` before each call to the dependency;
 * if it returns `false`, fail fast without calling. Otherwise make the call and report its outcome with
 * exactly one of `onSuccess()` / `onFailure()`.
 *
 * Transitions:
 * - `closed`: every call is allowed. `failureThreshold` consecutive failures open the circuit; a success
 *   resets the count.
 * - `open`: every call is refused until `resetTimeoutMs` has passed since the circuit opened, then the
 *   circuit becomes `half_open` (on the next `tryAcquire()` or read of `state`).
 * - `half_open`: up to `halfOpenMaxCalls` calls (probes) are allowed, others are refused. The first
 *   reported success closes the circuit; the first reported failure opens it again with a new timeout.
 *   If no outcome at all is reported within `resetTimeoutMs` after the probes were let through (a caller
 *   lost its probe), a new round of `halfOpenMaxCalls` probes is allowed, so the breaker cannot get stuck.
 *
 * Outcomes reported while `open` (calls acquired before the circuit opened) are ignored. The breaker
 * cannot tell a late outcome from a probe outcome while `half_open`: it counts as the probe outcome.
 * `openedCount` counts every transition to `open` (for metrics).
 */
export class CircuitBreaker {
  private readonly failureThreshold: number;
  private readonly resetTimeoutMs: number;
  private readonly halfOpenMaxCalls: number;
  private readonly now: () => number;
  private current: CircuitState = 'closed';
  private failures = 0;
  /** When the circuit opened (open) or when the current probe round started (half_open). */
  private since = 0;
  private probes = 0;
  private opened = 0;

  /**
   * @param now clock in ms; defaults to `Date.now`.
   * Throws a `RangeError` if an option is out of range (see `CircuitBreakerOptions`).
   */
  constructor(opts: CircuitBreakerOptions, now: () => number = Date.now) {
    const { failureThreshold, resetTimeoutMs, halfOpenMaxCalls = 1 } = opts;
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1) {
      throw new RangeError(`CircuitBreaker: failureThreshold must be an integer >= 1, got ${failureThreshold}`);
    }
    if (!Number.isFinite(resetTimeoutMs) || resetTimeoutMs < 0) {
      throw new RangeError(`CircuitBreaker: resetTimeoutMs must be a finite number >= 0, got ${resetTimeoutMs}`);
    }
    if (!Number.isInteger(halfOpenMaxCalls) || halfOpenMaxCalls < 1) {
      throw new RangeError(`CircuitBreaker: halfOpenMaxCalls must be an integer >= 1, got ${halfOpenMaxCalls}`);
    }
    this.failureThreshold = failureThreshold;
    this.resetTimeoutMs = resetTimeoutMs;
    this.halfOpenMaxCalls = halfOpenMaxCalls;
    this.now = now;
  }

  /** The current state, after applying any time-based transition (open -> half_open). */
  get state(): CircuitState {
    this.advance();
    return this.current;
  }

  /** How many times the circuit has opened (closed -> open and half_open -> open). */
  get openedCount(): number {
    return this.opened;
  }

  /**
   * Returns `true` if the caller may make the call (and must then report its outcome), `false` if it
   * must fail fast: the circuit is open, or half-open with all probes already let through.
   */
  tryAcquire(): boolean {
    this.advance();
    switch (this.current) {
      case 'closed':
        return true;
      case 'open':
        return false;
      case 'half_open':
        if (this.probes >= this.halfOpenMaxCalls) return false;
        if (this.probes === 0) this.since = this.now();
        this.probes++;
        return true;
    }
  }

  /** Reports a successful call: resets the failure count; closes a half-open circuit. */
  onSuccess(): void {
    this.advance();
    if (this.current === 'open') return;
    this.current = 'closed';
    this.failures = 0;
    this.probes = 0;
  }

  /** Reports a failed call: may open a closed circuit; reopens a half-open one. */
  onFailure(): void {
    this.advance();
    switch (this.current) {
      case 'closed':
        if (++this.failures >= this.failureThreshold) this.open();
        return;
      case 'open':
        return;
      case 'half_open':
        this.open();
        return;
    }
  }

  private open(): void {
    this.current = 'open';
    this.since = this.now();
    this.failures = 0;
    this.probes = 0;
    this.opened++;
  }

  /** Applies the time-based transitions. */
  private advance(): void {
    if (this.current === 'open') {
      if (this.now() - this.since >= this.resetTimeoutMs) {
        this.current = 'half_open';
        this.probes = 0;
      }
    } else if (this.current === 'half_open' && this.probes > 0) {
      if (this.now() - this.since >= this.resetTimeoutMs) this.probes = 0; // probes lost: new round
    }
  }
}

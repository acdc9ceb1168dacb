/** Token-bucket rate limiter, cheap enough to run on every WebSocket frame. */

/** Absorbs floating-point drift so that e.g. ten refills of 0.1 token pay for one token. */
const EPSILON = 1e-9;

/**
 * A token bucket holding at most `burst` tokens. It starts full and refills continuously at `ratePerSec`
 * tokens per second (fractions included), never beyond `burst`. `tryTake(n)` removes `n` tokens if that
 * many are available and returns whether it did; a refused call takes nothing.
 *
 * So a client may send `burst` messages at once, then `ratePerSec` per second on average. With
 * `ratePerSec = 0` the bucket never refills: `burst` calls in total. If the clock goes backwards nothing
 * is refilled until it passes its previous reading again.
 *
 * `tryTake` is allocation-free: the state is two numbers, refilled lazily on each call.
 */
export class TokenBucket {
  private readonly ratePerMs: number;
  private readonly burst: number;
  private readonly now: () => number;
  private tokens: number;
  private last: number;

  /**
   * @param ratePerSec refill rate in tokens per second, finite and >= 0.
   * @param burst capacity in tokens, finite and >= 0.
   * @param now clock in ms; defaults to `Date.now`.
   * Throws a `RangeError` for out-of-range arguments.
   */
  constructor(ratePerSec: number, burst: number, now: () => number = Date.now) {
    if (!Number.isFinite(ratePerSec) || ratePerSec < 0) {
      throw new RangeError(`TokenBucket: ratePerSec must be a finite number >= 0, got ${ratePerSec}`);
    }
    if (!Number.isFinite(burst) || burst < 0) {
      throw new RangeError(`TokenBucket: burst must be a finite number >= 0, got ${burst}`);
    }
    this.ratePerMs = ratePerSec / 1000;
    this.burst = burst;
    this.now = now;
    this.tokens = burst;
    this.last = now();
  }

  /**
   * Takes `n` tokens (default 1) if available. Returns `false`, taking nothing, if fewer than `n` are
   * available (always the case when `n > burst`). `n <= 0` always succeeds and takes nothing.
   */
  tryTake(n = 1): boolean {
    if (n <= 0) return true;
    const t = this.now();
    if (t > this.last) {
      if (this.tokens < this.burst) {
        const refilled = this.tokens + (t - this.last) * this.ratePerMs;
        this.tokens = refilled < this.burst ? refilled : this.burst;
      }
      this.last = t;
    }
    if (this.tokens + EPSILON < n) return false;
    const left = this.tokens - n;
    this.tokens = left > 0 ? left : 0;
    return true;
  }

  /** Tokens available right now (refilled up to the current time, not consumed); for metrics and tests. */
  available(): number {
    const t = this.now();
    if (t <= this.last) return this.tokens;
    const refilled = this.tokens + (t - this.last) * this.ratePerMs;
    return refilled < this.burst ? refilled : this.burst;
  }
}

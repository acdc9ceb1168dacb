/** Exponential backoff for retry loops (reconnects, registry calls...). */

export interface BackoffOptions {
  /** Base delay of the first attempt, in ms (>= 0). */
  readonly initialMs: number;
  /** Cap on the base delay and therefore on every returned delay, in ms (>= initialMs). */
  readonly maxMs: number;
  /** Growth factor of the base delay per attempt (>= 1); default 2. */
  readonly multiplier?: number;
  /**
   * Fraction of the base delay that is randomised, 0..1; default 0.2.
   * 0 gives the plain exponential sequence, 1 gives "full jitter" (uniform in (0, base]).
   */
  readonly jitter?: number;
}

/**
 * Exponential backoff with proportional jitter, capped.
 *
 * The n-th call to `next()` (n = 0 after construction or `reset()`) computes
 * `base = min(maxMs, initialMs * multiplier^n)` and returns
 * `round(base * (1 - jitter * random()))`, i.e. a delay in `[base * (1 - jitter), base]`.
 * Jitter only ever shortens the delay, so no delay exceeds `maxMs`; with `jitter = 1` this is the
 * "full jitter" scheme. `random` must return values in `[0, 1)` (default `Math.random`).
 *
 * Call `reset()` after a success so that the next failure starts again from `initialMs`.
 */
export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly multiplier: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private base: number;
  private count = 0;

  /** Throws a `RangeError` if an option is out of range (see `BackoffOptions`). */
  constructor(opts: BackoffOptions, random: () => number = Math.random) {
    const { initialMs, maxMs, multiplier = 2, jitter = 0.2 } = opts;
    if (!Number.isFinite(initialMs) || initialMs < 0) {
      throw new RangeError(`Backoff: initialMs must be a finite number >= 0, got ${initialMs}`);
    }
    if (!Number.isFinite(maxMs) || maxMs < initialMs) {
      throw new RangeError(`Backoff: maxMs must be a finite number >= initialMs, got ${maxMs}`);
    }
    if (!Number.isFinite(multiplier) || multiplier < 1) {
      throw new RangeError(`Backoff: multiplier must be a finite number >= 1, got ${multiplier}`);
    }
    if (!(jitter >= 0 && jitter <= 1)) {
      throw new RangeError(`Backoff: jitter must be within 0..1, got ${jitter}`);
    }
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.multiplier = multiplier;
    this.jitter = jitter;
    this.random = random;
    this.base = initialMs;
  }

  /** Number of `next()` calls since construction or the last `reset()`. */
  get attempts(): number {
    return this.count;
  }

  /** Returns the delay in ms to wait before the next attempt, and advances the sequence. */
  next(): number {
    const base = this.base;
    this.count++;
    this.base = Math.min(this.maxMs, base * this.multiplier);
    return Math.round(base * (1 - this.jitter * this.random()));
  }

  /** Starts the sequence again from `initialMs` and sets `attempts` back to 0. */
  reset(): void {
    this.count = 0;
    this.base = this.initialMs;
  }
}

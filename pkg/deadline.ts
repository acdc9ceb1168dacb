/**
 * Deadlines of calls (unix ms; Infinity = none) and how to keep them while waiting on something
 * that may stall.
 */

/** When to stop waiting so that the caller still answers before `deadline`: a tenth of the time left, at most 100 ms, earlier. */
export function answerBy(deadline: number): number {
  if (!Number.isFinite(deadline)) return Infinity;
  return deadline - Math.min(100, Math.max(0, deadline - Date.now()) / 10);
}

export const LATE: unique symbol = Symbol('late');

/**
 * `p`'s value, or LATE when it has not settled by `answerBy(deadline)`. A rejection of `p` is
 * passed on; a late rejection is ignored (never unhandled).
 */
export async function beforeDeadline<T>(p: Promise<T>, deadline: number): Promise<T | typeof LATE> {
  const waitMs = answerBy(deadline) - Date.now();
  if (!Number.isFinite(waitMs)) return p;
  p.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(() => resolve(LATE), Math.max(0, waitMs));
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

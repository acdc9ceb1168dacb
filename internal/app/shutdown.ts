import type { Logger } from '../observability/logger';

/** One step of the shutdown (SPEC.md section 6), named for the logs. */
export interface ShutdownStep {
  readonly name: string;
  run(): void | Promise<void>;
}

/**
 * Runs the steps in order under one deadline. A step that fails is logged and the next one runs
 * (a shutdown never stops half-way for one broken resource). Resolves with the process exit code:
 * 0 when every step finished in time, 1 when the deadline passed first (the remaining steps are
 * abandoned; the caller exits).
 */
export async function runShutdown(steps: readonly ShutdownStep[], timeoutMs: number, log: Logger): Promise<0 | 1> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      resolve('timeout');
    }, timeoutMs);
  });
  const all = (async (): Promise<'done'> => {
    for (const step of steps) {
      if (timedOut) break;
      const started = Date.now();
      try {
        await step.run();
      } catch (e) {
        log.warn({ step: step.name, err: e }, 'shutdown step failed; going on');
      }
      log.debug({ step: step.name, ms: Date.now() - started }, 'shutdown step done');
    }
    return 'done';
  })();
  const outcome = await Promise.race([all, deadline]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    log.error({ timeoutSec: timeoutMs / 1000 }, 'shutdown timed out: exiting');
    return 1;
  }
  return 0;
}

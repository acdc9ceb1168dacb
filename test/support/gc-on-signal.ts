/**
 * Preloaded into a gateway process by the fuzz suite (NODE_OPTIONS="--expose-gc --require
 * <this file>"), never by the gateway itself: on SIGUSR2 it runs two full garbage collections and
 * prints one JSON line `{"msg":"test-preload: gc done","heapUsed":N}`, so that a heap figure read
 * right after (from /metrics) measures live objects rather than garbage not yet collected.
 * Without this preload, SIGUSR2 would terminate the gateway: only send it to processes started with it.
 */
const g = globalThis as { gc?: () => void };

process.on('SIGUSR2', () => {
  const exposed = typeof g.gc === 'function';
  if (exposed) {
    g.gc?.();
    g.gc?.();
  }
  process.stdout.write(`${JSON.stringify({ msg: 'test-preload: gc done', gcExposed: exposed, heapUsed: process.memoryUsage().heapUsed })}\n`);
});

export {};

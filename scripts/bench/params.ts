/** The benchmark's parameters: the default run and `--quick` (written to results.json as `parameters`). */

export function benchParams(quick: boolean) {
  return quick
    ? {
        mode: 'quick',
        budgetSec: 170,
        connectRate: { connections: 3000, concurrency: 100, users: 100 },
        memory: { connections: 2000 },
        fanout: { connections: 2000, messages: { 100: 20, 4096: 5 } as Record<number, number> },
        pushToUser: { connections: 500, concurrency: 32, durationMs: 3000, probeIntervalMs: 2, warmupMs: 2000 },
        forward: { connections: 100, window: 4, durationMs: 3000 },
        cluster: { connections: 3000, broadcasts: 10, pushRounds: 3 },
        rooms: { subscribers: 2000, rooms: 20, messages: 20, rounds: 20, samples: 5 },
      }
    : {
        mode: 'default',
        budgetSec: 585,
        connectRate: { connections: 18000, concurrency: 200, users: 100 },
        memory: { connections: 15000 },
        fanout: { connections: 10000, messages: { 100: 50, 4096: 10 } as Record<number, number> },
        pushToUser: { connections: 1000, concurrency: 64, durationMs: 10000, probeIntervalMs: 2, warmupMs: 3000 },
        forward: { connections: 200, window: 4, durationMs: 10000 },
        cluster: { connections: 54000, broadcasts: 10, pushRounds: 3 },
        rooms: { subscribers: 10000, rooms: 100, messages: 50, rounds: 50, samples: 10 },
      };
}

export type BenchParams = ReturnType<typeof benchParams>;

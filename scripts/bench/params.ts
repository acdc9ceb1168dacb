/** The benchmark's parameters: the default run and `--quick` (written to results.json as `parameters`). */

export function benchParams(quick: boolean) {
  return quick
    ? {
        mode: 'quick',
        budgetSec: 170,
        connectRate: { connections: 2000, concurrency: 100, users: 100 },
        memory: { connections: 1000 },
        concurrency: { connections: 1000, messages: { 1: 20, 8: 40, 64: 128 } as Record<number, number>, socketioMessages: { 1: 8, 8: 16, 64: 64 } as Record<number, number>, inflight: [1, 8, 64], frameBytes: 100, loadFractions: [0.25, 0.5, 1], loadDurationMs: 500 },
        scaling: { levels: [500, 1500], messages: 10, inflight: 8, frameBytes: 100 },
        rooms: { subscribers: 1000, rooms: 10, messages: 10, rounds: 10, samples: 3 },
        pushToUser: { connections: 200, concurrency: 32, durationMs: 1000, probeIntervalMs: 2, warmupMs: 300 },
        forward: { connections: 50, window: 4, durationMs: 1000 },
        storm: { connections: 1000, jitterMs: 1000, deadlineMs: 20_000 },
        cluster: { connections: 900, broadcasts: 5, pushRounds: 2 },
      }
    : {
        mode: 'default',
        budgetSec: 720,
        connectRate: { connections: 18000, concurrency: 200, users: 100 },
        memory: { connections: 15000 },
        concurrency: { connections: 5000, messages: { 1: 20, 8: 50, 64: 128 } as Record<number, number>, socketioMessages: { 1: 10, 8: 16, 64: 64 } as Record<number, number>, inflight: [1, 8, 64], frameBytes: 100, loadFractions: [0.1, 0.25, 0.5, 0.75, 1], loadDurationMs: 1500 },
        scaling: { levels: [1000, 5000, 10000, 19000], messages: 20, inflight: 8, frameBytes: 100 },
        rooms: { subscribers: 10000, rooms: 100, messages: 15, rounds: 15, samples: 5 },
        pushToUser: { connections: 1000, concurrency: 64, durationMs: 8000, probeIntervalMs: 2, warmupMs: 2000 },
        forward: { connections: 200, window: 4, durationMs: 8000 },
        storm: { connections: 19000, jitterMs: 1000, deadlineMs: 30_000 },
        cluster: { connections: 54000, broadcasts: 10, pushRounds: 3 },
      };
}

export type BenchParams = ReturnType<typeof benchParams>;

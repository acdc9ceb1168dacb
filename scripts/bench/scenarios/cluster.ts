/** Scenario cluster: Three gateway instances on one Redis: Broadcast through one instance and cross-instance PushToUsers. */
import { HOST } from '../common';
import { benchPayload, gatewayApi, WORKERS } from '../harness';
import type { Bench, Gateway, Scn } from '../harness';
import type { BenchParams } from '../params';

export async function cluster(params: BenchParams['cluster'], bench: Bench): Promise<Scn> {
  const { sup } = bench;
  const { connections: n, broadcasts, pushRounds } = params;
  const redisPort = bench.port();
  const redis = sup.spawn('redis-server', ['--port', String(redisPort), '--bind', HOST, '--save', '', '--appendonly', 'no', '--maxclients', '1000'], 'redis');
  const gws: Gateway[] = [];
  const apis: ReturnType<typeof gatewayApi>[] = [];
  try {
    await sup.waitFor('redis', redis, async () => /Ready to accept connections/i.test(redis.stderrTail) || (await redisPing(redisPort)));
    const perInstance = Math.ceil(n / 3);
    for (let i = 1; i <= 3; i++) {
      gws.push(
        await bench.startGateway(`gateway-${i}`, {
          maxConnections: perInstance + 100,
          env: { IMA_REDIS_URL: `redis://${HOST}:${redisPort}`, IMA_ADVERTISE_HOST: HOST, IMA_INSTANCE_ID: `bench-gw-${i}` },
        }),
      );
    }
    const r = await bench.connectAll('cluster', 'ws', gws.map((g) => g.ws), n, { users: n, userPrefix: 'c', concurrency: 300, nWorkers: WORKERS, deadlineMs: 150_000 });
    const held = (await Promise.all(gws.map((g) => bench.gatewayStats(g)))).map((s) => Number(s['connections']));
    sup.log(`cluster: instances hold ${held.join(' + ')} = ${held.reduce((a, b) => a + b, 0)} connections`);
    for (const g of gws) apis.push(gatewayApi(`${HOST}:${g.grpc}`));
    const api = apis[0] as ReturnType<typeof gatewayApi>;
    const payload = Buffer.from(benchPayload(100));
    const total = r.opened;
    const b = await bench.measureDeliveries('cluster Broadcast 100 B (via instance 1)', total * broadcasts, async () => {
      for (let i = 0; i < broadcasts; i++) await api.call('Broadcast', { message: { type: 'bench', payload } });
    }, 90_000);
    // users whose connection is on instances 2 and 3 (connection i goes to instance i % 3)
    const remote: string[] = [];
    for (let i = 0; i < n; i++) if (i % 3 !== 0) remote.push(`c${i}`);
    const batches: string[][] = [];
    for (let i = 0; i < remote.length; i += 1000) batches.push(remote.slice(i, i + 1000));
    const expectedRemote = Math.round(remote.length * (r.opened / n));
    const pu = await bench.measureDeliveries('cluster cross-instance PushToUsers 100 B (via instance 1)', expectedRemote * pushRounds, async () => {
      for (let k = 0; k < pushRounds; k++) {
        for (let i = 0; i < batches.length; i += 4) await Promise.all(batches.slice(i, i + 4).map((u) => api.call('PushToUsers', { userIds: u, message: { type: 'bench', payload } })));
      }
    }, 90_000);
    return {
      ima: b.rate,
      unit: 'deliveries/s (Broadcast of 100 B through one of 3 instances; see crossInstancePushToUsers)',
      instances: 3,
      connections: total,
      connectionsPerInstance: held,
      connectFailed: r.failed,
      connectErrors: r.errors,
      connectRate: (r.opened / r.wallMs) * 1000,
      broadcasts,
      crossInstancePushToUsers: pu.rate,
      pushRounds,
    };
  } finally {
    for (const a of apis) a.client.close();
    await bench.closeAllClients();
    await Promise.all(gws.map((g) => sup.stop(g.proc)));
    await sup.stop(redis);
  }
}

function redisPing(p: number): Promise<boolean> {
  return import('node:net').then(
    (net) =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(p, HOST, () => s.write('PING\r\n'));
        s.on('data', (d: Buffer) => {
          s.destroy();
          resolve(d.toString().startsWith('+PONG'));
        });
        s.on('error', () => resolve(false));
      }),
  );
}

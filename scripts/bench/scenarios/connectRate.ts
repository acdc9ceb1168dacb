/** Scenario connectRate: Connections per second (handshake + first frame) of the gateway and bare uWebSockets.js; the token cache is warmed first. */
import type { BenchParams } from '../params';
import type { Bench, Scn } from '../harness';

export async function connectRate(params: BenchParams['connectRate'], bench: Bench): Promise<Scn> {
  const { sup } = bench;
  const { connections: n, concurrency, users } = params;
  const out: Scn = { unit: 'connections/s (handshake + first frame)', connections: n, concurrency };
  {
    const g = await bench.startGateway('gateway');
    try {
      // warm the token cache: one connection per user, then the measured run hits the cache
      await bench.connectAll('connectRate ima warm-up', 'ws', [g.ws], users, { users, userPrefix: 'cr', concurrency: 50 });
      await bench.closeAllClients();
      const r = await bench.connectAll('connectRate ima', 'ws', [g.ws], n, { users, userPrefix: 'cr', concurrency, deadlineMs: 60_000 });
      const st = await bench.gatewayStats(g);
      out['ima'] = (r.opened / r.wallMs) * 1000;
      out['imaDetail'] = { ...r, tokenCache: st['tokenCache'] };
    } finally {
      await bench.closeAllClients();
      await sup.stop(g.proc);
    }
  }
  {
    const b = await bench.startBaseline('uws-server.js', 'bare-uws');
    try {
      const r = await bench.connectAll('connectRate bare uWS', 'ws', [b.port], n, { users, userPrefix: 'cr', concurrency, deadlineMs: 60_000 });
      out['bareUws'] = (r.opened / r.wallMs) * 1000;
      out['bareUwsDetail'] = r;
    } finally {
      await bench.closeAllClients();
      await sup.stop(b.proc);
    }
  }
  return out;
}

/**
 * Scenario storm (issue 16): a reconnect storm. N connections (two per user, spread over the raw
 * client processes and 16 source addresses) to one gateway whose auth goes to a real MUC gRPC
 * service (muc-server.ts, counting ValidateToken calls per token); then every client socket is
 * destroyed at the same moment and each reconnects after a random delay within `jitterMs`.
 * Measured: the time from the drop until every connection is back (auth frame received), failed
 * attempts (each retried after 200 ms): failed upgrades (the request went out and no 101 and auth
 * frame came back) apart from TCP failures (no connection: e.g. SYNs dropped by a full listen
 * backlog, with the kernel's ListenOverflows / ListenDrops counters), the MUC calls made
 * (the token cache should absorb the storm: at most one per distinct token over the whole run),
 * and the gateway's event-loop lag during the storm (prom-client's `nodejs_eventloop_lag_max_seconds`
 * / `_p99_seconds` from /metrics, read every 250 ms; the histogram restarts at each read).
 */
import * as fs from 'node:fs';
import { HOST, sleep, wallMs } from '../common';
import { WORKERS, fmt, httpGet } from '../harness';
import type { Bench, Scn } from '../harness';
import type { BenchParams } from '../params';

const TOKEN_PREFIX = 'mucb-';

interface StormResult {
  dropped: number;
  back: number;
  failedAttempts: number;
  droppedAt: number;
  lastBackAt: number;
  errors: Record<string, number>;
}

/**
 * The kernel's TcpExt ListenOverflows and ListenDrops counters (/proc/net/netstat, machine-wide):
 * connections lost because a listen socket's accept queue was full. NaN where not readable.
 */
function listenDrops(): { overflows: number; drops: number } {
  try {
    const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
    const names = (lines[i] ?? '').split(' ');
    const values = (lines[i + 1] ?? '').split(' ');
    const get = (n: string): number => Number(values[names.indexOf(n)]);
    return { overflows: get('ListenOverflows'), drops: get('ListenDrops') };
  } catch {
    return { overflows: NaN, drops: NaN };
  }
}

/** The value of a metric without labels in a Prometheus text exposition. */
function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

export async function storm(params: BenchParams['storm'], bench: Bench): Promise<Scn> {
  const { sup } = bench;
  const { connections: n, jitterMs } = params;
  const users = Math.ceil(n / 2);
  const tokens = Array.from({ length: users }, (_, i) => `${TOKEN_PREFIX}st${i}`);
  const muc = await bench.startBaseline('muc-server.js', 'muc', { BENCH_TOKEN_PREFIX: TOKEN_PREFIX });
  let out: Scn;
  const mucStats = (): Promise<{ calls: number; distinctTokens: number; maxCallsPerToken: number }> => sup.call(muc.proc, 'stats');
  try {
    const g = await bench.startGateway('gateway', { maxConnections: n + 500, env: { IMA_AUTH_PROVIDER: 'muc', IMA_MUC_ADDR: `${HOST}:${muc.port}` } });
    try {
      const metricsUrl = `http://${HOST}:${g.admin}/metrics`;
      const m0 = await httpGet(metricsUrl);
      if (m0.status !== 200 || metric(m0.body, 'nodejs_eventloop_lag_max_seconds') === undefined) throw new Error(`storm: /metrics answered ${m0.status} without nodejs_eventloop_lag_max_seconds`);
      const c = await bench.connectAll('storm connect', 'ws', [g.ws], n, { users, userPrefix: 'st', tokens, concurrency: 300, nWorkers: WORKERS, deadlineMs: 120_000, sampleEvery: 0 });
      if (c.opened !== n) sup.log(`storm: ${c.opened} of ${n} connections opened ${JSON.stringify(c.errors)}`);
      const before = await mucStats();
      sup.log(`storm: ${fmt(c.opened)} connections of ${fmt(users)} users (tokens); MUC calls so far ${before.calls}`);

      // event-loop lag of the gateway while the storm runs
      const lag = { maxSec: 0, p99MaxSec: 0, samples: 0, slowestScrapeMs: 0 };
      let sampling = true;
      const sampler = (async () => {
        await httpGet(metricsUrl).catch(() => undefined); // restart the histogram
        while (sampling) {
          const t = wallMs();
          const r = await httpGet(metricsUrl, 10_000).catch(() => undefined);
          lag.slowestScrapeMs = Math.max(lag.slowestScrapeMs, wallMs() - t);
          if (r?.status === 200) {
            lag.samples++;
            lag.maxSec = Math.max(lag.maxSec, metric(r.body, 'nodejs_eventloop_lag_max_seconds') ?? 0);
            lag.p99MaxSec = Math.max(lag.p99MaxSec, metric(r.body, 'nodejs_eventloop_lag_p99_seconds') ?? 0);
          }
          await sleep(250);
        }
      })();

      const r = await dropAndReconnect(bench, 'storm ima', c.opened, params, () => void bench.gatewayStats(g).then((x) => sup.log(`storm: gateway holds ${x['connections']} connections`), () => undefined));
      await sleep(500);
      sampling = false;
      await sampler;
      const { dropped, back, failedAttempts, failedUpgrades, failedTcp, errors, allBackMs } = r;
      // the gateway notices the dropped sockets and releases their sessions
      let held = NaN;
      for (let i = 0; i < 40; i++) {
        held = Number((await bench.gatewayStats(g))['connections']);
        if (held === back) break;
        await sleep(250);
      }
      const after = await mucStats();
      const st = await bench.gatewayStats(g);
      sup.log(
        `storm: ${back}/${dropped} back in ${allBackMs === null ? 'NOT ALL' : `${fmt(allBackMs)} ms`}; failed attempts ${failedAttempts} (upgrades ${failedUpgrades}, TCP ${failedTcp})${failedAttempts ? ` ${JSON.stringify(errors)}` : ''}; ` +
          `kernel listen overflows / drops during the storm ${r.listenOverflows} / ${r.listenDrops} (machine-wide); ` +
          `MUC calls ${after.calls} in all (${after.calls - before.calls} during the storm) for ${after.distinctTokens} distinct tokens, at most ${after.maxCallsPerToken} per token; ` +
          `event-loop lag max ${fmt(lag.maxSec * 1000)} ms (p99 ${fmt(lag.p99MaxSec * 1000)} ms); gateway holds ${held}`,
      );
      out = {
        ima: allBackMs,
        unit: 'ms from the drop until every connection is back (auth frame received)',
        connections: c.opened,
        users,
        jitterMs,
        dropped,
        back,
        allBackMs,
        failedAttempts,
        failedUpgrades,
        failedTcp,
        errors,
        listenOverflows: r.listenOverflows,
        listenDrops: r.listenDrops,
        mucCalls: { beforeStorm: before.calls, duringStorm: after.calls - before.calls, total: after.calls, distinctTokens: after.distinctTokens, maxPerToken: after.maxCallsPerToken },
        tokenCache: st['tokenCache'],
        eventLoopLagMs: { max: lag.maxSec * 1000, p99Max: lag.p99MaxSec * 1000, scrapes: lag.samples, slowestScrapeMs: lag.slowestScrapeMs },
        gatewayConnectionsAfter: held,
      };
    } finally {
      await bench.closeAllClients();
      await sup.stop(g.proc);
    }
  } finally {
    await sup.stop(muc.proc);
  }
  // the same storm against bare uWebSockets.js (no auth): what the machine and uWS allow
  const b = await bench.startBaseline('uws-server.js', 'bare-uws');
  try {
    const c = await bench.connectAll('storm bareUws connect', 'ws', [b.port], n, { users, userPrefix: 'st', tokens, concurrency: 300, nWorkers: WORKERS, deadlineMs: 120_000, sampleEvery: 0 });
    const r = await dropAndReconnect(bench, 'storm bareUws', c.opened, params, () => undefined);
    sup.log(`storm bareUws: ${r.back}/${r.dropped} back in ${r.allBackMs === null ? 'NOT ALL' : `${fmt(r.allBackMs)} ms`}; failed attempts ${r.failedAttempts} (upgrades ${r.failedUpgrades}, TCP ${r.failedTcp})${r.failedAttempts ? ` ${JSON.stringify(r.errors)}` : ''}; kernel listen overflows / drops ${r.listenOverflows} / ${r.listenDrops}`);
    out['bareUws'] = r.allBackMs;
    out['bareUwsDetail'] = r;
  } catch (e) {
    sup.log(`storm bareUws FAILED: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await bench.closeAllClients();
    await sup.stop(b.proc);
  }
  return out;
}

interface Storm {
  dropped: number;
  back: number;
  /** ms from the drop until the last one was back; null when not all came back. */
  allBackMs: number | null;
  failedAttempts: number;
  failedUpgrades: number;
  failedTcp: number;
  errors: Record<string, number>;
  listenOverflows: number;
  listenDrops: number;
}

/**
 * Every raw client process destroys all its sockets at the same wall time and reconnects each
 * within jitterMs (rawclient.ts `storm`); `tick` runs every 2 s meanwhile (progress).
 */
async function dropAndReconnect(bench: Bench, label: string, conns: number, params: BenchParams['storm'], tick: () => void): Promise<Storm> {
  const { sup } = bench;
  const net0 = listenDrops();
  const cpu0 = await bench.cpuSnapshot();
  const t0 = wallMs();
  const at = wallMs() + 500;
  sup.log(`${label}: dropping ${fmt(conns)} connections at once; each reconnects within ${params.jitterMs} ms`);
  const progress = setInterval(tick, 2000);
  let rs: StormResult[];
  try {
    rs = await Promise.all(bench.workers.map((w) => sup.call<StormResult>(w, 'storm', { at, jitterMs: params.jitterMs, deadlineMs: params.deadlineMs, retryMs: 200 }, params.deadlineMs + 30_000)));
  } finally {
    clearInterval(progress);
  }
  await bench.cpuWindow(`${label}: drop and reconnect`, cpu0, wallMs() - t0);
  const net1 = listenDrops();
  const dropped = rs.reduce((a, r) => a + r.dropped, 0);
  const back = rs.reduce((a, r) => a + r.back, 0);
  const failedAttempts = rs.reduce((a, r) => a + r.failedAttempts, 0);
  const droppedAt = Math.min(...rs.map((r) => r.droppedAt));
  const lastBackAt = Math.max(...rs.map((r) => r.lastBackAt));
  const errors: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  // an attempt that sent its upgrade request and got no 101 + first frame is a failed upgrade; one
  // that got no TCP connection (SYN dropped: a full listen backlog, refused) is counted apart
  const failedUpgrades = Object.entries(errors).reduce((a, [k, v]) => a + (k.startsWith('upgrade:') ? v : 0), 0);
  return {
    dropped,
    back,
    allBackMs: back === dropped && dropped > 0 ? lastBackAt - droppedAt : null,
    failedAttempts,
    failedUpgrades,
    failedTcp: failedAttempts - failedUpgrades,
    errors,
    listenOverflows: net1.overflows - net0.overflows,
    listenDrops: net1.drops - net0.drops,
  };
}

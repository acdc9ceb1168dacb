/**
 * `npm run bench [-- --quick] [-- --only a,b] [-- --profile] [-- --report-only] [-- --out DIR] [-- --soak MINUTES]`:
 * the IMA gateway benchmark (issues 7 and 16), its command line.
 * `--report-only` re-renders the outputs from docs/bench/results.json (after editing docs/bench/notes.md).
 * `--out DIR` writes results.json, the SVG charts and BENCHMARKS.md under DIR (DIR/bench/...,
 * DIR/BENCHMARKS.md) instead of docs/.
 *
 * Starts the gateway, the baselines (bare uWebSockets.js, Socket.IO 4, bare grpc-js, the test MUC
 * and business services) and its own load generators as separate processes, runs the scenarios,
 * prints a table with the goals (PASS / MISS) and writes docs/bench/results.json, the SVG charts
 * docs/bench/{results,concurrency,scaling}.svg and docs/BENCHMARKS.md. Every phase is bounded in
 * time, a watchdog bounds the whole run, and every process started is killed on exit (also on
 * SIGINT / SIGTERM / an error). Progress lines go to stderr.
 *
 * The parts: this file (arguments, watchdog, the order of the scenarios, the results via
 * report.ts); supervisor.ts (child processes, IPC, bounded stops, kill-all, progress lines);
 * harness.ts (what the scenarios share: servers, load workers, measurement, client CPU);
 * rawclient.ts (the raw-socket clients); pusher.ts (the gRPC push load); scenarios/*.ts (one
 * scenario each); params.ts (the default and --quick parameters); report.ts and svg.ts (outputs).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { uwsIsNative } from '../../internal/transport/ws/native';
import { Bench } from './harness';
import type { Scn } from './harness';
import { benchParams } from './params';
import type { BenchParams } from './params';
import { renderOutputs } from './report';
import type { Results } from './report';
import { cluster } from './scenarios/cluster';
import { connectRate } from './scenarios/connectRate';
import { concurrency } from './scenarios/concurrency';
import { forward } from './scenarios/forward';
import { memoryPerConnection } from './scenarios/memoryPerConnection';
import { pushToUser } from './scenarios/pushToUser';
import { rooms } from './scenarios/rooms';
import { scaling } from './scenarios/scaling';
import { storm } from './scenarios/storm';
import { soakMain } from './soak';
import { Supervisor } from './supervisor';

// ------------------------------------------------------------------------------------------------
// arguments and parameters

const argv = process.argv.slice(2);
/** `--soak MINUTES`: the soak run of scripts/bench/soak.ts (docs/SOAK.md) instead of the benchmarks. */
const SOAK = argv.some((a) => a === '--soak' || a.startsWith('--soak='));
const QUICK = argv.includes('--quick');
const onlyArg = argv.find((a) => a.startsWith('--only'));
/** `--profile`: the gateway of concurrency and pushToUser runs with --cpu-prof; its hottest functions go to docs/bench/profile-fanout.md and profile-pushToUser.md. */
const PROFILE = argv.includes('--profile');
const ONLY = onlyArg ? (onlyArg.includes('=') ? onlyArg.split('=')[1] : argv[argv.indexOf(onlyArg) + 1])?.split(',') : undefined;
const outArg = argv.find((a) => a.startsWith('--out'));
/** `--out DIR`: where results.json, the charts and BENCHMARKS.md go (default: the repository's docs/). */
const OUT = outArg ? path.resolve((outArg.includes('=') ? outArg.split('=')[1] : argv[argv.indexOf(outArg) + 1]) ?? 'docs') : undefined;
const ROOT = path.resolve(__dirname, '../../..');
const DIST = path.resolve(__dirname, '../..');

const P = benchParams(QUICK);

// ------------------------------------------------------------------------------------------------
// processes, cleanup

const T0 = Date.now();
const sup = new Supervisor(T0);
const log = (msg: string): void => sup.log(msg);
sup.installExitHandlers();

// ------------------------------------------------------------------------------------------------
// scenarios, in the order they run

const SCENARIOS: Array<[string, (p: BenchParams, bench: Bench) => Promise<Scn>]> = [
  ['connectRate', (p, b) => connectRate(p.connectRate, b)],
  ['memoryPerConnection', (p, b) => memoryPerConnection(p.memory, b)],
  ['concurrency', (p, b) => concurrency(p.concurrency, b)],
  ['scaling', (p, b) => scaling(p.scaling, b)],
  ['rooms', (p, b) => rooms(p.rooms, b)],
  ['pushToUser', (p, b) => pushToUser(p.pushToUser, b)],
  ['forward', (p, b) => forward(p.forward, b)],
  ['storm', (p, b) => storm(p.storm, b)],
  ['cluster', (p, b) => cluster(p.cluster, b)],
];

// ------------------------------------------------------------------------------------------------
// main

async function main(): Promise<void> {
  if (argv.includes('--report-only')) {
    // re-render the table, plot and BENCHMARKS.md from docs/bench/results.json (e.g. after editing docs/bench/notes.md)
    const res = JSON.parse(fs.readFileSync(path.join(OUT ?? path.join(ROOT, 'docs'), 'bench/results.json'), 'utf8')) as Results;
    delete res.errors['plot'];
    delete res.errors['charts'];
    process.stdout.write((await renderOutputs(res, ROOT, log, OUT)) + '\n');
    process.exit(0);
  }
  if (!uwsIsNative()) {
    process.stderr.write('bench: the uWebSockets.js native binary is NOT loaded (the package fell back to its slow JS implementation): refusing to benchmark. Install a build matching this Node.js ABI.\n');
    process.exit(1);
  }
  const watchdog = setTimeout(() => {
    sup.aborted = true;
    log(`watchdog: the run passed its ${P.budgetSec} s budget: stopping every process and writing what was measured`);
    sup.killAllSync();
    setTimeout(() => process.exit(1), 20_000).unref();
  }, P.budgetSec * 1000);
  watchdog.unref();
  log(`mode ${P.mode}; ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; uWebSockets.js native: yes`);
  const bench = new Bench(sup, ROOT, DIST, PROFILE);
  if (OUT) {
    bench.docsDir = OUT;
    fs.mkdirSync(path.join(OUT, 'bench'), { recursive: true });
  }
  bench.startWorkers();
  const results: Results = {
    mode: P.mode,
    startedAt: new Date(T0).toISOString(),
    durationSec: 0,
    uwsNative: true,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}`, fdLimitPerProcess: 20000 },
    parameters: P,
    scenarios: {},
    errors: {},
  };
  for (const [name, fn] of SCENARIOS) {
    if (ONLY && !ONLY.includes(name)) continue;
    if (sup.aborted) {
      results.errors[name] = 'not run: watchdog';
      continue;
    }
    log(`== ${name}`);
    const t = Date.now();
    try {
      results.scenarios[name] = { ...(await fn(P, bench)), seconds: Math.round((Date.now() - t) / 100) / 10, clientCpu: bench.takeCpuLog() };
      log(`${name} done in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    } catch (e) {
      bench.takeCpuLog();
      const m = e instanceof Error ? e.message : String(e);
      log(`${name} FAILED: ${m}`);
      results.errors[name] = m.slice(0, 2000);
      if (/refusing to benchmark/.test(m)) {
        sup.killAllSync();
        process.exit(1);
      }
      if (!sup.aborted) {
        // make sure nothing of the failed scenario is left behind
        await sup.stopAllExcept(bench.longLived(), 500);
        await bench.closeAllClients().catch(() => undefined);
      }
    }
  }
  results.durationSec = Math.round((Date.now() - T0) / 1000);
  await sup.stopAllExcept([], 1000);
  const out = OUT ?? path.join(ROOT, 'docs');
  log(`writing ${path.relative(ROOT, out) || '.'}/bench/results.json, ${path.relative(ROOT, out) || '.'}/bench/*.svg, ${path.relative(ROOT, out) || '.'}/BENCHMARKS.md`);
  const table = await renderOutputs(results, ROOT, log, OUT);
  process.stdout.write(table + '\n');
  log(`done in ${results.durationSec} s${Object.keys(results.errors).length ? ` (errors: ${Object.keys(results.errors).join(', ')})` : ''}`);
  process.exit(Object.keys(results.errors).length ? 1 : 0);
}

if (SOAK) void soakMain(argv);
else void main();

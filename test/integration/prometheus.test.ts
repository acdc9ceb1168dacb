/**
 * The Prometheus alerting rules (deploy/prometheus/) and the Grafana dashboard (deploy/grafana/)
 * against the real tools and a real gateway:
 *
 * - `promtool check rules` accepts the rules; `promtool test rules` passes their unit tests; and
 *   those unit tests have teeth: without any one alert, or with any `for:` set to 0, they fail.
 * - Every PromQL expression of the dashboard is valid (promtool checks it as a recording rule).
 * - A real gateway (with Redis, a business service, a push stream and the pub/sub ingress, after
 *   some traffic) exposes a sample of every metric the rules and the dashboard name, with the
 *   type the name implies (`x_bucket` / `x_sum` / `x_count` only of a histogram `x`).
 * - A real Prometheus server scraping that gateway loads the rules and evaluates every one without
 *   error, every dashboard query returns series, and with Redis stopped the Redis and readiness
 *   alerts go pending for that instance.
 * - `ima_ready` is what /readyz says (1 and 200, then 0 and 503 while Redis is down, then back),
 *   and `ima_max_connections` is the limit the gateway started with.
 * - The dashboard JSON is importable in shape: unique panel ids, every panel with PromQL targets,
 *   the data source a variable, job and instance variables, panels on the 24-column grid without
 *   overlap.
 *
 * Needs promtool and prometheus (Debian: `apt-get install -y prometheus`) and redis-server;
 * without them the test fails (it does not skip).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { httpGet, httpRequest } from '../support/admin';
import { repoRoot, startGateway } from '../support/gateway-process';
import { freePort } from '../support/ports';
import { spawnSupervised } from '../support/supervised-child';
import type { SupervisedChild } from '../support/supervised-child';
import type { GatewayProcess } from '../support/gateway-process';
import { startRedis } from '../support/redis';
import type { TestRedis } from '../support/redis';
import { TestBusinessService, TestServerPushService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import { TEST_JWT_SECRET, configDir, eventually, jwtFor } from './helpers';

const PROM_DIR = path.join(repoRoot(), 'deploy', 'prometheus');
const RULES = path.join(PROM_DIR, 'ima-gateway.rules.yml');
const RULE_TESTS = path.join(PROM_DIR, 'ima-gateway.rules.test.yml');
const DASHBOARD = path.join(repoRoot(), 'deploy', 'grafana', 'ima-gateway.json');

// ------------------------------------------------------------------------------------------------
// promtool

/** The path of `tool` on PATH; fails the test (never skips) when it is not there. */
function toolPath(tool: 'promtool' | 'prometheus'): string {
  const dirs = (process.env['PATH'] ?? '').split(path.delimiter).filter((d) => d !== '');
  const p = dirs.map((d) => path.join(d, tool)).find((f) => fs.existsSync(f)) ?? '';
  assert.ok(
    p !== '',
    `${tool} not found on PATH: the alerting rules and the dashboard are checked with the real Prometheus tools. ` +
      `Install them, e.g. on Debian/Ubuntu: apt-get install -y prometheus (it ships /usr/bin/promtool and /usr/bin/prometheus)`,
  );
  return p;
}

function promtoolPath(): string {
  return toolPath('promtool');
}

function promtool(args: string[], cwd: string): { code: number; out: string } {
  const r = spawnSync(promtoolPath(), args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}

function loadRules(): RuleFile {
  return parseYaml(fs.readFileSync(RULES, 'utf8')) as RuleFile;
}

function alerts(file: RuleFile): Rule[] {
  return file.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
}

/** A temp dir with the rule tests and `rules` as ima-gateway.rules.yml; removed by the caller. */
function scratch(rules: RuleFile): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-promtool-'));
  fs.writeFileSync(path.join(dir, 'ima-gateway.rules.yml'), stringifyYaml(rules, { lineWidth: 0 }));
  fs.copyFileSync(RULE_TESTS, path.join(dir, 'ima-gateway.rules.test.yml'));
  return dir;
}

// ------------------------------------------------------------------------------------------------
// PromQL: the metric names an expression reads

const PROMQL_KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'atan2',
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile',
  'inf', 'nan',
]);

/**
 * The metric names `expr` selects. Strings, label matchers `{...}`, ranges `[...]`, the label
 * lists of by/without/on/ignoring/group_left/group_right, Grafana variables and numbers are
 * dropped; of the identifiers left, those not followed by `(` (functions) and not PromQL keywords
 * are metric names. `{__name__="x"}` selectors are not used by our files and not handled.
 */
export function metricNames(expr: string): string[] {
  let e = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  const token = /(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*)|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g;
  for (let m = token.exec(e); m !== null; m = token.exec(e)) {
    const id = m[2];
    if (id === undefined || m[3] !== undefined) continue; // a number, or a function / aggregation call
    if (PROMQL_KEYWORDS.has(id.toLowerCase())) continue;
    names.add(id);
  }
  return [...names].sort();
}

test('metricNames reads the metric names of PromQL expressions, and only those', () => {
  assert.deepEqual(metricNames('up{job="ima-gateway"} == 0'), ['up']);
  assert.deepEqual(metricNames('ima_ready == 0 and ima_draining == 0'), ['ima_draining', 'ima_ready']);
  assert.deepEqual(
    metricNames('histogram_quantile(0.99, sum by (service, method, le) (rate(ima_upstream_request_duration_seconds_bucket{job=~"$job", instance=~"$instance"}[$__rate_interval])))'),
    ['ima_upstream_request_duration_seconds_bucket'],
  );
  assert.deepEqual(metricNames('sum by (job) (rate(ima_auth_total{result!="accepted", x="a{b}"}[5m] offset 1h)) / on (job) group_left (instance) sum(ima_x) > 1e3'), ['ima_auth_total', 'ima_x']);
  assert.deepEqual(metricNames('max_over_time(ima_business_breaker_open[2m]) == 1 unless ignoring(kind) foo_total > bool Inf'), ['foo_total', 'ima_business_breaker_open']);
  assert.deepEqual(metricNames('1 - ima_draining{instance=~"${instance}"}'), ['ima_draining']);
});

// ------------------------------------------------------------------------------------------------
// the Grafana dashboard

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  title?: string;
  uid?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: Array<{ name?: string; type?: string; query?: unknown; includeAll?: boolean; multi?: boolean }> };
}

function loadDashboard(): Dashboard {
  return JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels included. */
function allPanels(d: Dashboard): Panel[] {
  return (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

function dashboardExprs(d: Dashboard): Array<{ panel: string; expr: string }> {
  return allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: `${p.id} ${p.title}`, expr: t.expr ?? '' })));
}

describe('the Grafana dashboard (deploy/grafana/ima-gateway.json)', () => {
  const d = loadDashboard();
  const panels = allPanels(d);

  test('is a dashboard: title, uid, schema version, panels', () => {
    assert.equal(typeof d.title, 'string');
    assert.match(d.uid ?? '', /^[a-zA-Z0-9_-]{1,40}$/);
    assert.ok((d.schemaVersion ?? 0) >= 36, `schemaVersion ${d.schemaVersion}`);
    assert.ok(panels.length >= 20, `${panels.length} panels`);
  });

  test('panel ids are unique', () => {
    const ids = panels.map((p) => p.id);
    for (const id of ids) assert.ok(Number.isInteger(id) && (id as number) > 0, `panel id ${String(id)}`);
    const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
    assert.deepEqual(dup, [], 'duplicate panel ids');
  });

  test('every panel (rows aside) queries Prometheus through the data source variable, with PromQL targets', () => {
    for (const p of panels) {
      if (p.type === 'row') {
        assert.equal(p.targets, undefined, `row ${p.title} has no targets`);
        continue;
      }
      const name = `panel ${p.id} "${p.title}"`;
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${DS_PROMETHEUS}' }, `${name}: datasource`);
      assert.ok((p.targets ?? []).length > 0, `${name}: no targets`);
      const refIds = (p.targets ?? []).map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${name}: refIds unique`);
      for (const t of p.targets ?? []) {
        assert.ok(typeof t.expr === 'string' && t.expr.trim() !== '', `${name}: target ${t.refId} without expr`);
        assert.match(t.expr, /job=~"\$job", instance=~"\$instance"/, `${name}: ${t.expr} filters by $job and $instance`);
      }
    }
  });

  test('variables: the Prometheus data source, job, instance (multi, all)', () => {
    const vars = d.templating?.list ?? [];
    const ds = vars.find((v) => v.name === 'DS_PROMETHEUS');
    assert.equal(ds?.type, 'datasource');
    assert.equal(ds?.query, 'prometheus');
    assert.equal(vars.find((v) => v.name === 'job')?.type, 'query');
    const inst = vars.find((v) => v.name === 'instance');
    assert.equal(inst?.type, 'query');
    assert.equal(inst?.multi, true);
    assert.equal(inst?.includeAll, true);
  });

  test('panels sit on the 24-column grid without overlapping', () => {
    const boxes = panels.map((p) => ({ p, g: p.gridPos }));
    for (const { p, g } of boxes) {
      assert.ok(g !== undefined, `panel ${p.id} has a gridPos`);
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.y >= 0 && g.h > 0, `panel ${p.id} gridPos ${JSON.stringify(g)}`);
    }
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!.g!;
        const b = boxes[j]!.g!;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `panels ${boxes[i]!.p.id} and ${boxes[j]!.p.id} overlap`);
      }
    }
  });

  test('every PromQL expression is valid (promtool checks each as a recording rule)', () => {
    // Grafana's variables as Prometheus would see them after interpolation
    const rules = dashboardExprs(d).map(({ expr }, i) => ({
      record: `dashboard:expr_${i}`,
      expr: expr.replace(/\$__rate_interval/g, '5m').replace(/\$job|\$instance/g, '.*'),
    }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-grafana-'));
    try {
      fs.writeFileSync(path.join(dir, 'dashboard.rules.yml'), stringifyYaml({ groups: [{ name: 'dashboard', rules }] }, { lineWidth: 0 }));
      const r = promtool(['check', 'rules', 'dashboard.rules.yml'], dir);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`SUCCESS: ${rules.length} rules found`));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ------------------------------------------------------------------------------------------------
// the alerting rules

describe('the alerting rules (deploy/prometheus/ima-gateway.rules.yml)', () => {
  test('promtool check rules accepts them', () => {
    const r = promtool(['check', 'rules', 'ima-gateway.rules.yml'], PROM_DIR);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${alerts(loadRules()).length} rules found`));
  });

  test('the alerts the operations need are there, each with for/severity/summary/description naming the instance', () => {
    const all = alerts(loadRules());
    const names = all.map((a) => a.alert);
    for (const wanted of [
      'ImaGatewayDown',
      'ImaGatewayNotReady',
      'ImaRedisDown',
      'ImaBusinessBreakerOpen',
      'ImaSlowConsumers',
      'ImaAuthFailuresSpike',
      'ImaEventLoopLag',
      'ImaConnectionsNearLimit',
      'ImaPushStreamDown',
      'ImaInternalErrors',
    ]) {
      assert.ok(names.includes(wanted), `${wanted} in ${names.join(', ')}`);
    }
    assert.equal(new Set(names).size, names.length, 'alert names unique');
    for (const a of all) {
      assert.match(a.labels?.['severity'] ?? '', /^(critical|warning)$/, `${a.alert}: severity`);
      assert.ok((a.annotations?.['summary'] ?? '') !== '' && (a.annotations?.['description'] ?? '') !== '', `${a.alert}: summary and description`);
      // every alert but the fleet-wide one is per instance and says which
      if (a.alert !== 'ImaGatewayNoReadyInstance') assert.match(a.annotations?.['summary'] ?? '', /\{\{ \$labels\.instance \}\}/, `${a.alert}: summary names the instance`);
      // gauges and ratios need a `for`; counters' increase() over a window does not
      if (!/increase\(/.test(a.expr)) assert.match(a.for ?? '', /^\d+[smh]$/, `${a.alert}: for`);
    }
  });

  test('promtool test rules: every alert fires for the sick instance and not for the healthy one', () => {
    const r = promtool(['test', 'rules', 'ima-gateway.rules.test.yml'], PROM_DIR);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS/);
  });

  test('the unit tests have teeth: without any one alert, or with its for: at 0, they fail', () => {
    const base = loadRules();
    for (const a of alerts(base)) {
      const without = structuredClone(base);
      for (const g of without.groups) g.rules = g.rules.filter((r) => r.alert !== a.alert);
      let dir = scratch(without);
      try {
        const r = promtool(['test', 'rules', 'ima-gateway.rules.test.yml'], dir);
        assert.notEqual(r.code, 0, `the tests still pass without ${a.alert}: it is never expected to fire`);
        assert.match(r.out, new RegExp(`alertname: ${a.alert}\\b`), `the failure names ${a.alert}`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      if (a.for === undefined) continue;
      const eager = structuredClone(base);
      for (const g of eager.groups) for (const r of g.rules) if (r.alert === a.alert) r.for = '0s';
      dir = scratch(eager);
      try {
        const r = promtool(['test', 'rules', 'ima-gateway.rules.test.yml'], dir);
        assert.notEqual(r.code, 0, `the tests still pass with ${a.alert} at for: 0s: nothing checks that it waits`);
        assert.match(r.out, new RegExp(`alertname: ${a.alert}\\b`), `the failure names ${a.alert}`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});

// ------------------------------------------------------------------------------------------------
// a real gateway's /metrics

interface Scrape {
  /** Sample names with their values (the last line of each name wins: enough for unlabelled gauges). */
  readonly samples: Map<string, number>;
  /** `# TYPE` per metric family. */
  readonly types: Map<string, string>;
}

function parseExposition(text: string): Scrape {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    assert.ok(m, `unparsable exposition line: ${line}`);
    samples.set(m[1]!, Number(m[3]));
  }
  return { samples, types };
}

/**
 * Why `name` (as a PromQL expression reads it) is not in the scrape, or null when it is: a sample
 * of that exact name exists, and a `_bucket` / `_sum` / `_count` name belongs to a histogram (or
 * summary) family while a histogram's own family name is never read bare.
 */
function missing(name: string, s: Scrape): string | null {
  const suffix = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (suffix) {
    const family = s.types.get(suffix[1]!);
    if (family === 'histogram' || (family === 'summary' && suffix[2] !== 'bucket')) {
      return s.samples.has(name) ? null : `${name}: ${family} ${suffix[1]} has no ${suffix[2]} sample`;
    }
  }
  const type = s.types.get(name);
  if (type === 'histogram' || type === 'summary') return `${name} is a ${type}: read ${name}_bucket, _sum or _count`;
  if (type === undefined) return `${name}: no such metric`;
  return s.samples.has(name) ? null : `${name}: ${type} without a sample (HELP and TYPE only)`;
}

/** Series Prometheus makes itself, never in an exposition. */
const SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

test('missing() tells names from suffixes', () => {
  const s = parseExposition(
    [
      '# TYPE h histogram',
      'h_bucket{le="1"} 0',
      'h_sum 0',
      'h_count 0',
      '# TYPE c_total counter',
      'c_total 3',
      '# TYPE g gauge',
      '# TYPE x_count gauge',
      'x_count 1',
    ].join('\n'),
  );
  assert.equal(missing('h_bucket', s), null);
  assert.equal(missing('h_count', s), null);
  assert.match(missing('h', s) ?? '', /is a histogram/);
  assert.equal(missing('c_total', s), null);
  assert.match(missing('g', s) ?? '', /without a sample/);
  assert.match(missing('nope', s) ?? '', /no such metric/);
  assert.equal(missing('x_count', s), null, 'a gauge whose name ends in _count is itself');
  assert.match(missing('c_total_count', s) ?? '', /no such metric/);
});

describe('a real gateway exposes every metric the rules and the dashboard read', () => {
  let redis: TestRedis;
  let biz: TestBusinessService;
  let push: TestServerPushService;
  let gw: GatewayProcess;
  let prom: SupervisedChild | undefined;
  let promUrl = '';
  let promDir = '';
  let cleanup: () => void = () => undefined;
  const clients: TestWsClient[] = [];
  const MAX_CONNECTIONS = 777;

  before(async () => {
    promtoolPath(); // fail early and clearly
    redis = await startRedis();
    biz = await TestBusinessService.start();
    push = await TestServerPushService.start();
    const c = configDir({
      'redis.yml': 'redis:\n  pubsubIngress: true\n  leaseTtlSec: 4\n  leaseRefreshSec: 1\n',
      'websocket.yml': `websocket:\n  maxConnections: ${MAX_CONNECTIONS}\n`,
    });
    cleanup = c.cleanup;
    gw = await startGateway({
      configDir: c.dir,
      env: {
        IMA_JWT_SECRET: TEST_JWT_SECRET,
        IMA_REDIS_URL: redis.url,
        IMA_BUSINESS_ADDR: biz.address,
        IMA_PUSH_STREAM_ADDR: push.address,
        IMA_KICK_POLICY: 'allow_all',
        IMA_INSTANCE_ID: 'prom-1',
        IMA_ADVERTISE_HOST: '127.0.0.1',
      },
    });

    // a real Prometheus: scrapes the gateway every second and evaluates the rules every second
    const promBin = toolPath('prometheus');
    promDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-prometheus-'));
    fs.writeFileSync(
      path.join(promDir, 'prometheus.yml'),
      stringifyYaml({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [RULES],
        scrape_configs: [{ job_name: 'ima-gateway', metrics_path: '/metrics', static_configs: [{ targets: [`127.0.0.1:${gw.adminPort}`] }] }],
      }),
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawnSupervised('prometheus', promBin, [
      `--config.file=${path.join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ]);
    await eventually(async () => (await httpGet(`${promUrl}/-/ready`).catch(() => ({ status: 0 }))).status === 200, 30_000, 'prometheus ready').catch((e: unknown) => {
      throw new Error(`${String(e)}\n${prom?.tail(30) ?? ''}`);
    });
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await prom?.stop('SIGTERM', 5_000);
    await gw?.stop();
    await Promise.all([biz?.stop(), push?.stop(), redis?.stop()]);
    if (promDir !== '') fs.rmSync(promDir, { recursive: true, force: true });
    cleanup();
  });

  /** The `data` of a Prometheus HTTP API answer. */
  async function promApi<T>(pathAndQuery: string): Promise<T> {
    const r = await httpGet(`${promUrl}${pathAndQuery}`);
    assert.equal(r.status, 200, `${pathAndQuery}: ${r.status} ${r.body.slice(0, 500)}`);
    const body = r.json as { status: string; data: T };
    assert.equal(body.status, 'success', r.body.slice(0, 500));
    return body.data;
  }

  async function promQuery(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const data = await promApi<{ resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
    return data.result;
  }

  async function pendingOrFiring(alertname: string): Promise<string[]> {
    const data = await promApi<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>('/api/v1/alerts');
    return data.alerts.filter((a) => a.labels['alertname'] === alertname).map((a) => `${a.labels['instance'] ?? a.labels['job'] ?? ''} ${a.state}`);
  }

  async function scrape(): Promise<Scrape> {
    const r = await httpGet(`${gw.adminUrl}/metrics`);
    assert.equal(r.status, 200, r.body);
    return parseExposition(r.body);
  }

  async function api(method: string, body: unknown): Promise<number> {
    const r = await httpRequest('POST', `${gw.adminUrl}/im.gateway.v1.IMAGatewayService/${method}`, JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
    return r.status;
  }

  async function login(user: string, device: string, platform: string): Promise<TestWsClient> {
    const c = await TestWsClient.connect(gw.wsUrl({ token: jwtFor(user), device_id: device, platform }));
    clients.push(c);
    const auth = await c.next('auth');
    assert.equal(auth['ok'], true, JSON.stringify(auth));
    return c;
  }

  test('after traffic, the scrape has a sample of every metric named by the rules and the dashboard', async () => {
    await push.waitForStream();
    // traffic that touches every family: logins (one refused), chats forwarded, a room
    // subscription, push API calls (one invalid), a kick, a connection that ends
    const alice = await login('alice', 'alice-phone', 'android');
    const bob = await login('bob', 'bob-web', 'web');
    const refused = await TestWsClient.connect(gw.wsUrl({ token: 'not-a-token', device_id: 'x', platform: 'ios' }));
    clients.push(refused);
    assert.equal((await refused.next('auth'))['ok'], false);
    alice.send({ type: 'chat', id: 'm1', payload: { text: 'hi' } });
    alice.send({ type: 'subscribe', id: 's1', room: 'lobby' });
    await alice.next((f) => f['type'] === 'ack' && f['id'] === 'm1');
    await alice.next((f) => f['id'] === 's1');
    // one business failure, so that the error-share series exist
    biz.mode = 'error';
    alice.send({ type: 'chat', id: 'm2', payload: { text: 'fails' } });
    await alice.next((f) => f['type'] === 'ack' && f['id'] === 'm2');
    biz.mode = 'ok';
    assert.equal(await api('PushToUser', { userId: 'bob', message: { type: 'notice' } }), 200);
    assert.equal(await api('PushToRoom', { room: 'lobby', message: { type: 'notice' } }), 200);
    assert.notEqual(await api('PushToUser', { userId: '', message: { type: 'notice' } }), 200);
    const mallory = await login('mallory', 'mallory-web', 'web');
    assert.equal(await api('KickUser', { userId: 'mallory', reason: 'test' }), 200);
    await mallory.waitClosed();
    await bob.close();

    const wanted = new Map<string, string[]>();
    const want = (name: string, where: string): void => {
      if (!SYNTHETIC.has(name)) wanted.set(name, [...(wanted.get(name) ?? []), where]);
    };
    for (const a of alerts(loadRules())) for (const n of metricNames(a.expr)) want(n, `rule ${a.alert}`);
    for (const { panel, expr } of dashboardExprs(loadDashboard())) for (const n of metricNames(expr)) want(n, `panel ${panel}`);
    assert.ok(wanted.size >= 40, `${wanted.size} metric names found in the rules and the dashboard`);

    // counters that appear with their first event (a GC, a disconnect) may need a moment
    let problems: string[] = [];
    await eventually(
      async () => {
        const s = await scrape();
        problems = [...wanted].flatMap(([name, where]) => {
          const why = missing(name, s);
          return why === null ? [] : [`${why} (read by ${where.join(', ')})`];
        });
        return problems.length === 0;
      },
      10_000,
      'every metric to have a sample',
    ).catch((e: unknown) => {
      assert.deepEqual(problems, [], 'metrics read by the rules or the dashboard but missing from /metrics');
      throw e;
    });
  });

  test('a real Prometheus evaluates every rule without error, and every dashboard query returns series', async () => {
    const instance = `127.0.0.1:${gw.adminPort}`;
    // enough scrapes for a 30 s rate() window to have two points, and a rule evaluation after them
    await eventually(async () => Number((await promQuery(`count_over_time(up{instance="${instance}"}[30s])`))[0]?.value[1] ?? 0) >= 4, 30_000, 'four scrapes');
    assert.deepEqual(
      (await promQuery(`up{instance="${instance}"}`)).map((r) => r.value[1]),
      ['1'],
      'the gateway is scraped',
    );

    let bad: string[] = [];
    let loaded = 0;
    await eventually(
      async () => {
        const data = await promApi<{ groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> }>('/api/v1/rules');
        const rules = data.groups.flatMap((g) => g.rules);
        loaded = rules.length;
        bad = rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`);
        return loaded === alerts(loadRules()).length && bad.length === 0;
      },
      10_000,
      'every rule evaluated',
    ).catch((e: unknown) => {
      assert.deepEqual(bad, [], 'rules that Prometheus could not evaluate');
      assert.equal(loaded, alerts(loadRules()).length, 'rules loaded by Prometheus');
      throw e;
    });
    assert.deepEqual(await pendingOrFiring('ImaGatewayNotReady'), [], 'a healthy gateway is not "not ready"');
    assert.deepEqual(await pendingOrFiring('ImaRedisDown'), []);

    const empty: string[] = [];
    for (const { panel, expr } of dashboardExprs(loadDashboard())) {
      const q = expr.replace(/\$__rate_interval/g, '30s').replace(/\$job/g, 'ima-gateway').replace(/\$instance/g, instance);
      if ((await promQuery(q)).length === 0) empty.push(`panel ${panel}: ${q}`);
    }
    assert.deepEqual(empty, [], 'dashboard queries that return nothing from a real Prometheus');
  });

  test('ima_max_connections is the limit in force; ima_ready is /readyz, also while Redis is down', async () => {
    const started = gw.jsonLogs().find((l) => l['msg'] === 'ima gateway started');
    assert.ok(started, 'start log line');
    const effective = started['maxConnections'];
    assert.equal(typeof effective, 'number');
    assert.ok((effective as number) <= MAX_CONNECTIONS && (effective as number) > 0);
    let s = await scrape();
    assert.equal(s.samples.get('ima_max_connections'), effective);

    const readyz = async (): Promise<number> => (await httpGet(`${gw.adminUrl}/readyz`)).status;
    assert.equal(await readyz(), 200);
    assert.equal(s.samples.get('ima_ready'), 1);

    await redis.stop();
    await eventually(async () => (await readyz()) === 503, 15_000, '/readyz 503 with Redis down');
    s = await scrape();
    assert.equal(s.samples.get('ima_ready'), 0, 'ima_ready 0 while /readyz says 503');
    assert.equal(s.samples.get('ima_redis_up'), 0);
    assert.equal(await readyz(), 503, 'still 503 after the scrape');
    // Prometheus sees it too: the alerts are pending for this instance (their for: is minutes)
    const instance = `127.0.0.1:${gw.adminPort}`;
    await eventually(
      async () => (await pendingOrFiring('ImaRedisDown')).includes(`${instance} pending`) && (await pendingOrFiring('ImaGatewayNotReady')).includes(`${instance} pending`),
      15_000,
      'ImaRedisDown and ImaGatewayNotReady pending in Prometheus',
    );

    await redis.restart();
    await eventually(async () => (await readyz()) === 200, 15_000, '/readyz 200 with Redis back');
    s = await scrape();
    assert.equal(s.samples.get('ima_ready'), 1);
    assert.equal(s.samples.get('ima_redis_up'), 1);
  });
});

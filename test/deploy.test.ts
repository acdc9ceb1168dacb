/**
 * deploy/: the systemd unit, the Kubernetes manifests and the container image, each checked with
 * the real tool that runs here and against the gateway itself:
 *
 * - the unit passes `systemd-analyze verify` without a warning (and the same check does catch a
 *   broken copy), rates "OK" in `systemd-analyze security`, runs node directly and leaves the
 *   gateway's shutdown timeout room before SIGKILL;
 * - every manifest validates against the Kubernetes schemas of kubernetes-models; probe paths and
 *   ports, env names, the preStop / grace-period arithmetic and the label selectors agree with the
 *   gateway's configuration (read through its own loader);
 * - the Dockerfile's runtime stage, laid out file by file from its COPY lines with production
 *   dependencies only, started as the pod starts it (the image's ENV, the ConfigMap, the pod env),
 *   serves the probes on the ports the manifest names, accepts a client, and on SIGTERM closes it
 *   with 1001 and exits 0 within the shutdown timeout.
 *
 * The image build itself needs a container engine and the base image from a registry; see the
 * README ("Running in production").
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../internal/config/load';
import { isField, schema } from '../internal/config/schema';
import type { Config, Section } from '../internal/config/schema';
import { TEST_JWT_SECRET, jwtFor } from './integration/helpers';
import { httpGet } from './support/admin';
import { repoRoot } from './support/gateway-process';
import { freePorts } from './support/ports';
import { startRedis, type TestRedis } from './support/redis';
import { spawnSupervised } from './support/supervised-child';
import { TestWsClient } from './support/ws-client';

const ROOT = repoRoot();
const DEPLOY = path.join(ROOT, 'deploy');
/** The build this test belongs to (dist/ in CI): what the image's build stage produces as dist/. */
const DIST = path.resolve(__dirname, '..');

// ---------------------------------------------------------------------------------------------
// The gateway's configuration: env names and effective values, through its own schema and loader.

/** Variables the loader reads besides the schema's keys (internal/config/load.ts). */
const LOADER_ENV = ['APP_ENV', 'IMA_CONFIG_DIR'] as const;
/** Variables of the Node.js runtime a manifest may set (not gateway configuration). */
const RUNTIME_ENV = ['NODE_OPTIONS', 'NODE_ENV'] as const;

function schemaEnvNames(section: Section = schema): string[] {
  const out: string[] = [];
  for (const node of Object.values(section)) {
    if (isField(node)) {
      if (node.env !== undefined) out.push(node.env);
    } else out.push(...schemaEnvNames(node));
  }
  return out;
}
const CONFIG_ENV = new Set<string>([...schemaEnvNames(), ...LOADER_ENV]);

/** The configuration the gateway would run with in `cwd` under `env` (throws on invalid config). */
function effectiveConfig(env: Record<string, string>, cwd = ROOT): { config: Config; appEnv: string } {
  const r = loadConfig({ env, cwd });
  assert.ok(r.ok, `the gateway refuses this environment: ${JSON.stringify(r.ok ? [] : r.error)}`);
  return { config: r.value.config, appEnv: r.value.appEnv };
}

/** Values standing in for what an operator puts in the Secret / env file. */
const SECRET_STAND_INS: Readonly<Record<string, string>> = {
  IMA_API_TOKEN: 'deploy-test-api-token',
  IMA_JWT_SECRET: TEST_JWT_SECRET,
  IMA_REDIS_URL: 'redis://127.0.0.1:6379/0',
};

function seconds(v: string, what: string): number {
  const m = /^(\d+)\s*(s|sec|min|m)?$/.exec(v.trim());
  assert.ok(m, `${what}: expected a time span like 45s, got ${JSON.stringify(v)}`);
  return Number(m[1]) * (m[2] === 'min' || m[2] === 'm' ? 60 : 1);
}

// ---------------------------------------------------------------------------------------------
// systemd

interface Unit {
  readonly text: string;
  /** section -> key -> values in order (a key may repeat). */
  readonly sections: Map<string, Map<string, string[]>>;
}

function parseUnit(text: string): Unit {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      current = new Map();
      sections.set(sec[1] ?? '', current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current !== undefined && eq > 0, `unit line outside a section or without '=': ${line}`);
    const key = line.slice(0, eq).trim();
    const list = current.get(key) ?? [];
    list.push(line.slice(eq + 1).trim());
    current.set(key, list);
  }
  return { text, sections };
}

function unitValue(u: Unit, section: string, key: string): string {
  const v = u.sections.get(section)?.get(key);
  assert.ok(v !== undefined && v.length > 0, `[${section}] ${key}= is set`);
  return v[v.length - 1] ?? '';
}

/** `Environment=A=1 B="two words"` lines as a map. */
function unitEnvironment(u: Unit): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of u.sections.get('Service')?.get('Environment') ?? []) {
    for (const m of line.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) env[m[1] ?? ''] = m[3] ?? m[2] ?? '';
  }
  return env;
}

/** Runs systemd-analyze; a machine without it fails the test with what to install. */
function systemdAnalyze(args: string[], cwd: string): { status: number | null; output: string } {
  const r = spawnSync('systemd-analyze', args, { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_COLORS: '0' } });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    assert.fail(
      code === 'ENOENT'
        ? 'systemd-analyze is not installed: the systemd unit cannot be checked (Debian: apt-get install systemd)'
        : `systemd-analyze ${args.join(' ')} could not run: ${r.error.message}`,
    );
  }
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const UNIT_PATH = path.join(DEPLOY, 'systemd', 'ima-gateway.service');
const UNIT_NAME = path.basename(UNIT_PATH);

/**
 * The shipped unit with its node binary replaced by this machine's node when that is elsewhere
 * (systemd-analyze verify checks that ExecStart's binary exists). Nothing else changes.
 */
function unitForThisMachine(text: string, dir: string, extra = ''): string {
  const exec = parseUnit(text).sections.get('Service')?.get('ExecStart')?.[0] ?? '';
  const binary = exec.split(/\s+/)[0] ?? '';
  let local = text;
  if (binary !== process.execPath && !fs.existsSync(binary)) {
    assert.equal(text.split(binary).length, 2, `${binary} appears once in the unit`);
    local = text.replace(binary, process.execPath);
  }
  if (extra !== '') local = local.replace('[Service]\n', `[Service]\n${extra}\n`);
  const file = path.join(dir, UNIT_NAME);
  fs.writeFileSync(file, local);
  return file;
}

describe('deploy/systemd/ima-gateway.service', () => {
  const text = fs.readFileSync(UNIT_PATH, 'utf8');
  const unit = parseUnit(text);
  let tmp = '';
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-deploy-unit-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('systemd-analyze verify accepts it without a single warning (and does flag a broken copy)', () => {
    const file = unitForThisMachine(text, tmp);
    const ok = systemdAnalyze(['verify', file], tmp);
    const aboutUnit = ok.output.split('\n').filter((l) => l.includes(UNIT_NAME) || l.includes(tmp));
    assert.equal(ok.status, 0, `systemd-analyze verify failed:\n${ok.output}`);
    assert.deepEqual(aboutUnit, [], `systemd-analyze verify warns about the unit:\n${ok.output}`);

    // The same check against a copy with a misspelt key: proves a warning would be seen.
    const broken = unitForThisMachine(text, tmp, 'TimeoutStopSecs=45s');
    const bad = systemdAnalyze(['verify', broken], tmp);
    assert.match(bad.output, new RegExp(`${UNIT_NAME}:\\d+: Unknown key .TimeoutStopSecs.`), `a misspelt key is reported:\n${bad.output}`);
  });

  test('systemd-analyze security rates its sandbox OK (exposure at most 2.0)', () => {
    const file = unitForThisMachine(text, tmp);
    const r = systemdAnalyze(['security', '--offline=yes', '--no-pager', file], tmp);
    const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.output);
    assert.ok(m, `no exposure level in:\n${r.output}`);
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} (above 2.0):\n${r.output}`);
  });

  test('runs node on dist/main.js directly, stops with SIGTERM and gives the shutdown timeout room', async () => {
    const workDir = unitValue(unit, 'Service', 'WorkingDirectory');
    const exec = unitValue(unit, 'Service', 'ExecStart').split(/\s+/);
    assert.match(exec[0] ?? '', /^\/\S*\/node$/, 'ExecStart runs node by absolute path (no npm, no shell)');
    assert.deepEqual(exec.slice(1), [path.posix.join(workDir, 'dist/main.js')]);
    assert.equal(unitValue(unit, 'Service', 'KillSignal'), 'SIGTERM');
    assert.ok(['mixed', 'control-group'].includes(unit.sections.get('Service')?.get('KillMode')?.[0] ?? 'control-group'), 'SIGTERM reaches node');
    assert.equal(unitValue(unit, 'Service', 'Restart'), 'on-failure');
    assert.match(unitValue(unit, 'Service', 'EnvironmentFile'), /^-\/etc\/ima-gateway\/env$/, 'optional env file for secrets');
    assert.notEqual(unitValue(unit, 'Service', 'User'), 'root');
    assert.ok(['simple', 'exec'].includes(unitValue(unit, 'Service', 'Type')), 'the gateway does not sd_notify');

    // The configuration it starts with: the unit's Environment= over the repository's config/
    // (WorkingDirectory holds the same files), with the secrets the prod profile requires.
    const env = { ...unitEnvironment(unit), ...SECRET_STAND_INS };
    for (const name of Object.keys(unitEnvironment(unit))) {
      assert.ok(CONFIG_ENV.has(name) || (RUNTIME_ENV as readonly string[]).includes(name), `Environment=${name} is a gateway or Node.js variable`);
    }
    const { config, appEnv } = effectiveConfig(env);
    assert.equal(appEnv, 'prod');
    const stopSec = seconds(unitValue(unit, 'Service', 'TimeoutStopSec'), 'TimeoutStopSec');
    assert.ok(stopSec > config.app.shutdownTimeoutSec, `TimeoutStopSec ${stopSec} s is above app.shutdownTimeoutSec ${config.app.shutdownTimeoutSec} s`);
    const nofile = Number(unitValue(unit, 'Service', 'LimitNOFILE'));
    assert.ok(nofile > config.websocket.maxConnections + config.admin.maxConnections, `LimitNOFILE ${nofile} leaves room for websocket.maxConnections ${config.websocket.maxConnections}`);

    // Hardening that matters, and what must stay off for V8's JIT.
    assert.equal(unitValue(unit, 'Service', 'NoNewPrivileges'), 'yes');
    assert.ok(['strict', 'full'].includes(unitValue(unit, 'Service', 'ProtectSystem')));
    assert.equal(unitValue(unit, 'Service', 'PrivateTmp'), 'yes');
    assert.notEqual(unit.sections.get('Service')?.get('MemoryDenyWriteExecute')?.[0], 'yes', 'MemoryDenyWriteExecute would kill node (JIT)');

    // RestartPreventExitStatus names the gateway's exit code for an invalid configuration.
    const prevent = unitValue(unit, 'Service', 'RestartPreventExitStatus').split(/\s+/);
    const bad = spawnSync(process.execPath, [path.join(DIST, 'main.js')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH ?? '', IMA_CONFIG_DIR: path.join(ROOT, 'config'), IMA_WS_PORT: 'eighty' },
    });
    assert.match(bad.stderr, /invalid configuration/);
    assert.ok(prevent.includes(String(bad.status)), `RestartPreventExitStatus ${prevent.join(' ')} includes the invalid-config exit ${bad.status}`);
  });
});

// ---------------------------------------------------------------------------------------------
// Kubernetes

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what} is an object`);
  return v as Obj;
}
function arr(v: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(v), `${what} is a list`);
  return v;
}
function str(v: unknown, what: string): string {
  assert.equal(typeof v, 'string', `${what} is a string`);
  return v as string;
}
function num(v: unknown, what: string): number {
  assert.equal(typeof v, 'number', `${what} is a number`);
  return v as number;
}

interface Manifest {
  readonly file: string;
  readonly doc: Obj;
}

const K8S_DIR = path.join(DEPLOY, 'kubernetes');

function readManifests(): Manifest[] {
  const files = fs
    .readdirSync(K8S_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  assert.ok(files.length > 0, `manifests in ${K8S_DIR}`);
  const out: Manifest[] = [];
  for (const f of files) {
    const text = fs.readFileSync(path.join(K8S_DIR, f), 'utf8');
    for (const d of parseAllDocuments(text)) {
      assert.deepEqual(d.errors, [], `${f}: YAML errors`);
      assert.deepEqual(d.warnings, [], `${f}: YAML warnings`);
      const value: unknown = d.toJS();
      if (value === null || value === undefined) continue; // an empty document (comments only)
      out.push({ file: f, doc: obj(value, `a document of ${f}`) });
    }
  }
  return out;
}

const requireModel = createRequire(__filename);

/** The kubernetes-models class of apiVersion/kind; fails for a kind it does not know. */
function modelClass(apiVersion: string, kind: string): { new (data: Obj): { validate(): void }; apiVersion: string; kind: string } {
  assert.match(apiVersion, /^([a-z0-9.-]+\/)?v\d+((alpha|beta)\d+)?$/, `apiVersion ${apiVersion}`);
  assert.match(kind, /^[A-Z][A-Za-z0-9]*$/, `kind ${kind}`);
  let mod: Record<string, unknown>;
  try {
    mod = requireModel(`kubernetes-models/${apiVersion}/${kind}`) as Record<string, unknown>;
  } catch (e) {
    assert.fail(`unknown kind ${apiVersion} ${kind}: kubernetes-models has no schema for it (${(e as Error).message.split('\n')[0]})`);
  }
  const cls = mod[kind] as { new (data: Obj): { validate(): void }; apiVersion: string; kind: string } | undefined;
  assert.ok(typeof cls === 'function', `kubernetes-models/${apiVersion}/${kind} exports ${kind}`);
  assert.equal(cls.apiVersion, apiVersion);
  assert.equal(cls.kind, kind);
  return cls;
}

function validateManifest(m: Manifest): void {
  const apiVersion = str(m.doc['apiVersion'], `${m.file}: apiVersion`);
  const kind = str(m.doc['kind'], `${m.file}: kind`);
  const Cls = modelClass(apiVersion, kind);
  try {
    new Cls(m.doc).validate();
  } catch (e) {
    assert.fail(`${m.file}: ${kind} ${String(obj(m.doc['metadata'], 'metadata')['name'])} does not validate: ${(e as Error).message}`);
  }
}

function one(ms: Manifest[], kind: string): Manifest {
  const found = ms.filter((m) => m.doc['kind'] === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0] as Manifest;
}

function matches(selector: Obj, labels: Obj): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The pieces of the Deployment the invariants need. */
interface Pod {
  readonly deployment: Obj;
  readonly spec: Obj;
  readonly labels: Obj;
  readonly container: Obj;
  /** port name -> containerPort */
  readonly ports: Map<string, number>;
}

function podOf(ms: Manifest[]): Pod {
  const deployment = one(ms, 'Deployment').doc;
  const dspec = obj(deployment['spec'], 'Deployment spec');
  const template = obj(dspec['template'], 'pod template');
  const labels = obj(obj(template['metadata'], 'pod metadata')['labels'], 'pod labels');
  const spec = obj(template['spec'], 'pod spec');
  const containers = arr(spec['containers'], 'containers');
  assert.equal(containers.length, 1, 'one container (the gateway)');
  const container = obj(containers[0], 'the container');
  const ports = new Map<string, number>();
  for (const p of arr(container['ports'], 'container ports')) {
    const po = obj(p, 'a container port');
    ports.set(str(po['name'], 'port name'), num(po['containerPort'], 'containerPort'));
  }
  return { deployment, spec, labels, container, ports };
}

/**
 * The container's environment as the kubelet builds it: the ConfigMaps of envFrom, then env (env
 * wins). fieldRefs get pod-like values, secretKeyRefs the stand-ins (an optional one without a
 * stand-in stays unset, like a missing optional key).
 */
function podEnv(ms: Manifest[], pod: Pod, secrets: Readonly<Record<string, string>>): { env: Record<string, string>; names: string[] } {
  const env: Record<string, string> = {};
  const names: string[] = [];
  for (const src of arr(pod.container['envFrom'] ?? [], 'envFrom')) {
    const ref = obj(obj(src, 'envFrom item')['configMapRef'], 'envFrom configMapRef (only ConfigMaps)');
    const cm = ms.find((m) => m.doc['kind'] === 'ConfigMap' && obj(m.doc['metadata'], 'metadata')['name'] === ref['name']);
    assert.ok(cm, `ConfigMap ${String(ref['name'])} of envFrom is in deploy/kubernetes`);
    for (const [k, v] of Object.entries(obj(cm.doc['data'], 'ConfigMap data'))) {
      env[k] = str(v, `ConfigMap ${k}`);
      names.push(k);
    }
  }
  for (const e of arr(pod.container['env'] ?? [], 'env')) {
    const eo = obj(e, 'env item');
    const name = str(eo['name'], 'env name');
    names.push(name);
    if (typeof eo['value'] === 'string') {
      env[name] = eo['value'];
      continue;
    }
    const from = obj(eo['valueFrom'], `env ${name} valueFrom`);
    if (from['fieldRef'] !== undefined) {
      const fieldPath = str(obj(from['fieldRef'], 'fieldRef')['fieldPath'], 'fieldPath');
      const values: Record<string, string> = { 'status.podIP': '127.0.0.1', 'metadata.name': 'ima-gateway-7d9f8c6b5-x2x4q', 'metadata.namespace': 'default' };
      assert.ok(fieldPath in values, `fieldRef ${fieldPath} of ${name} is one this test knows`);
      env[name] = values[fieldPath] ?? '';
    } else {
      const ref = obj(from['secretKeyRef'], `env ${name}: value, fieldRef or secretKeyRef`);
      const key = str(ref['key'], 'secret key');
      const v = secrets[key];
      if (v !== undefined) env[name] = v;
      else assert.equal(ref['optional'], true, `secret key ${key} without a stand-in is optional`);
    }
  }
  return { env, names };
}

/** `# IMA_X: ...` lines of a manifest: variables shown commented out for the operator to enable. */
function commentedEnvNames(file: string): string[] {
  const text = fs.readFileSync(path.join(K8S_DIR, file), 'utf8');
  return [...text.matchAll(/^\s*#\s*((?:IMA|APP)_[A-Z0-9_]+):/gm)].map((m) => m[1] ?? '');
}

function probePort(pod: Pod, probe: Obj, what: string): { path: string; port: number } {
  const get = obj(probe['httpGet'], `${what} httpGet`);
  const port = get['port'];
  const n = typeof port === 'number' ? port : pod.ports.get(str(port, `${what} port`));
  assert.ok(n !== undefined, `${what} port ${String(port)} is a container port`);
  return { path: str(get['path'], `${what} path`), port: n };
}

function preStopSeconds(pod: Pod): number {
  const preStop = obj(obj(pod.container['lifecycle'], 'lifecycle')['preStop'], 'preStop hook');
  if (preStop['sleep'] !== undefined) return num(obj(preStop['sleep'], 'preStop sleep')['seconds'], 'preStop sleep seconds');
  const cmd = arr(obj(preStop['exec'], 'preStop exec (or sleep)')['command'], 'preStop command').map((c) => str(c, 'preStop arg'));
  assert.equal(cmd[0], 'sleep', `preStop is a sleep: ${cmd.join(' ')}`);
  assert.equal(cmd.length, 2);
  return seconds(cmd[1] ?? '', 'preStop sleep');
}

function memoryBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(q);
  assert.ok(m, `memory quantity ${q}`);
  const unit: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9 };
  return Number(m[1]) * (m[2] === undefined ? 1 : (unit[m[2]] ?? 1));
}

describe('deploy/kubernetes', () => {
  const ms = readManifests();

  test('every document validates against the Kubernetes schemas (kubernetes-models)', () => {
    for (const m of ms) validateManifest(m);
    const kinds = ms.map((m) => m.doc['kind']);
    for (const k of ['Deployment', 'Service', 'PodDisruptionBudget', 'ConfigMap']) assert.ok(kinds.includes(k), `a ${k}`);
    // The validation is live: a wrongly typed field and an unknown kind are refused.
    const deployment = one(ms, 'Deployment');
    const broken = structuredClone(deployment.doc);
    obj(broken['spec'], 'spec')['replicas'] = 'two';
    assert.throws(() => validateManifest({ file: deployment.file, doc: broken }), /replicas must be integer/);
    assert.throws(() => validateManifest({ file: 'x.yaml', doc: { apiVersion: 'apps/v1', kind: 'Deploymnet' } }), /unknown kind apps\/v1 Deploymnet/);
  });

  test('the pod runs node dist/main.js as its main process, non-root, read-only, with resources', () => {
    const pod = podOf(ms);
    const dspec = obj(pod.deployment['spec'], 'Deployment spec');
    assert.ok(num(dspec['replicas'], 'replicas') >= 2, 'at least two replicas');
    const command = [...arr(pod.container['command'] ?? [], 'command'), ...arr(pod.container['args'] ?? [], 'args')];
    assert.deepEqual(command, ['node', 'dist/main.js'], 'node runs the gateway directly (no npm, no shell)');
    const podSec = obj(pod.spec['securityContext'], 'pod securityContext');
    const sec = obj(pod.container['securityContext'], 'container securityContext');
    assert.equal(podSec['runAsNonRoot'], true);
    assert.notEqual(podSec['runAsUser'] ?? sec['runAsUser'], 0);
    assert.equal(sec['readOnlyRootFilesystem'], true);
    assert.equal(sec['allowPrivilegeEscalation'], false);
    const resources = obj(pod.container['resources'], 'resources');
    const requests = obj(resources['requests'], 'requests');
    assert.ok(requests['cpu'] !== undefined && requests['memory'] !== undefined, 'cpu and memory requests');
    const limit = memoryBytes(str(obj(resources['limits'], 'limits')['memory'], 'memory limit'));
    const { env } = podEnv(ms, pod, SECRET_STAND_INS);
    const heap = /--max-old-space-size=(\d+)/.exec(env['NODE_OPTIONS'] ?? '');
    if (heap) assert.ok(Number(heap[1]) * 1024 ** 2 < limit, 'the V8 heap limit is below the memory limit');
  });

  test('env names are the gateway\'s configuration variables (read from its schema)', () => {
    const pod = podOf(ms);
    const { names } = podEnv(ms, pod, SECRET_STAND_INS);
    for (const n of names) {
      assert.ok(CONFIG_ENV.has(n) || (RUNTIME_ENV as readonly string[]).includes(n), `${n} is a configuration variable of the gateway (internal/config/schema.ts) or of Node.js`);
    }
    for (const m of ms.filter((x) => x.doc['kind'] === 'ConfigMap')) {
      for (const n of [...Object.keys(obj(m.doc['data'], 'data')), ...commentedEnvNames(m.file)]) assert.ok(CONFIG_ENV.has(n), `${m.file}: ${n} is a configuration variable of the gateway`);
    }
    // The loader really reads the two names that are not schema keys.
    assert.equal(effectiveConfig({ APP_ENV: 'prod', ...SECRET_STAND_INS }).appEnv, 'prod');
    const r = loadConfig({ env: { IMA_CONFIG_DIR: path.join(os.tmpdir(), 'ima-no-such-dir') }, cwd: ROOT });
    assert.ok(!r.ok && r.error.some((i) => i.key === 'IMA_CONFIG_DIR'));
    // Secrets come from a Secret, never from the ConfigMap.
    for (const m of ms.filter((x) => x.doc['kind'] === 'ConfigMap')) {
      for (const n of Object.keys(obj(m.doc['data'], 'data'))) {
        assert.ok(!['IMA_API_TOKEN', 'IMA_JWT_SECRET', 'IMA_REDIS_URL', 'IMA_NACOS_PASSWORD'].includes(n), `${n} belongs in a Secret`);
      }
    }
  });

  test('ports and probes match the gateway\'s configuration: /readyz and /healthz on the admin port', () => {
    const pod = podOf(ms);
    const { config } = effectiveConfig(podEnv(ms, pod, SECRET_STAND_INS).env);
    assert.equal(pod.ports.get('ws'), config.websocket.port, 'containerPort ws = websocket.port');
    assert.equal(pod.ports.get('grpc'), config.server.port, 'containerPort grpc = server.port');
    assert.equal(pod.ports.get('admin'), config.admin.port, 'containerPort admin = admin.port (serves /healthz /readyz)');
    assert.deepEqual(probePort(pod, obj(pod.container['readinessProbe'], 'readinessProbe'), 'readinessProbe'), { path: '/readyz', port: config.admin.port });
    assert.deepEqual(probePort(pod, obj(pod.container['livenessProbe'], 'livenessProbe'), 'livenessProbe'), { path: '/healthz', port: config.admin.port });
    if (pod.container['startupProbe'] !== undefined) {
      assert.deepEqual(probePort(pod, obj(pod.container['startupProbe'], 'startupProbe'), 'startupProbe'), { path: '/healthz', port: config.admin.port });
    }
    // Every Service port leads to a container port, and selects the gateway pods.
    for (const m of ms.filter((x) => x.doc['kind'] === 'Service')) {
      const spec = obj(m.doc['spec'], 'Service spec');
      assert.ok(matches(obj(spec['selector'], 'Service selector'), pod.labels), `${m.file}: the Service selects the gateway pods`);
      for (const p of arr(spec['ports'], 'Service ports')) {
        const target = obj(p, 'Service port')['targetPort'];
        const ok = typeof target === 'number' ? [...pod.ports.values()].includes(target) : pod.ports.has(str(target, 'targetPort'));
        assert.ok(ok, `${m.file}: targetPort ${String(target)} is a container port`);
      }
    }
  });

  test('preStop covers the drain window; the grace period is above preStop + shutdown timeout', () => {
    const pod = podOf(ms);
    const { config, appEnv } = effectiveConfig(podEnv(ms, pod, SECRET_STAND_INS).env);
    assert.equal(appEnv, 'prod', 'the pods run the prod profile');
    const preStop = preStopSeconds(pod);
    const grace = num(pod.spec['terminationGracePeriodSeconds'], 'terminationGracePeriodSeconds');
    assert.ok(preStop >= config.app.drainWindowSec, `preStop sleep ${preStop} s covers app.drainWindowSec ${config.app.drainWindowSec} s`);
    assert.ok(
      grace > preStop + config.app.shutdownTimeoutSec,
      `terminationGracePeriodSeconds ${grace} > preStop ${preStop} + app.shutdownTimeoutSec ${config.app.shutdownTimeoutSec}`,
    );
  });

  test('the PodDisruptionBudget and the spread constraints select exactly the Deployment\'s pods', () => {
    const pod = podOf(ms);
    const dspec = obj(pod.deployment['spec'], 'Deployment spec');
    const selector = obj(obj(dspec['selector'], 'Deployment selector')['matchLabels'], 'matchLabels');
    assert.ok(matches(selector, pod.labels), 'the Deployment selector matches its pod labels');
    const pdb = obj(one(ms, 'PodDisruptionBudget').doc['spec'], 'PDB spec');
    const pdbSelector = obj(obj(pdb['selector'], 'PDB selector')['matchLabels'], 'PDB matchLabels');
    assert.deepEqual(pdbSelector, selector, 'the PDB selects what the Deployment selects');
    const replicas = num(dspec['replicas'], 'replicas');
    if (pdb['maxUnavailable'] !== undefined) assert.ok(num(pdb['maxUnavailable'], 'maxUnavailable') < replicas);
    else assert.ok(num(pdb['minAvailable'], 'minAvailable') < replicas, 'a drain can still move one pod');
    for (const c of arr(pod.spec['topologySpreadConstraints'] ?? [], 'topologySpreadConstraints')) {
      const ls = obj(obj(obj(c, 'constraint')['labelSelector'], 'labelSelector')['matchLabels'], 'matchLabels');
      assert.ok(matches(ls, pod.labels), 'the spread constraint counts the gateway pods');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly line: number;
}
interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i] ?? '';
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      line = line.slice(0, -1);
      i++;
      const next = lines[i] ?? '';
      if (!/^\s*#/.test(next)) line += ` ${next.trim()}`;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `Dockerfile line ${start}: ${line}`);
    const op = (m[1] ?? '').toUpperCase();
    const rest = (m[2] ?? '').trim();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      assert.ok(f, `FROM at line ${start}`);
      const image = (f[1] ?? '').replace(/\$\{?([A-Za-z_]+)\}?/g, (_, n: string) => args.get(n) ?? '');
      stages.push({ from: image, name: f[2], instructions: [] });
    } else if (stages.length === 0) {
      assert.equal(op, 'ARG', `only ARG before the first FROM (line ${start})`);
      const a = /^([A-Za-z_]+)(?:=(.*))?$/.exec(rest);
      if (a) args.set(a[1] ?? '', a[2] ?? '');
    } else {
      (stages[stages.length - 1] as Stage).instructions.push({ op, args: rest, line: start });
    }
  }
  return { args, stages };
}

function execForm(ins: Instruction, what: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(ins.args);
  } catch {
    assert.fail(`${what} (line ${ins.line}) is in exec form (a JSON array), got: ${ins.args}`);
  }
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `${what} is a JSON array of strings`);
  return v as string[];
}

function copyArgs(ins: Instruction): { from: string | undefined; sources: string[]; dest: string } {
  const words = ins.args.split(/\s+/);
  let from: string | undefined;
  const rest: string[] = [];
  for (const w of words) {
    const f = /^--from=(.+)$/.exec(w);
    if (f) from = f[1];
    else if (!w.startsWith('--')) rest.push(w);
  }
  assert.ok(rest.length >= 2, `COPY at line ${ins.line} has sources and a destination`);
  return { from, sources: rest.slice(0, -1), dest: rest[rest.length - 1] ?? '' };
}

function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of stage.instructions.filter((x) => x.op === 'ENV')) {
    for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S+)/g)) env[m[1] ?? ''] = m[3] ?? m[2] ?? '';
  }
  return env;
}

/** A .dockerignore as a predicate (patterns with * ** ?, ! exceptions, last match wins). */
function dockerIgnore(text: string): (p: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pat = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
      let re = '';
      for (let i = 0; i < pat.length; i++) {
        const c = pat[i] ?? '';
        if (c === '*' && pat[i + 1] === '*') {
          re += pat[i + 2] === '/' ? '(?:.*/)?' : '.*';
          i += pat[i + 2] === '/' ? 2 : 1;
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}$`) };
    });
  return (p: string) => {
    const parts = path.posix.normalize(p).split('/');
    let ignored = false;
    for (let n = 1; n <= parts.length; n++) {
      const prefix = parts.slice(0, n).join('/');
      for (const r of rules) if (r.re.test(prefix)) ignored = !r.negate;
      if (ignored) return true; // an excluded directory takes its contents along
    }
    return ignored;
  };
}

const DOCKERFILE = path.join(DEPLOY, 'Dockerfile');

describe('deploy/Dockerfile and .dockerignore (checked statically; no container engine here)', () => {
  const { stages } = parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8'));
  const runtime = stages[stages.length - 1] as Stage;
  const ignored = dockerIgnore(fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8'));

  test('node dist/main.js is PID 1 in exec form, as a non-root user, stopped with SIGTERM', () => {
    assert.ok(stages.length >= 2, 'multi-stage: build and runtime');
    const ops = (op: string): Instruction[] => runtime.instructions.filter((x) => x.op === op);
    const cmd = ops('CMD');
    assert.equal(cmd.length, 1, 'one CMD');
    const entry = ops('ENTRYPOINT').flatMap((e) => execForm(e, 'ENTRYPOINT'));
    const argv = [...entry, ...execForm(cmd[0] as Instruction, 'CMD')];
    const init = entry.length > 0 ? argv.findIndex((a) => a === 'node') : 0;
    if (entry.length > 0) assert.match(entry[0] ?? '', /(^|\/)(tini|dumb-init)$/, 'an ENTRYPOINT is only an init that forwards signals');
    assert.deepEqual(argv.slice(init), ['node', 'dist/main.js'], 'node runs dist/main.js directly');
    assert.ok(!argv.some((a) => /\bnpm\b/.test(a)), 'no npm between the runtime and node');
    const user = ops('USER');
    assert.ok(user.length > 0, 'a USER');
    assert.ok(!/^(root|0)(:|$)/.test(user[user.length - 1]?.args ?? ''), 'the USER is not root');
    assert.deepEqual(ops('STOPSIGNAL').map((x) => x.args), ['SIGTERM']);
    const exposed = ops('EXPOSE').flatMap((x) => x.args.split(/\s+/)).map((p) => Number(p.replace(/\/tcp$/, '')));
    const { config } = effectiveConfig({ ...envOf(runtime), ...SECRET_STAND_INS });
    for (const p of [config.websocket.port, config.server.port, config.admin.port]) assert.ok(exposed.includes(p), `EXPOSE ${p}`);
  });

  test('the node major of every stage satisfies package.json engines; production dependencies only at runtime', () => {
    const engines = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const min = Number(/(\d+)/.exec(engines)?.[1]);
    const majors = stages.map((s) => {
      const m = /^(?:docker\.io\/)?(?:library\/)?node:(\d+)/.exec(s.from);
      assert.ok(m, `stage FROM ${s.from} is an official node image with a major version tag`);
      return Number(m[1]);
    });
    assert.ok(majors.every((v) => v >= min), `node ${majors.join(', ')} satisfies engines ${engines}`);
    assert.equal(new Set(majors).size, 1, 'one node major in every stage (the native modules are built for it)');
    const run = (s: Stage): string => s.instructions.filter((x) => x.op === 'RUN').map((x) => x.args).join(' && ');
    const build = stages[0] as Stage;
    assert.match(run(build), /npm ci\b/, 'the build stage installs with npm ci');
    assert.match(run(build), /tsc -p \./, 'the build stage compiles with tsc');
    assert.match(run(runtime), /npm ci --omit=dev\b/, 'the runtime stage installs production dependencies only');
    const copied = runtime.instructions.filter((x) => x.op === 'COPY').map(copyArgs);
    assert.ok(!copied.some((c) => c.sources.some((s) => /node_modules/.test(s))), 'no node_modules copied into the runtime stage (dev dependencies would come along)');
  });

  test('the runtime stage copies every file the gateway reads at start; .dockerignore keeps them in the context', () => {
    const copied = runtime.instructions
      .filter((x) => x.op === 'COPY')
      .map(copyArgs)
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.sources.map((s) => path.posix.normalize(s).replace(/\/$/, '')));
    // Files read relative to the install directory (found in the repository, so a new one is noticed).
    const needed = ['config', 'api/im_gateway.proto', 'internal/observability/dashboard'];
    for (const dir of fs.readdirSync(path.join(ROOT, 'internal'))) {
      if (fs.existsSync(path.join(ROOT, 'internal', dir, 'lua'))) needed.push(`internal/${dir}/lua`);
    }
    for (const n of needed) assert.ok(copied.includes(n), `the runtime stage copies ${n}`);
    for (const c of copied) {
      assert.ok(fs.existsSync(path.join(ROOT, c)), `${c} exists`);
      assert.ok(!ignored(c), `.dockerignore leaves ${c} in the build context`);
    }
    // The build stage compiles the tree of tsconfig.json.
    const include = (JSON.parse(fs.readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] }).include;
    for (const p of [...include.map((i) => i.split('/')[0] ?? i), 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.client.json', 'pkg/client/ima-client.ts']) {
      assert.ok(!ignored(p), `.dockerignore leaves ${p} in the build context (tsc needs it)`);
    }
    for (const p of ['node_modules', 'dist', 'dist-x', '.git', 'internal/foo/node_modules']) assert.ok(ignored(p), `.dockerignore excludes ${p}`);
  });
});

// ---------------------------------------------------------------------------------------------
// The image's runtime stage, run as the pod runs it

/**
 * Lays out the runtime stage under a temp root: WORKDIR, COPY from the context (the repository)
 * and from the build stage (its WORKDIR = the repository after the build; dist/ = this build), and
 * `npm ci --omit=dev` as node_modules holding only the non-dev packages of package-lock.json
 * (links into the repository's node_modules). Any other RUN is refused: the emulation would not
 * know what it does.
 */
function layOutRuntime(stages: Stage[], rootDir: string): { workdir: string; env: Record<string, string>; cmd: string[]; healthcheck: string[] | undefined } {
  const runtime = stages[stages.length - 1] as Stage;
  const buildWorkdir = new Map<string, string>();
  for (const s of stages) {
    const w = s.instructions.filter((x) => x.op === 'WORKDIR').pop();
    if (s.name !== undefined && w !== undefined) buildWorkdir.set(s.name, w.args);
  }
  let workdir = '/';
  const at = (p: string): string => path.join(rootDir, path.posix.resolve(workdir, p));
  let cmd: string[] = [];
  let healthcheck: string[] | undefined;
  for (const ins of runtime.instructions) {
    switch (ins.op) {
      case 'WORKDIR':
        workdir = path.posix.resolve(workdir, ins.args);
        fs.mkdirSync(at('.'), { recursive: true });
        break;
      case 'COPY': {
        const c = copyArgs(ins);
        for (const src of c.sources) {
          let from: string;
          if (c.from === undefined) from = path.join(ROOT, src);
          else {
            const w = buildWorkdir.get(c.from);
            assert.ok(w !== undefined, `COPY --from=${c.from}: a named stage with a WORKDIR`);
            const rel = path.posix.relative(w, src);
            assert.ok(!rel.startsWith('..'), `COPY --from=${c.from} ${src} is under the stage's WORKDIR ${w}`);
            from = rel === 'dist' ? DIST : path.join(ROOT, rel);
          }
          assert.ok(fs.existsSync(from), `COPY source ${src} (${from}) exists`);
          const isDir = fs.statSync(from).isDirectory();
          const dest = c.dest.endsWith('/') && !isDir ? path.posix.join(c.dest, path.basename(src)) : c.dest;
          fs.mkdirSync(path.dirname(at(dest)), { recursive: true });
          fs.cpSync(from, at(dest), { recursive: true });
        }
        break;
      }
      case 'RUN':
        for (const step of ins.args.split('&&').map((s) => s.trim())) {
          if (/^npm ci --omit=dev\b/.test(step)) {
            const lock = JSON.parse(fs.readFileSync(at('package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
            for (const [key, meta] of Object.entries(lock.packages)) {
              const name = /^node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(key)?.[1];
              if (name === undefined || meta.dev === true) continue;
              const real = path.join(ROOT, 'node_modules', name);
              if (!fs.existsSync(real)) {
                assert.equal(meta.optional, true, `production package ${name} is installed in the repository`);
                continue;
              }
              fs.mkdirSync(path.dirname(at(`node_modules/${name}`)), { recursive: true });
              fs.symlinkSync(real, at(`node_modules/${name}`), 'dir');
            }
          } else assert.match(step, /^npm cache clean\b/, `a RUN step this emulation knows (line ${ins.line}): ${step}`);
        }
        break;
      case 'CMD':
        cmd = execForm(ins, 'CMD');
        break;
      case 'HEALTHCHECK': {
        const m = /\bCMD\s+(\[.*\])$/.exec(ins.args);
        assert.ok(m, 'HEALTHCHECK CMD in exec form');
        healthcheck = JSON.parse(m[1] ?? '[]') as string[];
        break;
      }
      default:
        break;
    }
  }
  return { workdir: at('.'), env: envOf(runtime), cmd, healthcheck };
}

describe('the image runtime stage with the Kubernetes pod environment', () => {
  let redis: TestRedis | undefined;
  let rootDir = '';
  before(async () => {
    redis = await startRedis();
    rootDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-deploy-image-'));
  });
  after(async () => {
    await redis?.stop();
    if (rootDir !== '') fs.rmSync(rootDir, { recursive: true, force: true });
  });

  test('serves the probes on the manifest\'s ports, accepts a client, drains it on SIGTERM and exits 0', async () => {
    assert.ok(redis);
    assert.ok(fs.existsSync(path.join(DIST, 'main.js')), `${DIST}/main.js: build first (npx tsc -p .)`);
    const image = layOutRuntime(parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8')).stages, rootDir);
    const ms = readManifests();
    const pod = podOf(ms);
    const command = arr(pod.container['command'] ?? image.cmd, 'command').map((c) => str(c, 'command word'));
    assert.equal(command[0], 'node');

    // The pod's environment (the Secret holds the test Redis), its three ports moved to free ones.
    const secrets = { ...SECRET_STAND_INS, IMA_REDIS_URL: redis.url };
    const { env: fromPod } = podEnv(ms, pod, secrets);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...image.env, ...fromPod };
    const { config } = effectiveConfig(env, image.workdir);
    const [ws, grpc, admin] = (await freePorts(3)) as [number, number, number];
    const moved = new Map<number, number>([
      [config.websocket.port, ws],
      [config.server.port, grpc],
      [config.admin.port, admin],
    ]);
    Object.assign(env, { IMA_WS_PORT: String(ws), IMA_GRPC_PORT: String(grpc), IMA_ADMIN_PORT: String(admin) });

    const gw = spawnSupervised('gateway (image layout)', process.execPath, command.slice(1), { cwd: image.workdir, env });
    try {
      const startedLine = await gw.waitForLine(/ima gateway started/, 30_000);
      const started = JSON.parse(startedLine) as { appEnv: string; presence: string; ports: Record<string, number> };
      assert.equal(started.appEnv, 'prod');
      assert.equal(started.presence, 'redis');
      assert.deepEqual(started.ports, { websocket: ws, grpc, admin });
      // The open-file limit is this machine's (ulimit -n), not the image's.
      const complaints = gw.logs.filter((l) => /"level":"(warn|error|fatal)"/.test(l) && !/open-file limit/.test(l));
      assert.deepEqual(complaints, [], 'the image layout starts without a warning (every file it reads is there)');

      for (const name of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        if (pod.container[name] === undefined) continue;
        const p = probePort(pod, obj(pod.container[name], name), name);
        const port = moved.get(p.port);
        assert.ok(port !== undefined, `${name} port ${p.port} is one of the gateway's ports`);
        const r = await httpGet(`http://127.0.0.1:${port}${p.path}`);
        assert.equal(r.status, 200, `${name} GET ${p.path} on the ${p.port} port: ${r.body}`);
      }
      const ready = (await httpGet(`http://127.0.0.1:${admin}/readyz`)).json as { status: string; checks: { redis: string } };
      assert.equal(ready.status, 'ready');
      assert.equal(ready.checks.redis, 'up');
      assert.equal((await httpGet(`http://127.0.0.1:${admin}/dashboard`)).status, 200, 'the dashboard files are in the image');

      if (image.healthcheck !== undefined) {
        assert.equal(image.healthcheck[0], 'node');
        const hc = spawnSync(process.execPath, image.healthcheck.slice(1), { cwd: image.workdir, env, timeout: 10_000 });
        assert.equal(hc.status, 0, `the image HEALTHCHECK passes: ${String(hc.stderr)}`);
      }

      // A client of the ws port (auth through the Redis Lua scripts), then the stop as Kubernetes does it.
      const client = await TestWsClient.connect(`ws://127.0.0.1:${ws}${config.websocket.path}?token=${jwtFor('deploy-user', { device: 'd1', platform: 'ios' })}&device_id=d1&platform=ios`);
      assert.equal((await client.next('auth'))['ok'], true);
      const stopAt = Date.now();
      gw.kill('SIGTERM');
      const [closed, exit] = await Promise.all([client.closed, gw.exited]);
      const tookMs = Date.now() - stopAt;
      assert.equal(closed.code, 1001);
      assert.deepEqual(exit, { code: 0, signal: null }, gw.tail());
      assert.ok(tookMs < config.app.shutdownTimeoutSec * 1000, `stopped in ${tookMs} ms, within app.shutdownTimeoutSec`);
    } finally {
      await gw.stop('SIGKILL', 5_000);
    }
  });
});

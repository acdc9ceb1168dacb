import { after, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Result } from '../../pkg/result';
import { CONFIG_FILES, DEV_JWT_SECRET, describeSchema, formatIssue, loadConfig, redactedConfig, resolveAuthProvider } from './load';
import type { ConfigIssue, LoadedConfig } from './load';
import type { Config } from './schema';

const tempDirs: string[] = [];
after(() => {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh temp directory (the cwd of a load) with these files, paths relative to it. */
function tempCwd(files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-config-test-'));
  tempDirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
  return dir;
}

type LoadResult = Result<LoadedConfig, readonly ConfigIssue[]>;

function load(env: Record<string, string> = {}, files: Record<string, string> = {}): { r: LoadResult; cwd: string } {
  const cwd = tempCwd(files);
  return { r: loadConfig({ env, cwd }), cwd };
}

function loaded(r: LoadResult): LoadedConfig {
  if (!r.ok) assert.fail(`expected a valid config, got issues:\n${r.error.map(formatIssue).join('\n')}`);
  return r.value;
}

function issuesOf(r: LoadResult): readonly ConfigIssue[] {
  if (r.ok) assert.fail('expected config issues, got a valid config');
  assert.ok(r.error.length > 0);
  return r.error;
}

/** The one issue for `key`, checking its source and message. */
function issueFor(r: LoadResult, key: string, source: string, message: RegExp): ConfigIssue {
  const all = issuesOf(r);
  const matching = all.filter((i) => i.key === key);
  assert.equal(matching.length, 1, `one issue for ${key}, got:\n${all.map(formatIssue).join('\n')}`);
  const i = matching[0] as ConfigIssue;
  assert.equal(i.source, source);
  assert.match(i.message, message);
  return i;
}

function valueAt(config: Config, key: string): unknown {
  let v: unknown = config;
  for (const part of key.split('.')) v = (v as Record<string, unknown>)[part];
  return v;
}

const cfg = (...parts: string[]): string => path.join('config', ...parts);

/** Environment variables of SPEC.md section 7 that map to one key each. */
const BINDING_ENV: ReadonlyArray<{ env: string; key: string; raw: string; value: unknown; default: unknown }> = [
  { env: 'IMA_INSTANCE_ID', key: 'app.instanceId', raw: 'gw-test-01', value: 'gw-test-01', default: '' },
  { env: 'IMA_WS_PORT', key: 'websocket.port', raw: '9080', value: 9080, default: 8080 },
  { env: 'IMA_GRPC_PORT', key: 'server.port', raw: '50061', value: 50061, default: 50051 },
  { env: 'IMA_ADMIN_PORT', key: 'admin.port', raw: '9081', value: 9081, default: 8081 },
  { env: 'IMA_AUTH_PROVIDER', key: 'auth.provider', raw: 'jwt', value: 'jwt', default: 'auto' },
  { env: 'IMA_JWT_SECRET', key: 'auth.jwt.secret', raw: 'a-real-secret', value: 'a-real-secret', default: '' },
  { env: 'IMA_MUC_ADDR', key: 'client.muc.address', raw: 'muc-1:50052,muc-2:50052', value: 'muc-1:50052,muc-2:50052', default: '' },
  { env: 'IMA_BUSINESS_ADDR', key: 'client.business.address', raw: 'biz:50053', value: 'biz:50053', default: '' },
  { env: 'IMA_PUSH_STREAM_ADDR', key: 'client.pushStream.address', raw: 'push.example.com:50054', value: 'push.example.com:50054', default: '' },
  { env: 'IMA_REDIS_URL', key: 'redis.url', raw: 'redis://:pw@127.0.0.1:6379/2', value: 'redis://:pw@127.0.0.1:6379/2', default: '' },
  { env: 'IMA_NACOS_ADDR', key: 'nacos.address', raw: 'nacos:8848', value: 'nacos:8848', default: '' },
  { env: 'IMA_KICK_POLICY', key: 'multiDevice.policy', raw: 'single_session', value: 'single_session', default: 'one_per_platform' },
  { env: 'IMA_TOKEN_CACHE_TTL_SEC', key: 'auth.cacheTtlSec', raw: '60', value: 60, default: 300 },
  { env: 'IMA_API_TOKEN', key: 'server.apiToken', raw: 'push-api-token', value: 'push-api-token', default: '' },
  { env: 'IMA_LOG_LEVEL', key: 'app.logLevel', raw: 'debug', value: 'debug', default: 'info' },
];

describe('loadConfig: sources and layering', () => {
  test('without a config directory: embedded defaults and a warning', () => {
    const { r, cwd } = load();
    const c = loaded(r);
    assert.equal(c.appEnv, 'dev');
    assert.equal(c.configDir, path.join(cwd, 'config'));
    assert.ok(c.warnings.some((w) => w.includes('no config directory') && w.includes(path.join(cwd, 'config'))), c.warnings.join('\n'));
    for (const row of describeSchema()) {
      assert.equal(c.sources.get(row.key), 'default', row.key);
      if (row.key === 'auth.jwt.secret') continue; // filled with the dev secret, checked below
      const v = valueAt(c.config, row.key);
      assert.equal(Array.isArray(v) ? (v as string[]).join(',') : String(v), row.default, row.key);
    }
  });

  test('the defaults of SPEC.md section 7 hold', () => {
    const c = loaded(load().r);
    for (const b of BINDING_ENV) {
      if (b.key === 'auth.jwt.secret') continue;
      assert.deepEqual(valueAt(c.config, b.key), b.default, b.key);
    }
    assert.equal(resolveAuthProvider(c.config), 'jwt');
    assert.equal(c.config.auth.jwt.secret, DEV_JWT_SECRET);
    // and the section 2 / 8 defaults that live in the same schema
    assert.equal(c.config.websocket.host, '0.0.0.0');
    assert.equal(c.config.websocket.path, '/ws');
    assert.equal(c.config.websocket.maxPayloadBytes, 512 * 1024);
    assert.equal(c.config.websocket.idleTimeoutSec, 60);
    assert.equal(c.config.websocket.maxBackpressureBytes, 1024 * 1024);
    assert.equal(c.config.websocket.rateLimit.perSecond, 100);
    assert.equal(c.config.websocket.rateLimit.burst, 200);
    assert.equal(c.config.multiDevice.maxConnectionsPerUser, 10);
    assert.equal(c.config.multiDevice.onConflict, 'kick_old');
    assert.equal(c.config.forward.timeoutMs, 5000);
  });

  test('IMA_CONFIG_DIR pointing at a missing directory is an issue naming IMA_CONFIG_DIR', () => {
    const { r, cwd } = load({ IMA_CONFIG_DIR: 'does-not-exist' });
    const i = issueFor(r, 'IMA_CONFIG_DIR', 'env IMA_CONFIG_DIR', /expected a directory/);
    assert.ok(i.message.includes(path.join(cwd, 'does-not-exist')));
  });

  test('IMA_CONFIG_DIR pointing at a file is an issue too', () => {
    const { r } = load({ IMA_CONFIG_DIR: 'a-file' }, { 'a-file': 'app:\n  name: x\n' });
    issueFor(r, 'IMA_CONFIG_DIR', 'env IMA_CONFIG_DIR', /expected a directory/);
  });

  test('IMA_CONFIG_DIR is resolved against cwd and its files are read', () => {
    const { r, cwd } = load({ IMA_CONFIG_DIR: 'etc/ima' }, { 'etc/ima/app.yml': 'app:\n  name: from-etc\n' });
    const c = loaded(r);
    assert.equal(c.configDir, path.join(cwd, 'etc', 'ima'));
    assert.equal(c.config.app.name, 'from-etc');
    assert.equal(c.sources.get('app.name'), path.join('etc', 'ima', 'app.yml'));
    assert.ok(!c.warnings.some((w) => w.includes('no config directory')));
  });

  test('an absolute IMA_CONFIG_DIR outside cwd: sources name the file by its path relative to cwd', () => {
    const elsewhere = tempCwd({ 'server.yml': 'server:\n  maxUsersPerCall: 7\n' });
    const { r, cwd } = load({ IMA_CONFIG_DIR: elsewhere });
    const c = loaded(r);
    assert.equal(c.config.server.maxUsersPerCall, 7);
    assert.equal(c.sources.get('server.maxUsersPerCall'), path.relative(cwd, path.join(elsewhere, 'server.yml')));
  });

  test('YAML values override the defaults; untouched keys stay default', () => {
    const { r } = load(
      {},
      {
        [cfg('websocket.yml')]: 'websocket:\n  port: 9000\n  rateLimit:\n    burst: 500\n',
        [cfg('app.yml')]: 'app:\n  logLevel: warn\nmultiDevice:\n  policy: one_per_class\n  onConflict: reject_new\n',
        [cfg('redis.yml')]: 'redis:\n  keyPrefix: "x:"\n  cluster: true\n',
        [cfg('client.yml')]: 'client:\n  business:\n    address: biz-1:50053,biz-2:50053\n',
        [cfg('server.yml')]: 'server:\n  port: 50052\nadmin:\n  port: 0\n',
      },
    );
    const c = loaded(r);
    assert.equal(c.config.websocket.port, 9000);
    assert.equal(c.config.websocket.rateLimit.burst, 500);
    assert.equal(c.config.websocket.rateLimit.perSecond, 100);
    assert.equal(c.config.app.logLevel, 'warn');
    assert.equal(c.config.multiDevice.policy, 'one_per_class');
    assert.equal(c.config.multiDevice.onConflict, 'reject_new');
    assert.equal(c.config.redis.keyPrefix, 'x:');
    assert.equal(c.config.redis.cluster, true);
    assert.equal(c.config.client.business.address, 'biz-1:50053,biz-2:50053');
    assert.equal(c.config.server.port, 50052);
    assert.equal(c.config.admin.port, 0);
    assert.equal(c.sources.get('websocket.port'), cfg('websocket.yml'));
    assert.equal(c.sources.get('websocket.rateLimit.burst'), cfg('websocket.yml'));
    assert.equal(c.sources.get('websocket.rateLimit.perSecond'), 'default');
    assert.equal(c.sources.get('multiDevice.policy'), cfg('app.yml'));
    assert.equal(c.sources.get('admin.port'), cfg('server.yml'));
    assert.equal(c.sources.get('app.name'), 'default');
  });

  test('a section may live in any of the files; later files win (app, websocket, server, client, redis)', () => {
    assert.deepEqual([...CONFIG_FILES], ['app.yml', 'websocket.yml', 'server.yml', 'client.yml', 'redis.yml']);
    const { r } = load(
      {},
      {
        [cfg('app.yml')]: 'app:\n  name: from-app\n',
        [cfg('redis.yml')]: 'app:\n  name: from-redis\n',
        [cfg('other.yml')]: 'app:\n  name: never-read\n',
      },
    );
    const c = loaded(r);
    assert.equal(c.config.app.name, 'from-redis');
    assert.equal(c.sources.get('app.name'), cfg('redis.yml'));
  });

  test('empty files, comment-only files and empty sections are fine', () => {
    const { r } = load(
      {},
      {
        [cfg('app.yml')]: '',
        [cfg('websocket.yml')]: '# nothing here\n',
        [cfg('server.yml')]: 'server:\nadmin:\n',
      },
    );
    const c = loaded(r);
    assert.equal(c.config.server.port, 50051);
  });

  test('string keys keep the text as written (numbers-looking values are not normalised)', () => {
    const { r } = load(
      {},
      {
        [cfg('server.yml')]: 'server:\n  version: 1.0\n  group: 007\n',
        [cfg('app.yml')]: 'app:\n  name: 2024\nauth:\n  jwt:\n    secret: 0012\n',
      },
    );
    const c = loaded(r);
    assert.equal(c.config.server.version, '1.0');
    assert.equal(c.config.server.group, '007');
    assert.equal(c.config.app.name, '2024');
    assert.equal(c.config.auth.jwt.secret, '0012');
  });

  test('the profile overlay <dir>/<APP_ENV>/ overrides the base files', () => {
    const { r } = load(
      { APP_ENV: 'staging', IMA_JWT_SECRET: 's' },
      {
        [cfg('app.yml')]: 'app:\n  logLevel: debug\n  drainWindowSec: 3\n',
        [cfg('staging', 'app.yml')]: 'app:\n  logLevel: warn\n',
        [cfg('staging', 'websocket.yml')]: 'websocket:\n  port: 7000\n',
        [cfg('prod', 'app.yml')]: 'app:\n  logLevel: error\n',
      },
    );
    const c = loaded(r);
    assert.equal(c.appEnv, 'staging');
    assert.equal(c.config.app.logLevel, 'warn');
    assert.equal(c.sources.get('app.logLevel'), cfg('staging', 'app.yml'));
    assert.equal(c.config.app.drainWindowSec, 3);
    assert.equal(c.sources.get('app.drainWindowSec'), cfg('app.yml'));
    assert.equal(c.config.websocket.port, 7000);
    assert.equal(c.sources.get('websocket.port'), cfg('staging', 'websocket.yml'));
  });

  test('the dev overlay is read by default (no APP_ENV)', () => {
    const { r } = load({}, { [cfg('app.yml')]: 'app:\n  drainWindowSec: 5\n', [cfg('dev', 'app.yml')]: 'app:\n  drainWindowSec: 1\n' });
    const c = loaded(r);
    assert.equal(c.config.app.drainWindowSec, 1);
    assert.equal(c.sources.get('app.drainWindowSec'), cfg('dev', 'app.yml'));
  });

  test('a missing overlay for a non-dev profile is a warning, for dev it is silent', () => {
    const staging = loaded(load({ APP_ENV: 'staging', IMA_JWT_SECRET: 's' }, { [cfg('app.yml')]: '' }).r);
    assert.ok(staging.warnings.some((w) => w.includes('no profile overlay')), staging.warnings.join('\n'));
    const dev = loaded(load({}, { [cfg('app.yml')]: '' }).r);
    assert.ok(!dev.warnings.some((w) => w.includes('no profile overlay')), dev.warnings.join('\n'));
  });

  test('environment variables override both the base files and the overlay', () => {
    const { r } = load(
      { APP_ENV: 'staging', IMA_JWT_SECRET: 's', IMA_LOG_LEVEL: 'error', IMA_WS_PORT: '6000' },
      {
        [cfg('app.yml')]: 'app:\n  logLevel: debug\n',
        [cfg('staging', 'app.yml')]: 'app:\n  logLevel: warn\n',
        [cfg('websocket.yml')]: 'websocket:\n  port: 9000\n',
      },
    );
    const c = loaded(r);
    assert.equal(c.config.app.logLevel, 'error');
    assert.equal(c.sources.get('app.logLevel'), 'env IMA_LOG_LEVEL');
    assert.equal(c.config.websocket.port, 6000);
    assert.equal(c.sources.get('websocket.port'), 'env IMA_WS_PORT');
  });

  test('every binding environment variable maps to its key', () => {
    for (const b of BINDING_ENV) {
      const c = loaded(load({ [b.env]: b.raw }).r);
      assert.deepEqual(valueAt(c.config, b.key), b.value, b.env);
      assert.equal(c.sources.get(b.key), `env ${b.env}`, b.env);
    }
  });

  test('all binding environment variables at once', () => {
    const env: Record<string, string> = {};
    for (const b of BINDING_ENV) env[b.env] = b.raw;
    env['IMA_AUTH_PROVIDER'] = 'muc';
    const c = loaded(load(env).r);
    for (const b of BINDING_ENV) {
      if (b.env === 'IMA_AUTH_PROVIDER') continue;
      assert.deepEqual(valueAt(c.config, b.key), b.value, b.env);
    }
    assert.equal(c.config.auth.provider, 'muc');
  });

  test('env values are trimmed for integers; an empty env string is not an integer', () => {
    assert.equal(loaded(load({ IMA_WS_PORT: ' 8088 ' }).r).config.websocket.port, 8088);
    issueFor(load({ IMA_WS_PORT: '' }).r, 'websocket.port', 'env IMA_WS_PORT', /expected an integer from 0 to 65535, got ""/);
  });

  test('unrelated environment variables are ignored', () => {
    const c = loaded(load({ PATH: '/bin', IMA_UNKNOWN: 'x', HOME: '/root' }).r);
    assert.equal(c.config.websocket.port, 8080);
  });
});

describe('loadConfig: bad values', () => {
  test('non-integer port from env', () => {
    for (const raw of ['eighty', '80.5', '1e3', '0x50', '--1']) {
      issueFor(load({ IMA_WS_PORT: raw }).r, 'websocket.port', 'env IMA_WS_PORT', new RegExp(`expected an integer from 0 to 65535, got ${JSON.stringify(raw).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }
  });

  test('port out of range from env', () => {
    issueFor(load({ IMA_GRPC_PORT: '70000' }).r, 'server.port', 'env IMA_GRPC_PORT', /expected an integer from 0 to 65535, got "70000"/);
    issueFor(load({ IMA_ADMIN_PORT: '-1' }).r, 'admin.port', 'env IMA_ADMIN_PORT', /expected an integer from 0 to 65535/);
    issueFor(load({ IMA_TOKEN_CACHE_TTL_SEC: '-5' }).r, 'auth.cacheTtlSec', 'env IMA_TOKEN_CACHE_TTL_SEC', /expected an integer from 0 to 86400/);
  });

  test('non-integer and out-of-range ports in a file name the file', () => {
    issueFor(load({}, { [cfg('websocket.yml')]: 'websocket:\n  port: abc\n' }).r, 'websocket.port', cfg('websocket.yml'), /expected an integer from 0 to 65535, got "abc"/);
    issueFor(load({}, { [cfg('websocket.yml')]: 'websocket:\n  port: 80.5\n' }).r, 'websocket.port', cfg('websocket.yml'), /expected an integer/);
    issueFor(load({}, { [cfg('server.yml')]: 'server:\n  port: 65536\n' }).r, 'server.port', cfg('server.yml'), /expected an integer from 0 to 65535, got 65536/);
    issueFor(load({}, { [cfg('server.yml')]: 'admin:\n  port: true\n' }).r, 'admin.port', cfg('server.yml'), /expected an integer/);
  });

  test('unknown enum values: policy, log level, auth provider, onConflict', () => {
    issueFor(load({ IMA_KICK_POLICY: 'two_per_user' }).r, 'multiDevice.policy', 'env IMA_KICK_POLICY', /expected one of allow_all, one_per_platform, one_per_class, pc_and_one_other, single_session, got "two_per_user"/);
    issueFor(load({ IMA_LOG_LEVEL: 'loud' }).r, 'app.logLevel', 'env IMA_LOG_LEVEL', /expected one of trace, debug, info, warn, error, fatal, silent, got "loud"/);
    issueFor(load({ IMA_LOG_LEVEL: 'INFO' }).r, 'app.logLevel', 'env IMA_LOG_LEVEL', /expected one of/);
    issueFor(load({ IMA_AUTH_PROVIDER: 'ldap' }).r, 'auth.provider', 'env IMA_AUTH_PROVIDER', /expected one of auto, muc, jwt/);
    issueFor(load({}, { [cfg('app.yml')]: 'multiDevice:\n  onConflict: kick_both\n' }).r, 'multiDevice.onConflict', cfg('app.yml'), /expected one of kick_old, reject_new, got "kick_both"/);
    issueFor(load({}, { [cfg('app.yml')]: 'multiDevice:\n  policy: 3\n' }).r, 'multiDevice.policy', cfg('app.yml'), /expected one of .*got 3/);
  });

  test('rooms, recovery and the pub/sub ingress: bad values name the key; the ingress needs redis.url', () => {
    issueFor(load({}, { [cfg('websocket.yml')]: 'rooms:\n  clientSubscribe: maybe\n' }).r, 'rooms.clientSubscribe', cfg('websocket.yml'), /expected one of auto, deny, business, allow, got "maybe"/);
    issueFor(load({}, { [cfg('websocket.yml')]: 'rooms:\n  maxPerConnection: 0\n' }).r, 'rooms.maxPerConnection', cfg('websocket.yml'), /expected an integer from 1 to 100000/);
    issueFor(load({}, { [cfg('app.yml')]: 'recovery:\n  historySize: 0\n' }).r, 'recovery.historySize', cfg('app.yml'), /expected an integer from 1 to 100000/);
    issueFor(load({}, { [cfg('app.yml')]: 'recovery:\n  historyTtlSec: 1\n' }).r, 'recovery.historyTtlSec', cfg('app.yml'), /expected an integer from 5 to 86400/);
    issueFor(load({}, { [cfg('app.yml')]: 'auth:\n  refreshNoticeSec: -1\n' }).r, 'auth.refreshNoticeSec', cfg('app.yml'), /expected an integer from 0 to 86400/);
    issueFor(load({}, { [cfg('redis.yml')]: 'redis:\n  pubsubIngress: true\n' }).r, 'redis.pubsubIngress', cfg('redis.yml'), /expected redis.url \(IMA_REDIS_URL\) to be set/);
    const fine = load({ IMA_REDIS_URL: 'redis://127.0.0.1:6390' }, { [cfg('redis.yml')]: 'redis:\n  pubsubIngress: true\n' }).r;
    assert.ok(fine.ok);
  });

  test('an unknown key in a file names the file, the key and the known keys', () => {
    const r = load({}, { [cfg('websocket.yml')]: 'websocket:\n  maxPayloadByte: 10\n' }).r;
    issueFor(r, 'websocket.maxPayloadByte', cfg('websocket.yml'), /unknown key \(expected one of: host, port, path, maxPayloadBytes/);
    issueFor(load({}, { [cfg('app.yml')]: 'bogus:\n  a: 1\n' }).r, 'bogus', cfg('app.yml'), /unknown key \(expected one of: app, websocket, auth/);
    issueFor(load({}, { [cfg('app.yml')]: 'app:\n  toString: x\n' }).r, 'app.toString', cfg('app.yml'), /unknown key/);
  });

  test('a scalar or a list where a section is expected', () => {
    issueFor(load({}, { [cfg('app.yml')]: 'multiDevice: single_session\n' }).r, 'multiDevice', cfg('app.yml'), /expected a section \(mapping\), got "single_session"/);
    issueFor(load({}, { [cfg('websocket.yml')]: 'websocket:\n  rateLimit: 5\n' }).r, 'websocket.rateLimit', cfg('websocket.yml'), /expected a section \(mapping\), got 5/);
    issueFor(load({}, { [cfg('redis.yml')]: 'redis:\n  - url\n' }).r, 'redis', cfg('redis.yml'), /expected a section \(mapping\), got a list/);
  });

  test('a mapping where a value is expected', () => {
    issueFor(load({}, { [cfg('websocket.yml')]: 'websocket:\n  port:\n    value: 1\n' }).r, 'websocket.port', cfg('websocket.yml'), /expected an integer.*got a mapping/);
  });

  test('a file whose root is not a mapping', () => {
    issueFor(load({}, { [cfg('app.yml')]: '- a\n- b\n' }).r, '(root)', cfg('app.yml'), /expected a mapping of sections/);
    issueFor(load({}, { [cfg('app.yml')]: 'just a string\n' }).r, '(root)', cfg('app.yml'), /expected a mapping/);
  });

  test('invalid YAML names the file', () => {
    const r = load({}, { [cfg('redis.yml')]: 'redis:\n  url: [unclosed\n' }).r;
    const all = issuesOf(r);
    assert.ok(all.length >= 1);
    for (const i of all) {
      assert.equal(i.source, cfg('redis.yml'));
      assert.equal(i.key, '(yaml)');
      assert.match(i.message, /^invalid YAML: /);
    }
    issuesOf(load({}, { [cfg('app.yml')]: 'app:\n\tname: x\n' }).r).forEach((i) => assert.equal(i.key, '(yaml)'));
  });

  test('duplicate keys are invalid YAML', () => {
    const r = load({}, { [cfg('app.yml')]: 'app:\n  name: a\n  name: b\n' }).r;
    const i = issueFor(r, '(yaml)', cfg('app.yml'), /invalid YAML: .*unique/i);
    assert.match(i.message, /line 3/);
    issueFor(load({}, { [cfg('app.yml')]: 'app:\n  name: a\napp:\n  logLevel: info\n' }).r, '(yaml)', cfg('app.yml'), /unique/i);
  });

  test('a bad APP_ENV', () => {
    for (const appEnv of ['Prod', '../etc', 'a b', '', 'x'.repeat(33), '-dev']) {
      issueFor(load({ APP_ENV: appEnv }).r, 'APP_ENV', 'env APP_ENV', /expected a profile name/);
    }
    loaded(load({ APP_ENV: 'qa_2-eu', IMA_JWT_SECRET: 's', IMA_API_TOKEN: 't' }).r);
  });

  test('a bad APP_ENV never reads a directory outside the config dir', () => {
    const { r } = load({ APP_ENV: '../outside' }, { [cfg('app.yml')]: '', 'outside/app.yml': 'app:\n  nope: 1\n' });
    const all = issuesOf(r);
    assert.deepEqual(
      all.map((i) => i.key),
      ['APP_ENV'],
    );
  });

  test('bad host:port addresses', () => {
    for (const raw of ['localhost', 'http://muc:50052', 'muc:port', 'muc:50052,', 'muc:50052;b:1', 'a b:1']) {
      issueFor(load({ IMA_MUC_ADDR: raw }).r, 'client.muc.address', 'env IMA_MUC_ADDR', /expected a string \(host:port\[,host:port\.\.\.\]\)/);
    }
    issueFor(load({ IMA_NACOS_ADDR: 'nacos' }).r, 'nacos.address', 'env IMA_NACOS_ADDR', /expected a string \(host:port\[,host:port\.\.\.\]\)/);
    issueFor(load({ IMA_NACOS_ADDR: 'n1:8848,' }).r, 'nacos.address', 'env IMA_NACOS_ADDR', /host:port/);
    loaded(load({ IMA_NACOS_ADDR: 'n1:8848,[fd00::2]:8848' }).r);
    // (an empty environment variable counts as unset; an empty value in YAML is checked below)
    for (const raw of ['my group', 'grp/1', 'x'.repeat(129)]) {
      issueFor(load({ IMA_NACOS_GROUP: raw }).r, 'nacos.group', 'env IMA_NACOS_GROUP', /1 to 128 characters of A-Z a-z 0-9 \. _ : -/);
      issueFor(load({ IMA_NACOS_NAMESPACE: raw }).r, 'nacos.namespace', 'env IMA_NACOS_NAMESPACE', /1 to 128 characters/);
    }
    const named = loaded(load({ IMA_NACOS_GROUP: 'IM_GROUP', IMA_NACOS_NAMESPACE: 'e2b3c1d0-prod' }).r).config.nacos;
    assert.deepEqual([named.group, named.namespace], ['IM_GROUP', 'e2b3c1d0-prod']);
    const yaml = load({ IMA_NACOS_ADDR: 'n:8848' }, { [cfg('app.yml')]: 'nacos:\n  group: ""\n  register: maybe\n  deregisterTimeoutMs: 5\n' }).r;
    issueFor(yaml, 'nacos.group', cfg('app.yml'), /1 to 128 characters/);
    issueFor(yaml, 'nacos.register', cfg('app.yml'), /true or false/);
    issueFor(yaml, 'nacos.deregisterTimeoutMs', cfg('app.yml'), /an integer from 100 to 60000/);
    issueFor(load({ IMA_BUSINESS_ADDR: 'biz' }).r, 'client.business.address', 'env IMA_BUSINESS_ADDR', /host:port/);
    issueFor(load({ IMA_PUSH_STREAM_ADDR: 'x:' }).r, 'client.pushStream.address', 'env IMA_PUSH_STREAM_ADDR', /host:port/);
    issueFor(load({}, { [cfg('client.yml')]: 'client:\n  muc:\n    address: nope\n' }).r, 'client.muc.address', cfg('client.yml'), /host:port/);
    // good ones, including an IPv6 literal for Nacos
    loaded(load({ IMA_MUC_ADDR: '10.0.0.1:50052,muc.internal:50052', IMA_NACOS_ADDR: '[::1]:8848' }).r);
  });

  test('a bad instance id', () => {
    issueFor(load({ IMA_INSTANCE_ID: 'has space' }).r, 'app.instanceId', 'env IMA_INSTANCE_ID', /1 to 64 characters/);
  });

  test('several issues are all reported at once, each with its own source', () => {
    const { r } = load(
      { IMA_WS_PORT: 'x', IMA_LOG_LEVEL: 'loud', IMA_KICK_POLICY: 'nope' },
      {
        [cfg('server.yml')]: 'server:\n  maxUsersPerCall: 0\n  unknownKey: 1\n',
        [cfg('websocket.yml')]: 'websocket:\n  idleTimeoutSec: forever\n',
        [cfg('redis.yml')]: 'redis: [',
        [cfg('dev', 'app.yml')]: 'app:\n  drainWindowSec: -1\n',
      },
    );
    const all = issuesOf(r);
    const got = all.map((i) => `${i.source} | ${i.key}`);
    const expected = [
      `env IMA_WS_PORT | websocket.port`,
      `env IMA_LOG_LEVEL | app.logLevel`,
      `env IMA_KICK_POLICY | multiDevice.policy`,
      `${cfg('server.yml')} | server.maxUsersPerCall`,
      `${cfg('server.yml')} | server.unknownKey`,
      `${cfg('websocket.yml')} | websocket.idleTimeoutSec`,
      `${cfg('redis.yml')} | (yaml)`,
      `${cfg('dev', 'app.yml')} | app.drainWindowSec`,
    ];
    for (const e of expected) assert.ok(got.includes(e), `missing ${e} in:\n${got.join('\n')}`);
    assert.match(formatIssue(all.find((i) => i.key === 'websocket.idleTimeoutSec') as ConfigIssue), new RegExp(`^${cfg('websocket.yml').replace('.', '\\.')}: websocket\\.idleTimeoutSec: expected an integer from 5 to 3600, got "forever"$`));
  });

  test('formatIssue is "source: key: message"', () => {
    assert.equal(formatIssue({ source: 'env IMA_WS_PORT', key: 'websocket.port', message: 'expected x' }), 'env IMA_WS_PORT: websocket.port: expected x');
  });
});

describe('loadConfig: auth provider and profiles', () => {
  test('auto resolves to jwt without an MUC address or Nacos', () => {
    const c = loaded(load().r);
    assert.equal(c.config.auth.provider, 'auto');
    assert.equal(resolveAuthProvider(c.config), 'jwt');
  });

  test('auto resolves to muc with IMA_MUC_ADDR', () => {
    const c = loaded(load({ IMA_MUC_ADDR: 'muc:50052' }).r);
    assert.equal(resolveAuthProvider(c.config), 'muc');
    assert.equal(c.config.auth.jwt.secret, '', 'no dev secret for muc');
    assert.ok(!c.warnings.some((w) => w.includes('dev secret')));
  });

  test('auto resolves to muc with IMA_NACOS_ADDR', () => {
    assert.equal(resolveAuthProvider(loaded(load({ IMA_NACOS_ADDR: 'nacos:8848' }).r).config), 'muc');
  });

  test('auto resolves to muc with an MUC address in a file', () => {
    assert.equal(resolveAuthProvider(loaded(load({}, { [cfg('client.yml')]: 'client:\n  muc:\n    address: muc:50052\n' }).r).config), 'muc');
  });

  test('explicit jwt wins over a configured MUC address', () => {
    assert.equal(resolveAuthProvider(loaded(load({ IMA_AUTH_PROVIDER: 'jwt', IMA_MUC_ADDR: 'muc:50052' }).r).config), 'jwt');
  });

  test('explicit muc without an address is an issue', () => {
    issueFor(load({ IMA_AUTH_PROVIDER: 'muc' }).r, 'auth.provider', 'env IMA_AUTH_PROVIDER', /expected client\.muc\.address \(IMA_MUC_ADDR\) or nacos\.address \(IMA_NACOS_ADDR\)/);
    issueFor(load({}, { [cfg('app.yml')]: 'auth:\n  provider: muc\n' }).r, 'auth.provider', cfg('app.yml'), /IMA_MUC_ADDR/);
    assert.equal(resolveAuthProvider(loaded(load({ IMA_AUTH_PROVIDER: 'muc', IMA_NACOS_ADDR: 'n:8848' }).r).config), 'muc');
  });

  test('dev profile: an empty JWT secret becomes the fixed dev secret, with a warning', () => {
    const c = loaded(load({ APP_ENV: 'dev' }).r);
    assert.equal(c.config.auth.jwt.secret, DEV_JWT_SECRET);
    assert.ok(c.warnings.some((w) => w.includes('auth.jwt.secret') && w.includes('dev')), c.warnings.join('\n'));
  });

  test('a configured JWT secret is kept, without the warning', () => {
    const c = loaded(load({ IMA_JWT_SECRET: 'mine' }).r);
    assert.equal(c.config.auth.jwt.secret, 'mine');
    assert.ok(!c.warnings.some((w) => w.includes('auth.jwt.secret')));
  });

  test('prod profile with jwt and no secret is an issue', () => {
    const r = load({ APP_ENV: 'prod', IMA_API_TOKEN: 'api' }).r;
    issueFor(r, 'auth.jwt.secret', 'default', /expected IMA_JWT_SECRET or auth\.jwt\.publicKeyFile/);
  });

  test('prod profile with a JWT secret and an API token loads, without the dev secret', () => {
    const c = loaded(load({ APP_ENV: 'prod', IMA_JWT_SECRET: 'prod-secret', IMA_API_TOKEN: 'api' }, { [cfg('prod', 'app.yml')]: 'app:\n  drainWindowSec: 10\n' }).r);
    assert.equal(c.appEnv, 'prod');
    assert.equal(c.config.auth.jwt.secret, 'prod-secret');
    assert.equal(c.config.app.drainWindowSec, 10);
    assert.ok(!c.warnings.some((w) => w.includes('dev secret')));
  });

  test('prod profile with muc needs no JWT secret', () => {
    const c = loaded(load({ APP_ENV: 'prod', IMA_MUC_ADDR: 'muc:50052', IMA_API_TOKEN: 'api' }).r);
    assert.equal(c.config.auth.jwt.secret, '');
  });

  test('prod profile refuses an open push API (no IMA_API_TOKEN)', () => {
    issueFor(load({ APP_ENV: 'prod', IMA_JWT_SECRET: 's' }).r, 'server.apiToken', 'default', /expected IMA_API_TOKEN/);
    // both prod issues at once
    const keys = issuesOf(load({ APP_ENV: 'prod' }).r).map((i) => i.key).sort();
    assert.deepEqual(keys, ['auth.jwt.secret', 'server.apiToken']);
  });

  test('a missing RS256 public key file is an issue', () => {
    issueFor(load({ IMA_JWT_PUBLIC_KEY_FILE: 'missing.pem' }).r, 'auth.jwt.publicKeyFile', 'env IMA_JWT_PUBLIC_KEY_FILE', /expected a readable PEM file/);
  });

  test('websocket TLS: both files or neither; each must exist', () => {
    const pems = tempCwd({ 'cert.pem': 'cert', 'key.pem': 'key' });
    const cert = path.join(pems, 'cert.pem');
    const key = path.join(pems, 'key.pem');
    const wsYml = (lines: string[]): Record<string, string> => ({ [cfg('websocket.yml')]: `websocket:\n${lines.map((l) => `  ${l}\n`).join('')}` });
    const source = cfg('websocket.yml');
    // neither (the default): plain ws://
    const plain = loaded(load().r).config.websocket;
    assert.deepEqual([plain.tlsCertFile, plain.tlsKeyFile], ['', '']);
    // both, existing: loads
    const both = loaded(load({}, wsYml([`tlsCertFile: ${cert}`, `tlsKeyFile: ${key}`])).r).config.websocket;
    assert.deepEqual([both.tlsCertFile, both.tlsKeyFile], [cert, key]);
    // a certificate without a key names the key (and the file where the certificate was set)
    let r = load({}, wsYml([`tlsCertFile: ${cert}`])).r;
    issueFor(r, 'websocket.tlsKeyFile', source, /expected both websocket\.tlsCertFile and websocket\.tlsKeyFile, or neither/);
    assert.deepEqual(issuesOf(r).map((i) => i.key), ['websocket.tlsKeyFile']);
    // a key without a certificate names the certificate
    r = load({}, wsYml([`tlsKeyFile: ${key}`])).r;
    issueFor(r, 'websocket.tlsCertFile', source, /websocket\.tlsKeyFile is set, websocket\.tlsCertFile is not/);
    // files that do not exist: one issue each
    const missing = path.join(pems, 'nope.pem');
    r = load({}, wsYml([`tlsCertFile: ${missing}`, `tlsKeyFile: ${key}`])).r;
    issueFor(r, 'websocket.tlsCertFile', source, /expected a readable PEM file, .*nope\.pem does not exist/);
    assert.equal(issuesOf(r).length, 1);
    r = load({}, wsYml([`tlsCertFile: ${cert}`, `tlsKeyFile: ${pems}`])).r; // a directory is not a file
    issueFor(r, 'websocket.tlsKeyFile', source, /expected a readable PEM file/);
    // independent of the gRPC TLS settings
    r = load({}, { ...wsYml([`tlsCertFile: ${cert}`, `tlsKeyFile: ${key}`]), [cfg('server.yml')]: `server:\n  tlsCertFile: ${cert}\n` }).r;
    assert.deepEqual(issuesOf(r).map((i) => i.key), ['server.tlsCertFile']);
  });
});

describe('redactedConfig', () => {
  test('masks secrets (apiToken, jwt secret, redis url) and leaves the rest', () => {
    const c = loaded(load({ IMA_API_TOKEN: 'api-token-value', IMA_JWT_SECRET: 'jwt-secret-value', IMA_REDIS_URL: 'redis://:pw@r:6379/0', IMA_WS_PORT: '9001' }).r).config;
    const red = redactedConfig(c) as Config;
    assert.equal(red.server.apiToken, '***');
    assert.equal(red.auth.jwt.secret, '***');
    assert.equal(red.redis.url, '***');
    assert.equal(red.websocket.port, 9001);
    assert.equal(red.redis.keyPrefix, 'ima:');
    assert.deepEqual(red.auth.jwt.algorithms, ['HS256', 'RS256']);
    assert.equal(red.multiDevice.policy, 'one_per_platform');
    const text = JSON.stringify(red);
    for (const s of ['api-token-value', 'jwt-secret-value', ':pw@']) assert.ok(!text.includes(s), s);
    // the input is untouched
    assert.equal(c.server.apiToken, 'api-token-value');
  });

  test('empty secrets stay empty (nothing to hide)', () => {
    const c = loaded(load({ IMA_MUC_ADDR: 'muc:1' }).r).config;
    const red = redactedConfig(c) as Config;
    assert.equal(red.server.apiToken, '');
    assert.equal(red.redis.url, '');
    assert.equal(red.auth.jwt.secret, '');
  });

  test('the redacted config has the same shape as the config', () => {
    const c = loaded(load().r).config;
    const keysOf = (o: unknown, prefix = ''): string[] =>
      Object.entries(o as Record<string, unknown>).flatMap(([k, v]) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? keysOf(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
    assert.deepEqual(keysOf(redactedConfig(c)), keysOf(c));
  });
});

describe('describeSchema', () => {
  test('lists every binding environment variable with its key', () => {
    const rows = describeSchema();
    for (const b of BINDING_ENV) {
      const row = rows.find((x) => x.env === b.env);
      assert.ok(row !== undefined, `${b.env} missing`);
      assert.equal(row.key, b.key, b.env);
    }
  });

  test('every row has a key, a type, a default and a doc; keys are unique; env names are unique', () => {
    const rows = describeSchema();
    assert.ok(rows.length > 40);
    const keys = new Set<string>();
    const envs = new Set<string>();
    for (const row of rows) {
      assert.match(row.key, /^[a-z][A-Za-z]*(\.[a-z][A-Za-z]*)+$/, row.key);
      assert.ok(row.type.length > 0, row.key);
      assert.ok(row.doc.length > 0, row.key);
      assert.equal(typeof row.default, 'string');
      assert.ok(!keys.has(row.key), row.key);
      keys.add(row.key);
      if (row.env !== '') {
        assert.match(row.env, /^IMA_[A-Z0-9_]+$/);
        assert.ok(!envs.has(row.env), row.env);
        envs.add(row.env);
      }
    }
    const port = rows.find((x) => x.key === 'websocket.port');
    assert.deepEqual(port && { type: port.type, default: port.default }, { type: 'an integer from 0 to 65535', default: '8080' });
  });
});

/**
 * Tracing: the `tracing.*` keys as the loader validates them, the endpoint and service name
 * precedence, what tracing off loads (nothing), and spans exported by the real SDK to a local
 * OTLP/HTTP receiver (parents, flags, status, sampling, resource).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { OtlpReceiver, SPAN_KIND } from '../../test/support/otlp-receiver';
import { formatIssue, loadConfig } from '../config/load';
import type { LoadedConfig } from '../config/load';
import { createLogger } from './logger';
import { DEFAULT_TRACES_ENDPOINT, parseTraceContext, recordGrpcStatus, startTracing, tracingSettings } from './tracing';
import type { TracingSettings } from './tracing';

const tempDirs: string[] = [];
after(() => {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

function load(env: Record<string, string>, files: Record<string, string> = {}): ReturnType<typeof loadConfig> {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-tracing-test-'));
  tempDirs.push(cwd);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(cwd, rel)), { recursive: true });
    fs.writeFileSync(path.join(cwd, rel), text);
  }
  return loadConfig({ env, cwd });
}

function valid(r: ReturnType<typeof loadConfig>): LoadedConfig {
  if (!r.ok) assert.fail(`expected a valid config, got:\n${r.error.map(formatIssue).join('\n')}`);
  return r.value;
}

function oneIssue(r: ReturnType<typeof loadConfig>, key: string, source: string, message: RegExp): void {
  assert.ok(!r.ok, 'expected config issues');
  const mine = r.error.filter((i) => i.key === key);
  assert.equal(mine.length, 1, r.error.map(formatIssue).join('\n'));
  assert.equal(mine[0]?.source, source);
  assert.match(mine[0]?.message ?? '', message);
}

describe('tracing configuration', () => {
  test('defaults: off, no endpoint (the OTEL_* variables or the local collector), every new trace sampled, service name from app.name', () => {
    const c = valid(load({})).config;
    assert.deepEqual(c.tracing, { enabled: false, endpoint: '', sampleRatio: '1', serviceName: '' });
  });

  test('IMA_TRACING_* set enabled, endpoint and sampleRatio; YAML sets them too (a YAML number is a ratio)', () => {
    const fromEnv = valid(load({ IMA_TRACING_ENABLED: 'true', IMA_TRACING_ENDPOINT: 'https://otel.example.com:4318/v1/traces', IMA_TRACING_SAMPLE_RATIO: '0.25' }));
    assert.deepEqual(fromEnv.config.tracing, { enabled: true, endpoint: 'https://otel.example.com:4318/v1/traces', sampleRatio: '0.25', serviceName: '' });
    assert.equal(fromEnv.sources.get('tracing.sampleRatio'), 'env IMA_TRACING_SAMPLE_RATIO');
    const fromYaml = valid(load({}, { 'config/app.yml': 'tracing:\n  enabled: true\n  sampleRatio: 0.5\n  serviceName: im-edge\n' }));
    assert.deepEqual(fromYaml.config.tracing, { enabled: true, endpoint: '', sampleRatio: '0.5', serviceName: 'im-edge' });
    for (const ok of ['0', '1', '0.001', '1.0', '.5']) assert.equal(valid(load({ IMA_TRACING_SAMPLE_RATIO: ok })).config.tracing.sampleRatio, ok);
  });

  test('wrong values are refused naming the variable or file and the key', () => {
    for (const bad of ['1.5', '-0.1', 'half', '', '0.5 ', '2']) {
      oneIssue(load({ IMA_TRACING_SAMPLE_RATIO: bad }), 'tracing.sampleRatio', 'env IMA_TRACING_SAMPLE_RATIO', /a number from 0 to 1/);
    }
    oneIssue(load({ IMA_TRACING_ENABLED: 'maybe' }), 'tracing.enabled', 'env IMA_TRACING_ENABLED', /true or false/);
    for (const bad of ['127.0.0.1:4318', 'ftp://collector/v1/traces', 'http:// spaced/v1/traces']) {
      oneIssue(load({ IMA_TRACING_ENDPOINT: bad }), 'tracing.endpoint', 'env IMA_TRACING_ENDPOINT', /http:\/\/ or https:\/\/ URL/);
    }
    oneIssue(load({}, { 'config/app.yml': 'tracing:\n  sampleRatio: 3\n' }), 'tracing.sampleRatio', path.join('config', 'app.yml'), /a number from 0 to 1, e\.g\. 0\.1\), got "3"/);
    oneIssue(load({}, { 'config/app.yml': 'tracing:\n  serviceName: two words\n' }), 'tracing.serviceName', path.join('config', 'app.yml'), /no spaces/);
    oneIssue(load({}, { 'config/app.yml': 'tracing:\n  exporter: zipkin\n' }), 'tracing.exporter', path.join('config', 'app.yml'), /unknown key \(expected one of: enabled, endpoint, sampleRatio, serviceName\)/);
  });
});

describe('tracingSettings', () => {
  const identity = { version: '9.9.9', instanceId: 'gw-1' };
  const base = valid(load({})).config;
  const on = (t: Partial<typeof base.tracing>): typeof base => ({ ...base, tracing: { ...base.tracing, enabled: true, ...t } });

  test('off: null, whatever the OTEL_* variables say', () => {
    assert.equal(tracingSettings(base, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }, identity), null);
  });

  test('endpoint: tracing.endpoint, then OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, then the local collector', () => {
    const env = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318/' };
    assert.equal(tracingSettings(on({ endpoint: 'http://ours:4318/v1/traces' }), env, identity)?.endpoint, 'http://ours:4318/v1/traces');
    assert.equal(tracingSettings(on({}), env, identity)?.endpoint, 'http://traces:4318/custom');
    assert.equal(tracingSettings(on({}), { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318/' }, identity)?.endpoint, 'http://base:4318/v1/traces');
    assert.equal(tracingSettings(on({}), { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '  ' }, identity)?.endpoint, DEFAULT_TRACES_ENDPOINT);
    assert.equal(DEFAULT_TRACES_ENDPOINT, 'http://127.0.0.1:4318/v1/traces');
  });

  test('service name: tracing.serviceName, then OTEL_SERVICE_NAME, then app.name; ratio as a number; version and instance on the resource', () => {
    assert.equal(tracingSettings(on({ serviceName: 'edge' }), { OTEL_SERVICE_NAME: 'otel-name' }, identity)?.serviceName, 'edge');
    assert.equal(tracingSettings(on({}), { OTEL_SERVICE_NAME: 'otel-name' }, identity)?.serviceName, 'otel-name');
    const s = tracingSettings(on({ sampleRatio: '0.125' }), {}, identity);
    assert.deepEqual(s, { endpoint: DEFAULT_TRACES_ENDPOINT, sampleRatio: 0.125, serviceName: 'ima-gateway', serviceVersion: '9.9.9', instanceId: 'gw-1' });
  });
});

describe('parseTraceContext', () => {
  test('valid W3C traceparents; invalid ones are undefined', () => {
    assert.deepEqual(parseTraceContext('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', sampled: true });
    assert.deepEqual(parseTraceContext(' 00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-00 '), { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', sampled: false });
    // a later version may add fields
    assert.equal(parseTraceContext('01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra')?.sampled, true);
    for (const bad of [
      '',
      'garbage',
      'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra',
      '00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01',
    ]) {
      assert.equal(parseTraceContext(bad), undefined, bad);
    }
  });
});

describe('tracing off loads nothing', () => {
  test('the app and every decorator load without @opentelemetry; tracingSettings says off; startTracing then loads the SDK (the check can fail)', () => {
    // a fresh process: this one has loaded the SDK for the other tests
    const here = __dirname;
    const script = `
      // @opentelemetry/api itself may be there: prom-client loads it (exemplars); the SDK must not be
      const otel = () => Object.keys(require.cache).filter((k) => k.includes('@opentelemetry/') && !k.includes('@opentelemetry/api/')).length;
      require(${JSON.stringify(path.join(here, '..', 'app', 'run.js'))});
      require(${JSON.stringify(path.join(here, '..', 'rpc', 'traced.js'))});
      require(${JSON.stringify(path.join(here, '..', 'cluster', 'traced.js'))});
      require(${JSON.stringify(path.join(here, '..', 'auth', 'muc.js'))});
      require(${JSON.stringify(path.join(here, '..', 'gateway', 'gateway.js'))});
      const t = require(${JSON.stringify(path.join(here, 'tracing.js'))});
      const { loadConfig } = require(${JSON.stringify(path.join(here, '..', 'config', 'load.js'))});
      const loaded = loadConfig({ env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9/v1/traces' }, cwd: ${JSON.stringify(os.tmpdir())} });
      const off = t.tracingSettings(loaded.value.config, process.env, { version: '0', instanceId: 'x' });
      const before = otel();
      const { createLogger } = require(${JSON.stringify(path.join(here, 'logger.js'))});
      t.startTracing({ endpoint: 'http://127.0.0.1:9/v1/traces', sampleRatio: 1, serviceName: 's', serviceVersion: '0', instanceId: 'x' }, createLogger('silent', 'x'))
        .then(async (tr) => {
          const afterStart = otel();
          await tr.shutdown(1000);
          process.stdout.write(JSON.stringify({ off, before, afterStart }));
        });
    `;
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT'];
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env })) as { off: unknown; before: number; afterStart: number };
    assert.equal(out.off, null);
    assert.equal(out.before, 0, 'no @opentelemetry SDK module loaded with tracing off');
    assert.ok(out.afterStart > 10, `the SDK loaded once started (${out.afterStart} modules)`);
  });
});

describe('spans through the real SDK to an OTLP/HTTP receiver', () => {
  const log = createLogger('silent', 'test');
  const settings = (receiver: OtlpReceiver, sampleRatio: number): TracingSettings => ({ endpoint: receiver.url, sampleRatio, serviceName: 'gw-test', serviceVersion: '1.2.3', instanceId: 'gw-unit' });

  test('a server span continues the caller, a client span is its child; traceparents name them; status and resource are exported', async () => {
    const receiver = await OtlpReceiver.start();
    try {
      const tracing = await startTracing(settings(receiver, 1), log);
      const caller = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const server = tracing.spans.start('im.gateway.v1.IMAGatewayService/PushToUser', 'server', caller, { 'rpc.system': 'grpc', 'user.id': 'u1' });
      const sp = parseTraceContext(server.traceparent);
      assert.equal(sp?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
      assert.notEqual(sp?.spanId, '00f067aa0ba902b7');
      assert.equal(sp?.sampled, true);
      const client = tracing.spans.start('im.gateway.v1.IMAGatewayService/PushToUsers', 'client', server.traceparent, { 'server.port': 50051 }, Date.now() - 5);
      recordGrpcStatus(client, 'client', 14, 'peer unavailable');
      client.end();
      recordGrpcStatus(server, 'server', 3, 'user_id: required'); // the caller's failure: not an error of this span
      server.end();
      const fresh = tracing.spans.start('root', 'server', 'not-a-traceparent', {});
      fresh.end();
      await tracing.shutdown(5_000);

      const got = receiver.trace('4bf92f3577b34da6a3ce929d0e0e4736');
      assert.equal(got.length, 2, JSON.stringify(receiver.spans));
      const s = got.find((x) => x.kind === SPAN_KIND.server);
      const c = got.find((x) => x.kind === SPAN_KIND.client);
      assert.ok(s && c);
      assert.equal(s.parentSpanId, '00f067aa0ba902b7');
      assert.equal(s.spanId, sp?.spanId);
      assert.equal(c.parentSpanId, s.spanId);
      assert.equal(c.spanId, parseTraceContext(client.traceparent)?.spanId);
      assert.deepEqual([s.attributes['rpc.grpc.status_code'], s.statusCode, s.attributes['user.id']], [3, 0, 'u1']);
      assert.deepEqual([c.attributes['rpc.grpc.status_code'], c.statusCode, c.statusMessage, c.attributes['server.port']], [14, 2, 'peer unavailable', 50051]);
      assert.deepEqual([s.resource['service.name'], s.resource['service.version'], s.resource['service.instance.id']], ['gw-test', '1.2.3', 'gw-unit']);
      const root = receiver.spans.find((x) => x.name === 'root');
      assert.ok(root && root.parentSpanId === '' && root.traceId !== '4bf92f3577b34da6a3ce929d0e0e4736');
      assert.ok(receiver.contentTypes.every((t) => t.startsWith('application/json')), receiver.contentTypes.join());
    } finally {
      await receiver.close();
    }
  });

  test('sampleRatio 0: new traces are not recorded and say so downstream (flags 00); a sampled caller is still followed', async () => {
    const receiver = await OtlpReceiver.start();
    try {
      const tracing = await startTracing(settings(receiver, 0), log);
      const root = tracing.spans.start('dropped', 'server', '', {});
      const child = tracing.spans.start('dropped-child', 'client', root.traceparent, {});
      assert.equal(parseTraceContext(child.traceparent)?.traceId, parseTraceContext(root.traceparent)?.traceId);
      assert.equal(parseTraceContext(root.traceparent)?.sampled, false);
      assert.equal(parseTraceContext(child.traceparent)?.sampled, false);
      child.end();
      root.end();
      const followed = tracing.spans.start('followed', 'server', '00-11111111111111111111111111111111-2222222222222222-01', {});
      followed.end();
      await tracing.shutdown(5_000);
      assert.deepEqual(
        receiver.spans.map((s) => s.name),
        ['followed'],
      );
    } finally {
      await receiver.close();
    }
  });

  test('a collector that is down: shutdown stays within its bound, the export failure is logged', async () => {
    const lines: string[] = [];
    let logged: () => void = () => undefined;
    const failureLogged = new Promise<void>((resolve) => (logged = resolve));
    const captured = createLogger('warn', 'test', {
      write: (l: string) => {
        lines.push(l);
        if (/tracing: spans not exported/.test(l)) logged();
      },
    });
    const receiver = await OtlpReceiver.start();
    const url = receiver.url;
    await receiver.close(); // nothing listens there now
    const tracing = await startTracing({ endpoint: url, sampleRatio: 1, serviceName: 's', serviceVersion: '0', instanceId: 'x' }, captured);
    tracing.spans.start('lost', 'server', '', {}).end();
    // the batch goes out after 2 s; the exporter retries a refused connection until its own
    // timeout (5 s), then the failure reaches the log
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([failureLogged.then(() => 'logged'), new Promise((r) => (timer = setTimeout(() => r('not logged'), 15_000)))]);
    clearTimeout(timer);
    assert.equal(outcome, 'logged', lines.join('\n'));
    tracing.spans.start('lost too', 'server', '', {}).end();
    const started = Date.now();
    await tracing.shutdown(1_000);
    assert.ok(Date.now() - started < 2_000, `shutdown took ${Date.now() - started} ms`);
  });
});

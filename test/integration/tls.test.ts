/**
 * TLS on both listeners, against real gateway processes and certificates made by openssl at test
 * time: wss:// through uWS SSLApp (trusted, untrusted, plain ws:// to the TLS port), gRPC over
 * TLS (trusted, plaintext, untrusted), gRPC mTLS (no client certificate, a foreign one, one
 * signed by the configured CA), and the config checks of websocket.tlsCertFile / tlsKeyFile.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { IMAGatewayServiceClient } from '../../api/gen/im/gateway/v1/IMAGatewayService';
import { loadProto } from '../../internal/rpc/proto';
import { runGatewayExpectingFailure, startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { TestWsClient } from '../support/ws-client';
import { TEST_JWT_SECRET, configDir, jwtFor } from './helpers';

type Client = IMAGatewayServiceClient & grpc.Client;

const OPENSSL = fs.existsSync('/usr/bin/openssl') ? '/usr/bin/openssl' : 'openssl';

/** The PEM files of one test run, made in a temp directory. */
interface Pems {
  readonly dir: string;
  /** Self-signed server certificate for localhost / 127.0.0.1 and its key. */
  readonly cert: string;
  readonly key: string;
  /** A small CA and a client certificate it signed (clientAuth), for mTLS. */
  readonly ca: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A file that exists but is no PEM. */
  readonly garbage: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makePems(): Pems {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ima-tls-'));
  const at = (f: string): string => path.join(dir, f);
  const days = ['-days', '1'];
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', ...days, '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  openssl(dir, [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', ...days, '-subj', '/CN=ima-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=ima-test-client']);
  fs.writeFileSync(at('client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  openssl(dir, ['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', ...days, '-extfile', 'client.ext']);
  fs.writeFileSync(at('garbage.pem'), 'this is not a PEM file\n');
  return { dir, cert: at('cert.pem'), key: at('key.pem'), ca: at('ca.pem'), clientCert: at('client.pem'), clientKey: at('client.key'), garbage: at('garbage.pem') };
}

function grpcClient(address: string, creds: grpc.ChannelCredentials): Client {
  return new (loadProto().grpcType.im.gateway.v1.IMAGatewayService)(address, creds) as Client;
}

/** One unary call as a promise of { res } or { err }. */
function call<Res>(c: Client, method: 'KickUser' | 'GetConnectionStatus', req: unknown, timeoutMs = 5_000): Promise<{ res?: Res; err?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const fn = (c as unknown as Record<string, (r: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Res) => void) => void>)[method];
    assert.ok(fn);
    fn.call(c, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) => resolve(e ? { err: e } : { res: r as Res }));
  });
}

const ENV = { IMA_JWT_SECRET: TEST_JWT_SECRET, IMA_AUTH_PROVIDER: 'jwt', IMA_KICK_POLICY: 'allow_all' };

let pems: Pems;
const cleanups: Array<() => void> = [];
const gateways: GatewayProcess[] = [];
const clients: grpc.Client[] = [];
const sockets: TestWsClient[] = [];
let seq = 0;

before(() => {
  pems = makePems();
});

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(sockets.map((s) => s.terminate()));
  await Promise.all(gateways.map((g) => g.stop()));
  for (const c of cleanups) c();
  if (pems !== undefined) fs.rmSync(pems.dir, { recursive: true, force: true });
});

async function start(files: Record<string, string>): Promise<GatewayProcess> {
  const c = configDir(files);
  cleanups.push(c.cleanup);
  const gw = await startGateway({ configDir: c.dir, env: ENV });
  gateways.push(gw);
  return gw;
}

function wssUrl(gw: GatewayProcess, user: string, device: string, scheme = 'wss'): string {
  const qs = new URLSearchParams({ token: jwtFor(user), device_id: device, platform: 'ios' }).toString();
  return `${scheme}://127.0.0.1:${gw.wsPort}/ws?${qs}`;
}

async function connect(url: string, opts: Parameters<typeof TestWsClient.connect>[1] = {}): Promise<TestWsClient> {
  const c = await TestWsClient.connect(url, { timeoutMs: 5_000, ...opts });
  sockets.push(c);
  return c;
}

function track<C extends grpc.Client>(c: C): C {
  clients.push(c);
  return c;
}

describe('TLS: wss:// and gRPC over TLS', () => {
  let gw: GatewayProcess;
  let ca: Buffer;

  before(async () => {
    ca = fs.readFileSync(pems.cert);
    gw = await start({
      'websocket.yml': `websocket:\n  tlsCertFile: ${pems.cert}\n  tlsKeyFile: ${pems.key}\n`,
      'server.yml': `server:\n  tlsCertFile: ${pems.cert}\n  tlsKeyFile: ${pems.key}\n`,
    });
  });

  test('the start log line says both listeners use TLS', () => {
    const started = gw.jsonLogs().find((l) => l['msg'] === 'ima gateway started');
    assert.ok(started, 'start line logged');
    assert.equal(started['wsTls'], true);
    assert.equal(started['grpcTls'], true);
  });

  test('a wss:// client trusting the certificate gets its auth frame and a pong', async () => {
    const user = `tls-${++seq}`;
    const c = await connect(wssUrl(gw, user, 'd1'), { ca });
    assert.equal(c.opened, true, `not opened: ${c.error?.message ?? ''}`);
    const auth = await c.next('auth');
    assert.equal(auth['ok'], true);
    assert.equal(auth['userId'], user);
    assert.equal(auth['deviceId'], 'd1');
    c.send({ type: 'ping' });
    const pong = await c.next('pong');
    assert.ok(typeof pong['ts'] === 'number');
    c.ping();
    await c.waitPong();
    assert.equal((await c.close(1000)).code, 1000);
  });

  test('a wss:// client that does not trust the certificate fails to connect', async () => {
    const c = await connect(wssUrl(gw, `tls-${++seq}`, 'd1'));
    assert.equal(c.opened, false);
    assert.match(c.error?.message ?? '', /self[- ]signed|certificate/i);
    assert.equal(c.frames.length, 0);
  });

  test('a plain ws:// connection to the TLS port fails', async () => {
    const c = await connect(wssUrl(gw, `tls-${++seq}`, 'd1', 'ws'));
    assert.equal(c.opened, false);
    assert.equal(c.upgradeStatus, undefined, 'no HTTP answer in plaintext');
    assert.equal(c.frames.length, 0);
  });

  test('gRPC with the certificate as CA: GetConnectionStatus and KickUser reach the wss:// client', async () => {
    const user = `tls-${++seq}`;
    const ws = await connect(wssUrl(gw, user, 'd1'), { ca });
    assert.equal((await ws.next('auth'))['ok'], true);
    const rpc = track(grpcClient(gw.grpcAddress, grpc.credentials.createSsl(ca)));
    const st = await call<{ statuses: Array<Record<string, unknown>> }>(rpc, 'GetConnectionStatus', { userIds: [user] });
    assert.equal(st.err, undefined, st.err?.message);
    assert.deepEqual(st.res?.statuses.map((s) => [s['userId'], s['deviceId'], s['online']]), [[user, 'd1', true]]);
    const k = await call<{ success: boolean; kicked: number }>(rpc, 'KickUser', { userId: user, reason: 'tls test' });
    assert.equal(k.err, undefined, k.err?.message);
    assert.deepEqual(k.res, { success: true, kicked: 1 });
    assert.deepEqual(await ws.next('kick'), { type: 'kick', code: 4002, reason: 'tls test' });
    assert.equal((await ws.waitClosed()).code, 4002);
  });

  test('a plaintext gRPC client gets UNAVAILABLE', async () => {
    const rpc = track(grpcClient(gw.grpcAddress, grpc.credentials.createInsecure()));
    const r = await call(rpc, 'GetConnectionStatus', { userIds: ['u'] });
    assert.equal(r.err?.code, grpc.status.UNAVAILABLE, `got ${r.err?.code} ${r.err?.message ?? 'a response'}`);
  });

  test('a TLS gRPC client that does not trust the certificate gets UNAVAILABLE', async () => {
    const rpc = track(grpcClient(gw.grpcAddress, grpc.credentials.createSsl()));
    const r = await call(rpc, 'GetConnectionStatus', { userIds: ['u'] });
    assert.equal(r.err?.code, grpc.status.UNAVAILABLE, `got ${r.err?.code} ${r.err?.message ?? 'a response'}`);
  });

  test('SIGTERM still shuts down cleanly (exit 0) with TLS listeners and a wss:// client', async () => {
    const c = await connect(wssUrl(gw, `tls-${++seq}`, 'd1'), { ca });
    assert.equal((await c.next('auth'))['ok'], true);
    const exit = await gw.stop();
    assert.equal(exit.code, 0, gw.logs.slice(-20).join('\n'));
    assert.equal((await c.waitClosed()).code, 1001);
  });
});

describe('TLS: gRPC mTLS (server.tlsRequireClientCert + tlsCaFile)', () => {
  let gw: GatewayProcess;
  let serverCa: Buffer;

  before(async () => {
    serverCa = fs.readFileSync(pems.cert);
    gw = await start({
      'server.yml': `server:\n  tlsCertFile: ${pems.cert}\n  tlsKeyFile: ${pems.key}\n  tlsCaFile: ${pems.ca}\n  tlsRequireClientCert: true\n`,
    });
  });

  test('the WebSocket port stays plain ws:// when only gRPC has TLS', async () => {
    const started = gw.jsonLogs().find((l) => l['msg'] === 'ima gateway started');
    assert.equal(started?.['wsTls'], false);
    assert.equal(started?.['grpcTls'], true);
    const c = await connect(gw.wsUrl({ token: jwtFor(`mtls-${++seq}`), device_id: 'd1', platform: 'web' }));
    assert.equal((await c.next('auth'))['ok'], true);
    await c.close();
  });

  test('a client without a client certificate fails', async () => {
    const rpc = track(grpcClient(gw.grpcAddress, grpc.credentials.createSsl(serverCa)));
    const r = await call(rpc, 'GetConnectionStatus', { userIds: ['u'] });
    assert.equal(r.err?.code, grpc.status.UNAVAILABLE, `got ${r.err?.code} ${r.err?.message ?? 'a response'}`);
  });

  test('a client certificate not signed by the configured CA fails', async () => {
    const rpc = track(grpcClient(gw.grpcAddress, grpc.credentials.createSsl(serverCa, fs.readFileSync(pems.key), fs.readFileSync(pems.cert))));
    const r = await call(rpc, 'GetConnectionStatus', { userIds: ['u'] });
    assert.equal(r.err?.code, grpc.status.UNAVAILABLE, `got ${r.err?.code} ${r.err?.message ?? 'a response'}`);
  });

  test('a client with a certificate signed by the CA succeeds', async () => {
    const rpc = track(grpcClient(gw.grpcAddress, grpc.credentials.createSsl(serverCa, fs.readFileSync(pems.clientKey), fs.readFileSync(pems.clientCert))));
    const r = await call<{ success: boolean; kicked: number }>(rpc, 'KickUser', { userId: `nobody-${++seq}` });
    assert.equal(r.err, undefined, r.err?.message);
    assert.deepEqual(r.res, { success: true, kicked: 0 });
  });
});

describe('TLS: configuration errors', () => {
  async function fails(files: Record<string, string>): Promise<{ code: number | null; output: string }> {
    const c = configDir(files);
    cleanups.push(c.cleanup);
    return runGatewayExpectingFailure({ configDir: c.dir, env: ENV });
  }

  test('websocket.tlsCertFile without a key: exit 2 naming websocket.tlsKeyFile', async () => {
    const r = await fails({ 'websocket.yml': `websocket:\n  tlsCertFile: ${pems.cert}\n` });
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /invalid configuration/);
    assert.match(r.output, /websocket\.yml: websocket\.tlsKeyFile: expected both websocket\.tlsCertFile and websocket\.tlsKeyFile, or neither/);
  });

  test('a websocket TLS file that does not exist: exit 2 naming the key and the path', async () => {
    const missing = path.join(pems.dir, 'missing.pem');
    const r = await fails({ 'websocket.yml': `websocket:\n  tlsCertFile: ${pems.cert}\n  tlsKeyFile: ${missing}\n` });
    assert.equal(r.code, 2, r.output);
    assert.ok(r.output.includes(`websocket.tlsKeyFile: expected a readable PEM file, ${missing} does not exist`), r.output);
  });

  test('server.tlsCertFile without a key: exit 2', async () => {
    const r = await fails({ 'server.yml': `server:\n  tlsCertFile: ${pems.cert}\n` });
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /server\.tlsCertFile: expected both server\.tlsCertFile and server\.tlsKeyFile/);
  });

  test('files that exist but do not hold a certificate and key: the gateway does not start, naming the files', async () => {
    const r = await fails({ 'websocket.yml': `websocket:\n  tlsCertFile: ${pems.garbage}\n  tlsKeyFile: ${pems.key}\n` });
    assert.equal(r.code, 1, r.output);
    assert.ok(r.output.includes(`cannot serve wss://: the certificate ${pems.garbage} and key ${pems.key}`), r.output);
  });
});

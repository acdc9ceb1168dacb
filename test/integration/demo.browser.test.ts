/**
 * The demo chat (`npm run demo`) in headless Chromium (playwright-core driving the system's
 * /usr/bin/chromium, as the dashboard test does): the real gateway (dist/main.js, IMA_DEMO=true)
 * and the real demo business service (dist/demo/business-service.js) on free ports, two pages
 * (alice and bob) on the page the gateway serves at /demo, with the SDK it serves at
 * /client/ima-client.js and tokens from the service's endpoint.
 *
 * 1. Both join `lobby`, see each other online, chat: each sees every message exactly once.
 * 2. bob's page goes offline for 5 s (its button: socket closed, reconnects refused) while alice
 *    sends two messages: bob's page reconnects, its log shows the room recovered with the missed
 *    pushes, and it shows every message once.
 * 3. The gateway is stopped (SIGTERM) while alice's message is in the business service (it holds
 *    each chat.send 600 ms here), bob sends one while the gateway is down, and the gateway is
 *    started again on the same ports: both pages reconnect to the new instance, report that the
 *    gateway could not recover (its history was in memory) and resync from the service, and show
 *    every message exactly once, in the same order. Screenshot of bob's page: docs/demo.png
 *    (rewritten on every run).
 * 4. KickUser (push API, admin HTTP) for bob: bob's page shows the kick (4002 and the reason),
 *    stays closed (no reconnect: the gateway has no connection of bob's seconds later), and
 *    alice's presence list drops bob.
 *
 * A second test runs the demo script itself (dist/scripts/demo.js, what `npm run demo` runs after
 * the build) on free ports: it serves the page, the SDK and tokens, a chat round trip works
 * through it (the SDK in Node), and SIGTERM stops both children and exits 0.
 *
 * Needs Chromium at /usr/bin/chromium (Debian: `apt-get install -y chromium`); without it the
 * test fails (it does not skip).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { assertChromium, launchChromium } from '../support/chromium';
import WebSocket from 'ws';
import { ImaClient } from '../../pkg/client/ima-client';
import type { Frame, WebSocketConstructor } from '../../pkg/client/ima-client';
import { httpGet, httpPostJson } from '../support/admin';
import { gatewayEntry, repoRoot } from '../support/gateway-process';
import { freePorts } from '../support/ports';
import { spawnSupervised, type SupervisedChild } from '../support/supervised-child';
import { TEST_JWT_SECRET, eventually } from './helpers';

const SCREENSHOT = path.join(repoRoot(), 'docs', 'demo.png');
const DIST = path.resolve(__dirname, '..', '..');
const SERVICE_ENTRY = path.join(DIST, 'demo', 'business-service.js');
const DEMO_SCRIPT = path.join(DIST, 'scripts', 'demo.js');
/** chat.send is held this long by the service, so that a restart can catch one in flight */
const HANDLE_DELAY_MS = 600;

interface Ports {
  ws: number;
  grpc: number;
  admin: number;
  demoGrpc: number;
  demoHttp: number;
}

const processes: SupervisedChild[] = [];
let browser: Browser | undefined;

after(async () => {
  await browser?.close().catch(() => undefined);
  for (const p of processes.reverse()) await p.stop('SIGTERM', 10_000);
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function baseEnv(p: Ports): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    IMA_JWT_SECRET: TEST_JWT_SECRET,
    IMA_AUTH_PROVIDER: 'jwt',
    IMA_CONFIG_DIR: path.join(repoRoot(), 'config'),
    IMA_WS_PORT: String(p.ws),
    IMA_GRPC_PORT: String(p.grpc),
    IMA_ADMIN_PORT: String(p.admin),
    IMA_LOG_LEVEL: 'debug',
  };
  delete env['NODE_TEST_CONTEXT'];
  return env;
}

async function startService(p: Ports): Promise<SupervisedChild> {
  const args = ['--grpc-port', String(p.demoGrpc), '--http-port', String(p.demoHttp), '--gateway', `127.0.0.1:${p.grpc}`, '--handle-delay-ms', String(HANDLE_DELAY_MS)];
  const sc = spawnSupervised('demo service', process.execPath, [SERVICE_ENTRY, ...args], { cwd: repoRoot(), env: baseEnv(p) });
  processes.push(sc);
  await sc.waitForLine(/^demo service ready/, 15_000);
  return sc;
}

/** The gateway on fixed ports (so that a restart comes back where the pages reconnect). */
async function startGatewayOn(p: Ports): Promise<SupervisedChild> {
  const env = { ...baseEnv(p), IMA_DEMO: 'true', IMA_BUSINESS_ADDR: `127.0.0.1:${p.demoGrpc}` };
  const sc = spawnSupervised('gateway', process.execPath, [gatewayEntry()], { cwd: repoRoot(), env });
  processes.push(sc);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (sc.exitInfo() !== undefined) throw new Error(`gateway exited before /healthz answered:\n${sc.tail()}`);
    if (Date.now() > deadline) throw new Error(`gateway /healthz not 200 within 20 s:\n${sc.tail()}`);
    const ok = await httpGet(`http://127.0.0.1:${p.admin}/healthz`, undefined, 1_000).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return sc;
    await sleep(50);
  }
}

/** What a page shows, read from its DOM (a string: this project compiles without lib "dom"). */
interface Shown {
  state: string;
  instance: string;
  messages: Array<{ id: string; from: string; text: string; pending: boolean }>;
  presence: string[];
  log: Array<{ kind: string; text: string }>;
  banner: string;
}
const READ_PAGE = `(() => ({
  state: document.body.dataset.state ?? '',
  instance: document.body.dataset.instance ?? '',
  messages: [...document.querySelectorAll('#messages li.msg')].map((li) => ({
    id: li.dataset.id ?? '',
    from: li.querySelector('.from')?.textContent ?? '',
    text: li.querySelector('.text')?.textContent ?? '',
    pending: li.classList.contains('pending'),
  })),
  presence: [...document.querySelectorAll('#presence li')].map((li) => li.dataset.user ?? ''),
  log: [...document.querySelectorAll('#log li')].map((li) => ({ kind: li.dataset.kind ?? '', text: li.textContent ?? '' })),
  banner: document.getElementById('banner').hidden ? '' : (document.getElementById('banner').textContent ?? ''),
}))()`;

async function shown(page: Page): Promise<Shown> {
  return (await page.evaluate(READ_PAGE)) as Shown;
}

/** Waits until what the page shows satisfies check; the failure names the last reading. */
async function until(page: Page, what: string, check: (s: Shown) => boolean, timeoutMs = 15_000): Promise<Shown> {
  let last: Shown | undefined;
  try {
    await eventually(
      async () => {
        last = await shown(page);
        return check(last);
      },
      timeoutMs,
      what,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; the page shows ${JSON.stringify(last, null, 1)}`, { cause: e });
  }
  return last!;
}

/** Each text shown exactly once (confirmed, not pending), and nothing else. */
function exactlyOnce(s: Shown, texts: readonly string[]): boolean {
  if (s.messages.length !== texts.length) return false;
  return texts.every((t) => s.messages.filter((m) => m.text === t && !m.pending).length === 1);
}

async function joinAs(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url, { waitUntil: 'load' });
  await page.fill('#name', name);
  await page.fill('#room', 'lobby');
  await page.click('#join-button');
  await until(page, `${name} connected`, (s) => s.state === 'connected' && s.presence.includes(name));
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.click('#send-button');
}

test('demo chat in headless Chromium: two pages chat, an outage recovers, a gateway restart mid-send resyncs, a kick stays closed; screenshot in docs/', async () => {
  assertChromium('demo');
  const [ws, grpc, admin, demoGrpc, demoHttp] = (await freePorts(5)) as [number, number, number, number, number];
  const ports: Ports = { ws, grpc, admin, demoGrpc, demoHttp };
  const service = await startService(ports);
  const gateway = await startGatewayOn(ports);

  // what the gateway serves
  const page0 = await httpGet(`http://127.0.0.1:${ws}/demo`);
  assert.equal(page0.status, 200);
  assert.match(String(page0.headers['content-type']), /^text\/html/);
  assert.match(page0.body, /\/demo\/demo\.js/);
  assert.equal((await httpGet(`http://127.0.0.1:${ws}/client/ima-client.js`)).status, 200);

  browser = await launchChromium();
  const problems: string[] = [];
  const pages: Page[] = [];
  for (const who of ['alice', 'bob']) {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.on('console', (m) => {
      // while the gateway is down or the page is "offline", connection attempts fail: expected
      if (m.type() === 'error' && !/WebSocket connection to .* failed/.test(m.text())) problems.push(`${who}: console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${who}: page error: ${e.message}`));
    page.on('requestfailed', (r) => {
      if (!r.url().startsWith('ws:')) problems.push(`${who}: request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
    });
    pages.push(page);
  }
  const [alice, bob] = pages as [Page, Page];
  const url = `http://127.0.0.1:${ws}/demo?tokenUrl=http://127.0.0.1:${demoHttp}/token`;

  // 1. join, presence, chat
  await joinAs(alice, url, 'alice');
  await joinAs(bob, url, 'bob');
  for (const p of pages) await until(p, 'both online', (s) => s.presence.join() === 'alice,bob');
  const texts: string[] = [];
  await say(alice, 'hello bob');
  texts.push('hello bob');
  await until(bob, 'alice’s first message on bob’s page', (s) => exactlyOnce(s, texts));
  await say(bob, 'hi alice, all good?');
  texts.push('hi alice, all good?');
  for (const p of pages) await until(p, 'both messages on both pages', (s) => exactlyOnce(s, texts));

  // 2. bob offline for 5 s; alice's messages meanwhile are recovered on bob's page
  await bob.click('#outage');
  await until(bob, 'bob offline', (s) => s.state !== 'connected');
  await until(alice, 'bob gone from alice’s list', (s) => s.presence.join() === 'alice');
  for (const t of ['bob, are you there?', 'I will wait']) {
    await say(alice, t);
    texts.push(t);
  }
  await until(alice, 'alice’s messages on her page', (s) => exactlyOnce(s, texts));
  const afterOutage = await until(bob, 'bob back with every message once', (s) => s.state === 'connected' && exactlyOnce(s, texts), 20_000);
  const recovered = afterOutage.log.filter((l) => l.kind === 'recovery' && /recovered room lobby: (\d+) missed/.test(l.text));
  assert.ok(recovered.length >= 1, `bob's log reports the room recovered: ${JSON.stringify(afterOutage.log)}`);
  assert.ok(Number(/recovered room lobby: (\d+) missed/.exec(recovered[0]!.text)?.[1]) >= 2, `at least alice's two messages replayed: ${recovered[0]!.text}`);
  for (const p of pages) await until(p, 'both online again', (s) => s.presence.join() === 'alice,bob');

  // 3. gateway restart while alice's message is in the business service
  const before = await shown(alice);
  const inFlight = 'sent while the gateway restarts';
  const fromLine = service.logs.length;
  await say(alice, inFlight);
  texts.push(inFlight);
  await service.waitForLine(/chat\.send received from alice\/.* "sent while the gateway restarts"/, 5_000, fromLine);
  await gateway.stop('SIGTERM', 20_000);
  assert.equal(gateway.exitInfo()?.code, 0, `gateway stopped cleanly:\n${gateway.tail(30)}`);
  await until(bob, 'bob disconnected', (s) => s.state !== 'connected');
  const whileDown = 'sent while the gateway is down';
  await say(bob, whileDown);
  texts.push(whileDown);
  await until(bob, 'bob’s message pending', (s) => s.messages.some((m) => m.text === whileDown && m.pending));
  await startGatewayOn(ports); // stopped by after()
  const done: Shown[] = [];
  for (const [i, p] of pages.entries()) {
    done.push(
      await until(
        p,
        `${i === 0 ? 'alice' : 'bob'} reconnected to the new instance with every message once`,
        (s) => s.state === 'connected' && s.instance !== before.instance && exactlyOnce(s, texts),
        30_000,
      ),
    );
  }
  const [aliceDone, bobDone] = done as [Shown, Shown];
  assert.deepEqual(
    aliceDone.messages.map((m) => m.id),
    bobDone.messages.map((m) => m.id),
    'the same messages in the same order on both pages',
  );
  assert.deepEqual(
    aliceDone.messages.map((m) => m.text),
    texts,
  );
  for (const s of done) {
    assert.ok(s.log.some((l) => l.kind === 'auth' && /a new instance: the gateway restarted/.test(l.text)), `log names the new instance: ${JSON.stringify(s.log)}`);
    assert.ok(s.log.some((l) => l.kind === 'recovery' && /not recoverable/.test(l.text)), `log reports the recovery: ${JSON.stringify(s.log)}`);
    assert.ok(s.log.some((l) => l.kind === 'sync' && /resynced lobby/.test(l.text)), `log reports the resync: ${JSON.stringify(s.log)}`);
  }
  for (const p of pages) await until(p, 'both online after the restart', (s) => s.presence.join() === 'alice,bob');
  // the service stored each message once
  const state = (await httpGet(`http://127.0.0.1:${demoHttp}/state`)).json as { rooms: Record<string, { messages: number }> };
  assert.equal(state.rooms['lobby']?.messages, texts.length, 'each message stored once');

  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await bob.screenshot({ path: SCREENSHOT }); // bob's page has both: the outage recovered, the restart resynced
  assert.ok(fs.statSync(SCREENSHOT).size > 10_000, 'screenshot written');

  // 4. kick bob: shown, closed, no reconnect
  const kick = await httpPostJson(`http://127.0.0.1:${admin}/im.gateway.v1.IMAGatewayService/KickUser`, { userId: 'bob', reason: 'kicked by the demo test' });
  assert.equal(kick.status, 200, kick.body);
  const kicked = await until(bob, 'bob kicked', (s) => s.state === 'closed' && s.log.some((l) => l.kind === 'kick'));
  const kickLine = kicked.log.find((l) => l.kind === 'kick')!.text;
  assert.match(kickLine, /kicked by the demo test/);
  assert.match(kickLine, /4002/);
  assert.match(kicked.banner, /kicked by the demo test/);
  await until(alice, 'bob gone from alice’s list after the kick', (s) => s.presence.join() === 'alice');
  await sleep(3_000);
  assert.equal((await shown(bob)).state, 'closed', 'bob does not reconnect');
  const status = await httpPostJson(`http://127.0.0.1:${admin}/im.gateway.v1.IMAGatewayService/GetConnectionStatus`, { userIds: ['bob'] });
  assert.deepEqual((status.json as { statuses: unknown[] }).statuses, [], 'no connection of bob at the gateway');
  assert.equal((await shown(alice)).state, 'connected');

  assert.deepEqual(problems, [], 'no console errors or failed requests');
});

test('the demo script (npm run demo) serves the page, the SDK and tokens, chats, and stops both children on SIGTERM with exit 0', async () => {
  const [ws, grpc, admin, demoGrpc, demoHttp] = (await freePorts(5)) as [number, number, number, number, number];
  const env: NodeJS.ProcessEnv = { ...baseEnv({ ws, grpc, admin, demoGrpc, demoHttp }), DEMO_GRPC_PORT: String(demoGrpc), DEMO_HTTP_PORT: String(demoHttp) };
  const demo = spawnSupervised('demo', process.execPath, [DEMO_SCRIPT], { cwd: repoRoot(), env });
  processes.push(demo);
  const urlLine = await demo.waitForLine(/open http:\/\/127\.0\.0\.1:\d+\/demo/, 30_000);
  assert.match(urlLine, new RegExp(`http://127\\.0\\.0\\.1:${ws}/demo\\?tokenUrl=http://127\\.0\\.0\\.1:${demoHttp}/token`));

  assert.equal((await httpGet(`http://127.0.0.1:${ws}/demo`)).status, 200);
  assert.equal((await httpGet(`http://127.0.0.1:${ws}/demo/demo.js`)).status, 200);
  assert.equal((await httpGet(`http://127.0.0.1:${ws}/client/ima-client.js`)).status, 200);
  const tok = await httpGet(`http://127.0.0.1:${demoHttp}/token?user=carol&device=node-1&platform=web`);
  assert.equal(tok.status, 200, tok.body);
  assert.equal(tok.headers['access-control-allow-origin'], '*');
  assert.equal((await httpGet(`http://127.0.0.1:${demoHttp}/token?user=&device=x&platform=web`)).status, 400);

  // a chat round trip through the gateway and the service, with the SDK in Node
  const pushes: Frame[] = [];
  const c = new ImaClient({
    url: `ws://127.0.0.1:${ws}/ws`,
    deviceId: 'node-1',
    platform: 'web',
    token: async () => ((await httpGet(`http://127.0.0.1:${demoHttp}/token?user=carol&device=node-1&platform=web`)).json as { token: string }).token,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  });
  c.on('push', (f) => pushes.push(f));
  try {
    await c.connect();
    await c.subscribe('lobby');
    const ack = await c.send('chat.send', { room: 'lobby', text: 'hello from node', cid: 'n-1' });
    assert.equal(ack.code, 0);
    await eventually(() => pushes.some((f) => f.type === 'chat.message'), 5_000, 'the chat.message push');
    const m = pushes.find((f) => f.type === 'chat.message')!;
    assert.equal(m['room'], 'lobby');
    assert.deepEqual(
      (({ from, text, room, cid }) => ({ from, text, room, cid }))(m['payload'] as Record<string, unknown>),
      { from: 'carol', text: 'hello from node', room: 'lobby', cid: 'n-1' },
    );
    await eventually(() => pushes.some((f) => f.type === 'chat.presence' && JSON.stringify(f['payload']).includes('carol')), 5_000, 'a presence push naming carol');
    const bad = await c.send('chat.send', { room: 'lobby', text: '' });
    assert.equal(bad.code, 4400);
  } finally {
    c.close();
  }

  // SIGTERM: both children stop, the script exits 0
  const pid = demo.child.pid!;
  const children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter((l) => l !== '').map(Number);
  assert.equal(children.length, 2, `two children: ${children.join(', ')}`);
  const exit = await demo.stop('SIGTERM', 30_000);
  assert.deepEqual(exit, { code: 0, signal: null }, demo.tail(40));
  for (const child of children) {
    assert.throws(() => process.kill(child, 0), /ESRCH/, `child ${child} is gone`);
  }
  assert.ok(demo.logs.some((l) => /\[gateway\] stopped/.test(l)), `the gateway stopped gracefully:\n${demo.tail(20)}`);
});

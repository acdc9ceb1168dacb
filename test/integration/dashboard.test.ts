/**
 * GET /dashboard on the admin port, loaded in headless Chromium (playwright-core driving the
 * system's /usr/bin/chromium) against a real gateway process with a real Redis, business service
 * and push stream, and real WebSocket clients: the page is served with a strict CSP and runs
 * without a console error, it polls /stats, and the numbers it shows equal a /stats document
 * fetched at the same time (connections, users, platform counts, message, push and kick counters,
 * header, upstream). Every section of the page has data and nothing is red in a healthy gateway;
 * then a full-page screenshot goes to docs/dashboard.png (regenerate it by running this test).
 *
 * Truthfulness: a message counts as forwarded only when the business service received it (the
 * service stopped: acks 2000, the count stays); a gateway without a business service shows no
 * business call, no error rate and nothing red, and forwards nothing.
 *
 * Needs Chromium at /usr/bin/chromium (Debian: `apt-get install -y chromium`); without it the
 * test fails (it does not skip).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { assertChromium, launchChromium } from '../support/chromium';
import type { StatsDocument } from '../../internal/observability/snapshot';
import { httpGet, httpRequest } from '../support/admin';
import { repoRoot, startGateway } from '../support/gateway-process';
import type { GatewayProcess } from '../support/gateway-process';
import { startRedis } from '../support/redis';
import type { TestRedis } from '../support/redis';
import { TestBusinessService, TestServerPushService } from '../support/test-services';
import { TestWsClient } from '../support/ws-client';
import { TEST_JWT_SECRET, eventually, jwtFor } from './helpers';

const SCREENSHOT = path.join(repoRoot(), 'docs', 'dashboard.png');

/** 7 connections of 4 users on two platforms: 4 android, 3 web. */
const LOGINS: Array<{ user: string; device: string; platform: string }> = [
  { user: 'alice', device: 'alice-phone', platform: 'android' },
  { user: 'alice', device: 'alice-browser', platform: 'web' },
  { user: 'bob', device: 'bob-phone', platform: 'android' },
  { user: 'bob', device: 'bob-tablet', platform: 'android' },
  { user: 'carol', device: 'carol-browser', platform: 'web' },
  { user: 'dave', device: 'dave-phone', platform: 'android' },
  { user: 'dave', device: 'dave-browser', platform: 'web' },
];

let biz: TestBusinessService | undefined;
let push: TestServerPushService | undefined;
let redis: TestRedis | undefined;
let gw: GatewayProcess | undefined;
let bare: GatewayProcess | undefined;
let browser: Browser | undefined;
const clients: TestWsClient[] = [];

after(async () => {
  await browser?.close().catch(() => undefined);
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await Promise.all([gw?.stop(), bare?.stop()]);
  await Promise.all([biz?.stop(), push?.stop(), redis?.stop()]);
});

async function theBrowser(): Promise<Browser> {
  browser ??= await launchChromium();
  return browser;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function stats(g: GatewayProcess): Promise<StatsDocument> {
  const r = await httpGet(`${g.adminUrl}/stats`);
  assert.equal(r.status, 200, `/stats: ${r.body}`);
  return r.json as StatsDocument;
}

/** One sample value of an unlabelled metric, or of the series whose label set contains `labels` (summed). */
async function metric(g: GatewayProcess, name: string, labels = ''): Promise<number | undefined> {
  const r = await httpGet(`${g.adminUrl}/metrics`);
  assert.equal(r.status, 200);
  let found: number | undefined;
  for (const line of r.body.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name || !(m[2] ?? '').includes(labels)) continue;
    found = (found ?? 0) + Number(m[3]);
  }
  return found;
}

async function login(g: GatewayProcess, user: string, device: string, platform: string): Promise<TestWsClient> {
  const c = await TestWsClient.connect(g.wsUrl({ token: jwtFor(user), device_id: device, platform }));
  clients.push(c);
  const auth = await c.next('auth');
  assert.equal(auth['ok'], true, `${device} admitted: ${JSON.stringify(auth)}`);
  return c;
}

async function pushApi(g: GatewayProcess, method: string, body: unknown): Promise<void> {
  const r = await httpRequest('POST', `${g.adminUrl}/im.gateway.v1.IMAGatewayService/${method}`, JSON.stringify(body), {
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(r.status, 200, `${method}: ${r.status} ${r.body}`);
}

/** What the page shows, as text, read from the DOM. */
interface Shown {
  polls: number;
  state: string;
  tiles: Record<string, string>;
  totals: Record<string, string>;
  platforms: Record<string, string>;
  header: Record<string, string>;
  upstream: Record<string, string[]>;
}

/** The little of the DOM the page-side functions below use (the project compiles without lib "dom"). */
interface DomElement {
  readonly id: string;
  readonly textContent: string | null;
  readonly dataset: Record<string, string | undefined>;
  readonly children: ArrayLike<DomElement>;
  readonly width: number;
  readonly height: number;
  querySelector(selector: string): DomElement | null;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
}
interface DomDocument {
  readonly body: DomElement;
  getElementById(id: string): DomElement | null;
  querySelectorAll(selector: string): ArrayLike<DomElement>;
}

function readShown(page: Page): Promise<Shown> {
  return page.evaluate(() => {
    const document = (globalThis as unknown as { document: DomDocument }).document;
    const text = (id: string): string => document.getElementById(id)?.textContent?.trim() ?? '';
    const tiles: Record<string, string> = {};
    for (const tile of Array.from(document.querySelectorAll('[data-stat]'))) {
      const name = tile.dataset.stat ?? '';
      tiles[name] = text(`stat-${name}`);
    }
    const totals: Record<string, string> = {};
    for (const name of ['messagesIn', 'messagesOut', 'pushes']) totals[name] = text(`stat-${name}-total`);
    const platforms: Record<string, string> = {};
    for (const row of Array.from(document.querySelectorAll('[data-platform]'))) {
      platforms[row.dataset.platform ?? ''] = row.querySelector('[data-count]')?.textContent?.trim() ?? '';
    }
    const upstream: Record<string, string[]> = {};
    for (const row of Array.from(document.querySelectorAll('tr[data-upstream]'))) {
      upstream[row.dataset.upstream ?? ''] = Array.from(row.children).map((td) => td.textContent?.trim() ?? '');
    }
    return {
      polls: Number(document.body.dataset.polls ?? '0'),
      state: document.body.dataset.state ?? '',
      tiles,
      totals,
      platforms,
      header: {
        instanceId: text('hdr-instance'),
        version: text('hdr-version'),
        serving: text('hdr-serving'),
        redis: text('hdr-redis'),
        breaker: text('hdr-breaker'),
      },
      upstream,
    };
  });
}

/** A number as the dashboard writes it (en-US grouping). */
const fmt = (n: number): string => new Intl.NumberFormat('en-US').format(n);
const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

/** The page's figures derived from a /stats document, in the page's formatting. */
function expected(s: StatsDocument): Omit<Shown, 'polls' | 'state' | 'tiles' | 'upstream'> & { tiles: Record<string, string>; upstreamCalls: Record<string, string> } {
  const platforms: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.platforms)) if (v > 0) platforms[k] = fmt(v);
  const upstreamCalls: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.upstream)) upstreamCalls[k] = fmt(v.calls);
  return {
    tiles: { connections: fmt(s.connections), users: fmt(s.users), kicks: fmt(s.kicks) },
    totals: { messagesIn: fmt(s.messages.in), messagesOut: fmt(s.messages.out), pushes: fmt(sum(s.pushes)) },
    platforms,
    header: {
      instanceId: s.instanceId,
      version: s.version,
      serving: s.draining ? 'draining' : 'serving',
      redis: s.redis.state,
      breaker: s.businessBreaker.replace('_', '-'),
    },
    upstreamCalls,
  };
}

function comparable(shown: Shown): ReturnType<typeof expected> {
  const upstreamCalls: Record<string, string> = {};
  for (const [k, cells] of Object.entries(shown.upstream)) upstreamCalls[k] = cells[1] ?? '';
  return {
    tiles: { connections: shown.tiles['connections'] ?? '', users: shown.tiles['users'] ?? '', kicks: shown.tiles['kicks'] ?? '' },
    totals: shown.totals,
    platforms: shown.platforms,
    header: shown.header,
    upstreamCalls,
  };
}

test('GET /dashboard in headless Chromium shows what /stats says, every section populated; screenshot in docs/', async () => {
  assertChromium('dashboard');

  [biz, push, redis] = await Promise.all([TestBusinessService.start(), TestServerPushService.start(), startRedis()]);
  gw = await startGateway({
    env: {
      IMA_JWT_SECRET: TEST_JWT_SECRET,
      IMA_KICK_POLICY: 'allow_all',
      IMA_BUSINESS_ADDR: biz.address,
      IMA_PUSH_STREAM_ADDR: push.address,
      IMA_REDIS_URL: redis.url,
      IMA_ADVERTISE_HOST: '127.0.0.1',
    },
  });
  const g = gw;
  await push.waitForStream();

  // the page itself: HTML, strict CSP, self-contained
  const raw = await httpGet(`${g.adminUrl}/dashboard`);
  assert.equal(raw.status, 200, `/dashboard: ${raw.status} ${raw.body.slice(0, 300)}`);
  assert.match(String(raw.headers['content-type']), /^text\/html/);
  const csp = String(raw.headers['content-security-policy'] ?? '');
  assert.match(csp, /default-src 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.doesNotMatch(raw.body, /<(script|link|img)[^>]+(src|href)=["']?(https?:)?\/\//i, 'no external resource');

  const page = await (await theBrowser()).newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  const foreign: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(g.adminUrl) && !r.url().startsWith('data:')) foreign.push(r.url());
  });

  const res = await page.goto(`${g.adminUrl}/dashboard`, { waitUntil: 'load' });
  assert.equal(res?.status(), 200);
  await page.waitForFunction(() => Number((globalThis as unknown as { document: DomDocument }).document.body.dataset['polls']) >= 1, undefined, { timeout: 10_000 });

  // Traffic while the page watches, so that the charts have a history: logins one after another,
  // pings and chats, push API calls, one kicked user.
  const sent = new Map<TestWsClient, { pings: number; chats: number }>();
  const ping = (c: TestWsClient): void => {
    c.send({ type: 'ping' });
    const n = sent.get(c) ?? { pings: 0, chats: 0 };
    sent.set(c, { ...n, pings: n.pings + 1 });
  };
  const chat = (c: TestWsClient, id: string): void => {
    c.send({ type: 'chat', id, payload: { text: 'hi' } });
    const n = sent.get(c) ?? { pings: 0, chats: 0 };
    sent.set(c, { ...n, chats: n.chats + 1 });
  };
  // 20 s of traffic in 250 ms ticks: a login every second until all 7 are in, pings from every
  // client, chats in a wave, push API calls, and an 8th connection that logs in and is kicked.
  const live: TestWsClient[] = [];
  let extra: TestWsClient | undefined;
  for (let tick = 1; tick <= 80; tick++) {
    const tickStart = Date.now();
    const next = LOGINS[live.length];
    if (tick % 4 === 1 && next !== undefined) live.push(await login(g, next.user, next.device, next.platform));
    if (tick === 30) await pushApi(g, 'JoinRoom', { room: 'lobby', userIds: ['alice', 'bob', 'carol'] });
    if (tick > 30 && tick % 10 === 5) await pushApi(g, 'PushToRoom', { room: 'lobby', message: { type: 'notice' } });
    if (tick === 48) extra = await login(g, 'mallory', 'mallory-browser', 'web');
    if (tick === 60) await pushApi(g, 'KickUser', { userId: 'mallory', reason: 'demo' });
    const wave = Math.max(0, Math.round(1.5 + 1.5 * Math.sin(tick / 5)));
    for (const [i, c] of live.entries()) {
      ping(c);
      if ((i + tick) % 2 === 0) for (let k = 0; k < wave; k++) chat(c, `m-${tick}-${i}-${k}`);
    }
    if (tick % (2 + ((tick >> 3) % 3)) === 0) await pushApi(g, 'PushToUser', { userId: LOGINS[tick % LOGINS.length]!.user, message: { type: 'notice', payload: Buffer.from('{"n":1}').toString('base64') } });
    if (tick % 12 === 0) await pushApi(g, 'Broadcast', { message: { type: 'announcement' } });
    await sleep(Math.max(0, 250 - (Date.now() - tickStart)));
  }
  assert.ok(extra);
  assert.equal((await extra.waitClosed(3000)).code, 4002, 'mallory kicked');
  // everything sent has been answered (a pong per ping, an ack per chat): the gateway is idle
  await eventually(
    () => live.every((c) => c.framesOfType('pong').length === sent.get(c)?.pings && c.framesOfType('ack').length === sent.get(c)?.chats),
    5000,
    'a pong for every ping and an ack for every chat',
  );
  await eventually(async () => (await stats(g)).messages.forwarded === biz!.messages.length, 5000, 'every chat forwarded');

  // The page polls once a second and the gateway is now idle: the shown numbers must settle on
  // exactly what /stats says. Compare a page reading with a /stats fetched right after it.
  let last: { shown: Shown; doc: StatsDocument } | undefined;
  await eventually(
    async () => {
      const shown = await readShown(page);
      const doc = await stats(g);
      last = { shown, doc };
      try {
        assert.deepEqual(comparable(shown), expected(doc));
        return true;
      } catch {
        return false;
      }
    },
    8_000,
    'the dashboard to show the /stats figures',
  ).catch((e: unknown) => {
    if (last) assert.deepEqual(comparable(last.shown), expected(last.doc), 'dashboard vs /stats');
    throw e;
  });
  assert.ok(last);
  const { shown, doc } = last;

  assert.equal(doc.connections, 7);
  assert.equal(shown.tiles['connections'], '7');
  assert.equal(doc.users, 4);
  assert.equal(shown.tiles['users'], '4');
  assert.deepEqual(doc.platforms, { android: 4, web: 3 });
  assert.deepEqual(shown.platforms, { android: '4', web: '3' });
  assert.equal(doc.kicks, 1);
  assert.equal(shown.tiles['kicks'], '1');
  assert.ok(doc.messages.in > 50, `messages in ${doc.messages.in}`);
  assert.ok(sum(doc.pushes) >= 10, `pushes ${JSON.stringify(doc.pushes)}`);
  assert.ok(doc.upstream['business.HandleMessage'] !== undefined, `upstream ${JSON.stringify(doc.upstream)}`);
  assert.equal(shown.state, 'live');
  assert.ok(shown.polls >= 8, `polls ${shown.polls}`);
  // the rate tiles show a number (the gateway is idle now: 0 or the tail of the last second)
  for (const name of ['messagesIn', 'messagesOut', 'pushes']) assert.match(shown.tiles[name] ?? '', /^[\d,.]+$/, `${name} rate shown`);

  // every section has data (nothing "waiting", "not configured" or empty) and nothing is red
  const sections = await readSections(page);
  assert.deepEqual(sections.placeholders, [], 'sections without data');
  assert.deepEqual(sections.bad, [], 'red figures in a healthy gateway');
  assert.equal(sections.pills['hdr-redis'], 'up');
  assert.equal(sections.pills['ps-state'], 'open');
  assert.match(sections.pills['se-state'] ?? '', /^(idle|queued)$/);
  assert.deepEqual(sections.instances, [doc.instanceId], 'the cluster table lists this instance');
  assert.ok(doc.rooms.rooms >= 1 && doc.rooms.pushes >= 1, `rooms ${JSON.stringify(doc.rooms)}`);
  assert.ok((doc.pushStream?.heartbeats ?? 0) >= 1, `push stream ${JSON.stringify(doc.pushStream)}`);

  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.ok(fs.statSync(SCREENSHOT).size > 10_000, 'screenshot written');

  // the charts drew their lines: some bright pixels (the series colours; grid and labels are dim)
  const painted = await page.evaluate(() =>
    ['chart-connections', 'chart-users', 'chart-messages', 'chart-pushes'].map((id) => {
      const c = (globalThis as unknown as { document: DomDocument }).document.getElementById(id);
      const data = c?.getContext('2d')?.getImageData(0, 0, c.width, c.height).data;
      let strong = 0;
      if (data) for (let i = 0; i < data.length; i += 4) if ((data[i + 3] ?? 0) > 200 && Math.max(data[i]!, data[i + 1]!, data[i + 2]!) > 150) strong++;
      return strong;
    }),
  );
  for (const n of painted) assert.ok(n > 60, `chart pixels ${JSON.stringify(painted)}`);

  assert.deepEqual(foreign, [], 'the page loads nothing from elsewhere');
  assert.deepEqual(problems, [], 'no console errors, CSP violations or failed requests');

  // Nothing receives them: with the business service gone, chats are acked 2000 and do not count
  // as forwarded (the upstream errors, and the red on the page, are real now).
  const forwardedBefore = (await stats(g)).messages.forwarded;
  assert.equal(forwardedBefore, biz.messages.length);
  await biz.stop();
  const alice = live[0]!;
  for (let i = 0; i < 8; i++) alice.send({ type: 'chat', id: `gone-${i}`, payload: { text: 'anyone?' } });
  for (let i = 0; i < 8; i++) {
    const ack = await alice.next((f) => f['type'] === 'ack' && f['id'] === `gone-${i}`, 10_000);
    assert.equal(ack['code'], 2000, `ack of gone-${i}: ${JSON.stringify(ack)}`);
  }
  const later = await stats(g);
  assert.equal(later.messages.forwarded, forwardedBefore, 'nothing counted as forwarded while no business service received it');
  assert.ok((later.upstream['business.HandleMessage']?.errors ?? 0) >= 1, `business errors ${JSON.stringify(later.upstream)}`);
  assert.equal(await metric(g, 'ima_messages_forwarded_total'), forwardedBefore);
  await page.waitForFunction(
    (n) => (globalThis as unknown as { document: DomDocument }).document.getElementById('kv-forwarded')?.textContent === n,
    fmt(forwardedBefore),
    { timeout: 5_000 },
  );
  await page.close();
});

test('without a business service: nothing forwarded, no business calls, no error rate, nothing red', async () => {
  assertChromium('dashboard');
  bare = await startGateway({ env: { IMA_JWT_SECRET: TEST_JWT_SECRET, IMA_KICK_POLICY: 'allow_all', IMA_BUSINESS_ADDR: undefined } });
  const g = bare;
  const c = await login(g, 'erin', 'erin-phone', 'ios');
  for (let i = 0; i < 5; i++) c.send({ type: 'chat.msg', id: `m-${i}`, payload: { text: 'hello' } });
  for (let i = 0; i < 5; i++) {
    const ack = await c.next((f) => f['type'] === 'ack' && f['id'] === `m-${i}`);
    assert.equal(ack['code'], 2000, JSON.stringify(ack));
  }

  const doc = await stats(g);
  assert.equal(doc.businessBreaker, 'not configured');
  assert.equal(doc.messages.in, 5);
  assert.equal(doc.messages.forwarded, 0, 'nothing forwarded: there is nowhere to forward to');
  assert.equal(doc.acks['2000'], 5, 'the client still hears why (ack 2000)');
  assert.deepEqual(Object.keys(doc.upstream).filter((k) => k.startsWith('business.')), [], `no business call was made: ${JSON.stringify(doc.upstream)}`);
  assert.equal(await metric(g, 'ima_messages_forwarded_total'), 0);
  assert.equal(await metric(g, 'ima_upstream_request_duration_seconds_count', 'service="business"'), undefined, 'no business series in the latency histogram');
  assert.equal(await metric(g, 'ima_business_breaker_open'), undefined, 'no breaker sample');

  const page = await (await theBrowser()).newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${g.adminUrl}/dashboard`, { waitUntil: 'load' });
  await page.waitForFunction(() => Number((globalThis as unknown as { document: DomDocument }).document.body.dataset['polls']) >= 2, undefined, { timeout: 10_000 });
  const sections = await readSections(page);
  assert.deepEqual(sections.bad, [], 'nothing red');
  assert.equal(sections.pills['hdr-breaker'], 'not configured');
  assert.deepEqual(Object.keys(sections.upstream).filter((k) => k.startsWith('business.')), [], 'no business row in upstream health');
  assert.equal(sections.kv['kv-forwarded'], '0');
  await page.close();
});

/** What the sections of the page show: placeholders left, red (data-tone=bad) elements, pills, rows. */
interface Sections {
  placeholders: string[];
  bad: string[];
  pills: Record<string, string>;
  instances: string[];
  upstream: Record<string, string>;
  kv: Record<string, string>;
}

function readSections(page: Page): Promise<Sections> {
  return page.evaluate(() => {
    const document = (globalThis as unknown as { document: DomDocument }).document;
    const text = (e: DomElement | null | undefined): string => e?.textContent?.trim() ?? '';
    const placeholders: string[] = [];
    for (const e of Array.from(document.querySelectorAll('.empty, .empty-cell, .pill .v, td, .kv .v'))) {
      const t = text(e);
      if (/waiting for data|not configured|^no |standalone|^—$/i.test(t)) placeholders.push(`${e.id || 'element'}: ${t}`);
    }
    const bad = Array.from(document.querySelectorAll('[data-tone="bad"]')).map((e) => `${e.id || 'element'}: ${text(e)}`);
    const pills: Record<string, string> = {};
    for (const id of ['hdr-serving', 'hdr-redis', 'hdr-breaker', 'se-state', 'ps-state']) pills[id] = text(document.getElementById(id));
    const instances = Array.from(document.querySelectorAll('tr[data-instance]')).map((r) => r.dataset['instance'] ?? '');
    const upstream: Record<string, string> = {};
    for (const r of Array.from(document.querySelectorAll('tr[data-upstream]'))) upstream[r.dataset['upstream'] ?? ''] = text(r);
    const kv: Record<string, string> = {};
    for (const e of Array.from(document.querySelectorAll('.kv .v'))) if (e.id) kv[e.id] = text(e);
    return { placeholders, bad, pills, instances, upstream, kv };
  });
}

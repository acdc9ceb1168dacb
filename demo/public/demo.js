// @ts-check
/**
 * The demo chat page (served by the gateway at /demo with IMA_DEMO=true; `npm run demo`). It uses
 * the client SDK exactly as an app would, from the gateway itself (/client/ima-client.js), and
 * talks to the demo business service (demo/business-service.ts) through the gateway:
 *
 * - `chat.send` {room, text, cid}: the service stores the message and pushes `chat.message` to
 *   the room; a message shows once, whatever path it came by (push, recovered push, resync),
 *   because the page keeps one entry per message id.
 * - `chat.sync` {room}: answered with `chat.history` and `chat.presence` replies; sent after
 *   joining and whenever the SDK reports that missed pushes could not be recovered
 *   (`recovered: false`: the gateway lost its history, e.g. it restarted).
 * - `chat.presence` (room push): who is online in the room.
 *
 * URL parameters (all optional): `tokenUrl` (where tokens come from; default port 8090 of this
 * page's host, the demo service's default), `ws` (the WebSocket URL; default this page's host,
 * path /ws), `name` and `room` (prefill the form).
 */
import { ImaClient } from '/client/ima-client.js';

/** @typedef {import('/client/ima-client.js').Frame} Frame */
/** @typedef {import('/client/ima-client.js').RecoveryEvent} RecoveryEvent */
/** @typedef {{ id: string, n: number, room: string, from: string, text: string, at: number, cid?: string }} ChatMessage */
/** @typedef {{ room: string, v: number, users: Array<{ user: string, devices: number }> }} PresenceList */

const params = new URLSearchParams(location.search);
const TOKEN_URL = params.get('tokenUrl') ?? `${location.protocol}//${location.hostname}:8090/token`;
const WS_URL = params.get('ws') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
const PLATFORM = 'web';
const OUTAGE_MS = 5_000;
const NAME_RE = /^[A-Za-z0-9_.@-]{1,32}$/;
const ROOM_RE = /^[A-Za-z0-9_.:@/-]{1,128}$/;

// ----- DOM ---------------------------------------------------------------------------------------

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function el(id, type) {
  const e = document.getElementById(id);
  if (!(e instanceof type)) throw new Error(`#${id} missing`);
  return e;
}

const ui = {
  state: el('state', HTMLElement),
  me: el('me', HTMLElement),
  banner: el('banner', HTMLElement),
  join: el('join', HTMLElement),
  joinForm: el('join-form', HTMLFormElement),
  name: el('name', HTMLInputElement),
  room: el('room', HTMLInputElement),
  chat: el('chat', HTMLElement),
  roomTitle: el('room-title', HTMLElement),
  outage: el('outage', HTMLButtonElement),
  leave: el('leave', HTMLButtonElement),
  messages: el('messages', HTMLOListElement),
  sendForm: el('send-form', HTMLFormElement),
  text: el('text', HTMLInputElement),
  presence: el('presence', HTMLUListElement),
  presenceCount: el('presence-count', HTMLElement),
  log: el('log', HTMLOListElement),
};

/** @param {number} ms */
function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
}

/**
 * One line of the connection log.
 * @param {'state' | 'auth' | 'recovery' | 'sync' | 'kick' | 'error' | 'outage' | 'info'} kind
 * @param {string} text
 */
function log(kind, text) {
  const li = document.createElement('li');
  li.dataset['kind'] = kind;
  const time = document.createElement('time');
  time.textContent = clock(Date.now());
  li.append(time, ' ', text);
  ui.log.append(li);
  while (ui.log.children.length > 200) ui.log.firstElementChild?.remove();
  ui.log.scrollTop = ui.log.scrollHeight;
}

/** @param {string} text */
function banner(text) {
  ui.banner.textContent = text;
  ui.banner.hidden = text === '';
}

// ----- the connection ----------------------------------------------------------------------------

/** The page's device: one per tab, kept across reloads of the tab. */
const deviceId = (() => {
  const key = 'ima-demo-device';
  let d = sessionStorage.getItem(key);
  if (d === null) {
    d = `web-${Math.random().toString(36).slice(2, 10)}`;
    sessionStorage.setItem(key, d);
  }
  return d;
})();

/** "Go offline": until then no connection is opened (the SDK's attempts fail and back off). */
let offlineUntil = 0;
/** @type {Set<WebSocket>} the sockets not closed yet */
const sockets = new Set();

/** The browser's WebSocket, except during a simulated outage; keeps track of the open ones. */
class DemoWebSocket extends WebSocket {
  /** @param {string} url */
  constructor(url) {
    if (Date.now() < offlineUntil) throw new Error('offline (simulated network outage): not connecting');
    super(url);
    sockets.add(this);
    this.addEventListener('close', () => sockets.delete(this));
  }
}

/** @type {ImaClient | null} */
let client = null;
let me = '';
let room = '';
let instanceId = '';
let lastError = '';
/** connection attempts since the last success */
let attempts = 0;
let wasConnected = false;
/** @type {import('/client/ima-client.js').ClientState | 'idle'} the last state other than connecting */
let lastState = 'idle';
/** presence: the newest version shown, and the service run it came from */
let presenceV = -1;

/** @type {Map<string, { n: number, li: HTMLLIElement }>} message id -> entry */
const shown = new Map();
/** @type {Map<string, HTMLLIElement>} cid -> this page's message not confirmed yet */
const pendingByCid = new Map();

async function fetchToken() {
  const u = new URL(TOKEN_URL);
  u.searchParams.set('user', me);
  u.searchParams.set('device', deviceId);
  u.searchParams.set('platform', PLATFORM);
  const r = await fetch(u);
  /** @type {{ token?: string, error?: string }} */
  const body = await r.json();
  if (!r.ok || typeof body.token !== 'string') throw new Error(`token endpoint ${u.origin}: ${body.error ?? `HTTP ${r.status}`}`);
  return body.token;
}

/** @param {import('/client/ima-client.js').ClientState} s */
function showState(s) {
  const retrying = wasConnected || attempts > 1;
  const text = {
    connecting: retrying ? `reconnecting (attempt ${attempts})` : 'connecting',
    connected: 'connected',
    disconnected: retrying ? 'reconnecting' : 'disconnected',
    closed: 'closed',
  }[s];
  ui.state.textContent = text;
  ui.state.dataset['state'] = s;
  document.body.dataset['state'] = s;
}

/**
 * @param {string} name
 * @param {string} roomName
 */
async function join(name, roomName) {
  me = name;
  room = roomName;
  instanceId = '';
  wasConnected = false;
  attempts = 0;
  lastState = 'idle';
  presenceV = -1;
  banner('');
  ui.messages.replaceChildren();
  shown.clear();
  pendingByCid.clear();
  renderPresence({ room, v: 0, users: [] });
  ui.me.textContent = `${me} · ${deviceId}`;
  ui.roomTitle.textContent = `# ${room}`;
  ui.join.hidden = true;
  ui.chat.hidden = false;
  log('info', `joining ${room} as ${me} (device ${deviceId})`);

  const c = new ImaClient({
    url: WS_URL,
    deviceId,
    platform: PLATFORM,
    token: fetchToken,
    WebSocket: /** @type {import('/client/ima-client.js').WebSocketConstructor} */ (/** @type {unknown} */ (DemoWebSocket)),
    backoff: { initialMs: 250, maxMs: 2_000 },
    ackTimeoutMs: 60_000,
  });
  client = c;
  c.on('state', (s) => {
    if (client !== c) return;
    if (s === 'connecting') attempts++;
    if (s === 'connected') attempts = 0;
    showState(s);
    if (s === 'disconnected' && lastState === 'connected') log('state', 'connection lost: reconnecting (the SDK retries with backoff)');
    if (s === 'closed') {
      log('state', 'closed: not reconnecting');
      ui.join.hidden = false;
      renderPresence({ room, v: Number.MAX_SAFE_INTEGER, users: [] });
      for (const li of pendingByCid.values()) markFailed(li, 'not sent: the connection is closed');
    }
    if (s !== 'connecting') lastState = s;
  });
  c.on('auth', (f) => {
    if (client !== c) return;
    const id = String(f['instanceId'] ?? '');
    const again = instanceId !== '';
    log('auth', again && id !== instanceId ? `connected to gateway ${id} (a new instance: the gateway restarted)` : `connected to gateway ${id}`);
    instanceId = id;
    document.body.dataset['instance'] = id;
    // a gateway without recovery (no epoch) reports nothing to recover from: resync after every
    // reconnect, once the SDK has written its resubscription (a room is subscribed before the
    // next message of the connection is forwarded)
    if (again && f['epoch'] === undefined) setTimeout(() => void sync('resync'), 0);
    wasConnected = true;
    lastError = '';
    presenceV = -1;
  });
  c.on('recovery', (r) => {
    if (client !== c) return;
    onRecovery(r);
  });
  c.on('push', (f) => {
    if (client !== c) return;
    onPush(f);
  });
  c.on('kick', (k) => {
    if (client !== c) return;
    const what = k.code === 4001 ? 'replaced by another login of yours (multi-device policy)' : k.code === 4002 ? 'kicked by the server' : 'disconnected by the server';
    log('kick', `${what}: "${k.reason}" (close ${k.code}); not reconnecting`);
    banner(`${what}: ${k.reason} (${k.code}). The page does not reconnect; join again to come back.`);
  });
  c.on('error', (e) => {
    if (client !== c) return;
    if (e.message === lastError) return; // the same failure on every retry: once is enough
    lastError = e.message;
    log('error', e.message);
  });

  try {
    await c.connect();
  } catch (e) {
    if (client === c) log('error', `could not connect: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  try {
    await c.subscribe(room);
    log('info', `subscribed to ${room}`);
  } catch (e) {
    log('error', `could not join ${room}: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  await sync('joined');
}

/**
 * The SDK reconnected and asked the gateway for what it missed: of its own pushes (no room) and
 * of the room's. When the gateway could not give them (its history no longer covers them, e.g. it
 * restarted: recovery lives in its memory unless it runs with Redis), the room is loaded again
 * from the service; messages already shown are not shown twice.
 * @param {RecoveryEvent} r
 */
function onRecovery(r) {
  const stream = r.room !== undefined ? `room ${r.room}` : 'your own pushes';
  if (r.recovered) {
    log('recovery', `recovered ${stream}: ${r.missed} missed push${r.missed === 1 ? '' : 'es'} replayed`);
    return;
  }
  if (r.room === undefined) {
    log('recovery', `${stream}: not recoverable (the gateway no longer has them: restarted?)`);
    return;
  }
  log('recovery', `${stream}: not recoverable (the gateway no longer has them: restarted?); resyncing from the demo service`);
  void sync('resync');
}

let syncing = false;
/** @type {'joined' | 'resync'} */
let syncCause = 'joined';

/** Asks the service for the room's history and presence (answered as two replies). @param {'joined' | 'resync'} cause */
async function sync(cause) {
  const c = client;
  if (c === null || syncing) return;
  syncing = true;
  syncCause = cause;
  try {
    const ack = await c.send('chat.sync', { room });
    if (ack.code !== 0) log('error', `chat.sync refused: ${ack.code} ${ack.message ?? ''}`);
  } catch (e) {
    log('error', `chat.sync failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    syncing = false;
  }
}

/** @param {Frame} f */
function onPush(f) {
  const p = /** @type {Record<string, unknown>} */ (typeof f['payload'] === 'object' && f['payload'] !== null ? f['payload'] : {});
  switch (f.type) {
    case 'chat.message':
      if (p['room'] === room) addMessage(/** @type {ChatMessage} */ (/** @type {unknown} */ (p)));
      return;
    case 'chat.history': {
      if (p['room'] !== room || !Array.isArray(p['messages'])) return;
      /** @type {ChatMessage[]} */
      const list = p['messages'];
      let added = 0;
      for (const m of list) if (addMessage(m)) added++;
      log('sync', syncCause === 'joined' ? `loaded ${list.length} earlier message${list.length === 1 ? '' : 's'}` : `resynced ${room}: ${list.length} message${list.length === 1 ? '' : 's'}, ${added} new`);
      return;
    }
    case 'chat.presence':
      if (p['room'] === room) renderPresence(/** @type {PresenceList} */ (/** @type {unknown} */ (p)));
      return;
    default:
      log('info', `push ${f.type}: ${JSON.stringify(f['payload'])}`);
  }
}

// ----- messages ----------------------------------------------------------------------------------

/**
 * Shows a message once: a second copy (a resync, a resent push) is dropped by id.
 * @param {ChatMessage} m
 * @returns {boolean} whether it was new
 */
function addMessage(m) {
  if (typeof m.id !== 'string' || shown.has(m.id)) return false;
  const li = document.createElement('li');
  li.className = m.from === me ? 'msg mine' : 'msg';
  li.dataset['id'] = m.id;
  li.dataset['n'] = String(m.n);
  li.dataset['from'] = m.from;
  fill(li, m.from, m.text, clock(m.at));
  // this page's own message: it replaces the pending copy
  if (m.from === me && m.cid !== undefined) {
    pendingByCid.get(m.cid)?.remove();
    pendingByCid.delete(m.cid);
  }
  // in the room's order (n), before this page's pending messages
  let before = null;
  for (const other of ui.messages.children) {
    if (!(other instanceof HTMLLIElement)) continue;
    if (other.classList.contains('pending') || Number(other.dataset['n']) > m.n) {
      before = other;
      break;
    }
  }
  const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
  ui.messages.insertBefore(li, before);
  shown.set(m.id, { n: m.n, li });
  if (atBottom || m.from === me) ui.messages.scrollTop = ui.messages.scrollHeight;
  return true;
}

/**
 * @param {HTMLLIElement} li
 * @param {string} from
 * @param {string} text
 * @param {string} when
 */
function fill(li, from, text, when) {
  const who = document.createElement('span');
  who.className = 'from';
  who.textContent = from;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  const time = document.createElement('time');
  time.textContent = when;
  li.replaceChildren(who, body, time);
}

/**
 * @param {HTMLLIElement} li
 * @param {string} why
 */
function markFailed(li, why) {
  li.classList.add('failed');
  li.title = `${why} (click to retry)`;
  const t = li.querySelector('time');
  if (t !== null) t.textContent = why;
}

/** @param {string} text @param {string} cid */
function send(text, cid) {
  const c = client;
  if (c === null) return;
  let li = pendingByCid.get(cid);
  if (li === undefined) {
    li = document.createElement('li');
    li.className = 'msg mine pending';
    li.dataset['cid'] = cid;
    fill(li, me, text, 'sending…');
    li.addEventListener('click', () => {
      if (li?.classList.contains('failed')) send(text, cid);
    });
    ui.messages.append(li);
    pendingByCid.set(cid, li);
    ui.messages.scrollTop = ui.messages.scrollHeight;
  } else {
    li.classList.remove('failed');
    const t = li.querySelector('time');
    if (t !== null) t.textContent = 'sending…';
  }
  const pending = li;
  c.send('chat.send', { room, text, cid }).then(
    (ack) => {
      if (ack.code !== 0 && pendingByCid.get(cid) === pending) markFailed(pending, `refused: ${ack.message ?? ack.code}`);
    },
    (e) => {
      if (pendingByCid.get(cid) === pending) markFailed(pending, `not sent: ${e instanceof Error ? e.message : String(e)}`);
    },
  );
}

// ----- presence ----------------------------------------------------------------------------------

/** @param {PresenceList} p */
function renderPresence(p) {
  if (p.v < presenceV) return; // an older list arrived late
  presenceV = p.v;
  const items = p.users.map((u) => {
    const li = document.createElement('li');
    li.dataset['user'] = u.user;
    li.textContent = u.user;
    if (u.user === me) li.classList.add('self');
    if (u.devices > 1) {
      const d = document.createElement('span');
      d.className = 'devices';
      d.textContent = ` ×${u.devices}`;
      li.append(d);
    }
    return li;
  });
  ui.presence.replaceChildren(...items);
  ui.presenceCount.textContent = String(p.users.length);
}

// ----- controls ----------------------------------------------------------------------------------

ui.name.value = params.get('name') ?? sessionStorage.getItem('ima-demo-name') ?? '';
ui.room.value = params.get('room') ?? ui.room.value;

ui.joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = ui.name.value.trim();
  const roomName = ui.room.value.trim();
  if (!NAME_RE.test(name)) return banner('Your name: 1 to 32 characters of A-Z a-z 0-9 _ . @ -');
  if (!ROOM_RE.test(roomName)) return banner('Room: 1 to 128 characters of A-Z a-z 0-9 _ . : @ / -');
  sessionStorage.setItem('ima-demo-name', name);
  client?.close();
  void join(name, roomName);
});

ui.sendForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = ui.text.value.trim();
  if (text === '' || client === null || client.state === 'closed') return;
  ui.text.value = '';
  send(text, `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
});

ui.leave.addEventListener('click', () => {
  const c = client;
  if (c === null) return;
  log('info', `leaving ${room}`);
  c.close();
});

ui.outage.addEventListener('click', () => {
  offlineUntil = Date.now() + OUTAGE_MS;
  ui.outage.disabled = true;
  log('outage', `network outage for ${OUTAGE_MS / 1000} s: connection dropped, reconnects refused meanwhile`);
  // as if the network went away: the socket ends without the SDK asking for it
  for (const ws of sockets) ws.close(3000, 'simulated network outage');
  setTimeout(() => {
    ui.outage.disabled = false;
    log('outage', 'network back');
  }, OUTAGE_MS);
});

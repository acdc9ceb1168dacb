/**
 * Server-bound load generator (issue 16): holds client connections on raw `net` sockets. It does
 * the WebSocket upgrade by hand (HTTP/1.1 GET with Sec-WebSocket-Key; tokens minted up front by
 * the orchestrator) and then parses only frame headers (FIN, opcode, 7/16/64-bit lengths, across
 * chunk boundaries) to count frames and bytes. It looks into a payload only when it must: the first
 * frame (the gateway's auth frame), control frames (close code, ping payload to echo), Socket.IO's
 * packet type, and, on the sampled connections, the first bytes of a data frame for the latency
 * stamp `~T<epoch ms>~` that the load generator or baseline server put in the payload.
 *
 * Socket.IO 4 is spoken the same way: `/socket.io/?EIO=4&transport=websocket`, the Engine.IO open
 * packet `0{...}`, the Socket.IO connect packet `40`, pings `2` answered with `3`, events `42[...]`
 * counted as deliveries.
 *
 * The orchestrator starts several of these processes (each holds at most ~18,000 sockets, under the
 * 20,000 fd limit); each spreads its connections over source addresses of its own (see nextSource). Each reports its CPU seconds (`process.cpuUsage`), so
 * the bench can show that the server, not this client, is the bottleneck.
 */
import * as net from 'node:net';
import { HOST, emit, nowMs, serveIpc, summarize, wallMs } from './common';
import { parseFrames } from './frames';
import type { FrameState } from './frames';

type Kind = 'ws' | 'sio';

/** Payload bytes of a sampled data frame looked at (the stamp sits near the start; the rest for `lastFrame`). */
const STAMP_PREFIX = 4096;
const STAMP_MARK = 0x7e; // '~'
/** Latency samples kept per process between two `latency` commands. */
const MAX_SAMPLES = 200_000;
/** A fixed Sec-WebSocket-Key (16 bytes in base64: "the sample nonce", RFC 6455's example; the accept hash is not checked). */
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** Client frames must be masked; a zero masking key is valid and leaves the payload as is. */
const ZERO_MASK = Buffer.alloc(4);

/**
 * Source addresses: this process binds its sockets to 127.<BENCH_SOURCE_OCTET>.x.y (all of 127/8
 * is loopback on Linux), a new address every SOCKETS_PER_SOURCE connections, reconnects included.
 * Ephemeral ports are per source address, and a bind() before connect() on an address whose
 * ports sit in TIME_WAIT (the sockets closed a moment ago) is several times slower: a fresh
 * address for each batch keeps the client out of both limits.
 */
const SOURCE_OCTET = Number(process.env['BENCH_SOURCE_OCTET'] ?? 0);
const SOCKETS_PER_SOURCE = 64;
let sourceSeq = 0;
function nextSource(): string | undefined {
  if (!(SOURCE_OCTET > 0 && SOURCE_OCTET < 255)) return undefined;
  const k = Math.floor(sourceSeq++ / SOCKETS_PER_SOURCE);
  return `127.${SOURCE_OCTET}.${(k >> 8) & 255}.${(k & 255) % 254 + 1}`;
}

interface Conn extends FrameState {
  readonly kind: Kind;
  readonly port: number;
  readonly path: string;
  /** A fixed source address (the connect request's `localAddrs`), else a fresh one per attempt (nextSource). */
  readonly fixedSource: string | undefined;
  /** Samples latency stamps. */
  readonly sampled: boolean;
  sock: net.Socket | undefined;
  /** 0 = waiting for the 101 answer, 1 = frames. */
  state: 0 | 1;
  /** Connected: got the auth frame (ws) or the Socket.IO connect answer (sio). */
  up: boolean;
  /** Closed on purpose by this process (closeAll, the storm's drop). */
  dropped: boolean;
  onUp: ((err?: Error) => void) | undefined;
}

const conns: Conn[] = [];
let received = 0;
let bytes = 0;
let lastRecvAt = 0;
/** Closes initiated by the server (close frames or a socket closed under us), by code / reason. */
const serverCloses = new Map<string, number>();
let lastFrame = '';
let samples: number[] = [];
let progressOpened = 0;

function count(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** A masked client frame (text or control) with a payload under 126 bytes, or up to 65535. */
function clientFrame(op: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | op, 0x80 | n]) : Buffer.from([0x80 | op, 0x80 | 126, n >> 8, n & 0xff]);
  return Buffer.concat([head, ZERO_MASK, payload]);
}

function send(c: Conn, op: number, payload: Buffer | string): void {
  c.sock?.write(clientFrame(op, typeof payload === 'string' ? Buffer.from(payload) : payload));
}

function fail(c: Conn, reason: string): void {
  const cb = c.onUp;
  c.onUp = undefined;
  c.sock?.destroy();
  cb?.(new Error(reason));
}

function stampOf(b: Buffer, len: number): number {
  // "~T<digits>[.<digits>]~" in the first 192 bytes
  for (let i = 0; i + 2 < Math.min(len, 192); i++) {
    if (b[i] === STAMP_MARK && b[i + 1] === 0x54) {
      const end = b.indexOf(STAMP_MARK, i + 2);
      if (end < 0 || end > len) return NaN;
      return Number(b.toString('latin1', i + 2, end));
    }
  }
  return NaN;
}

/** A complete frame (its wanted payload prefix is in c.got[0, c.gotLen)). */
function frameDone(c: Conn): void {
  const op = c.op;
  if (op >= 8) {
    if (op === 8) {
      const code = c.gotLen >= 2 ? (c.got as Buffer).readUInt16BE(0) : 1005;
      count(serverCloses, `close ${code}`);
      if (!c.up) fail(c, `upgrade: closed with ${code} before the first frame`);
      c.dropped = true;
      c.sock?.destroy();
    } else if (op === 9) send(c, 10, (c.got ?? Buffer.alloc(0)).subarray(0, c.gotLen));
    return;
  }
  if (!c.fin) return; // a fragment: the message is counted on its last frame
  if (c.kind === 'ws') {
    if (!c.up) {
      const s = c.got ? c.got.toString('utf8', 0, c.gotLen) : '';
      if (s.includes('"ok":false')) {
        fail(c, `upgrade: auth refused ${s.slice(0, 100)}`);
        return;
      }
      c.up = true;
      const cb = c.onUp;
      c.onUp = undefined;
      cb?.();
      return;
    }
  } else {
    if (c.gotLen === 0 || !c.got) return;
    const g = c.got;
    const t0 = g[0];
    const t1 = c.gotLen > 1 ? g[1] : -1;
    if (t0 === 0x30 /* 0: EIO open */) {
      send(c, 1, '40');
      return;
    }
    if (t0 === 0x32 /* 2: EIO ping */ && c.plen === 1) {
      send(c, 1, '3');
      return;
    }
    if (t0 === 0x34 && t1 === 0x30 /* 40: SIO connect */) {
      if (!c.up) {
        c.up = true;
        const cb = c.onUp;
        c.onUp = undefined;
        cb?.();
      }
      return;
    }
    if (t0 === 0x34 && t1 === 0x31 /* 41: SIO disconnect */) {
      count(serverCloses, 'sio disconnect');
      return;
    }
    if (!(t0 === 0x34 && t1 === 0x32) /* 42: event */) return;
  }
  received++;
  bytes += c.plen;
  const now = wallMs();
  lastRecvAt = now;
  if (c.sampled && c.got) {
    const st = stampOf(c.got, c.gotLen);
    if (Number.isFinite(st) && samples.length < MAX_SAMPLES) samples.push(now - st);
    lastFrame = c.got.toString('utf8', 0, c.gotLen);
  }
}

/** Payload bytes to look at in a frame (op, payload length) of c; see the file comment. */
function wantFor(c: Conn, op: number, plen: number): number {
  if (op >= 8) return Math.min(plen, 125);
  if (!c.up) return Math.min(plen, 512);
  if (c.sampled) return Math.min(plen, STAMP_PREFIX);
  if (c.kind === 'sio') return Math.min(plen, 2);
  return 0;
}

function onFrames(c: Conn, chunk: Buffer): void {
  parseFrames(c, chunk, wantFor, frameDone);
}

/** The HTTP answer to the upgrade: 101, then frames may follow in the same chunk. */
function onData(c: Conn, chunk: Buffer): void {
  if (c.state === 1) {
    onFrames(c, chunk);
    return;
  }
  const buf = c.pend ? Buffer.concat([c.pend, chunk]) : chunk;
  c.pend = undefined;
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) {
    if (buf.length > 8192) fail(c, 'upgrade: answer too long');
    else c.pend = Buffer.from(buf);
    return;
  }
  const status = buf.toString('latin1', 9, 12);
  if (status !== '101') {
    fail(c, `upgrade: refused with HTTP ${status}`);
    return;
  }
  c.state = 1;
  if (end + 4 < buf.length) onFrames(c, buf.subarray(end + 4));
}

/** Opens (or reopens) the socket of c; resolves when it is connected (see Conn.up). */
function open(c: Conn, timeoutMs: number): Promise<void> {
  c.state = 0;
  c.pend = undefined;
  c.need = 0;
  c.up = false;
  c.dropped = false;
  c.gotLen = 0;
  return new Promise<void>((resolve, reject) => {
    // where a timed-out attempt stood: no TCP connection yet, no upgrade answer, no first frame
    const timer = setTimeout(() => fail(c, c.sock?.connecting ? 'tcp: connect timeout' : c.state === 0 ? 'upgrade: no answer (timeout)' : 'upgrade: no first frame (timeout)'), timeoutMs);
    c.onUp = (err) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const localAddress = c.fixedSource ?? nextSource();
    const sock = net.connect({ port: c.port, host: HOST, ...(localAddress ? { localAddress } : {}) });
    c.sock = sock;
    sock.setNoDelay(true);
    sock.on('connect', () => {
      sock.write(
        `GET ${c.path} HTTP/1.1\r\nHost: ${HOST}:${c.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    // a socket replaced by a reconnect (the storm) may still report its end: only the current one counts
    sock.on('data', (d: Buffer) => {
      if (c.sock === sock) onData(c, d);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (c.sock === sock && c.onUp) fail(c, `${sock.connecting ? 'tcp' : 'upgrade'}: ${e.code ?? e.message}`);
    });
    sock.on('close', () => {
      if (c.sock !== sock) return;
      if (c.onUp) fail(c, c.state === 0 ? 'upgrade: closed before the answer' : 'upgrade: closed after the 101, before the first frame');
      else if (!c.dropped) count(serverCloses, 'socket closed');
      c.sock = undefined;
    });
  });
}

function connPath(kind: Kind, token: string, device: string): string {
  return kind === 'ws' ? `/ws?token=${encodeURIComponent(token)}&device_id=${device}&platform=web` : '/socket.io/?EIO=4&transport=websocket';
}

interface ConnectReq {
  kind: Kind;
  ports: number[];
  count: number;
  offset: number;
  /** Tokens by user index; connection i is user i % tokens.length (ignored for sio). */
  tokens: string[];
  localAddrs: string[];
  concurrency: number;
  timeoutMs: number;
  deadlineMs: number;
  /** Every sampleEvery-th connection (by global index) samples latency stamps; 0 = none. */
  sampleEvery: number;
}

async function connect(req: Record<string, unknown>): Promise<unknown> {
  const r = req as unknown as ConnectReq;
  const deadline = Date.now() + (r.deadlineMs ?? 120_000);
  const errors = new Map<string, number>();
  let next = 0;
  let opened = 0;
  let failed = 0;
  const t0 = nowMs();
  const progress = setInterval(() => emit('progress', { opened: progressOpened }), 1000);
  const one = async (): Promise<void> => {
    while (next < r.count && Date.now() < deadline) {
      const i = r.offset + next++;
      const token = r.kind === 'ws' ? (r.tokens[i % r.tokens.length] as string) : '';
      const c: Conn = {
        kind: r.kind,
        port: r.ports[i % r.ports.length] as number,
        path: connPath(r.kind, token, `d${i}`),
        fixedSource: r.localAddrs.length ? r.localAddrs[i % r.localAddrs.length] : undefined,
        sampled: r.sampleEvery > 0 && i % r.sampleEvery === 0,
        sock: undefined,
        state: 0,
        pend: undefined,
        need: 0,
        op: 0,
        fin: true,
        plen: 0,
        want: 0,
        got: undefined,
        gotLen: 0,
        up: false,
        dropped: false,
        onUp: undefined,
      };
      try {
        await open(c, r.timeoutMs ?? 15_000);
        conns.push(c);
        opened++;
        progressOpened++;
      } catch (e) {
        failed++;
        count(errors, (e instanceof Error ? e.message : String(e)).slice(0, 80));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(r.concurrency ?? 200, r.count)) }, one));
  clearInterval(progress);
  return { opened, failed, ms: nowMs() - t0, errors: Object.fromEntries(errors) };
}

async function closeAll(): Promise<unknown> {
  const n = conns.length;
  for (const c of conns.splice(0)) {
    c.dropped = true;
    c.sock?.destroy();
  }
  progressOpened = 0;
  await new Promise((r) => setTimeout(r, 200));
  return { closed: n };
}

/**
 * The reconnect storm: at wall time `at` every socket is destroyed at once; each reconnects after a
 * random delay in [0, jitterMs); a failed attempt (refused upgrade, error, timeout) is counted and
 * retried after retryMs until deadlineMs after `at`. Resolves with the wall time the last one came
 * back.
 */
async function storm(req: Record<string, unknown>): Promise<unknown> {
  const at = Number(req['at']);
  const jitterMs = Number(req['jitterMs']);
  const retryMs = Number(req['retryMs'] ?? 200);
  const deadline = at + Number(req['deadlineMs']);
  const timeoutMs = Number(req['timeoutMs'] ?? 10_000);
  await new Promise((r) => setTimeout(r, Math.max(0, at - wallMs())));
  const droppedAt = wallMs();
  const list = conns.slice();
  for (const c of list) {
    c.dropped = true;
    c.sock?.destroy();
    c.sock = undefined;
  }
  const errors = new Map<string, number>();
  let failedAttempts = 0;
  let back = 0;
  let lastBackAt = 0;
  const backMs: number[] = [];
  await Promise.all(
    list.map(async (c) => {
      await new Promise((r) => setTimeout(r, Math.random() * jitterMs));
      while (wallMs() < deadline) {
        try {
          await open(c, timeoutMs);
          back++;
          const t = wallMs();
          lastBackAt = Math.max(lastBackAt, t);
          backMs.push(t - droppedAt);
          return;
        } catch (e) {
          failedAttempts++;
          count(errors, (e instanceof Error ? e.message : String(e)).slice(0, 80));
          await new Promise((r) => setTimeout(r, retryMs));
        }
      }
    }),
  );
  return { dropped: list.length, back, failedAttempts, droppedAt, lastBackAt, backMs: summarize(backMs), errors: Object.fromEntries(errors) };
}

serveIpc({
  connect,
  closeAll,
  storm,
  count: () => ({ received, bytes, lastRecvAt, open: conns.filter((c) => c.up && c.sock !== undefined).length, serverCloses: Object.fromEntries(serverCloses) }),
  lastFrame: () => ({ frame: lastFrame.slice(0, 500) }),
  reset: () => {
    received = 0;
    bytes = 0;
    lastRecvAt = 0;
    samples = [];
    serverCloses.clear();
    return {};
  },
  /** Latency samples (ms, stamp to frame received) since the last reset or latency call; clears them. */
  latency: () => {
    const s = samples;
    samples = [];
    return { samples: s };
  },
  cpu: () => process.cpuUsage(),
});

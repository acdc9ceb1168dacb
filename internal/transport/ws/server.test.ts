import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { WsTransport } from './server';
import type { TransportSocket, WsHandler, WsTransportSettings } from './types';

/**
 * The transport's write coalescing, seen from a raw TCP client: frames sent to one socket in one
 * event-loop turn leave in one write (one TCP read on loopback), `send` answers exactly which
 * frames were accepted, and the slow-consumer rule (4005) holds for queued frames.
 */

const LIMIT = 256 * 1024;

const settings: WsTransportSettings = {
  host: '127.0.0.1',
  port: 0,
  path: '/ws',
  maxPayloadBytes: 64 * 1024,
  idleTimeoutMs: 60_000,
  maxBackpressureBytes: LIMIT,
  maxConnections: 100,
  closeCodes: { tooBig: 1009, idle: 4004, slow: 4005, internal: 1011 },
  closeReasons: { tooBig: 'too big', idle: 'idle', slow: 'slow consumer', internal: 'internal' },
};

/** A raw WebSocket client: records every TCP read and parses the frames (unmasked server frames). */
class RawClient {
  readonly reads: number[] = [];
  readonly frames: Array<{ opcode: number; payload: Buffer }> = [];
  private buf = Buffer.alloc(0);
  private upgraded = false;
  private waiters: Array<() => void> = [];

  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => this.onData(d));
  }

  static connect(port: number, name: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      const c = new RawClient(sock);
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.write(
          `GET /ws?name=${name} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
        c.until(() => c.upgraded, 5000).then(() => resolve(c), reject);
      });
    });
  }

  private onData(d: Buffer): void {
    if (!this.upgraded) {
      const all = Buffer.concat([this.buf, d]);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        this.buf = all;
        return;
      }
      assert.match(all.subarray(0, end).toString(), /^HTTP\/1\.1 101/);
      this.upgraded = true;
      this.buf = Buffer.alloc(0);
      d = all.subarray(end + 4);
      if (d.length === 0) return this.wake();
    }
    this.reads.push(d.length);
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length < 2) break;
      const b0 = this.buf[0] ?? 0;
      let len = (this.buf[1] ?? 0) & 127;
      let h = 2;
      if (len === 126) {
        if (this.buf.length < 4) break;
        len = this.buf.readUInt16BE(2);
        h = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) break;
        len = Number(this.buf.readBigUInt64BE(2));
        h = 10;
      }
      if (this.buf.length < h + len) break;
      this.frames.push({ opcode: b0 & 15, payload: this.buf.subarray(h, h + len) });
      this.buf = this.buf.subarray(h + len);
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async until(cond: () => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out; frames ${this.frames.length}, reads ${this.reads.length}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  textFrames(): string[] {
    return this.frames.filter((f) => f.opcode === 1).map((f) => f.payload.toString());
  }

  closeCode(): number | undefined {
    const c = this.frames.find((f) => f.opcode === 8);
    return c === undefined ? undefined : c.payload.readUInt16BE(0);
  }
}

describe('WsTransport write coalescing', () => {
  const sockets = new Map<string, TransportSocket>();
  let transport: WsTransport<string>;
  let port = 0;
  let opened: (() => void) | null = null;

  before(async () => {
    let n = 0;
    const handler: WsHandler<string> = {
      upgrade: () => Promise.resolve(`s${++n}`),
      aborted: () => undefined,
      open: (session, socket) => {
        sockets.set(session, socket);
        opened?.();
      },
      message: () => undefined,
      close: () => undefined,
    };
    transport = new WsTransport<string>(settings, pino({ level: 'silent' }), { handlerError: (w, e) => assert.fail(`${w}: ${String(e)}`) });
    port = await transport.listen(handler);
  });

  after(async () => {
    await transport.close();
  });

  async function open(): Promise<{ client: RawClient; socket: TransportSocket }> {
    const before = sockets.size;
    const ready = new Promise<void>((r) => (opened = r));
    const client = await RawClient.connect(port, `c${before}`);
    await ready;
    const socket = [...sockets.values()][before];
    assert.ok(socket !== undefined);
    return { client, socket };
  }

  test('frames sent in one turn to one socket leave in one write, in order; each turn is its own write', async () => {
    const { client, socket } = await open();
    for (let turn = 0; turn < 3; turn++) {
      const readsBefore = client.reads.length;
      for (let i = 0; i < 50; i++) assert.equal(socket.send(`{"turn":${turn},"i":${i}}`), true);
      await client.until(() => client.textFrames().length === 50 * (turn + 1), 5000);
      assert.equal(client.reads.length - readsBefore, 1, `turn ${turn}: 50 frames in one TCP read`);
    }
    assert.deepEqual(
      client.textFrames().slice(0, 3),
      ['{"turn":0,"i":0}', '{"turn":0,"i":1}', '{"turn":0,"i":2}'],
    );
    socket.end(1000, 'bye');
  });

  test('end() after queued frames: the frames go out before the close frame', async () => {
    const { client, socket } = await open();
    socket.send('a');
    socket.send('b');
    socket.end(4002, 'kicked');
    await client.until(() => client.closeCode() !== undefined, 5000);
    assert.deepEqual(client.textFrames(), ['a', 'b']);
    assert.equal(client.closeCode(), 4002);
  });

  test('cork() writes after what was queued for the socket (order kept)', async () => {
    const { client, socket } = await open();
    socket.send('queued-1');
    socket.cork(() => {
      socket.send('corked-2');
      socket.send('corked-3');
    });
    socket.send('queued-4');
    await client.until(() => client.textFrames().length === 4, 5000);
    assert.deepEqual(client.textFrames(), ['queued-1', 'corked-2', 'corked-3', 'queued-4']);
    socket.end(1000, 'bye');
  });

  test('slow consumer in one turn: frames are accepted while the bytes before them are within the limit, the next is refused and the socket closes with 4005', async () => {
    const { client, socket } = await open();
    const big = 'x'.repeat(100 * 1024);
    const slowBefore = transport.slowConsumers;
    // 0, 100 KiB, 200 KiB queued before frames 1..3: accepted; 300 KiB > 256 KiB before the 4th: refused
    const answers = [socket.send(big), socket.send(big), socket.send(big), socket.send(big), socket.send('after')];
    assert.deepEqual(answers, [true, true, true, false, false]);
    assert.equal(socket.isOpen, false);
    assert.equal(transport.slowConsumers, slowBefore + 1);
    await client.until(() => client.closeCode() !== undefined, 5000);
    assert.equal(client.textFrames().length, 3, 'the accepted frames were written before the close');
    assert.equal(client.closeCode(), 4005);
  });

  test('slow consumer across turns: a reader that stops reading is closed with 4005 once its send buffer holds more than the limit', async () => {
    const { client, socket } = await open();
    client.sock.pause();
    const frame = 'y'.repeat(32 * 1024);
    let accepted = 0;
    for (let turn = 0; turn < 200 && socket.isOpen; turn++) {
      if (socket.send(frame)) accepted++;
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(socket.isOpen, false, 'closed as a slow consumer');
    client.sock.resume();
    await client.until(() => client.closeCode() !== undefined, 10_000);
    assert.equal(client.closeCode(), 4005);
    assert.equal(client.textFrames().length, accepted, 'every accepted frame arrived before the close');
  });
});

/**
 * Baseline: a bare uWebSockets.js server. Every connection subscribes to topic "all" and gets a
 * small first frame (the gateway sends its auth frame), so a client measures the same thing
 * (handshake + first frame) against both. Fanout = app.publish("all", frame). Rooms (with
 * BENCH_ROOMS=1, which keeps the open sockets in a set): `join` subscribes open sockets to a topic,
 * `publishRooms` = app.publish(room, frame) per room.
 */
import { uws, uwsIsNative } from '../../internal/transport/ws/native';
import type { WebSocket } from 'uWebSockets.js';
import { emit, memorySnapshot, serveIpc, publishEach, publishBatch, publishRate } from './common';

if (!uwsIsNative()) {
  process.stderr.write('bench: uWebSockets.js native binary NOT loaded (slow JS fallback) in the bare uWS baseline: refusing to benchmark\n');
  process.exit(1);
}

const port = Number(process.env['BENCH_PORT']);
let open = 0;
/** The open sockets in open order, kept only for the rooms scenario (BENCH_ROOMS=1). */
const sockets = process.env['BENCH_ROOMS'] === '1' ? new Set<WebSocket<unknown>>() : undefined;
const HELLO = '{"type":"auth","ok":true,"userId":"u","deviceId":"d","platform":"web"}';
const app = uws.App();
app.ws('/*', {
  compression: uws.DISABLED,
  maxPayloadLength: 1024 * 1024,
  maxBackpressure: 1024 * 1024,
  idleTimeout: 0,
  sendPingsAutomatically: false,
  open: (ws) => {
    open++;
    sockets?.add(ws);
    ws.subscribe('all');
    ws.send(HELLO, false);
  },
  close: (ws) => {
    open--;
    sockets?.delete(ws);
  },
});
app.listen('127.0.0.1', port, (token) => {
  if (!token) {
    process.stderr.write(`bench: bare uWS cannot listen on ${port}\n`);
    process.exit(1);
  }
  emit('ready', { port });
});

serveIpc({
  mem: () => memorySnapshot(),
  cpu: () => process.cpuUsage(),
  /** `count` stamped frames to every connection, `perTurn` per event-loop turn. */
  publishBatch: (req) => publishBatch(req, (f) => app.publish('all', f, false)),
  /** Stamped frames to every connection at `rate` per second (open loop). */
  publishRate: (req) => publishRate(req, (f) => app.publish('all', f, false)),
  connections: () => open,
  /** Publishes `count` frames to every subscriber, one per event-loop turn (as one RPC each). */
  publish: async (req) => {
    await publishEach(req, (f) => app.publish('all', f, false));
    return { open };
  },
  /** Subscribes the open sockets [from, from + count) (in open order) to topic `room`. */
  join: (req) => {
    if (!sockets) throw new Error('join needs BENCH_ROOMS=1');
    const from = Number(req['from']);
    const subs = [...sockets].slice(from, from + Number(req['count']));
    for (const ws of subs) ws.subscribe(String(req['room']));
    return { joined: subs.length };
  },
  /** `count` rounds of one frame to each room (its frame: `frame` plus "room"), one round per event-loop turn. */
  publishRooms: async (req) => {
    const frame = String(req['frame']);
    const frames = (req['rooms'] as string[]).map((r) => [r, `${frame.slice(0, -1)},"room":${JSON.stringify(r)}}`] as const);
    await publishEach(req, () => {
      for (const [room, f] of frames) app.publish(room, f, false);
    });
    return { open };
  },
});

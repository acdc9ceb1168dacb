/**
 * Baseline: Socket.IO 4 (websocket transport only). Fanout = io.emit("m", frame). Rooms: `join`
 * = socket.join(room) for a range of the connected sockets, `publishRooms` = io.to(room).emit("m", frame).
 */
import * as http from 'node:http';
import { Server } from 'socket.io';
import { emit, memorySnapshot, serveIpc, publishEach, publishBatch, publishRate } from './common';

const port = Number(process.env['BENCH_PORT']);
const server = http.createServer();
const io = new Server(server, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, pingInterval: 600_000, pingTimeout: 600_000 });
let open = 0;
io.on('connection', (socket) => {
  open++;
  socket.on('disconnect', () => {
    open--;
  });
});
server.listen(port, '127.0.0.1', () => emit('ready', { port }));

serveIpc({
  mem: () => memorySnapshot(),
  cpu: () => process.cpuUsage(),
  /** `count` stamped frames to every connection, `perTurn` per event-loop turn. */
  publishBatch: (req) => publishBatch(req, (f) => io.emit('m', f)),
  /** Stamped frames to every connection at `rate` per second (open loop). */
  publishRate: (req) => publishRate(req, (f) => io.emit('m', f)),
  connections: () => open,
  publish: async (req) => {
    await publishEach(req, (f) => io.emit('m', f));
    return { open };
  },
  /** socket.join(room) for the connected sockets [from, from + count) (in connection order). */
  join: (req) => {
    const from = Number(req['from']);
    const subs = [...io.of('/').sockets.values()].slice(from, from + Number(req['count']));
    for (const s of subs) void s.join(String(req['room']));
    return { joined: subs.length };
  },
  /** `count` rounds of io.to(room).emit per room (its frame: `frame` plus "room"), one round per event-loop turn. */
  publishRooms: async (req) => {
    const frame = String(req['frame']);
    const frames = (req['rooms'] as string[]).map((r) => [r, `${frame.slice(0, -1)},"room":${JSON.stringify(r)}}`] as const);
    await publishEach(req, () => {
      for (const [room, f] of frames) io.to(room).emit('m', f);
    });
    return { open };
  },
});

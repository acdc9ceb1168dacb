/** Baseline: Socket.IO 4 (websocket transport only). Fanout = io.emit("m", frame). */
import * as http from 'node:http';
import { Server } from 'socket.io';
import { emit, memorySnapshot, serveIpc, publishEach } from './common';

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
  connections: () => open,
  publish: async (req) => {
    await publishEach(req, (f) => io.emit('m', f));
    return { open };
  },
});

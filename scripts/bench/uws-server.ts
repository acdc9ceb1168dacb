/**
 * Baseline: a bare uWebSockets.js server. Every connection subscribes to topic "all" and gets a
 * small first frame (the gateway sends its auth frame), so a client measures the same thing
 * (handshake + first frame) against both. Fanout = app.publish("all", frame).
 */
import { uws, uwsIsNative } from '../../internal/transport/ws/native';
import { emit, memorySnapshot, serveIpc, publishEach } from './common';

if (!uwsIsNative()) {
  process.stderr.write('bench: uWebSockets.js native binary NOT loaded (slow JS fallback) in the bare uWS baseline: refusing to benchmark\n');
  process.exit(1);
}

const port = Number(process.env['BENCH_PORT']);
let open = 0;
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
    ws.subscribe('all');
    ws.send(HELLO, false);
  },
  close: () => {
    open--;
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
  connections: () => open,
  /** Publishes `count` frames to every subscriber, one per event-loop turn (as one RPC each). */
  publish: async (req) => {
    await publishEach(req, (f) => app.publish('all', f, false));
    return { open };
  },
});

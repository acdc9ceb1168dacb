/**
 * Runs the gateway (dist/main.js) under the benchmark: refuses to start when the uWebSockets.js
 * native binary is not loaded, answers memory queries over IPC and exits with its parent.
 */
import { uwsIsNative } from '../../internal/transport/ws/native';
import { memorySnapshot, serveIpc } from './common';

if (!uwsIsNative()) {
  process.stderr.write('bench: uWebSockets.js native binary NOT loaded (slow JS fallback) in the gateway process: refusing to benchmark\n');
  process.exit(1);
}
serveIpc({ mem: () => memorySnapshot() });
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('../../main');

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../observability/logger';
import type { StaticFile } from '../transport/ws/types';

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** The repository root, from the compiled app (dist/internal/app/) or the sources. */
function root(): string {
  const fromDist = path.resolve(__dirname, '..', '..', '..');
  return fs.existsSync(path.join(fromDist, 'package.json')) ? fromDist : path.resolve(__dirname, '..', '..');
}

function load(file: string): StaticFile {
  return { contentType: TYPES[path.extname(file)] ?? 'application/octet-stream', body: fs.readFileSync(file) };
}

/**
 * What the WebSocket port serves over HTTP, read once at start: the client SDK as an ES module
 * (`/client/ima-client.js`, its source map and type declarations, built by `npm run build`), and
 * with `demo` the demo chat page (`/demo`, files of demo/public/). A missing SDK build is logged,
 * not fatal: the gateway works without it.
 */
export function wsPortFiles(demo: boolean, log: Logger): Map<string, StaticFile> {
  const out = new Map<string, StaticFile>();
  const base = root();
  const client = path.join(base, 'dist', 'client');
  for (const name of ['ima-client.js', 'ima-client.js.map', 'ima-client.d.ts']) {
    const file = path.join(client, name);
    if (fs.existsSync(file)) out.set(`/client/${name}`, load(file));
  }
  if (!out.has('/client/ima-client.js')) log.warn({ dir: client }, 'client SDK not built (npm run build): /client/ima-client.js is not served');
  if (demo) {
    const dir = path.join(base, 'demo', 'public');
    if (!fs.existsSync(dir)) {
      log.warn({ dir }, 'demo page files not found: /demo is not served');
      return out;
    }
    for (const name of fs.readdirSync(dir)) out.set(`/demo/${name}`, load(path.join(dir, name)));
    const index = out.get('/demo/index.html');
    if (index !== undefined) {
      out.set('/demo', index);
      out.set('/demo/', index);
    }
  }
  return out;
}

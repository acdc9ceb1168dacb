/**
 * Free TCP ports for tests. This machine only allows listening ports below 32768, while the
 * kernel's ephemeral range (where listen(0) picks) starts at 32768: a port from listen(0) is used
 * only when it is below 32768, otherwise random candidates in [LOW, 32767] are probed by binding
 * them. A port handed out once is not handed out again by this process.
 */
import * as net from 'node:net';

const MAX_PORT = 32_767;
const LOW = 20_000;
const MAX_TRIES = 200;

const handedOut = new Set<number>();

function tryListen(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen({ port, host, exclusive: true }, () => {
      const addr = srv.address();
      const p = addr && typeof addr === 'object' ? addr.port : undefined;
      srv.close(() => resolve(p));
    });
  });
}

/** A port below 32768 that was free on host a moment ago. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < MAX_TRIES; i++) {
    // First ask the OS (cheapest); when its range is above the limit, probe random candidates.
    const candidate = i === 0 ? 0 : LOW + Math.floor(Math.random() * (MAX_PORT - LOW + 1));
    if (candidate !== 0 && handedOut.has(candidate)) continue;
    const port = await tryListen(candidate, host);
    if (port === undefined || port > MAX_PORT || handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`freePort: no free port below ${MAX_PORT + 1} on ${host} after ${MAX_TRIES} tries`);
}

/** n distinct free ports. */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const p = await freePort(host);
    if (!ports.includes(p)) ports.push(p);
  }
  return ports;
}

/** Whether port can be bound on host right now (not reserved; for tools that derive ports, like Nacos). */
export async function portIsFree(port: number, host = '0.0.0.0'): Promise<boolean> {
  return port > 0 && port <= MAX_PORT && !handedOut.has(port) && (await tryListen(port, host)) === port;
}

/** Marks a port as taken by this process (so freePort does not hand it out). */
export function reservePort(port: number): void {
  handedOut.add(port);
}

import * as os from 'node:os';

/**
 * The host other processes should use to reach a server bound to `bindHost`: `advertise` when
 * given, `bindHost` when it is a concrete address, else the first non-internal IPv4 address of
 * this machine (127.0.0.1 when there is none).
 */
export function advertisedHost(bindHost: string, advertise: string): string {
  if (advertise !== '') return advertise;
  if (bindHost !== '0.0.0.0' && bindHost !== '::' && bindHost !== '') return bindHost;
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

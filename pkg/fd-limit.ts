import * as fs from 'node:fs';

/**
 * The soft limit on open file descriptors of this process (`ulimit -n`), read from
 * /proc/self/limits; null where that file does not exist (not Linux) or says "unlimited".
 */
export function openFileLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (m === null) return null;
  const soft = Number(m[1]);
  return Number.isSafeInteger(soft) && soft > 0 ? soft : null;
}

/**
 * Connections a listener may hold so that the process keeps `reserve` descriptors for everything
 * else (other listeners and their clients, upstream channels, Redis, logs). At least 1.
 */
export function connectionCap(configured: number, fdLimit: number | null, reserve: number): { cap: number; limited: boolean } {
  if (fdLimit === null) return { cap: configured, limited: false };
  const room = Math.max(1, fdLimit - reserve);
  return room < configured ? { cap: room, limited: true } : { cap: configured, limited: false };
}

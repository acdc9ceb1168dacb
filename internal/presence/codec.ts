import { isPlatform } from '../protocol/codes';
import type { PresenceEntry } from './types';

/**
 * How a login is stored in the user hash (`<p>u:{<userId>}`, see redis/keys.ts): one field per
 * device, its value a short JSON. A device id starting with `#` is stored as `#<deviceId>` (so
 * `#x` becomes `##x`); a field with exactly one leading `#` is store metadata (`#epoch`). Device
 * ids round-trip unchanged.
 */

/** The user-hash field holding the user's epoch counter. */
export const EPOCH_FIELD = '#epoch';

/** deviceId -> hash field (device ids starting with '#' get one more '#'). */
export function deviceField(deviceId: string): string {
  return deviceId.startsWith('#') ? `#${deviceId}` : deviceId;
}

/** hash field -> deviceId, or undefined for a metadata field such as `#epoch`. */
export function fieldDevice(field: string): string | undefined {
  if (!field.startsWith('#')) return field;
  return field.startsWith('##') ? field.slice(1) : undefined;
}

/** The stored JSON of an entry: `{"p","i","e","t","ip"}` in that order. */
export function encodeEntry(e: Pick<PresenceEntry, 'platform' | 'instanceId' | 'epoch' | 'connectedAt' | 'clientIp'>): string {
  return JSON.stringify({ p: e.platform, i: e.instanceId, e: e.epoch, t: e.connectedAt, ip: e.clientIp });
}

/** Parses a stored entry; undefined when it is not one. */
export function decodeEntry(userId: string, field: string, json: string): PresenceEntry | undefined {
  const deviceId = fieldDevice(field);
  if (deviceId === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const { p, i, e, t, ip } = o;
  if (typeof p !== 'string' || !isPlatform(p) || typeof i !== 'string' || typeof e !== 'number' || typeof t !== 'number') return undefined;
  return { userId, deviceId, platform: p, instanceId: i, epoch: e, connectedAt: t, clientIp: typeof ip === 'string' ? ip : '' };
}

/**
 * Multi-device login policy (setting `multiDevice.*`, applied cluster-wide).
 *
 * A pure decision function: given every live session of one user (on any gateway instance) and a
 * new connection of that user, it decides whether the new one is admitted and which existing
 * sessions must go. It does no I/O; the caller closes victims with 4001 (REPLACED) or refuses the
 * new connection with 4001 when the decision is `admit: false`.
 *
 * Policies (`multiDevice.policy`):
 * | policy             | rule                                                                          |
 * | `allow_all`        | any number of devices                                                         |
 * | `one_per_platform` | one connection per platform                                                   |
 * | `one_per_class`    | one per class: mobile {ios, android}, desktop {windows, macos, linux},        |
 * |                    | pad {ipad, apad}, web {web}, miniweb {miniweb}                                |
 * | `pc_and_one_other` | desktop unlimited; all other platforms share one slot                         |
 * | `single_session`   | one connection per user                                                       |
 *
 * Always: a new connection with the same user and `deviceId` replaces the old one, whatever
 * `onConflict` says. `maxConnectionsPerUser` (0 or less = unlimited) caps the user's connections:
 * when admitting the new one would exceed it, the oldest existing ones go, whatever `onConflict`
 * says. `onConflict` only governs policy (slot) conflicts: `kick_old` kicks the conflicting old
 * sessions, `reject_new` refuses the new connection and changes nothing.
 */
import type { Platform } from '../protocol/codes';

export const POLICIES = ['allow_all', 'one_per_platform', 'one_per_class', 'pc_and_one_other', 'single_session'] as const;
export type PolicyName = (typeof POLICIES)[number];

export const CONFLICT_MODES = ['kick_old', 'reject_new'] as const;
export type ConflictMode = (typeof CONFLICT_MODES)[number];

/** Default of `multiDevice.maxConnectionsPerUser`. */
export const DEFAULT_MAX_CONNECTIONS_PER_USER = 10;
/** Default of `multiDevice.onConflict`. */
export const DEFAULT_CONFLICT_MODE: ConflictMode = 'kick_old';

const POLICY_SET: ReadonlySet<string> = new Set(POLICIES);
export function isPolicyName(value: string): value is PolicyName {
  return POLICY_SET.has(value);
}

const CONFLICT_MODE_SET: ReadonlySet<string> = new Set(CONFLICT_MODES);
export function isConflictMode(value: string): value is ConflictMode {
  return CONFLICT_MODE_SET.has(value);
}

export type DeviceClass = 'mobile' | 'desktop' | 'pad' | 'web' | 'miniweb';

const DEVICE_CLASS: Readonly<Record<Platform, DeviceClass>> = {
  ios: 'mobile',
  android: 'mobile',
  windows: 'desktop',
  macos: 'desktop',
  linux: 'desktop',
  ipad: 'pad',
  apad: 'pad',
  web: 'web',
  miniweb: 'miniweb',
};

/**
 * The device class of a platform: mobile {ios, android}, desktop {windows, macos, linux},
 * pad {ipad, apad}, web {web}, miniweb {miniweb}.
 */
export function deviceClass(p: Platform): DeviceClass {
  return DEVICE_CLASS[p];
}

export interface PolicySettings {
  readonly policy: PolicyName;
  /** Cap on the user's connections, the new one included; 0 or less (or NaN) = unlimited. */
  readonly maxConnectionsPerUser: number;
  readonly onConflict: ConflictMode;
}

/** One existing session of the user (on any instance). `epoch` identifies the connection; `connectedAt` unix ms. */
export interface ExistingSession {
  readonly deviceId: string;
  readonly platform: Platform;
  readonly connectedAt: number;
  readonly instanceId: string;
  readonly epoch: number;
}

export interface IncomingSession {
  readonly deviceId: string;
  readonly platform: Platform;
  readonly connectedAt: number;
}

/**
 * Why an existing session must go:
 * - `same_device`: the new connection has the same `deviceId` (always replaces);
 * - `policy`: it occupies the new connection's slot and `onConflict` is `kick_old`;
 * - `max_connections`: it is among the oldest and the user would exceed `maxConnectionsPerUser`.
 */
export type VictimReason = 'same_device' | 'policy' | 'max_connections';

export interface Victim {
  readonly session: ExistingSession;
  readonly reason: VictimReason;
}

/**
 * `admit: true`: the new connection joins; every victim is to be closed with 4001.
 * `admit: false` (only with `onConflict: 'reject_new'`): the new connection is refused with 4001;
 * `conflicts` are the existing sessions holding its slot (oldest first); nothing is kicked.
 */
export type PolicyDecision =
  | { readonly admit: true; readonly victims: readonly Victim[] }
  | { readonly admit: false; readonly conflicts: readonly ExistingSession[] };

const SLOT_USER = 'user';
const SLOT_NON_DESKTOP = 'other';

/**
 * The slot key two sessions conflict on under a policy: two sessions of one user conflict iff
 * both keys are non-null and equal. null = never conflicts (every platform under `allow_all`,
 * desktop under `pc_and_one_other`). Keys (stable, so a Redis Lua script can reimplement them):
 * - `one_per_platform`: `platform:<platform>`
 * - `one_per_class`:    `class:<deviceClass>`
 * - `pc_and_one_other`: null for desktop, `other` for every other platform
 * - `single_session`:   `user`
 */
export function slotKey(policy: PolicyName, platform: Platform): string | null {
  switch (policy) {
    case 'allow_all':
      return null;
    case 'one_per_platform':
      return `platform:${platform}`;
    case 'one_per_class':
      return `class:${DEVICE_CLASS[platform]}`;
    case 'pc_and_one_other':
      return DEVICE_CLASS[platform] === 'desktop' ? null : SLOT_NON_DESKTOP;
    case 'single_session':
      return SLOT_USER;
  }
}

/** Oldest first: smaller `connectedAt`, ties broken by smaller `epoch`. */
export function compareAge(a: ExistingSession, b: ExistingSession): number {
  if (a.connectedAt !== b.connectedAt) return a.connectedAt < b.connectedAt ? -1 : 1;
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return 0;
}

const NO_VICTIMS: readonly Victim[] = Object.freeze([]);
const ADMIT_NO_VICTIMS: PolicyDecision = Object.freeze({ admit: true, victims: NO_VICTIMS });

/**
 * Pure: decides whether `incoming` may join the user's `existing` sessions and who must go.
 *
 * Evaluation order:
 * 1. Existing sessions with the same `deviceId` as `incoming` are victims `same_device`, always.
 * 2. Among the rest, those whose `slotKey(policy, platform)` equals the incoming one's (non-null)
 *    are conflicts. With `kick_old` they become victims `policy`. With `reject_new` the decision
 *    is `{ admit: false, conflicts }` and NOTHING changes — not even the same-device session of
 *    step 1 is kicked: rejection wins, so a refused login never disturbs the user's live sessions.
 *    (A same-device reconnect with no other conflict is admitted and replaces the old session.)
 * 3. Of the sessions left, if `left + 1 > maxConnectionsPerUser` (and the cap is > 0), the oldest
 *    (smallest `connectedAt`, ties by smaller `epoch`) become victims `max_connections` until the
 *    new one fits — regardless of `onConflict`.
 *
 * Victims are ordered `same_device`, then `policy`, then `max_connections`, each oldest first.
 * Conflicts are ordered oldest first. Inputs are never mutated.
 */
export function decide(existing: readonly ExistingSession[], incoming: IncomingSession, settings: PolicySettings): PolicyDecision {
  if (existing.length === 0) return ADMIT_NO_VICTIMS;

  const slot = slotKey(settings.policy, incoming.platform);
  let sameDevice: ExistingSession[] | undefined;
  let conflicts: ExistingSession[] | undefined;
  let remaining: ExistingSession[] | undefined;

  for (const s of existing) {
    if (s.deviceId === incoming.deviceId) {
      (sameDevice ??= []).push(s);
    } else if (slot !== null && slotKey(settings.policy, s.platform) === slot) {
      (conflicts ??= []).push(s);
    } else {
      (remaining ??= []).push(s);
    }
  }

  if (conflicts !== undefined && settings.onConflict === 'reject_new') {
    return { admit: false, conflicts: conflicts.sort(compareAge) };
  }

  const max = settings.maxConnectionsPerUser;
  const excess = max > 0 && remaining !== undefined ? remaining.length + 1 - max : 0;
  if (sameDevice === undefined && conflicts === undefined && excess <= 0) return ADMIT_NO_VICTIMS;

  const victims: Victim[] = [];
  if (sameDevice !== undefined) {
    for (const session of sameDevice.sort(compareAge)) victims.push({ session, reason: 'same_device' });
  }
  if (conflicts !== undefined) {
    for (const session of conflicts.sort(compareAge)) victims.push({ session, reason: 'policy' });
  }
  if (excess > 0 && remaining !== undefined) {
    remaining.sort(compareAge);
    const n = Math.min(Math.ceil(excess), remaining.length);
    for (let i = 0; i < n; i++) {
      const session = remaining[i];
      if (session !== undefined) victims.push({ session, reason: 'max_connections' });
    }
  }
  return { admit: true, victims };
}

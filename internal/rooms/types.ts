/**
 * Rooms (SPEC.md section 9): named sets of subscriptions that one push reaches across the cluster.
 *
 * Two stores live here, each with a memory and a Redis implementation side by side:
 * - `RoomMembers`: user membership (JoinRoom / LeaveRoom), durable, cluster-wide: which users are
 *   in a room and which rooms a user is in (read once per login);
 * - `RoomInstances`: which instances hold at least one subscribed connection of a room, so a
 *   push contacts those instances only (never a per-member lookup).
 */

import { ROOM_NAME_RE } from '../protocol/frames';

export function isRoomName(v: unknown): v is string {
  return typeof v === 'string' && ROOM_NAME_RE.test(v);
}

export interface RoomMembers {
  /** Adds the users to the room (idempotent). */
  join(room: string, userIds: readonly string[]): Promise<void>;
  /** Removes the users from the room (idempotent). */
  leave(room: string, userIds: readonly string[]): Promise<void>;
  /** The rooms the user is a member of. */
  roomsOf(userId: string): Promise<string[]>;
  /** Member counts (users) of each room asked; 0 for an unknown room. */
  memberCounts(rooms: readonly string[]): Promise<Map<string, number>>;
}

export interface RoomInstances {
  /** This instance now has subscribers of `room`. */
  add(room: string): Promise<void>;
  /** This instance has no subscriber of `room` any more. */
  remove(room: string): Promise<void>;
  /** The instances that registered subscribers of each room (dead ones included: filter by liveness). */
  instancesOf(rooms: readonly string[]): Promise<Map<string, string[]>>;
  /** Deletes every registration of `instanceId` (its shutdown, or the sweep of a dead instance); how many rooms. */
  removeInstance(instanceId: string): Promise<number>;
  /** Registers this instance again for each of `rooms` (after Redis lost its data or this lease lapsed); how many. */
  writeBack(rooms: readonly string[]): Promise<number>;
}

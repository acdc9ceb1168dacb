import { decide } from '../policy/policy';
import type { PolicySettings } from '../policy/policy';
import type { NewLogin, PresenceEntry, PresenceStore, RegisterResult } from './types';

/** The single-instance presence store: everything in this process. */
export class MemoryPresenceStore implements PresenceStore {
  private readonly users = new Map<string, Map<string, PresenceEntry>>();
  private lastEpoch = 0;

  async register(login: NewLogin, settings: PolicySettings): Promise<RegisterResult> {
    return this.registerSync(login, settings);
  }

  /** The same as register, synchronously (the memory store needs no I/O). */
  registerSync(login: NewLogin, settings: PolicySettings): RegisterResult {
    let devices = this.users.get(login.userId);
    const existing = devices === undefined ? [] : [...devices.values()];
    const decision = decide(existing, login, settings);
    if (!decision.admit) return { admitted: false, conflicts: decision.conflicts };
    if (devices === undefined) {
      devices = new Map();
      this.users.set(login.userId, devices);
    }
    for (const v of decision.victims) devices.delete(v.session.deviceId);
    const epoch = ++this.lastEpoch;
    devices.set(login.deviceId, { ...login, epoch });
    return { admitted: true, epoch, victims: decision.victims };
  }

  async unregister(userId: string, deviceId: string, epoch: number): Promise<boolean> {
    const devices = this.users.get(userId);
    const e = devices?.get(deviceId);
    if (devices === undefined || e === undefined || e.epoch !== epoch) return false;
    devices.delete(deviceId);
    if (devices.size === 0) this.users.delete(userId);
    return true;
  }

  async sessions(userId: string): Promise<PresenceEntry[]> {
    const devices = this.users.get(userId);
    return devices === undefined ? [] : [...devices.values()];
  }

  async sessionsMany(userIds: readonly string[]): Promise<Map<string, PresenceEntry[]>> {
    const out = new Map<string, PresenceEntry[]>();
    for (const u of userIds) if (!out.has(u)) out.set(u, await this.sessions(u));
    return out;
  }

  async close(): Promise<void> {
    this.users.clear();
  }
}

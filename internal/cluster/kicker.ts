import type { KickUserResponse } from '../../api/gen/im/gateway/v1/KickUserResponse';
import type { Logger } from '../observability/logger';
import type { PeerForwarder } from './forwarder';
import type { InstanceDirectory } from './types';
import { KICK_CODE_HEADER, KICK_EPOCH_HEADER } from './types';

/**
 * Kicks a login owned by another instance: the victim of a cluster-wide login policy. It needs
 * only the directory and the peer channel, so the gateway can hold it without a cycle through
 * the cluster's push API.
 */
export class PeerKicker {
  constructor(
    private readonly directory: InstanceDirectory,
    private readonly peers: Pick<PeerForwarder, 'call'>,
    private readonly log: Logger,
  ) {}

  /**
   * Kicks one connection (user, device, epoch) of `instanceId` with `code` (4001 for a policy
   * victim). Resolves false when the instance could not be reached (its lease will expire and the
   * sweep removes the mapping).
   */
  async kickRemote(instanceId: string, userId: string, deviceId: string, epoch: number, code: number, reason: string): Promise<boolean> {
    let address: string | undefined;
    try {
      address = (await this.directory.liveInstances()).find((i) => i.instanceId === instanceId)?.address;
    } catch (e) {
      this.log.warn({ err: e, instanceId }, 'cannot list live instances: remote kick skipped');
      return false;
    }
    if (address === undefined) return false;
    const r = await this.peers.call<KickUserResponse>(address, 'KickUser', { userId, deviceId, reason }, { [KICK_CODE_HEADER]: String(code), [KICK_EPOCH_HEADER]: String(epoch) });
    if (!r.ok) this.log.warn({ instanceId, userId, deviceId, code: r.error.code }, 'remote kick failed');
    return r.ok;
  }
}

import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ClusterApi } from '../cluster/api';
import { PeerForwarder } from '../cluster/forwarder';
import { PeerKicker } from '../cluster/kicker';
import { ClusterMembership } from '../cluster/membership';
import type { InstanceInfo } from '../cluster/types';
import type { Config } from '../config/schema';
import type { RemoteKicker } from '../gateway/gateway';
import type { PushService } from '../gateway/push';
import type { Logger } from '../observability/logger';
import { MemoryPresenceStore } from '../presence/memory';
import { RedisPresenceStore } from '../presence/redis';
import { RedisInstanceLeases } from '../cluster/leases';
import type { LeaseInfo } from '../cluster/types';
import { RedisKeys } from '../redis/keys';
import { LocalRoomInstances, MemoryRoomMembers } from '../rooms/memory';
import { RedisRoomInstances, RedisRoomMembers } from '../rooms/redis';
import type { RoomInstances, RoomMembers } from '../rooms/types';
import { MemoryHistoryStore } from '../recovery/memory';
import { RedisHistoryStore } from '../recovery/redis';
import type { HistoryStore } from '../recovery/types';
import { createRedisClient } from '../redis/client';
import type { RedisClient } from '../redis/client';
import { ResilientPresenceStore } from '../presence/resilient';
import type { PresenceEntry, PresenceStore } from '../presence/types';
import type { GatewayApi } from '../rpc/api';
import type { Spans } from '../observability/tracing';
import { TracedPeerForwarder } from '../cluster/traced';

/** What the rest of the app needs of the cluster, memory (one instance) or Redis (many). */
export interface Cluster {
  readonly kind: 'memory' | 'redis';
  readonly presence: PresenceStore;
  /** Room membership (JoinRoom) and which instances hold a room's subscribers. */
  readonly roomMembers: RoomMembers;
  readonly roomInstances: RoomInstances;
  /** Numbered pushes and their history (memory, or Redis streams in a cluster); null = recovery off. */
  readonly history: HistoryStore | null;
  /** The Redis client, for the pub/sub ingress (which opens its own subscriber connection from it); null on a single instance. */
  readonly redis: RedisClient | null;
  readonly keys: RedisKeys;
  /** Kicks policy victims held by other instances; null on a single instance. */
  readonly kicker: RemoteKicker | null;
  /** The push API the transports serve: the local one, or the cluster decorator routing to owners. */
  api(local: PushService): GatewayApi;
  /** Lease, sweep and re-registration loop; null on a single instance. `rooms`: this instance's room state (written back with the mappings). */
  membership(lease: () => LeaseInfo, rooms: LocalRoomState): ClusterMembership | null;
  /** The live instances (this one alone on a single instance). */
  liveInstances(self: () => InstanceInfo & { connections: number; users: number }): Promise<Array<InstanceInfo & { connections?: number; users?: number }>>;
  /** Releases the peer channels and the shared Redis client (after membership stopped). */
  close(): Promise<void>;
}

export interface ClusterDeps {
  readonly instanceId: string;
  /** This instance's own logins of a user (the fallback while Redis is unreachable). */
  readonly localSessions: (userId: string) => PresenceEntry[];
  /** Every login of this instance (written back to Redis when it returns). */
  readonly localEntries: () => PresenceEntry[];
  readonly log: Logger;
  /** Tracing on: every call to another instance a client span; null = off. */
  readonly spans: Spans | null;
}

/** What the membership loop needs of this instance's rooms (the RoomHub). */
export interface LocalRoomState {
  /** Rooms with subscribers here. */
  localRooms(): string[];
  hasMissed(): boolean;
  /** Subscribes the member rooms of logins made while Redis was unreachable. */
  retryMissed(): Promise<number>;
}

/** Memory or Redis by configuration: `redis.url` empty = one instance. */
export function buildCluster(config: Config, d: ClusterDeps): Cluster {
  const kind: 'memory' | 'redis' = config.redis.url === '' ? 'memory' : 'redis';
  switch (kind) {
    case 'memory':
      return memoryCluster(config, d);
    case 'redis':
      return redisCluster(config, d);
  }
}

function memoryCluster(config: Config, d: ClusterDeps): Cluster {
  const history = config.recovery.enabled
    ? new MemoryHistoryStore({ historySize: config.recovery.historySize, historyTtlMs: config.recovery.historyTtlSec * 1000, maxStreams: config.recovery.maxStreams })
    : null;
  return {
    kind: 'memory',
    presence: new MemoryPresenceStore(),
    roomMembers: new MemoryRoomMembers(),
    roomInstances: new LocalRoomInstances(d.instanceId),
    history,
    redis: null,
    keys: new RedisKeys(config.redis.keyPrefix),
    kicker: null,
    api: (local) => local,
    membership: () => null,
    liveInstances: async (self) => [self()],
    close: async () => {
      await history?.close();
    },
  };
}

function redisCluster(config: Config, d: ClusterDeps): Cluster {
  const client: RedisClient = createRedisClient(config.redis.url, config.redis.cluster, { log: d.log });
  const keys = new RedisKeys(config.redis.keyPrefix);
  const leases = new RedisInstanceLeases(client, keys, { instanceId: d.instanceId, leaseTtlMs: config.redis.leaseTtlSec * 1000 });
  const store = new RedisPresenceStore(client, keys, leases, d.log);
  const resilient = new ResilientPresenceStore(store, d.localSessions, d.log);
  const roomInstances = new RedisRoomInstances(client, keys, d.instanceId);
  const channel = new PeerForwarder(config.server.apiToken, 5000, peerCredentials(config.server));
  const peers = d.spans === null ? channel : new TracedPeerForwarder(channel, d.spans);
  return {
    kind: 'redis',
    presence: resilient,
    roomMembers: new RedisRoomMembers(client, keys),
    roomInstances,
    history: config.recovery.enabled ? new RedisHistoryStore(client, keys, { historySize: config.recovery.historySize, historyTtlMs: config.recovery.historyTtlSec * 1000 }) : null,
    redis: client,
    keys,
    kicker: new PeerKicker(leases, peers, d.log),
    api: (local) => new ClusterApi(d.instanceId, local, resilient, leases, peers, d.log, roomInstances),
    membership: (lease, rooms) =>
      new ClusterMembership(
        d.instanceId,
        leases,
        store,
        resilient,
        lease,
        d.localEntries,
        { leaseRefreshMs: config.redis.leaseRefreshSec * 1000, sweepEveryMs: config.redis.sweepEverySec * 1000 },
        d.log,
        [
          { name: 'room instances', removeInstance: (id) => roomInstances.removeInstance(id), writeBack: () => roomInstances.writeBack(rooms.localRooms()) },
          { name: 'member rooms of logins while Redis was down', removeInstance: async () => 0, writeBack: () => rooms.retryMissed(), pending: () => rooms.hasMissed() },
        ],
      ),
    liveInstances: () => leases.liveInstances(),
    close: async () => {
      channel.close();
      await resilient.close();
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/**
 * Instances call each other like any client: over TLS (presenting their own certificate, for
 * mTLS) when the gRPC server uses TLS, trusting tlsCaFile, else the instance certificate itself.
 */
function peerCredentials(srv: Config['server']): grpc.ChannelCredentials {
  if (srv.tlsCertFile === '') return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(fs.readFileSync(srv.tlsCaFile !== '' ? srv.tlsCaFile : srv.tlsCertFile), fs.readFileSync(srv.tlsKeyFile), fs.readFileSync(srv.tlsCertFile));
}

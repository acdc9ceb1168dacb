/** The load counters of the soak, shared by the load processes (soak-load.ts) and the orchestrator (soak.ts). */

export interface LoadCounters {
  connectsStarted: number;
  connected: number;
  connectFailed: number;
  closedByClient: number;
  replaced: number;
  kicked: number;
  messagesSent: number;
  acks: number;
  echoes: number;
  pingsSent: number;
  pongs: number;
  pushToUserCalls: number;
  pushToUsersCalls: number;
  broadcastCalls: number;
  kickUserCalls: number;
  callErrors: number;
  /** `delivered` of the PushToUser and PushToUsers responses. */
  pushDelivered: number;
  /** `delivered` of the Broadcast responses (the frames land in every load process). */
  broadcastDelivered: number;
  pushFramesReceived: number;
  broadcastFramesReceived: number;
  unexpected: number;
}

/** Every counter at 0. */
export function zeroCounters(): LoadCounters {
  return {
    connectsStarted: 0,
    connected: 0,
    connectFailed: 0,
    closedByClient: 0,
    replaced: 0,
    kicked: 0,
    messagesSent: 0,
    acks: 0,
    echoes: 0,
    pingsSent: 0,
    pongs: 0,
    pushToUserCalls: 0,
    pushToUsersCalls: 0,
    broadcastCalls: 0,
    kickUserCalls: 0,
    callErrors: 0,
    pushDelivered: 0,
    broadcastDelivered: 0,
    pushFramesReceived: 0,
    broadcastFramesReceived: 0,
    unexpected: 0,
  };
}

// Original file: api/im_gateway.proto

import type { ServerMessage as _im_gateway_v1_ServerMessage, ServerMessageOutput as _im_gateway_v1_ServerMessageOutput } from '../../../im/gateway/v1/ServerMessage';

export interface BroadcastRequest {
  'message'?: (_im_gateway_v1_ServerMessage | null);
  'platforms'?: (string)[];
}

export interface BroadcastRequestOutput {
  'message': (_im_gateway_v1_ServerMessageOutput | null);
  'platforms': (string)[];
}

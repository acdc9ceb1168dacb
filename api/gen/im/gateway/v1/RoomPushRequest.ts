// Original file: api/im_gateway.proto

import type { ServerMessage as _im_gateway_v1_ServerMessage, ServerMessageOutput as _im_gateway_v1_ServerMessageOutput } from '../../../im/gateway/v1/ServerMessage';

export interface RoomPushRequest {
  'room'?: (string);
  'message'?: (_im_gateway_v1_ServerMessage | null);
  'excludeUserIds'?: (string)[];
  'platforms'?: (string)[];
}

export interface RoomPushRequestOutput {
  'room': (string);
  'message': (_im_gateway_v1_ServerMessageOutput | null);
  'excludeUserIds': (string)[];
  'platforms': (string)[];
}

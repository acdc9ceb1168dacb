// Original file: api/im_gateway.proto

import type { ServerMessage as _im_gateway_v1_ServerMessage, ServerMessageOutput as _im_gateway_v1_ServerMessageOutput } from '../../../im/gateway/v1/ServerMessage';

export interface PushRequest {
  'userId'?: (string);
  'userIds'?: (string)[];
  'message'?: (_im_gateway_v1_ServerMessage | null);
  'deviceIds'?: (string)[];
  'platforms'?: (string)[];
  'excludeDeviceIds'?: (string)[];
}

export interface PushRequestOutput {
  'userId': (string);
  'userIds': (string)[];
  'message': (_im_gateway_v1_ServerMessageOutput | null);
  'deviceIds': (string)[];
  'platforms': (string)[];
  'excludeDeviceIds': (string)[];
}

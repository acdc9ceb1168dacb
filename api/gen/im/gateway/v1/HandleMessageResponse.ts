// Original file: api/im_gateway.proto

import type { ServerMessage as _im_gateway_v1_ServerMessage, ServerMessageOutput as _im_gateway_v1_ServerMessageOutput } from '../../../im/gateway/v1/ServerMessage';

export interface HandleMessageResponse {
  'code'?: (number);
  'message'?: (string);
  'replies'?: (_im_gateway_v1_ServerMessage)[];
}

export interface HandleMessageResponseOutput {
  'code': (number);
  'message': (string);
  'replies': (_im_gateway_v1_ServerMessageOutput)[];
}

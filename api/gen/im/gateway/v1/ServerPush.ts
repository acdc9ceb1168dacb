// Original file: api/im_gateway.proto

import type { PushRequest as _im_gateway_v1_PushRequest, PushRequestOutput as _im_gateway_v1_PushRequestOutput } from '../../../im/gateway/v1/PushRequest';
import type { BroadcastRequest as _im_gateway_v1_BroadcastRequest, BroadcastRequestOutput as _im_gateway_v1_BroadcastRequestOutput } from '../../../im/gateway/v1/BroadcastRequest';
import type { KickUserRequest as _im_gateway_v1_KickUserRequest, KickUserRequestOutput as _im_gateway_v1_KickUserRequestOutput } from '../../../im/gateway/v1/KickUserRequest';
import type { RoomPushRequest as _im_gateway_v1_RoomPushRequest, RoomPushRequestOutput as _im_gateway_v1_RoomPushRequestOutput } from '../../../im/gateway/v1/RoomPushRequest';

export interface ServerPush {
  'commandId'?: (string);
  'push'?: (_im_gateway_v1_PushRequest | null);
  'broadcast'?: (_im_gateway_v1_BroadcastRequest | null);
  'kick'?: (_im_gateway_v1_KickUserRequest | null);
  'roomPush'?: (_im_gateway_v1_RoomPushRequest | null);
  'command'?: "push"|"broadcast"|"kick"|"roomPush";
}

export interface ServerPushOutput {
  'commandId': (string);
  'push'?: (_im_gateway_v1_PushRequestOutput | null);
  'broadcast'?: (_im_gateway_v1_BroadcastRequestOutput | null);
  'kick'?: (_im_gateway_v1_KickUserRequestOutput | null);
  'roomPush'?: (_im_gateway_v1_RoomPushRequestOutput | null);
  'command'?: "push"|"broadcast"|"kick"|"roomPush";
}

// Original file: api/im_gateway.proto

import type { RoomStatus as _im_gateway_v1_RoomStatus, RoomStatusOutput as _im_gateway_v1_RoomStatusOutput } from '../../../im/gateway/v1/RoomStatus';

export interface RoomStatusResponse {
  'rooms'?: (_im_gateway_v1_RoomStatus)[];
}

export interface RoomStatusResponseOutput {
  'rooms': (_im_gateway_v1_RoomStatusOutput)[];
}

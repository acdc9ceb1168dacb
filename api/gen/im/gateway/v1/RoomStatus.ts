// Original file: api/im_gateway.proto

import type { Long } from '@grpc/proto-loader';

export interface RoomStatus {
  'room'?: (string);
  'members'?: (number | string | Long);
  'connections'?: (number | string | Long);
}

export interface RoomStatusOutput {
  'room': (string);
  'members': (number);
  'connections': (number);
}

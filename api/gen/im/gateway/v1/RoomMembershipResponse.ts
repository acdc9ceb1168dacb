// Original file: api/im_gateway.proto

import type { Long } from '@grpc/proto-loader';

export interface RoomMembershipResponse {
  'success'?: (boolean);
  'connections'?: (number | string | Long);
}

export interface RoomMembershipResponseOutput {
  'success': (boolean);
  'connections': (number);
}

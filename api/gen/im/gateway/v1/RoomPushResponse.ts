// Original file: api/im_gateway.proto

import type { Long } from '@grpc/proto-loader';

export interface RoomPushResponse {
  'success'?: (boolean);
  'delivered'?: (number | string | Long);
  'instances'?: (number);
}

export interface RoomPushResponseOutput {
  'success': (boolean);
  'delivered': (number);
  'instances': (number);
}

// Original file: api/im_gateway.proto

import type { Long } from '@grpc/proto-loader';

export interface BroadcastResponse {
  'success'?: (boolean);
  'delivered'?: (number | string | Long);
  'instances'?: (number);
}

export interface BroadcastResponseOutput {
  'success': (boolean);
  'delivered': (number);
  'instances': (number);
}

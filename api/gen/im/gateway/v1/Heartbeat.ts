// Original file: api/im_gateway.proto

import type { Long } from '@grpc/proto-loader';

export interface Heartbeat {
  'instanceId'?: (string);
  'address'?: (string);
  'connections'?: (number | string | Long);
  'users'?: (number | string | Long);
  'timestamp'?: (number | string | Long);
}

export interface HeartbeatOutput {
  'instanceId': (string);
  'address': (string);
  'connections': (number);
  'users': (number);
  'timestamp': (number);
}

// Original file: api/im_gateway.proto

import type { ConnectionEvent as _im_gateway_v1_ConnectionEvent, ConnectionEventOutput as _im_gateway_v1_ConnectionEventOutput } from '../../../im/gateway/v1/ConnectionEvent';
import type { Long } from '@grpc/proto-loader';

export interface ConnectionStatus {
  'userId'?: (string);
  'deviceId'?: (string);
  'platform'?: (string);
  'online'?: (boolean);
  'instanceId'?: (string);
  'connectedAt'?: (number | string | Long);
  'clientIp'?: (string);
  'event'?: (_im_gateway_v1_ConnectionEvent);
  'reason'?: (string);
}

export interface ConnectionStatusOutput {
  'userId': (string);
  'deviceId': (string);
  'platform': (string);
  'online': (boolean);
  'instanceId': (string);
  'connectedAt': (number);
  'clientIp': (string);
  'event': (_im_gateway_v1_ConnectionEventOutput);
  'reason': (string);
}

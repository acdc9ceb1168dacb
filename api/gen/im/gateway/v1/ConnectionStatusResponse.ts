// Original file: api/im_gateway.proto

import type { ConnectionStatus as _im_gateway_v1_ConnectionStatus, ConnectionStatusOutput as _im_gateway_v1_ConnectionStatusOutput } from '../../../im/gateway/v1/ConnectionStatus';

export interface ConnectionStatusResponse {
  'statuses'?: (_im_gateway_v1_ConnectionStatus)[];
}

export interface ConnectionStatusResponseOutput {
  'statuses': (_im_gateway_v1_ConnectionStatusOutput)[];
}

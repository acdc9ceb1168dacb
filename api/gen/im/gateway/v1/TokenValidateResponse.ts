// Original file: api/im_gateway.proto

import type { Long } from '@grpc/proto-loader';

export interface TokenValidateResponse {
  'valid'?: (boolean);
  'userId'?: (string);
  'deviceId'?: (string);
  'platform'?: (string);
  'expireAt'?: (number | string | Long);
  'code'?: (number);
  'message'?: (string);
}

export interface TokenValidateResponseOutput {
  'valid': (boolean);
  'userId': (string);
  'deviceId': (string);
  'platform': (string);
  'expireAt': (number);
  'code': (number);
  'message': (string);
}

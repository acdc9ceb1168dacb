// Original file: api/im_gateway.proto


export interface KickUserRequest {
  'userId'?: (string);
  'deviceId'?: (string);
  'reason'?: (string);
}

export interface KickUserRequestOutput {
  'userId': (string);
  'deviceId': (string);
  'reason': (string);
}

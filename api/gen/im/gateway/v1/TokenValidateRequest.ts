// Original file: api/im_gateway.proto


export interface TokenValidateRequest {
  'token'?: (string);
  'deviceId'?: (string);
  'platform'?: (string);
  'clientIp'?: (string);
  'instanceId'?: (string);
}

export interface TokenValidateRequestOutput {
  'token': (string);
  'deviceId': (string);
  'platform': (string);
  'clientIp': (string);
  'instanceId': (string);
}

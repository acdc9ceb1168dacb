// Original file: api/im_gateway.proto


export interface ConnectionStatusRequest {
  'userIds'?: (string)[];
}

export interface ConnectionStatusRequestOutput {
  'userIds': (string)[];
}

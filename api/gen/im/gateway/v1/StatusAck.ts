// Original file: api/im_gateway.proto


export interface StatusAck {
  'success'?: (boolean);
}

export interface StatusAckOutput {
  'success': (boolean);
}

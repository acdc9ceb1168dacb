// Original file: api/im_gateway.proto


export interface KickUserResponse {
  'success'?: (boolean);
  'kicked'?: (number);
}

export interface KickUserResponseOutput {
  'success': (boolean);
  'kicked': (number);
}

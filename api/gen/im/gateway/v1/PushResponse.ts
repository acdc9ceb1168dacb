// Original file: api/im_gateway.proto


export interface PushResponse {
  'success'?: (boolean);
  'delivered'?: (number);
  'offlineUserIds'?: (string)[];
}

export interface PushResponseOutput {
  'success': (boolean);
  'delivered': (number);
  'offlineUserIds': (string)[];
}

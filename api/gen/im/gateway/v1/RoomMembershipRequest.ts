// Original file: api/im_gateway.proto


export interface RoomMembershipRequest {
  'room'?: (string);
  'userIds'?: (string)[];
}

export interface RoomMembershipRequestOutput {
  'room': (string);
  'userIds': (string)[];
}

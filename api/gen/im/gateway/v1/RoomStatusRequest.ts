// Original file: api/im_gateway.proto


export interface RoomStatusRequest {
  'rooms'?: (string)[];
}

export interface RoomStatusRequestOutput {
  'rooms': (string)[];
}

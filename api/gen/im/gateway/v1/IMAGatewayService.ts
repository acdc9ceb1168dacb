// Original file: api/im_gateway.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { BroadcastRequest as _im_gateway_v1_BroadcastRequest, BroadcastRequestOutput as _im_gateway_v1_BroadcastRequestOutput } from '../../../im/gateway/v1/BroadcastRequest';
import type { BroadcastResponse as _im_gateway_v1_BroadcastResponse, BroadcastResponseOutput as _im_gateway_v1_BroadcastResponseOutput } from '../../../im/gateway/v1/BroadcastResponse';
import type { ConnectionStatusRequest as _im_gateway_v1_ConnectionStatusRequest, ConnectionStatusRequestOutput as _im_gateway_v1_ConnectionStatusRequestOutput } from '../../../im/gateway/v1/ConnectionStatusRequest';
import type { ConnectionStatusResponse as _im_gateway_v1_ConnectionStatusResponse, ConnectionStatusResponseOutput as _im_gateway_v1_ConnectionStatusResponseOutput } from '../../../im/gateway/v1/ConnectionStatusResponse';
import type { KickUserRequest as _im_gateway_v1_KickUserRequest, KickUserRequestOutput as _im_gateway_v1_KickUserRequestOutput } from '../../../im/gateway/v1/KickUserRequest';
import type { KickUserResponse as _im_gateway_v1_KickUserResponse, KickUserResponseOutput as _im_gateway_v1_KickUserResponseOutput } from '../../../im/gateway/v1/KickUserResponse';
import type { PushRequest as _im_gateway_v1_PushRequest, PushRequestOutput as _im_gateway_v1_PushRequestOutput } from '../../../im/gateway/v1/PushRequest';
import type { PushResponse as _im_gateway_v1_PushResponse, PushResponseOutput as _im_gateway_v1_PushResponseOutput } from '../../../im/gateway/v1/PushResponse';
import type { RoomMembershipRequest as _im_gateway_v1_RoomMembershipRequest, RoomMembershipRequestOutput as _im_gateway_v1_RoomMembershipRequestOutput } from '../../../im/gateway/v1/RoomMembershipRequest';
import type { RoomMembershipResponse as _im_gateway_v1_RoomMembershipResponse, RoomMembershipResponseOutput as _im_gateway_v1_RoomMembershipResponseOutput } from '../../../im/gateway/v1/RoomMembershipResponse';
import type { RoomPushRequest as _im_gateway_v1_RoomPushRequest, RoomPushRequestOutput as _im_gateway_v1_RoomPushRequestOutput } from '../../../im/gateway/v1/RoomPushRequest';
import type { RoomPushResponse as _im_gateway_v1_RoomPushResponse, RoomPushResponseOutput as _im_gateway_v1_RoomPushResponseOutput } from '../../../im/gateway/v1/RoomPushResponse';
import type { RoomStatusRequest as _im_gateway_v1_RoomStatusRequest, RoomStatusRequestOutput as _im_gateway_v1_RoomStatusRequestOutput } from '../../../im/gateway/v1/RoomStatusRequest';
import type { RoomStatusResponse as _im_gateway_v1_RoomStatusResponse, RoomStatusResponseOutput as _im_gateway_v1_RoomStatusResponseOutput } from '../../../im/gateway/v1/RoomStatusResponse';

export interface IMAGatewayServiceClient extends grpc.Client {
  Broadcast(argument: _im_gateway_v1_BroadcastRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_BroadcastResponseOutput>): grpc.ClientUnaryCall;
  Broadcast(argument: _im_gateway_v1_BroadcastRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_BroadcastResponseOutput>): grpc.ClientUnaryCall;
  Broadcast(argument: _im_gateway_v1_BroadcastRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_BroadcastResponseOutput>): grpc.ClientUnaryCall;
  Broadcast(argument: _im_gateway_v1_BroadcastRequest, callback: grpc.requestCallback<_im_gateway_v1_BroadcastResponseOutput>): grpc.ClientUnaryCall;
  broadcast(argument: _im_gateway_v1_BroadcastRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_BroadcastResponseOutput>): grpc.ClientUnaryCall;
  broadcast(argument: _im_gateway_v1_BroadcastRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_BroadcastResponseOutput>): grpc.ClientUnaryCall;
  broadcast(argument: _im_gateway_v1_BroadcastRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_BroadcastResponseOutput>): grpc.ClientUnaryCall;
  broadcast(argument: _im_gateway_v1_BroadcastRequest, callback: grpc.requestCallback<_im_gateway_v1_BroadcastResponseOutput>): grpc.ClientUnaryCall;
  
  GetConnectionStatus(argument: _im_gateway_v1_ConnectionStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_ConnectionStatusResponseOutput>): grpc.ClientUnaryCall;
  GetConnectionStatus(argument: _im_gateway_v1_ConnectionStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_ConnectionStatusResponseOutput>): grpc.ClientUnaryCall;
  GetConnectionStatus(argument: _im_gateway_v1_ConnectionStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_ConnectionStatusResponseOutput>): grpc.ClientUnaryCall;
  GetConnectionStatus(argument: _im_gateway_v1_ConnectionStatusRequest, callback: grpc.requestCallback<_im_gateway_v1_ConnectionStatusResponseOutput>): grpc.ClientUnaryCall;
  getConnectionStatus(argument: _im_gateway_v1_ConnectionStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_ConnectionStatusResponseOutput>): grpc.ClientUnaryCall;
  getConnectionStatus(argument: _im_gateway_v1_ConnectionStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_ConnectionStatusResponseOutput>): grpc.ClientUnaryCall;
  getConnectionStatus(argument: _im_gateway_v1_ConnectionStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_ConnectionStatusResponseOutput>): grpc.ClientUnaryCall;
  getConnectionStatus(argument: _im_gateway_v1_ConnectionStatusRequest, callback: grpc.requestCallback<_im_gateway_v1_ConnectionStatusResponseOutput>): grpc.ClientUnaryCall;
  
  GetRoomStatus(argument: _im_gateway_v1_RoomStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomStatusResponseOutput>): grpc.ClientUnaryCall;
  GetRoomStatus(argument: _im_gateway_v1_RoomStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_RoomStatusResponseOutput>): grpc.ClientUnaryCall;
  GetRoomStatus(argument: _im_gateway_v1_RoomStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomStatusResponseOutput>): grpc.ClientUnaryCall;
  GetRoomStatus(argument: _im_gateway_v1_RoomStatusRequest, callback: grpc.requestCallback<_im_gateway_v1_RoomStatusResponseOutput>): grpc.ClientUnaryCall;
  getRoomStatus(argument: _im_gateway_v1_RoomStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomStatusResponseOutput>): grpc.ClientUnaryCall;
  getRoomStatus(argument: _im_gateway_v1_RoomStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_RoomStatusResponseOutput>): grpc.ClientUnaryCall;
  getRoomStatus(argument: _im_gateway_v1_RoomStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomStatusResponseOutput>): grpc.ClientUnaryCall;
  getRoomStatus(argument: _im_gateway_v1_RoomStatusRequest, callback: grpc.requestCallback<_im_gateway_v1_RoomStatusResponseOutput>): grpc.ClientUnaryCall;
  
  JoinRoom(argument: _im_gateway_v1_RoomMembershipRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  JoinRoom(argument: _im_gateway_v1_RoomMembershipRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  JoinRoom(argument: _im_gateway_v1_RoomMembershipRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  JoinRoom(argument: _im_gateway_v1_RoomMembershipRequest, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  joinRoom(argument: _im_gateway_v1_RoomMembershipRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  joinRoom(argument: _im_gateway_v1_RoomMembershipRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  joinRoom(argument: _im_gateway_v1_RoomMembershipRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  joinRoom(argument: _im_gateway_v1_RoomMembershipRequest, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  
  KickUser(argument: _im_gateway_v1_KickUserRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_KickUserResponseOutput>): grpc.ClientUnaryCall;
  KickUser(argument: _im_gateway_v1_KickUserRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_KickUserResponseOutput>): grpc.ClientUnaryCall;
  KickUser(argument: _im_gateway_v1_KickUserRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_KickUserResponseOutput>): grpc.ClientUnaryCall;
  KickUser(argument: _im_gateway_v1_KickUserRequest, callback: grpc.requestCallback<_im_gateway_v1_KickUserResponseOutput>): grpc.ClientUnaryCall;
  kickUser(argument: _im_gateway_v1_KickUserRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_KickUserResponseOutput>): grpc.ClientUnaryCall;
  kickUser(argument: _im_gateway_v1_KickUserRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_KickUserResponseOutput>): grpc.ClientUnaryCall;
  kickUser(argument: _im_gateway_v1_KickUserRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_KickUserResponseOutput>): grpc.ClientUnaryCall;
  kickUser(argument: _im_gateway_v1_KickUserRequest, callback: grpc.requestCallback<_im_gateway_v1_KickUserResponseOutput>): grpc.ClientUnaryCall;
  
  LeaveRoom(argument: _im_gateway_v1_RoomMembershipRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  LeaveRoom(argument: _im_gateway_v1_RoomMembershipRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  LeaveRoom(argument: _im_gateway_v1_RoomMembershipRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  LeaveRoom(argument: _im_gateway_v1_RoomMembershipRequest, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  leaveRoom(argument: _im_gateway_v1_RoomMembershipRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  leaveRoom(argument: _im_gateway_v1_RoomMembershipRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  leaveRoom(argument: _im_gateway_v1_RoomMembershipRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  leaveRoom(argument: _im_gateway_v1_RoomMembershipRequest, callback: grpc.requestCallback<_im_gateway_v1_RoomMembershipResponseOutput>): grpc.ClientUnaryCall;
  
  PushToRoom(argument: _im_gateway_v1_RoomPushRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomPushResponseOutput>): grpc.ClientUnaryCall;
  PushToRoom(argument: _im_gateway_v1_RoomPushRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_RoomPushResponseOutput>): grpc.ClientUnaryCall;
  PushToRoom(argument: _im_gateway_v1_RoomPushRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomPushResponseOutput>): grpc.ClientUnaryCall;
  PushToRoom(argument: _im_gateway_v1_RoomPushRequest, callback: grpc.requestCallback<_im_gateway_v1_RoomPushResponseOutput>): grpc.ClientUnaryCall;
  pushToRoom(argument: _im_gateway_v1_RoomPushRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomPushResponseOutput>): grpc.ClientUnaryCall;
  pushToRoom(argument: _im_gateway_v1_RoomPushRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_RoomPushResponseOutput>): grpc.ClientUnaryCall;
  pushToRoom(argument: _im_gateway_v1_RoomPushRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_RoomPushResponseOutput>): grpc.ClientUnaryCall;
  pushToRoom(argument: _im_gateway_v1_RoomPushRequest, callback: grpc.requestCallback<_im_gateway_v1_RoomPushResponseOutput>): grpc.ClientUnaryCall;
  
  PushToUser(argument: _im_gateway_v1_PushRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  PushToUser(argument: _im_gateway_v1_PushRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  PushToUser(argument: _im_gateway_v1_PushRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  PushToUser(argument: _im_gateway_v1_PushRequest, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  pushToUser(argument: _im_gateway_v1_PushRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  pushToUser(argument: _im_gateway_v1_PushRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  pushToUser(argument: _im_gateway_v1_PushRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  pushToUser(argument: _im_gateway_v1_PushRequest, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  
  PushToUsers(argument: _im_gateway_v1_PushRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  PushToUsers(argument: _im_gateway_v1_PushRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  PushToUsers(argument: _im_gateway_v1_PushRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  PushToUsers(argument: _im_gateway_v1_PushRequest, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  pushToUsers(argument: _im_gateway_v1_PushRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  pushToUsers(argument: _im_gateway_v1_PushRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  pushToUsers(argument: _im_gateway_v1_PushRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  pushToUsers(argument: _im_gateway_v1_PushRequest, callback: grpc.requestCallback<_im_gateway_v1_PushResponseOutput>): grpc.ClientUnaryCall;
  
}

export interface IMAGatewayServiceHandlers extends grpc.UntypedServiceImplementation {
  Broadcast: grpc.handleUnaryCall<_im_gateway_v1_BroadcastRequestOutput, _im_gateway_v1_BroadcastResponse>;
  
  GetConnectionStatus: grpc.handleUnaryCall<_im_gateway_v1_ConnectionStatusRequestOutput, _im_gateway_v1_ConnectionStatusResponse>;
  
  GetRoomStatus: grpc.handleUnaryCall<_im_gateway_v1_RoomStatusRequestOutput, _im_gateway_v1_RoomStatusResponse>;
  
  JoinRoom: grpc.handleUnaryCall<_im_gateway_v1_RoomMembershipRequestOutput, _im_gateway_v1_RoomMembershipResponse>;
  
  KickUser: grpc.handleUnaryCall<_im_gateway_v1_KickUserRequestOutput, _im_gateway_v1_KickUserResponse>;
  
  LeaveRoom: grpc.handleUnaryCall<_im_gateway_v1_RoomMembershipRequestOutput, _im_gateway_v1_RoomMembershipResponse>;
  
  PushToRoom: grpc.handleUnaryCall<_im_gateway_v1_RoomPushRequestOutput, _im_gateway_v1_RoomPushResponse>;
  
  PushToUser: grpc.handleUnaryCall<_im_gateway_v1_PushRequestOutput, _im_gateway_v1_PushResponse>;
  
  PushToUsers: grpc.handleUnaryCall<_im_gateway_v1_PushRequestOutput, _im_gateway_v1_PushResponse>;
  
}

export interface IMAGatewayServiceDefinition extends grpc.ServiceDefinition {
  Broadcast: MethodDefinition<_im_gateway_v1_BroadcastRequest, _im_gateway_v1_BroadcastResponse, _im_gateway_v1_BroadcastRequestOutput, _im_gateway_v1_BroadcastResponseOutput>
  GetConnectionStatus: MethodDefinition<_im_gateway_v1_ConnectionStatusRequest, _im_gateway_v1_ConnectionStatusResponse, _im_gateway_v1_ConnectionStatusRequestOutput, _im_gateway_v1_ConnectionStatusResponseOutput>
  GetRoomStatus: MethodDefinition<_im_gateway_v1_RoomStatusRequest, _im_gateway_v1_RoomStatusResponse, _im_gateway_v1_RoomStatusRequestOutput, _im_gateway_v1_RoomStatusResponseOutput>
  JoinRoom: MethodDefinition<_im_gateway_v1_RoomMembershipRequest, _im_gateway_v1_RoomMembershipResponse, _im_gateway_v1_RoomMembershipRequestOutput, _im_gateway_v1_RoomMembershipResponseOutput>
  KickUser: MethodDefinition<_im_gateway_v1_KickUserRequest, _im_gateway_v1_KickUserResponse, _im_gateway_v1_KickUserRequestOutput, _im_gateway_v1_KickUserResponseOutput>
  LeaveRoom: MethodDefinition<_im_gateway_v1_RoomMembershipRequest, _im_gateway_v1_RoomMembershipResponse, _im_gateway_v1_RoomMembershipRequestOutput, _im_gateway_v1_RoomMembershipResponseOutput>
  PushToRoom: MethodDefinition<_im_gateway_v1_RoomPushRequest, _im_gateway_v1_RoomPushResponse, _im_gateway_v1_RoomPushRequestOutput, _im_gateway_v1_RoomPushResponseOutput>
  PushToUser: MethodDefinition<_im_gateway_v1_PushRequest, _im_gateway_v1_PushResponse, _im_gateway_v1_PushRequestOutput, _im_gateway_v1_PushResponseOutput>
  PushToUsers: MethodDefinition<_im_gateway_v1_PushRequest, _im_gateway_v1_PushResponse, _im_gateway_v1_PushRequestOutput, _im_gateway_v1_PushResponseOutput>
}

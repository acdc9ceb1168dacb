import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { BroadcastRequest as _im_gateway_v1_BroadcastRequest, BroadcastRequestOutput as _im_gateway_v1_BroadcastRequestOutput } from './im/gateway/v1/BroadcastRequest';
import type { BroadcastResponse as _im_gateway_v1_BroadcastResponse, BroadcastResponseOutput as _im_gateway_v1_BroadcastResponseOutput } from './im/gateway/v1/BroadcastResponse';
import type { BusinessMessageServiceClient as _im_gateway_v1_BusinessMessageServiceClient, BusinessMessageServiceDefinition as _im_gateway_v1_BusinessMessageServiceDefinition } from './im/gateway/v1/BusinessMessageService';
import type { ClientMessage as _im_gateway_v1_ClientMessage, ClientMessageOutput as _im_gateway_v1_ClientMessageOutput } from './im/gateway/v1/ClientMessage';
import type { ConnectionStatus as _im_gateway_v1_ConnectionStatus, ConnectionStatusOutput as _im_gateway_v1_ConnectionStatusOutput } from './im/gateway/v1/ConnectionStatus';
import type { ConnectionStatusRequest as _im_gateway_v1_ConnectionStatusRequest, ConnectionStatusRequestOutput as _im_gateway_v1_ConnectionStatusRequestOutput } from './im/gateway/v1/ConnectionStatusRequest';
import type { ConnectionStatusResponse as _im_gateway_v1_ConnectionStatusResponse, ConnectionStatusResponseOutput as _im_gateway_v1_ConnectionStatusResponseOutput } from './im/gateway/v1/ConnectionStatusResponse';
import type { HandleMessageResponse as _im_gateway_v1_HandleMessageResponse, HandleMessageResponseOutput as _im_gateway_v1_HandleMessageResponseOutput } from './im/gateway/v1/HandleMessageResponse';
import type { Heartbeat as _im_gateway_v1_Heartbeat, HeartbeatOutput as _im_gateway_v1_HeartbeatOutput } from './im/gateway/v1/Heartbeat';
import type { IMAGatewayServiceClient as _im_gateway_v1_IMAGatewayServiceClient, IMAGatewayServiceDefinition as _im_gateway_v1_IMAGatewayServiceDefinition } from './im/gateway/v1/IMAGatewayService';
import type { KickUserRequest as _im_gateway_v1_KickUserRequest, KickUserRequestOutput as _im_gateway_v1_KickUserRequestOutput } from './im/gateway/v1/KickUserRequest';
import type { KickUserResponse as _im_gateway_v1_KickUserResponse, KickUserResponseOutput as _im_gateway_v1_KickUserResponseOutput } from './im/gateway/v1/KickUserResponse';
import type { MUCServiceClient as _im_gateway_v1_MUCServiceClient, MUCServiceDefinition as _im_gateway_v1_MUCServiceDefinition } from './im/gateway/v1/MUCService';
import type { PushRequest as _im_gateway_v1_PushRequest, PushRequestOutput as _im_gateway_v1_PushRequestOutput } from './im/gateway/v1/PushRequest';
import type { PushResponse as _im_gateway_v1_PushResponse, PushResponseOutput as _im_gateway_v1_PushResponseOutput } from './im/gateway/v1/PushResponse';
import type { RoomMembershipRequest as _im_gateway_v1_RoomMembershipRequest, RoomMembershipRequestOutput as _im_gateway_v1_RoomMembershipRequestOutput } from './im/gateway/v1/RoomMembershipRequest';
import type { RoomMembershipResponse as _im_gateway_v1_RoomMembershipResponse, RoomMembershipResponseOutput as _im_gateway_v1_RoomMembershipResponseOutput } from './im/gateway/v1/RoomMembershipResponse';
import type { RoomPushRequest as _im_gateway_v1_RoomPushRequest, RoomPushRequestOutput as _im_gateway_v1_RoomPushRequestOutput } from './im/gateway/v1/RoomPushRequest';
import type { RoomPushResponse as _im_gateway_v1_RoomPushResponse, RoomPushResponseOutput as _im_gateway_v1_RoomPushResponseOutput } from './im/gateway/v1/RoomPushResponse';
import type { RoomStatus as _im_gateway_v1_RoomStatus, RoomStatusOutput as _im_gateway_v1_RoomStatusOutput } from './im/gateway/v1/RoomStatus';
import type { RoomStatusRequest as _im_gateway_v1_RoomStatusRequest, RoomStatusRequestOutput as _im_gateway_v1_RoomStatusRequestOutput } from './im/gateway/v1/RoomStatusRequest';
import type { RoomStatusResponse as _im_gateway_v1_RoomStatusResponse, RoomStatusResponseOutput as _im_gateway_v1_RoomStatusResponseOutput } from './im/gateway/v1/RoomStatusResponse';
import type { ServerMessage as _im_gateway_v1_ServerMessage, ServerMessageOutput as _im_gateway_v1_ServerMessageOutput } from './im/gateway/v1/ServerMessage';
import type { ServerPush as _im_gateway_v1_ServerPush, ServerPushOutput as _im_gateway_v1_ServerPushOutput } from './im/gateway/v1/ServerPush';
import type { ServerPushServiceClient as _im_gateway_v1_ServerPushServiceClient, ServerPushServiceDefinition as _im_gateway_v1_ServerPushServiceDefinition } from './im/gateway/v1/ServerPushService';
import type { StatusAck as _im_gateway_v1_StatusAck, StatusAckOutput as _im_gateway_v1_StatusAckOutput } from './im/gateway/v1/StatusAck';
import type { TokenValidateRequest as _im_gateway_v1_TokenValidateRequest, TokenValidateRequestOutput as _im_gateway_v1_TokenValidateRequestOutput } from './im/gateway/v1/TokenValidateRequest';
import type { TokenValidateResponse as _im_gateway_v1_TokenValidateResponse, TokenValidateResponseOutput as _im_gateway_v1_TokenValidateResponseOutput } from './im/gateway/v1/TokenValidateResponse';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  im: {
    gateway: {
      v1: {
        BroadcastRequest: MessageTypeDefinition<_im_gateway_v1_BroadcastRequest, _im_gateway_v1_BroadcastRequestOutput>
        BroadcastResponse: MessageTypeDefinition<_im_gateway_v1_BroadcastResponse, _im_gateway_v1_BroadcastResponseOutput>
        BusinessMessageService: SubtypeConstructor<typeof grpc.Client, _im_gateway_v1_BusinessMessageServiceClient> & { service: _im_gateway_v1_BusinessMessageServiceDefinition }
        ClientMessage: MessageTypeDefinition<_im_gateway_v1_ClientMessage, _im_gateway_v1_ClientMessageOutput>
        ConnectionEvent: EnumTypeDefinition
        ConnectionStatus: MessageTypeDefinition<_im_gateway_v1_ConnectionStatus, _im_gateway_v1_ConnectionStatusOutput>
        ConnectionStatusRequest: MessageTypeDefinition<_im_gateway_v1_ConnectionStatusRequest, _im_gateway_v1_ConnectionStatusRequestOutput>
        ConnectionStatusResponse: MessageTypeDefinition<_im_gateway_v1_ConnectionStatusResponse, _im_gateway_v1_ConnectionStatusResponseOutput>
        HandleMessageResponse: MessageTypeDefinition<_im_gateway_v1_HandleMessageResponse, _im_gateway_v1_HandleMessageResponseOutput>
        Heartbeat: MessageTypeDefinition<_im_gateway_v1_Heartbeat, _im_gateway_v1_HeartbeatOutput>
        IMAGatewayService: SubtypeConstructor<typeof grpc.Client, _im_gateway_v1_IMAGatewayServiceClient> & { service: _im_gateway_v1_IMAGatewayServiceDefinition }
        KickUserRequest: MessageTypeDefinition<_im_gateway_v1_KickUserRequest, _im_gateway_v1_KickUserRequestOutput>
        KickUserResponse: MessageTypeDefinition<_im_gateway_v1_KickUserResponse, _im_gateway_v1_KickUserResponseOutput>
        MUCService: SubtypeConstructor<typeof grpc.Client, _im_gateway_v1_MUCServiceClient> & { service: _im_gateway_v1_MUCServiceDefinition }
        PushRequest: MessageTypeDefinition<_im_gateway_v1_PushRequest, _im_gateway_v1_PushRequestOutput>
        PushResponse: MessageTypeDefinition<_im_gateway_v1_PushResponse, _im_gateway_v1_PushResponseOutput>
        RoomMembershipRequest: MessageTypeDefinition<_im_gateway_v1_RoomMembershipRequest, _im_gateway_v1_RoomMembershipRequestOutput>
        RoomMembershipResponse: MessageTypeDefinition<_im_gateway_v1_RoomMembershipResponse, _im_gateway_v1_RoomMembershipResponseOutput>
        RoomPushRequest: MessageTypeDefinition<_im_gateway_v1_RoomPushRequest, _im_gateway_v1_RoomPushRequestOutput>
        RoomPushResponse: MessageTypeDefinition<_im_gateway_v1_RoomPushResponse, _im_gateway_v1_RoomPushResponseOutput>
        RoomStatus: MessageTypeDefinition<_im_gateway_v1_RoomStatus, _im_gateway_v1_RoomStatusOutput>
        RoomStatusRequest: MessageTypeDefinition<_im_gateway_v1_RoomStatusRequest, _im_gateway_v1_RoomStatusRequestOutput>
        RoomStatusResponse: MessageTypeDefinition<_im_gateway_v1_RoomStatusResponse, _im_gateway_v1_RoomStatusResponseOutput>
        ServerMessage: MessageTypeDefinition<_im_gateway_v1_ServerMessage, _im_gateway_v1_ServerMessageOutput>
        ServerPush: MessageTypeDefinition<_im_gateway_v1_ServerPush, _im_gateway_v1_ServerPushOutput>
        ServerPushService: SubtypeConstructor<typeof grpc.Client, _im_gateway_v1_ServerPushServiceClient> & { service: _im_gateway_v1_ServerPushServiceDefinition }
        StatusAck: MessageTypeDefinition<_im_gateway_v1_StatusAck, _im_gateway_v1_StatusAckOutput>
        TokenValidateRequest: MessageTypeDefinition<_im_gateway_v1_TokenValidateRequest, _im_gateway_v1_TokenValidateRequestOutput>
        TokenValidateResponse: MessageTypeDefinition<_im_gateway_v1_TokenValidateResponse, _im_gateway_v1_TokenValidateResponseOutput>
      }
    }
  }
}


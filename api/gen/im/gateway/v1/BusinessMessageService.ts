// Original file: api/im_gateway.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ClientMessage as _im_gateway_v1_ClientMessage, ClientMessageOutput as _im_gateway_v1_ClientMessageOutput } from '../../../im/gateway/v1/ClientMessage';
import type { ConnectionStatus as _im_gateway_v1_ConnectionStatus, ConnectionStatusOutput as _im_gateway_v1_ConnectionStatusOutput } from '../../../im/gateway/v1/ConnectionStatus';
import type { HandleMessageResponse as _im_gateway_v1_HandleMessageResponse, HandleMessageResponseOutput as _im_gateway_v1_HandleMessageResponseOutput } from '../../../im/gateway/v1/HandleMessageResponse';
import type { StatusAck as _im_gateway_v1_StatusAck, StatusAckOutput as _im_gateway_v1_StatusAckOutput } from '../../../im/gateway/v1/StatusAck';

export interface BusinessMessageServiceClient extends grpc.Client {
  HandleMessage(argument: _im_gateway_v1_ClientMessage, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_HandleMessageResponseOutput>): grpc.ClientUnaryCall;
  HandleMessage(argument: _im_gateway_v1_ClientMessage, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_HandleMessageResponseOutput>): grpc.ClientUnaryCall;
  HandleMessage(argument: _im_gateway_v1_ClientMessage, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_HandleMessageResponseOutput>): grpc.ClientUnaryCall;
  HandleMessage(argument: _im_gateway_v1_ClientMessage, callback: grpc.requestCallback<_im_gateway_v1_HandleMessageResponseOutput>): grpc.ClientUnaryCall;
  handleMessage(argument: _im_gateway_v1_ClientMessage, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_HandleMessageResponseOutput>): grpc.ClientUnaryCall;
  handleMessage(argument: _im_gateway_v1_ClientMessage, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_HandleMessageResponseOutput>): grpc.ClientUnaryCall;
  handleMessage(argument: _im_gateway_v1_ClientMessage, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_HandleMessageResponseOutput>): grpc.ClientUnaryCall;
  handleMessage(argument: _im_gateway_v1_ClientMessage, callback: grpc.requestCallback<_im_gateway_v1_HandleMessageResponseOutput>): grpc.ClientUnaryCall;
  
  OnConnectionStatus(argument: _im_gateway_v1_ConnectionStatus, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_StatusAckOutput>): grpc.ClientUnaryCall;
  OnConnectionStatus(argument: _im_gateway_v1_ConnectionStatus, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_StatusAckOutput>): grpc.ClientUnaryCall;
  OnConnectionStatus(argument: _im_gateway_v1_ConnectionStatus, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_StatusAckOutput>): grpc.ClientUnaryCall;
  OnConnectionStatus(argument: _im_gateway_v1_ConnectionStatus, callback: grpc.requestCallback<_im_gateway_v1_StatusAckOutput>): grpc.ClientUnaryCall;
  onConnectionStatus(argument: _im_gateway_v1_ConnectionStatus, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_StatusAckOutput>): grpc.ClientUnaryCall;
  onConnectionStatus(argument: _im_gateway_v1_ConnectionStatus, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_StatusAckOutput>): grpc.ClientUnaryCall;
  onConnectionStatus(argument: _im_gateway_v1_ConnectionStatus, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_StatusAckOutput>): grpc.ClientUnaryCall;
  onConnectionStatus(argument: _im_gateway_v1_ConnectionStatus, callback: grpc.requestCallback<_im_gateway_v1_StatusAckOutput>): grpc.ClientUnaryCall;
  
}

export interface BusinessMessageServiceHandlers extends grpc.UntypedServiceImplementation {
  HandleMessage: grpc.handleUnaryCall<_im_gateway_v1_ClientMessageOutput, _im_gateway_v1_HandleMessageResponse>;
  
  OnConnectionStatus: grpc.handleUnaryCall<_im_gateway_v1_ConnectionStatusOutput, _im_gateway_v1_StatusAck>;
  
}

export interface BusinessMessageServiceDefinition extends grpc.ServiceDefinition {
  HandleMessage: MethodDefinition<_im_gateway_v1_ClientMessage, _im_gateway_v1_HandleMessageResponse, _im_gateway_v1_ClientMessageOutput, _im_gateway_v1_HandleMessageResponseOutput>
  OnConnectionStatus: MethodDefinition<_im_gateway_v1_ConnectionStatus, _im_gateway_v1_StatusAck, _im_gateway_v1_ConnectionStatusOutput, _im_gateway_v1_StatusAckOutput>
}

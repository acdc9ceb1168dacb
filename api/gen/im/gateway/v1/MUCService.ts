// Original file: api/im_gateway.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { TokenValidateRequest as _im_gateway_v1_TokenValidateRequest, TokenValidateRequestOutput as _im_gateway_v1_TokenValidateRequestOutput } from '../../../im/gateway/v1/TokenValidateRequest';
import type { TokenValidateResponse as _im_gateway_v1_TokenValidateResponse, TokenValidateResponseOutput as _im_gateway_v1_TokenValidateResponseOutput } from '../../../im/gateway/v1/TokenValidateResponse';

export interface MUCServiceClient extends grpc.Client {
  ValidateToken(argument: _im_gateway_v1_TokenValidateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_TokenValidateResponseOutput>): grpc.ClientUnaryCall;
  ValidateToken(argument: _im_gateway_v1_TokenValidateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_TokenValidateResponseOutput>): grpc.ClientUnaryCall;
  ValidateToken(argument: _im_gateway_v1_TokenValidateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_TokenValidateResponseOutput>): grpc.ClientUnaryCall;
  ValidateToken(argument: _im_gateway_v1_TokenValidateRequest, callback: grpc.requestCallback<_im_gateway_v1_TokenValidateResponseOutput>): grpc.ClientUnaryCall;
  validateToken(argument: _im_gateway_v1_TokenValidateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_TokenValidateResponseOutput>): grpc.ClientUnaryCall;
  validateToken(argument: _im_gateway_v1_TokenValidateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_im_gateway_v1_TokenValidateResponseOutput>): grpc.ClientUnaryCall;
  validateToken(argument: _im_gateway_v1_TokenValidateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_im_gateway_v1_TokenValidateResponseOutput>): grpc.ClientUnaryCall;
  validateToken(argument: _im_gateway_v1_TokenValidateRequest, callback: grpc.requestCallback<_im_gateway_v1_TokenValidateResponseOutput>): grpc.ClientUnaryCall;
  
}

export interface MUCServiceHandlers extends grpc.UntypedServiceImplementation {
  ValidateToken: grpc.handleUnaryCall<_im_gateway_v1_TokenValidateRequestOutput, _im_gateway_v1_TokenValidateResponse>;
  
}

export interface MUCServiceDefinition extends grpc.ServiceDefinition {
  ValidateToken: MethodDefinition<_im_gateway_v1_TokenValidateRequest, _im_gateway_v1_TokenValidateResponse, _im_gateway_v1_TokenValidateRequestOutput, _im_gateway_v1_TokenValidateResponseOutput>
}

// Original file: api/im_gateway.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { Heartbeat as _im_gateway_v1_Heartbeat, HeartbeatOutput as _im_gateway_v1_HeartbeatOutput } from '../../../im/gateway/v1/Heartbeat';
import type { ServerPush as _im_gateway_v1_ServerPush, ServerPushOutput as _im_gateway_v1_ServerPushOutput } from '../../../im/gateway/v1/ServerPush';

export interface ServerPushServiceClient extends grpc.Client {
  Connect(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_im_gateway_v1_Heartbeat, _im_gateway_v1_ServerPushOutput>;
  Connect(options?: grpc.CallOptions): grpc.ClientDuplexStream<_im_gateway_v1_Heartbeat, _im_gateway_v1_ServerPushOutput>;
  connect(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_im_gateway_v1_Heartbeat, _im_gateway_v1_ServerPushOutput>;
  connect(options?: grpc.CallOptions): grpc.ClientDuplexStream<_im_gateway_v1_Heartbeat, _im_gateway_v1_ServerPushOutput>;
  
}

export interface ServerPushServiceHandlers extends grpc.UntypedServiceImplementation {
  Connect: grpc.handleBidiStreamingCall<_im_gateway_v1_HeartbeatOutput, _im_gateway_v1_ServerPush>;
  
}

export interface ServerPushServiceDefinition extends grpc.ServiceDefinition {
  Connect: MethodDefinition<_im_gateway_v1_Heartbeat, _im_gateway_v1_ServerPush, _im_gateway_v1_HeartbeatOutput, _im_gateway_v1_ServerPushOutput>
}

// Original file: api/im_gateway.proto

import type { Long } from '@grpc/proto-loader';

export interface ClientMessage {
  'messageId'?: (string);
  'type'?: (string);
  'payload'?: (Buffer | Uint8Array | string);
  'timestamp'?: (number | string | Long);
  'userId'?: (string);
  'deviceId'?: (string);
  'platform'?: (string);
  'instanceId'?: (string);
  'traceId'?: (string);
  'metadata'?: ({[key: string]: string});
}

export interface ClientMessageOutput {
  'messageId': (string);
  'type': (string);
  'payload': (Buffer);
  'timestamp': (number);
  'userId': (string);
  'deviceId': (string);
  'platform': (string);
  'instanceId': (string);
  'traceId': (string);
  'metadata': ({[key: string]: string});
}

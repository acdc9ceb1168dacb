// Original file: api/im_gateway.proto

import type { Long } from '@grpc/proto-loader';

export interface ServerMessage {
  'messageId'?: (string);
  'type'?: (string);
  'payload'?: (Buffer | Uint8Array | string);
  'timestamp'?: (number | string | Long);
  'replyTo'?: (string);
  'metadata'?: ({[key: string]: string});
}

export interface ServerMessageOutput {
  'messageId': (string);
  'type': (string);
  'payload': (Buffer);
  'timestamp': (number);
  'replyTo': (string);
  'metadata': ({[key: string]: string});
}

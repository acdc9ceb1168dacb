import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../../api/gen/im_gateway';

/**
 * Options shared by the runtime loader and the type generator (`npm run proto:gen`): fields are
 * lowerCamelCase in JS, int64 are JS numbers (unix milliseconds fit), enums are their names,
 * defaults are filled on decode and oneofs name their set field.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Absolute path of api/im_gateway.proto, from both the sources and the built dist/ tree. */
export function protoPath(): string {
  // __dirname is internal/rpc (ts-node) or dist/internal/rpc (built)
  const candidates = [
    path.resolve(__dirname, '../../api/im_gateway.proto'),
    path.resolve(__dirname, '../../../api/im_gateway.proto'),
  ];
  for (const c of candidates) {
    try {
      fs.accessSync(c);
      return c;
    } catch {
      // try the next candidate
    }
  }
  throw new Error(`api/im_gateway.proto not found near ${__dirname}`);
}

let cached: { def: protoLoader.PackageDefinition; grpcType: ProtoGrpcType } | undefined;

/** Loads the contract once per process. */
export function loadProto(): { def: protoLoader.PackageDefinition; grpcType: ProtoGrpcType } {
  if (!cached) {
    const def = protoLoader.loadSync(protoPath(), PROTO_LOADER_OPTIONS);
    const grpcType = grpc.loadPackageDefinition(def) as unknown as ProtoGrpcType;
    cached = { def, grpcType };
  }
  return cached;
}

export type { ProtoGrpcType };

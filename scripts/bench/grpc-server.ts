/**
 * Baseline: a bare grpc-js server implementing IMAGatewayService.PushToUser with the gateway's
 * proto and loader options, answering at once (no WebSocket write): the ceiling of grpc-js unary
 * calls on this machine.
 */
import * as grpc from '@grpc/grpc-js';
import { loadProto } from '../../internal/rpc/proto';
import { emit, memorySnapshot, serveIpc } from './common';

const port = Number(process.env['BENCH_PORT']);
const { grpcType } = loadProto();
const server = new grpc.Server();
const svc = grpcType.im.gateway.v1.IMAGatewayService.service;
server.addService(svc, {
  PushToUser: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
    cb(null, { success: true, delivered: 1, offlineUserIds: [] });
  },
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e) => {
  if (e) {
    process.stderr.write(`bench: bare grpc cannot listen on ${port}: ${e.message}\n`);
    process.exit(1);
  }
  emit('ready', { port });
});
serveIpc({ mem: () => memorySnapshot() });

/**
 * UpstreamPool against real gRPC business services: round robin over providers, failover on
 * UNAVAILABLE, a provider set that follows the registry, and a clear answer without providers.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { BusinessMessageServiceClient } from '../../api/gen/im/gateway/v1/BusinessMessageService';
import type { ClientMessage } from '../../api/gen/im/gateway/v1/ClientMessage';
import { TestBusinessService } from '../../test/support/test-services';
import { GrpcBusinessClient } from './business';
import { loadProto } from './proto';
import { UpstreamPool } from './upstream';

const services: TestBusinessService[] = [];
after(async () => {
  await Promise.all(services.map((s) => s.stop()));
});

async function service(): Promise<TestBusinessService> {
  const s = await TestBusinessService.start();
  services.push(s);
  return s;
}

let seq = 0;
function message(): ClientMessage {
  return { messageId: `m-${++seq}`, type: 'chat', payload: Buffer.from('1'), timestamp: Date.now(), userId: 'u', deviceId: 'd', platform: 'ios', instanceId: 'i', traceId: '', metadata: {} };
}

function clientOf(pool: UpstreamPool<BusinessMessageServiceClient & grpc.Client>): GrpcBusinessClient {
  return new GrpcBusinessClient(pool, { version: '', group: '', appName: 'test' }, 2_000);
}

test('calls alternate over the providers (round robin)', async () => {
  const [a, b] = [await service(), await service()];
  const pool = new UpstreamPool('BusinessMessageService', loadProto().grpcType.im.gateway.v1.BusinessMessageService, [a.address, b.address]);
  const client = clientOf(pool);
  try {
    for (let i = 0; i < 10; i++) assert.equal((await client.handleMessage(message(), '')).ok, true);
    assert.equal(a.messages.length, 5);
    assert.equal(b.messages.length, 5);
  } finally {
    await client.close();
  }
});

test('a provider answering UNAVAILABLE is failed over to the other one, every call succeeds', async () => {
  const [a, b] = [await service(), await service()];
  a.mode = 'unavailable';
  const pool = new UpstreamPool('BusinessMessageService', loadProto().grpcType.im.gateway.v1.BusinessMessageService, [a.address, b.address]);
  const client = clientOf(pool);
  try {
    for (let i = 0; i < 6; i++) assert.equal((await client.handleMessage(message(), '')).ok, true, `call ${i}`);
    assert.equal(b.messages.length, 6);
  } finally {
    await client.close();
  }
});

test('the provider set follows setAddresses; with none, calls fail at once as unavailable', async () => {
  const [a, b] = [await service(), await service()];
  const pool = new UpstreamPool('BusinessMessageService', loadProto().grpcType.im.gateway.v1.BusinessMessageService, []);
  const client = clientOf(pool);
  try {
    assert.equal(pool.probe(), 'none');
    const none = await client.handleMessage(message(), '');
    assert.equal(none.ok, false);
    assert.deepEqual(none.ok ? null : none.error, { kind: 'unavailable', message: 'no provider of BusinessMessageService' });
    pool.setAddresses([a.address]);
    assert.equal((await client.handleMessage(message(), '')).ok, true);
    pool.setAddresses([b.address]); // a left the registry, b joined
    assert.deepEqual(pool.addresses(), [b.address]);
    for (let i = 0; i < 3; i++) assert.equal((await client.handleMessage(message(), '')).ok, true);
    assert.equal(a.messages.length, 1);
    assert.equal(b.messages.length, 3);
  } finally {
    await client.close();
  }
});

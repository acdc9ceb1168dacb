/**
 * NacosRegistry when Nacos cannot be reached (the interop suite covers a real Nacos 3): the first
 * registration attempt fails, readiness sees 'down' with the reason, retries continue in the
 * background, and deregister/close end them without waiting for Nacos.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { freePort } from '../../test/support/ports';
import { NacosRegistry } from './nacos';

const SELF = {
  service: { interfaceName: 'im.gateway.v1.IMAGatewayService', version: '', group: '' },
  host: '127.0.0.1',
  port: 50051,
  application: 'ima-gateway',
  methods: ['PushToUser'],
  instanceId: 'ima-test',
  gatewayVersion: '0.0.0',
};

test('an unreachable Nacos: registration is down with its reason, and deregister/close return at once', async () => {
  const port = await freePort(); // nothing listens there
  const r = new NacosRegistry(
    { address: `127.0.0.1:${port}`, namespace: 'public', group: 'DEFAULT_GROUP', username: '', password: '', deregisterTimeoutMs: 500 },
    pino({ level: 'silent' }),
  );
  assert.equal(r.registrationState(), 'not configured');
  await r.register(SELF);
  assert.equal(r.registrationState(), 'down');
  assert.match(r.lastError, /failed to req API|ECONNREFUSED|connect/i);
  const t0 = Date.now();
  await r.deregister();
  assert.equal(r.registrationState(), 'not configured');
  await r.close();
  assert.ok(Date.now() - t0 < 2_000, 'no wait for an unreachable Nacos');
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callableAddresses, providerMetadata, providerServiceName } from './dubbo';
import { StaticRegistry } from './static';

const SELF = {
  service: { interfaceName: 'im.gateway.v1.IMAGatewayService', version: '', group: '' },
  host: '10.0.0.5',
  port: 50051,
  application: 'ima-gateway',
  methods: ['PushToUsers', 'Broadcast', 'PushToUser', 'KickUser', 'GetConnectionStatus'],
  instanceId: 'ima-a',
  gatewayVersion: '1.2.3',
};

describe('Dubbo naming in Nacos', () => {
  it('keeps empty version and group segments', () => {
    assert.equal(providerServiceName(SELF.service), 'providers:im.gateway.v1.IMAGatewayService::');
    assert.equal(providerServiceName({ interfaceName: 'a.B', version: '1.0.0', group: 'g1' }), 'providers:a.B:1.0.0:g1');
    assert.equal(providerServiceName({ interfaceName: 'a.B', version: '', group: 'g1' }), 'providers:a.B::g1');
  });

  it('publishes the metadata a Dubbo provider publishes', () => {
    const md = providerMetadata(SELF, 1_700_000_000_000);
    assert.equal(md['protocol'], 'tri');
    assert.equal(md['path'], 'im.gateway.v1.IMAGatewayService');
    assert.equal(md['interface'], 'im.gateway.v1.IMAGatewayService');
    assert.equal(md['side'], 'provider');
    assert.equal(md['category'], 'providers');
    assert.equal(md['application'], 'ima-gateway');
    assert.equal(md['methods'], 'broadcast,broadcastAsync,getConnectionStatus,getConnectionStatusAsync,kickUser,kickUserAsync,pushToUser,pushToUserAsync,pushToUsers,pushToUsersAsync');
    assert.match(md['release'] ?? '', /^3\.\d+\.\d+$/);
    assert.equal(md['timestamp'], '1700000000000');
    assert.equal(md['ima.instanceId'], 'ima-a');
    assert.equal('version' in md, false);
    assert.equal('group' in md, false);
    const versioned = providerMetadata({ ...SELF, service: { ...SELF.service, version: '2.0.0', group: 'blue' } }, 1);
    assert.equal(versioned['version'], '2.0.0');
    assert.equal(versioned['group'], 'blue');
  });
});

describe('callableAddresses', () => {
  const tri = { protocol: 'tri', side: 'provider' };
  it('keeps healthy, enabled Triple providers, sorted and deduplicated', () => {
    assert.deepEqual(
      callableAddresses([
        { ip: '10.0.0.2', port: 50052, healthy: true, enabled: true, weight: 1, metadata: tri },
        { ip: '10.0.0.1', port: 50052, healthy: true, enabled: true, weight: 1, metadata: tri },
        { ip: '10.0.0.1', port: 50052, healthy: true, enabled: true, weight: 1, metadata: tri },
      ]),
      ['10.0.0.1:50052', '10.0.0.2:50052'],
    );
  });
  it('drops unhealthy, disabled, zero-weight, dubbo-protocol and consumer entries', () => {
    assert.deepEqual(
      callableAddresses([
        { ip: '10.0.0.1', port: 1, healthy: false, enabled: true, weight: 1, metadata: tri },
        { ip: '10.0.0.2', port: 2, healthy: true, enabled: false, weight: 1, metadata: tri },
        { ip: '10.0.0.3', port: 3, healthy: true, enabled: true, weight: 0, metadata: tri },
        { ip: '10.0.0.4', port: 4, healthy: true, enabled: true, weight: 1, metadata: { protocol: 'dubbo' } },
        { ip: '10.0.0.5', port: 5, healthy: true, enabled: true, weight: 1, metadata: { protocol: 'tri', side: 'consumer' } },
        { ip: '', port: 6, healthy: true, enabled: true, weight: 1, metadata: tri },
        { ip: '10.0.0.7', port: 0, healthy: true, enabled: true, weight: 1, metadata: tri },
        { ip: '10.0.0.8', port: 8, healthy: true, enabled: true, weight: 1, metadata: { protocol: 'grpc' } },
        { ip: '10.0.0.9', port: 9, metadata: null },
      ]),
      ['10.0.0.8:8', '10.0.0.9:9'],
    );
  });
  it('brackets IPv6 hosts', () => {
    assert.deepEqual(callableAddresses([{ ip: 'fd00::1', port: 7, metadata: tri }]), ['[fd00::1]:7']);
  });
});

describe('StaticRegistry', () => {
  it('delivers the configured list at once and publishes nothing', async () => {
    const r = new StaticRegistry(new Map([['im.gateway.v1.MUCService', ['a:1', 'b:2']]]));
    const seen: Array<readonly string[]> = [];
    r.watch({ interfaceName: 'im.gateway.v1.MUCService', version: '', group: '' }, (a) => seen.push(a));
    r.watch({ interfaceName: 'im.gateway.v1.BusinessMessageService', version: '', group: '' }, (a) => seen.push(a));
    assert.deepEqual(seen, [['a:1', 'b:2'], []]);
    await r.register(SELF);
    assert.equal(r.registrationState(), 'not configured');
  });
});

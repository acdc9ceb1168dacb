import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readiness } from './readiness';
import type { ReadinessInputs } from './readiness';

const BASE: ReadinessInputs = {
  websocketListening: true,
  grpcListening: true,
  draining: false,
  redis: 'not configured',
  registry: 'not configured',
  upstreams: {},
};

describe('readiness', () => {
  it('is ready when listening with nothing configured', () => {
    assert.equal(readiness(BASE).status, 'ready');
  });
  it('follows the Nacos registration: starting while registering, degraded while it fails, ready once registered', () => {
    assert.deepEqual([readiness({ ...BASE, registry: 'connecting' }).ready, readiness({ ...BASE, registry: 'connecting' }).status], [false, 'starting']);
    assert.deepEqual([readiness({ ...BASE, registry: 'down' }).ready, readiness({ ...BASE, registry: 'down' }).status], [false, 'degraded']);
    assert.equal(readiness({ ...BASE, registry: 'up' }).ready, true);
  });
  it('draining wins over everything', () => {
    assert.equal(readiness({ ...BASE, registry: 'up', draining: true }).status, 'draining');
  });
  it('an upstream without providers (down) degrades, one connecting does not', () => {
    assert.equal(readiness({ ...BASE, upstreams: { muc: 'down' } }).status, 'degraded');
    assert.equal(readiness({ ...BASE, upstreams: { muc: 'connecting' } }).status, 'ready');
  });
});

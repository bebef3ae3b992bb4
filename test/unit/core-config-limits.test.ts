import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../services/core/config.ts';

const error = (env: Record<string, string>): string | undefined => {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  return undefined;
};

describe('API keys in the configuration', () => {
  it.each([
    [{ NIGHTSHIFT_API_KEYS: 'admin:key-0123456789' }, /^NIGHTSHIFT_API_KEYS: tenant name "admin" is reserved/],
    [{ NIGHTSHIFT_API_KEYS: 'Root:key-0123456789' }, /tenant name "Root" is reserved/],
    [{ NIGHTSHIFT_API_KEYS: 'acme:key-0123456789,globex:key-0123456789' }, /^NIGHTSHIFT_API_KEYS: the same key is given twice \(tenants "acme" and "globex"\)/],
    [{ NIGHTSHIFT_API_KEYS: 'acme:key-0123456789,acme:key-0123456789' }, /the same key is given twice/],
    [{ NIGHTSHIFT_ADMIN_KEYS: 'adminkey-0123,adminkey-0123' }, /^NIGHTSHIFT_ADMIN_KEYS: the same key is given twice/],
    [{ NIGHTSHIFT_API_KEYS: 'acme:shared-0123456', NIGHTSHIFT_ADMIN_KEYS: 'shared-0123456' }, /^NIGHTSHIFT_ADMIN_KEYS: an admin key is also the API key of tenant "acme"/],
  ])('refuses %o', (env, message) => {
    expect(error(env)).toMatch(message);
  });

  it('accepts one key per tenant and several keys of one tenant', () => {
    const c = loadConfig({ NIGHTSHIFT_API_KEYS: 'acme:key-a-0123456789,acme:key-b-0123456789,globex:key-c-0123456789' });
    expect([...c.apiKeys.values()]).toEqual(['acme', 'acme', 'globex']);
  });
});

describe('tenant limits', () => {
  it('has defaults and reads every variable', () => {
    expect(loadConfig({}).limits).toMatchObject({ rateLimitPerMinute: 1200, maxPriority: 50, maxJobCompute: 1e15 });
    const c = loadConfig({
      NIGHTSHIFT_RATE_LIMIT_PER_MINUTE: '0', NIGHTSHIFT_MAX_QUEUED_UNITS: '7', NIGHTSHIFT_MAX_EVENT_STREAMS: '3',
      NIGHTSHIFT_MAX_STORED_BYTES: '1000', NIGHTSHIFT_MAX_JOB_COMPUTE: '1e12', NIGHTSHIFT_MAX_PRIORITY: '40', NIGHTSHIFT_TENANT_MAX_PRIORITY: 'acme:90,globex:10',
    });
    expect(c.limits).toEqual({
      rateLimitPerMinute: 0, maxQueuedUnits: 7, maxEventStreams: 3, maxStoredBytes: 1000, maxJobCompute: 1e12, maxPriority: 40,
      tenantMaxPriority: new Map([['acme', 90], ['globex', 10]]),
    });
  });

  it.each([
    [{ NIGHTSHIFT_TENANT_MAX_PRIORITY: 'acme:101' }, /^NIGHTSHIFT_TENANT_MAX_PRIORITY: tenant "acme": expected 0..100/],
    [{ NIGHTSHIFT_TENANT_MAX_PRIORITY: 'acme' }, /^NIGHTSHIFT_TENANT_MAX_PRIORITY: expected tenant:integer pairs/],
    [{ NIGHTSHIFT_TENANT_MAX_PRIORITY: 'acme:1,acme:2' }, /tenant "acme" is given twice/],
    [{ NIGHTSHIFT_MAX_QUEUED_UNITS: '0' }, /^NIGHTSHIFT_MAX_QUEUED_UNITS: expected 1\.\./],
    [{ NIGHTSHIFT_MAX_JOB_COMPUTE: 'lots' }, /^NIGHTSHIFT_MAX_JOB_COMPUTE: expected a number/],
  ])('refuses %o naming the variable', (env, message) => {
    expect(error(env)).toMatch(message);
  });
});

import t from 'tap';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import type { RoleSettings } from '../../src/core/settings.js';
import { RoleCache, roleSpecFingerprint } from '../../src/iam/role-cache.js';
import { createMetrics } from '../../src/metrics/registry.js';

const settings: RoleSettings = {
  clusterName: 'prod',
  region: 'us-east-1',
  accountId: '111122223333',
  oidcIssuer: 'https://oidc.example/id/X',
  roleNameTemplate: '{namespace}-{cluster}-role',
  rolePath: '/kubeflow-profiles/',
  serviceAccounts: ['default-editor'],
  s3Access: 'readwrite',
  s3Buckets: ['pipelines'],
  extraTags: {},
};

t.test('fingerprint: stable, and sensitive to every part of the spec', async (t) => {
  const spec = deriveRoleSpec(settings, 'team-a');
  const fp = roleSpecFingerprint(spec);
  t.equal(roleSpecFingerprint(deriveRoleSpec(settings, 'team-a')), fp);
  const reordered = Object.fromEntries(Object.entries(spec).reverse()) as typeof spec;
  t.equal(roleSpecFingerprint(reordered), fp, 'key order does not matter');
  const variants: [string, Partial<RoleSettings>][] = [
    ['bucket', { s3Buckets: ['other'] }],
    ['access', { s3Access: 'full' }],
    ['service accounts', { serviceAccounts: ['default-editor', 'runner'] }],
    ['path', { rolePath: '/x/' }],
    ['tags', { extraTags: { a: 'b' } }],
    ['boundary', { permissionsBoundary: 'arn:aws:iam::111122223333:policy/b' }],
    ['session', { maxSessionDuration: 7200 }],
    ['issuer', { oidcIssuer: 'https://oidc.example/id/Y' }],
  ];
  for (const [name, change] of variants) {
    t.not(roleSpecFingerprint(deriveRoleSpec({ ...settings, ...change }, 'team-a')), fp, name);
  }
});

t.test('hits only with the same fingerprint before expiry; counts hits and misses', async (t) => {
  let now = 0;
  const metrics = createMetrics({ defaultMetrics: false });
  const cache = new RoleCache({ ttlMs: 1000, now: () => now, metrics });
  t.equal(cache.get('a', 'f1'), undefined);
  cache.set('a', 'f1', 'arn1');
  t.equal(cache.get('a', 'f1'), 'arn1');
  t.equal(cache.get('a', 'f2'), undefined, 'another fingerprint misses');
  now = 999;
  t.equal(cache.get('a', 'f1'), 'arn1');
  now = 1000;
  t.equal(cache.get('a', 'f1'), undefined, 'expired');
  t.equal(cache.size, 0, 'expired entries are dropped');
  t.equal((await metrics.roleCacheHits.get()).values[0]?.value, 2);
  t.equal((await metrics.roleCacheMisses.get()).values[0]?.value, 3);
  cache.set('b', 'f', 'arn');
  cache.delete('b');
  t.equal(cache.get('b', 'f'), undefined, 'deleted');
});

t.test('bounded: the oldest entry goes first', async (t) => {
  const cache = new RoleCache({ ttlMs: 1000, maxEntries: 2, now: () => 0 });
  cache.set('a', 'f', 'A');
  cache.set('b', 'f', 'B');
  cache.set('a', 'f', 'A2');
  cache.set('c', 'f', 'C');
  t.equal(cache.size, 2);
  t.equal(cache.get('b', 'f'), undefined, 'b was the oldest');
  t.equal(cache.get('a', 'f'), 'A2', 'a was refreshed by its second set');
  t.equal(cache.get('c', 'f'), 'C');
});

t.test('a zero TTL caches nothing', async (t) => {
  const cache = new RoleCache({ ttlMs: 0 });
  cache.set('a', 'f', 'A');
  t.equal(cache.get('a', 'f'), undefined);
});

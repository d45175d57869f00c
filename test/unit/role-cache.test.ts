import t from 'tap';
import { RoleCache } from '../../src/iam/role-cache.js';
import { createMetrics } from '../../src/metrics/registry.js';

t.test('hits only for the verified ARN before expiry; counts hits and misses', async (t) => {
  // lru-cache reads an entry stored at clock 0 as one without a TTL; a real clock is never 0.
  let now = 1000;
  const metrics = createMetrics({ defaultMetrics: false });
  const cache = new RoleCache({ ttlMs: 1000, now: () => now, metrics });
  t.notOk(cache.has('a', 'arn1'));
  cache.set('a', 'arn1');
  t.ok(cache.has('a', 'arn1'));
  t.notOk(cache.has('a', 'arn2'), 'another role misses');
  now = 2000;
  t.ok(cache.has('a', 'arn1'), 'fresh up to its TTL');
  t.ok(cache.has('a', 'arn1', false), 'a re-check');
  now = 2001;
  t.notOk(cache.has('a', 'arn1'), 'expired');
  t.equal(cache.size, 0, 'expired entries are dropped');
  t.equal((await metrics.roleCacheHits.get()).values[0]?.value, 2, 're-checks are not counted');
  t.equal((await metrics.roleCacheMisses.get()).values[0]?.value, 3);
  cache.set('b', 'arn');
  cache.delete('b');
  t.notOk(cache.has('b', 'arn'), 'deleted');
});

t.test('bounded: the least recently used entry goes first', async (t) => {
  const cache = new RoleCache({ ttlMs: 1000, maxEntries: 2, now: () => 1 });
  cache.set('a', 'A');
  cache.set('b', 'B');
  cache.set('a', 'A2');
  cache.set('c', 'C');
  t.equal(cache.size, 2);
  t.notOk(cache.has('b', 'B'), 'b was the oldest');
  t.ok(cache.has('a', 'A2'), 'a was refreshed by its second set');
  t.ok(cache.has('c', 'C'));
});

t.test('a zero TTL caches nothing', async (t) => {
  const cache = new RoleCache({ ttlMs: 0 });
  cache.set('a', 'A');
  t.notOk(cache.has('a', 'A'));
});

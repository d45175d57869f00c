import t from 'tap';
import { createMetrics } from '../../src/metrics/registry.js';

t.test('admission metrics: operations from requests cannot grow the label set', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  for (let i = 0; i < 100; i++) metrics.recordAdmission('mutate', `OP-${i}`, 'denied', 0.001);
  metrics.recordAdmission('mutate', 'CREATE', 'patched', 0.002);
  metrics.recordAdmission('mutate', 'CREATE', 'patched', 0.003);
  const series = (await metrics.admissionRequests.get()).values;
  t.same(
    series.map((v) => [v.labels.operation, v.labels.result, v.value]),
    [
      ['OTHER', 'denied', 100],
      ['CREATE', 'patched', 2],
    ],
  );
  const count = (await metrics.admissionDuration.get()).values.find((v) =>
    v.metricName?.endsWith('_count'),
  );
  t.equal(count?.value, 102, 'every admission is timed');
});

t.test('admissions answered without IAM are counted by webhook and reason', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.recordNoIam('mutate', 'plugins-unchanged');
  metrics.recordNoIam('mutate', 'plugins-unchanged');
  metrics.recordNoIam('mutate', 'deleting');
  metrics.recordNoIam('validate', 'plugins-unchanged');
  const series = (await metrics.admissionsWithoutIam.get()).values;
  t.same(
    series.map((v) => [v.labels.webhook, v.labels.reason, v.value]),
    [
      ['mutate', 'plugins-unchanged', 2],
      ['mutate', 'deleting', 1],
      ['validate', 'plugins-unchanged', 1],
    ],
  );
  const text = await metrics.registry.metrics();
  t.match(text, 'profile_irsa_admission_no_iam_total{webhook="mutate",reason="deleting"} 1');
});

t.test('every documented metric is exported with the product prefix', async (t) => {
  const metrics = createMetrics();
  const text = await metrics.registry.metrics();
  for (const name of [
    'profile_irsa_admission_requests_total',
    'profile_irsa_admission_duration_seconds',
    'profile_irsa_iam_calls_total',
    'profile_irsa_role_cache_hits_total',
    'profile_irsa_role_cache_misses_total',
    'profile_irsa_certificate_expiry_timestamp_seconds',
    'profile_irsa_reconcile_results_total',
    'profile_irsa_reconcile_pass_iam_calls',
    'profile_irsa_reconcile_pass_profiles',
    'profile_irsa_admission_no_iam_total',
    'process_cpu_seconds_total',
    'nodejs_eventloop_lag_seconds',
  ]) {
    t.match(text, `# TYPE ${name}`, name);
  }
});

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric the product exports, on one registry per process (or per test app), so that tests
 * can read what a single app did without other apps' counts leaking in.
 */
export interface Metrics {
  registry: Registry;
  admissionRequests: Counter<'webhook' | 'operation' | 'result'>;
  admissionDuration: Histogram<'webhook'>;
  iamCalls: Counter<'operation' | 'outcome'>;
  roleCacheHits: Counter;
  roleCacheMisses: Counter;
  certificateExpiry: Gauge;
  reconcileResults: Counter<'result'>;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    admissionRequests: new Counter({
      name: 'profile_irsa_admission_requests_total',
      help: 'Admission requests answered, by webhook, operation and result (allowed, patched, denied, error).',
      labelNames: ['webhook', 'operation', 'result'],
      registers,
    }),
    admissionDuration: new Histogram({
      name: 'profile_irsa_admission_duration_seconds',
      help: 'Time to answer an admission request, from body received to response.',
      labelNames: ['webhook'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    iamCalls: new Counter({
      name: 'profile_irsa_iam_calls_total',
      help: 'IAM API calls made, by operation and outcome (success or the AWS error name).',
      labelNames: ['operation', 'outcome'],
      registers,
    }),
    roleCacheHits: new Counter({
      name: 'profile_irsa_role_cache_hits_total',
      help: 'Admissions that found their role verified in the cache and made no IAM call.',
      registers,
    }),
    roleCacheMisses: new Counter({
      name: 'profile_irsa_role_cache_misses_total',
      help: 'Admissions that had to verify or provision their role in IAM.',
      registers,
    }),
    certificateExpiry: new Gauge({
      name: 'profile_irsa_certificate_expiry_timestamp_seconds',
      help: 'Expiry (Unix seconds) of the serving certificate currently in use.',
      registers,
    }),
    reconcileResults: new Counter({
      name: 'profile_irsa_reconcile_results_total',
      help: 'Roles handled by reconcile passes, by result.',
      labelNames: ['result'],
      registers,
    }),
  };
}

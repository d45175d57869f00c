import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RoleProvisioningReason } from '../iam/errors.js';
import { CONNECTION_STATES, type ConnectionState } from '../http/connections.js';

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
  reconcile: ReconcileMetrics;
  /** Connections and requests the admission server's limits turned away, by reason. */
  httpRefused: Counter<'reason'>;
  /** Admission connections open, by state (handshake, idle, active), read at scrape time. */
  httpConnections: Gauge<'state'>;
  /** Admission connections the server closed or refused itself, by reason. */
  httpConnectionsClosed: Counter<'reason'>;
  /** Where `httpConnections` reads its values; the admission server calls it once. */
  watchConnections(counts: () => Readonly<Record<ConnectionState, number>>): void;
  /** Counts one answered admission and its latency. */
  recordAdmission(webhook: string, operation: string, result: string, seconds: number): void;
  admissionsWithoutIam: Counter<'webhook' | 'reason'>;
  /** Counts one admission answered from the request alone; `reason` is from a closed set. */
  recordNoIam(webhook: string, reason: string): void;
  /** Admissions refused because the role could not be put in place in IAM, by reason. */
  admissionIamFailures: Counter<'reason'>;
  /** Kubernetes Events the reconciler recorded on Profiles, by reason and what became of them. */
  events: Counter<'reason' | 'result'>;
}

/** The reconciler's own metrics (docs/reconciler.md); only the leader moves them, except `leader`. */
interface ReconcileMetrics {
  passes: Counter<'result'>;
  passesAborted: Counter;
  passDuration: Histogram;
  passIamCalls: Gauge;
  passProfiles: Gauge;
  lastSuccess: Gauge;
  roles: Gauge<'state'>;
  actions: Counter<'action' | 'result'>;
  leader: Gauge;
}

const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

/**
 * The reasons an admission can fail in IAM (RoleProvisioningError's reasons, plus the admission
 * deadline), exported at 0 from the start: an alert on their increase then sees the first one.
 */
const ADMISSION_IAM_FAILURE_REASONS = [
  'foreign-role-untrusted',
  'foreign-cluster',
  'extra-permissions',
  'boundary-not-set',
  'role-missing',
  'path-mismatch',
  'access-denied',
  'limit-exceeded',
  'malformed-policy',
  'deadline',
  'aws-error',
] as const satisfies readonly (RoleProvisioningReason | 'deadline')[];

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const admissionRequests = new Counter({
    name: 'profile_irsa_admission_requests_total',
    help: 'Admission requests answered, by webhook, operation and result (allowed, patched, denied, error, malformed).',
    labelNames: ['webhook', 'operation', 'result'] as const,
    registers,
  });
  const admissionDuration = new Histogram({
    name: 'profile_irsa_admission_duration_seconds',
    help: 'Time to answer an admission request, from body received to response.',
    labelNames: ['webhook'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  // Label lookups hash their values on every call; the hot path reuses the bound children.
  const counters = new Map<string, { inc(): void }>();
  const histograms = new Map<string, { observe(value: number): void }>();
  const recordAdmission = (webhook: string, operation: string, result: string, seconds: number) => {
    // The operation comes from the request: anything unknown shares one label value, so a
    // client cannot grow the metric without bound.
    const op = OPERATIONS.has(operation) ? operation : 'OTHER';
    const key = `${webhook} ${op} ${result}`;
    let counter = counters.get(key);
    if (!counter) counters.set(key, (counter = admissionRequests.labels(webhook, op, result)));
    counter.inc();
    let histogram = histograms.get(webhook);
    if (!histogram) histograms.set(webhook, (histogram = admissionDuration.labels(webhook)));
    histogram.observe(seconds);
  };
  const admissionsWithoutIam = new Counter({
    name: 'profile_irsa_admission_no_iam_total',
    help: 'Admission requests answered from the request alone, with no IAM call and no role cache lookup, by webhook and reason (plugins-unchanged, deleting, not-a-profile-write, ...).',
    labelNames: ['webhook', 'reason'] as const,
    registers,
  });
  const noIamCounters = new Map<string, { inc(): void }>();
  const recordNoIam = (webhook: string, reason: string) => {
    const key = `${webhook} ${reason}`;
    let counter = noIamCounters.get(key);
    if (!counter) noIamCounters.set(key, (counter = admissionsWithoutIam.labels(webhook, reason)));
    counter.inc();
  };
  const admissionIamFailures = new Counter({
    name: 'profile_irsa_admission_iam_failures_total',
    help: 'Admission requests refused because the role could not be verified or provisioned in IAM, by reason (access-denied, foreign-role-untrusted, deadline, ...).',
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of ADMISSION_IAM_FAILURE_REASONS) admissionIamFailures.inc({ reason }, 0);
  let connectionCounts: (() => Readonly<Record<ConnectionState, number>>) | undefined;
  const httpConnections = new Gauge({
    name: 'profile_irsa_http_connections',
    help: 'Admission connections open, by state: handshake (TLS not done), idle (no request in flight: the ones closed first at the cap), active (a request in flight).',
    labelNames: ['state'] as const,
    registers,
    // Counted by the server as connections change; read here, so requests pay no metric update.
    collect() {
      const counts = connectionCounts?.();
      for (const state of CONNECTION_STATES) this.set({ state }, counts?.[state] ?? 0);
    },
  });
  return {
    registry,
    httpConnections,
    httpConnectionsClosed: new Counter({
      name: 'profile_irsa_http_connections_closed_total',
      help: 'Admission connections the server closed or refused itself, by reason: idle-evicted (idle, closed at the cap to make room for a new one), max-connections (refused: every slot busy), per-client (refused: its client address holds its share).',
      labelNames: ['reason'] as const,
      registers,
    }),
    watchConnections(counts) {
      connectionCounts = counts;
    },
    recordAdmission,
    admissionIamFailures,
    admissionsWithoutIam,
    recordNoIam,
    admissionRequests,
    admissionDuration,
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
    reconcile: {
      passes: new Counter({
        name: 'profile_irsa_reconcile_passes_total',
        help: 'Full reconcile passes over every Profile and role, by result (success, failure).',
        labelNames: ['result'],
        registers,
      }),
      passesAborted: new Counter({
        name: 'profile_irsa_reconcile_passes_aborted_total',
        help: 'Full reconcile passes aborted for outliving --reconcile-pass-timeout, then retried.',
        registers,
      }),
      passDuration: new Histogram({
        name: 'profile_irsa_reconcile_pass_duration_seconds',
        help: 'Time a full reconcile pass took to observe and plan, IAM throttling included.',
        buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
        registers,
      }),
      passIamCalls: new Gauge({
        name: 'profile_irsa_reconcile_pass_iam_calls',
        help: 'IAM requests the last successful full pass made to observe every role (sizing: divided by --iam-rate, the least time a pass can take).',
        registers,
      }),
      passProfiles: new Gauge({
        name: 'profile_irsa_reconcile_pass_profiles',
        help: 'Profiles the last successful full pass observed.',
        registers,
      }),
      lastSuccess: new Gauge({
        name: 'profile_irsa_reconcile_last_success_timestamp_seconds',
        help: 'When (Unix seconds) the last full reconcile pass succeeded.',
        registers,
      }),
      roles: new Gauge({
        name: 'profile_irsa_reconcile_roles',
        help: 'Namespaces by the state of their role at the last full pass (in_place, drift, missing, orphan, foreign, blocked, external, terminating).',
        labelNames: ['state'],
        registers,
      }),
      actions: new Counter({
        name: 'profile_irsa_reconcile_actions_total',
        help: 'Reconcile actions taken, by action and result (success, failure, skipped).',
        labelNames: ['action', 'result'],
        registers,
      }),
      leader: new Gauge({
        name: 'profile_irsa_reconcile_leader',
        help: '1 while this replica holds the reconciler Lease and reconciles, else 0.',
        registers,
      }),
    },
    events: new Counter({
      name: 'profile_irsa_events_total',
      help: 'Events about Profiles, by reason and result: created, patched (a repeat counted on its series), rate_limited (over the per-Profile budget), dropped (queue full) or failed (the API server refused or did not answer).',
      labelNames: ['reason', 'result'],
      registers,
    }),
    httpRefused: new Counter({
      name: 'profile_irsa_http_refused_total',
      help: 'Admission connections refused with every slot busy (max-connections) or their client address at its share (per-client), and large requests refused for want of body memory (body-memory).',
      labelNames: ['reason'],
      registers,
    }),
  };
}

import { CustomObjectsApi } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBoundaryPolicy } from '../dev/boundary.js';
import { createObjects, waitUntilMutating, type Profile } from '../dev/cluster.js';
import { installProfileCrd, startControlPlane } from '../dev/controlplane.js';
import { MOTO_ACCOUNT_ID, MOTO_REGION, startMoto } from '../dev/moto.js';
import { registerBenchWebhook, SELECTOR_LABEL } from './apiserver-phase.js';
import { startIamStub } from './iam-stub.js';
import {
  metricSum,
  parsePrometheus,
  rssBytes,
  startWebhookProcess,
  type WebhookProcess,
} from './processes.js';

/**
 * `--scale N`: N Profiles created through the local kube-apiserver with the webhook registered,
 * then a reconciling replica (`serve` with the reconciler on, as the chart runs it) over them,
 * until it has made a full pass after binding every role (the steady state). IAM is moto up to
 * MOTO_MAX_PROFILES Profiles, the in-process stub past that (or as `--iam` says).
 */
export interface ScaleOptions {
  profiles: number;
  quick: boolean;
  iam: 'moto' | 'stub';
  certFile: string;
  keyFile: string;
  caCert: string;
  /** The webhook's environment for that IAM endpoint (the benchmark's settings). */
  env(iamEndpoint: string): Record<string, string>;
  progress(message: string): void;
}

export const MOTO_MAX_PROFILES = 1000;

/** Profiles created at once, as a controller with a few workers or a bulk `kubectl apply` would. */
const CONCURRENCY = 8;
/** The reconciler's fastest settings: the least interval, the most IAM calls per second. */
const REPLICA_INTERVAL = '1m';
const REPLICA_IAM_RATE = 100;
const LEASE_NAMESPACE = 'profile-irsa-webhook';

interface CreationRun {
  profiles: number;
  seconds: number;
  perSecond: number;
}

export interface ScalePass {
  pass: number;
  seconds: number;
  profiles: number;
  iamCalls: number;
  iamCallsPerProfile: number;
  /** Roles bound to their Profile's UID when the pass ended (the first pass finds none). */
  rolesBound: number;
  inPlace: number;
  rssBytes: number | null;
  /** V8's heap in use and committed, and memory outside it (Buffers), from the replica's metrics. */
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
}

export interface ScaleResult {
  profiles: number;
  iam: 'moto' | 'stub';
  iamRate: number;
  interval: string;
  creations: {
    without: CreationRun;
    with: CreationRun;
    /** with / without Profiles per second. */
    ratio: number;
    iamCallsPerProfile: number;
    iamCallsByOperation: Record<string, number>;
  };
  replica: {
    rssAtStartBytes: number | null;
    passes: ScalePass[];
    first: ScalePass;
    steady: ScalePass;
  };
  /** Roles that exist under the path at the end: every Profile's. */
  roles: number;
}

export async function scalePhase(options: ScaleOptions): Promise<ScaleResult> {
  const progress = (message: string) => options.progress(message);
  const stops: (() => Promise<unknown>)[] = [];
  try {
    progress(`scale: ${options.profiles} Profiles, IAM: ${options.iam}`);
    let iamEndpoint: string;
    let roleCount: () => Promise<number>;
    if (options.iam === 'moto') {
      const moto = await startMoto();
      stops.push(() => moto.stop());
      iamEndpoint = moto.endpoint;
      roleCount = () => motoRoleCount(moto.endpoint);
    } else {
      const stub = await startIamStub(MOTO_ACCOUNT_ID);
      stops.push(() => stub.stop());
      iamEndpoint = stub.endpoint;
      roleCount = () => Promise.resolve(stub.roleCount());
    }
    // The recommended install: roles carry a permissions boundary, so the pass reads it too.
    const boundaryArn =
      options.iam === 'moto'
        ? await createBoundaryPolicy({
            endpoint: iamEndpoint,
            clusterName: 'bench',
            region: MOTO_REGION,
            s3Buckets: ['kf-bench-artifacts'],
          })
        : `arn:aws:iam::${MOTO_ACCOUNT_ID}:policy/profile-irsa-webhook-boundary-bench`;

    progress('scale: starting the local control plane');
    const controlPlane = await startControlPlane();
    stops.push(() => controlPlane.stop());
    const kc = controlPlane.kubeConfig;
    await installProfileCrd(kc);
    await createObjects(kc, [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LEASE_NAMESPACE } },
    ]);
    const env = {
      ...options.env(iamEndpoint),
      ALLOW_NO_BOUNDARY: 'false',
      PERMISSIONS_BOUNDARY_ARN: boundaryArn,
      KUBECONFIG: controlPlane.kubeconfigPath,
      POD_NAMESPACE: LEASE_NAMESPACE,
    };

    const webhook = await startWebhookProcess(env);
    stops.push(() => webhook.stop());
    await registerBenchWebhook(kc, webhook.admissionUrl, options.caCert);
    await waitUntilMutating(kc, 60_000, profile('scale-probe', 'on'));

    const objects = kc.makeApiClient(CustomObjectsApi);
    const create = (name: string, side: 'on' | 'off') =>
      objects.createClusterCustomObject({
        group: 'kubeflow.org',
        version: 'v1',
        plural: 'profiles',
        body: profile(name, side),
      });

    // Without the webhook first, then deleted: the reconciler would otherwise give them roles.
    const withoutCount = Math.min(options.profiles, options.quick ? options.profiles : 500);
    progress(`scale: ${withoutCount} Profiles without the webhook`);
    const without = await createAll(withoutCount, (i) => create(`scale-off-${i}`, 'off'));
    await pool(withoutCount, (i) =>
      objects.deleteClusterCustomObject({
        group: 'kubeflow.org',
        version: 'v1',
        plural: 'profiles',
        name: `scale-off-${i}`,
      }),
    );

    progress(`scale: ${options.profiles} Profiles with the webhook`);
    const before = iamCallsByOperation(await webhook.metrics());
    const withWebhook = await createAll(options.profiles, (i) => create(`scale-${i}`, 'on'));
    const after = iamCallsByOperation(await webhook.metrics());
    const byOperation: Record<string, number> = {};
    for (const [operation, count] of Object.entries(after)) {
      const delta = count - (before[operation] ?? 0);
      if (delta > 0) byOperation[operation] = delta;
    }
    const admissionCalls = Object.values(byOperation).reduce((a, b) => a + b, 0);
    await webhook.stop();

    progress('scale: starting the reconciling replica');
    const replica = await startWebhookProcess({
      ...env,
      RECONCILE: 'true',
      RECONCILE_INTERVAL: REPLICA_INTERVAL,
      // The pass bound defaults to the interval, which the least interval is too short for past
      // about 3,000 Profiles at this rate.
      RECONCILE_PASS_TIMEOUT: '30m',
      IAM_RATE: String(REPLICA_IAM_RATE),
    });
    stops.push(() => replica.stop());
    const rssAtStart = (await rssBytes(replica.pid)) ?? null;
    const passes = await watchPasses(replica, options, progress);
    const roles = await roleCount();
    return {
      profiles: options.profiles,
      iam: options.iam,
      iamRate: REPLICA_IAM_RATE,
      interval: REPLICA_INTERVAL,
      creations: {
        without,
        with: withWebhook,
        ratio: withWebhook.perSecond / without.perSecond,
        iamCallsPerProfile: admissionCalls / options.profiles,
        iamCallsByOperation: byOperation,
      },
      replica: {
        rssAtStartBytes: rssAtStart,
        passes,
        first: passes[0]!,
        steady: passes.at(-1)!,
      },
      roles,
    };
  } finally {
    for (const stop of stops.reverse()) {
      await stop().catch((err: unknown) => progress(`scale: cleanup: ${String(err)}`));
    }
  }
}

/**
 * Full passes of the replica, from its metrics, until one has started after every role was bound
 * (the steady state: nothing left to do but read). Bounded: a replica that does not get there in
 * time fails the run.
 */
async function watchPasses(
  replica: WebhookProcess,
  options: ScaleOptions,
  progress: (message: string) => void,
): Promise<ScalePass[]> {
  // A pass reads about 2 calls per Profile at the replica's rate, binding about 4 more; the
  // interval (1 min) comes between passes: generous bounds for a loaded machine.
  const budgetMs = 240_000 + (options.profiles * 12 * 1000) / REPLICA_IAM_RATE;
  const deadline = Date.now() + budgetMs;
  const passes: ScalePass[] = [];
  let seen = 0;
  let durationSum = 0;
  let boundAt: number | undefined;
  while (Date.now() < deadline) {
    await sleep(500);
    const samples = parsePrometheus(await replica.metrics());
    const failed = metricSum(samples, 'profile_irsa_reconcile_passes_total', { result: 'failure' });
    if (failed > 0) throw new Error(`the replica's pass failed:\n${replica.stderrTail()}`);
    if (metricSum(samples, 'profile_irsa_reconcile_passes_aborted_total') > 0) {
      throw new Error(`the replica's pass outlived its bound:\n${replica.stderrTail()}`);
    }
    const bound = metricSum(samples, 'profile_irsa_reconcile_actions_total', {
      action: 'bind-role',
      result: 'success',
    });
    if (boundAt === undefined && bound >= options.profiles) boundAt = Date.now();
    const count = metricSum(samples, 'profile_irsa_reconcile_passes_total', { result: 'success' });
    if (count === seen) continue;
    const sum = metricSum(samples, 'profile_irsa_reconcile_pass_duration_seconds_sum');
    const seconds = sum - durationSum;
    durationSum = sum;
    seen = count;
    const profiles = metricSum(samples, 'profile_irsa_reconcile_pass_profiles');
    const iamCalls = metricSum(samples, 'profile_irsa_reconcile_pass_iam_calls');
    const pass: ScalePass = {
      pass: count,
      seconds,
      profiles,
      iamCalls,
      iamCallsPerProfile: profiles > 0 ? iamCalls / profiles : 0,
      rolesBound: bound,
      inPlace: metricSum(samples, 'profile_irsa_reconcile_roles', { state: 'in_place' }),
      rssBytes: (await rssBytes(replica.pid)) ?? null,
      heapUsedBytes: metricSum(samples, 'nodejs_heap_size_used_bytes'),
      heapTotalBytes: metricSum(samples, 'nodejs_heap_size_total_bytes'),
      externalBytes: metricSum(samples, 'nodejs_external_memory_bytes'),
    };
    passes.push(pass);
    progress(
      `scale: pass ${count}: ${seconds.toFixed(1)} s, ${iamCalls} IAM calls for ${profiles} Profiles, ` +
        `${pass.inPlace} in place, RSS ${((pass.rssBytes ?? 0) / 1e6).toFixed(0)} MB ` +
        `(heap ${(pass.heapUsedBytes / 1e6).toFixed(0)} of ${(pass.heapTotalBytes / 1e6).toFixed(0)} MB)`,
    );
    // Steady: this pass began after the last role was bound.
    if (boundAt !== undefined && Date.now() - seconds * 1000 > boundAt && passes.length >= 2) {
      return passes;
    }
  }
  throw new Error(
    `the replica did not reach a steady pass within ${Math.round(budgetMs / 1000)} s ` +
      `(${passes.length} passes)\n${replica.stderrTail()}`,
  );
}

async function createAll(count: number, create: (i: number) => Promise<unknown>) {
  const started = performance.now();
  await pool(count, create);
  const seconds = (performance.now() - started) / 1000;
  return { profiles: count, seconds, perSecond: count / seconds };
}

/** Runs `work(0..count-1)`, CONCURRENCY at a time; the first failure fails it. */
async function pool(count: number, work: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker));
}

function iamCallsByOperation(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const sample of parsePrometheus(text)) {
    if (sample.name !== 'profile_irsa_iam_calls_total') continue;
    const operation = sample.labels.operation ?? '?';
    counts[operation] = (counts[operation] ?? 0) + sample.value;
  }
  return counts;
}

async function motoRoleCount(endpoint: string): Promise<number> {
  const { IAMClient, paginateListRoles } = await import('@aws-sdk/client-iam');
  const iam = new IAMClient({
    endpoint,
    region: MOTO_REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  let count = 0;
  for await (const page of paginateListRoles({ client: iam }, {})) count += page.Roles?.length ?? 0;
  return count;
}

function profile(name: string, webhook: 'on' | 'off'): Profile {
  return {
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    metadata: { name, labels: { [SELECTOR_LABEL]: webhook } },
    spec: { owner: { kind: 'User', name: `${name}@example.com` } },
  };
}

import type { Logger } from 'pino';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import type { IamClientOptions } from '../iam/client.js';
import type { RoleSettings } from '../core/settings.js';
import { EventRecorder } from '../k8s/event-recorder.js';
import { electionIdentity, LeaderElector } from '../k8s/leader-election.js';
import type { Metrics } from '../metrics/registry.js';
import type { DecisionContext } from '../core/decision-context.js';
import { loadKubeConfig } from '../k8s/kubeconfig.js';
import { buildReconciler } from './build.js';
import { ReconcileController } from './controller.js';
import { ProfileEventSink } from './profile-event-sink.js';

const RESTART_DELAY_MS = 5000;
/** The Events' `reportingController` (kubectl's FROM column, with the pod name). */
const REPORTING_CONTROLLER = 'profile-irsa-webhook';

/** Timings only tests change (the configuration keeps client-go's and the documented ones). */
export interface ReconcilerTuning {
  intervalMs?: number;
  passTimeoutMs?: number;
  orphanGraceMs?: number;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  failedPassRetryMs?: number;
  informerBackoffMs?: { min: number; max: number };
}

export interface RunningReconciler {
  /** This replica's name in the Lease. */
  identity: string;
  isLeader(): boolean;
  /** Stops the reconcile work, then releases the Lease; resolves when both are done. */
  stop(): Promise<void>;
}

export interface StartReconcilerOptions {
  config: Config;
  role: RoleSettings;
  decisions: DecisionContext;
  metrics: Metrics;
  logger: Logger;
  /** This replica's admission ensurer: a deleted role must not stay cached as verified. */
  forget?: (namespace: string) => void;
  tuning?: ReconcilerTuning | undefined;
  /** Tests: the IAM client's credentials instead of the SDK's chain. */
  iamCredentials?: IamClientOptions['credentials'];
}

/**
 * The reconciler inside `serve`: every replica runs for election through a Lease in the
 * webhook's namespace, and only the leader reconciles. Admission does not depend on any of it.
 */
export async function startReconciler(options: StartReconcilerOptions): Promise<RunningReconciler> {
  const { config, metrics, tuning = {} } = options;
  const logger = options.logger.child({ component: 'reconciler' });
  if (config.podNamespace === undefined) {
    throw new Error('the reconciler needs --pod-namespace (POD_NAMESPACE) for its Lease');
  }
  const kubeConfig = await loadKubeConfig();
  // Only the leader reconciles, so only the replica that acts writes Events.
  const recorder = new EventRecorder({
    kubeConfig,
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: config.podName ?? hostname(),
    metrics,
    logger,
  });
  const parts = await buildReconciler({
    config,
    role: options.role,
    decisions: options.decisions,
    kubeConfig,
    metrics,
    logger: options.logger,
    orphanGraceMs: tuning.orphanGraceMs,
    onRoleDeleted: options.forget,
    iamCredentials: options.iamCredentials,
    events: new ProfileEventSink(recorder),
  });
  const controller = new ReconcileController({
    reconciler: parts.reconciler,
    kubeConfig,
    profiles: parts.profiles,
    serviceAccounts: parts.serviceAccounts,
    policy: parts.policy,
    intervalMs: tuning.intervalMs ?? config.reconcileInterval,
    passTimeoutMs: tuning.passTimeoutMs ?? config.reconcilePassTimeout ?? config.reconcileInterval,
    metrics,
    failedPassRetryMs: tuning.failedPassRetryMs,
    informerBackoffMs: tuning.informerBackoffMs,
    logger,
  });
  const identity = electionIdentity(config.podName ?? hostname());
  const elector = new LeaderElector({
    kubeConfig,
    namespace: config.podNamespace,
    name: config.leaderElectionLease,
    identity,
    logger,
    ...(tuning.leaseDurationMs === undefined ? {} : { leaseDurationMs: tuning.leaseDurationMs }),
    ...(tuning.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: tuning.renewDeadlineMs }),
    ...(tuning.retryPeriodMs === undefined ? {} : { retryPeriodMs: tuning.retryPeriodMs }),
    isProgressing: () => controller.progressing(),
    onLeadingChange: (leading) => {
      metrics.reconcile.leader.set(leading ? 1 : 0);
      logger.info(
        { identity, lease: config.leaderElectionLease, leading },
        leading ? 'leading: reconciling' : 'not leading',
      );
    },
  });
  const stop = new AbortController();
  const running = elector
    .run(async (leadSignal) => {
      // Leading means reconciling until the lead ends; a failure starts the loop over.
      while (!leadSignal.aborted) {
        try {
          await controller.run(leadSignal);
        } catch (err) {
          logger.error({ err }, 'the reconciler failed; starting it again');
          await sleep(RESTART_DELAY_MS, undefined, { signal: leadSignal }).catch(() => undefined);
        }
      }
    }, stop.signal)
    .catch((err: unknown) => logger.error({ err }, 'leader election stopped with an error'));
  logger.info(
    { identity, lease: `${config.podNamespace}/${config.leaderElectionLease}` },
    'running for leader',
  );
  return {
    identity,
    isLeader: () => elector.isLeader(),
    async stop() {
      stop.abort();
      await running;
      await recorder.close();
    },
  };
}

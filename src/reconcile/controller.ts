import type { KubeConfig, V1ServiceAccount } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { fieldPath } from '../core/json.js';
import { ROLE_ARN_ANNOTATION } from '../core/reconcile-observed.js';
import type { ReconcilePolicy } from '../core/reconcile-plan.js';
import { SupervisedInformer } from '../k8s/informer.js';
import { PROFILES_PATH, viewOf, type Profile, type ProfileClient } from '../k8s/profiles.js';
import {
  SERVICE_ACCOUNTS_PATH,
  nameSelector,
  type ServiceAccountClient,
} from '../k8s/service-accounts.js';
import type { Metrics } from '../metrics/registry.js';
import type { Reconciler } from './reconciler.js';
import { WorkQueue } from './work-queue.js';

export interface ControllerOptions {
  reconciler: Reconciler;
  kubeConfig: KubeConfig;
  profiles: ProfileClient;
  serviceAccounts: ServiceAccountClient;
  policy: ReconcilePolicy;
  /** Between the end of one full pass and the start of the next. */
  intervalMs: number;
  /** The longest a full pass, or one namespace's reconcile, may take before it is aborted. */
  passTimeoutMs: number;
  metrics: Metrics;
  logger: Logger;
  /**
   * Between sweeps of the role path for roles that serve no stored Profile; at most a minute
   * or the orphan grace, whichever is shorter, whatever the interval.
   */
  sweepIntervalMs?: number;
  /** After a failed pass, the next one starts sooner than the interval. */
  failedPassRetryMs?: number | undefined;
  informerBackoffMs?: { min: number; max: number } | undefined;
}

/** A recheck lands a moment after the time it waits for, so the plan sees it passed. */
const RECHECK_SLACK_MS = 1000;

/**
 * The reconcile loop of the elected replica: a watch of Profiles (and of the extra service
 * accounts) queues the namespaces that changed, a periodic full pass queues every namespace that
 * is out of place, and one worker reconciles them one at a time (IAM calls are serialised
 * anyway). A deleted Profile is looked at again when its role's orphan grace ends.
 */
export class ReconcileController {
  private readonly deps: ControllerOptions;
  /** Operations aborted at their bound that have not ended yet, and since when. */
  private readonly overdue = new Set<number>();
  /** When the watch saw each Profile go; cleared when one of that name appears again. */
  private readonly goneAt = new Map<string, number>();

  constructor(options: ControllerOptions) {
    this.deps = options;
  }

  /** Runs until `signal` aborts, then returns once all of its work has stopped. */
  async run(signal: AbortSignal): Promise<void> {
    const { logger } = this.deps;
    const queue = new WorkQueue();
    const known = new Map<string, ActedOn>();
    let synced = false;
    const enqueue = (namespace: string) => {
      if (synced && namespace !== '') queue.add(namespace);
    };

    const backoff = this.deps.informerBackoffMs;
    const profileInformer = new SupervisedInformer<Profile>({
      kubeConfig: this.deps.kubeConfig,
      path: PROFILES_PATH,
      list: this.deps.profiles.listForWatch,
      transform: viewOf,
      name: 'profiles',
      logger,
      ...(backoff === undefined ? {} : { minBackoffMs: backoff.min, maxBackoffMs: backoff.max }),
      handlers: {
        add: (profile) => {
          const name = profile.metadata?.name ?? '';
          known.set(name, actedOn(profile));
          this.goneAt.delete(name);
          enqueue(name);
        },
        // The profile controller updates every Profile on every reconcile: only a change to
        // what the reconciler acts on (plugins, deletion) is worth IAM reads.
        update: (profile) => {
          const name = profile.metadata?.name ?? '';
          const next = actedOn(profile);
          const previous = known.get(name);
          if (previous?.plugins === next.plugins && previous.terminating === next.terminating) {
            return;
          }
          known.set(name, next);
          enqueue(name);
        },
        delete: (profile) => {
          const name = profile.metadata?.name ?? '';
          known.delete(name);
          this.goneAt.set(name, Date.now());
          enqueue(name);
        },
      },
    });
    const accountInformers = this.deps.policy.annotateServiceAccounts.map((accountName) => {
      const onAccount = (account: V1ServiceAccount) => {
        const namespace = account.metadata?.namespace ?? '';
        const profile = known.get(namespace);
        if (profile === undefined || profile.terminating) return;
        const annotation = account.metadata?.annotations?.[ROLE_ARN_ANNOTATION];
        if (annotation !== this.deps.policy.mutation.roleArnFor(namespace)) enqueue(namespace);
      };
      return new SupervisedInformer<V1ServiceAccount>({
        kubeConfig: this.deps.kubeConfig,
        path: SERVICE_ACCOUNTS_PATH,
        list: this.deps.serviceAccounts.listForWatch(accountName),
        fieldSelector: nameSelector(accountName),
        name: `serviceaccounts/${accountName}`,
        logger,
        ...(backoff === undefined ? {} : { minBackoffMs: backoff.min, maxBackoffMs: backoff.max }),
        handlers: { add: onAccount, update: onAccount },
      });
    });
    const informers = [profileInformer, ...accountInformers];

    try {
      await Promise.all(informers.map((informer) => informer.start(signal)));
      synced = true;
      logger.info(
        { profiles: profileInformer.list().length, serviceAccounts: accountInformers.length },
        'reconciler watching',
      );
      await Promise.all([
        this.passes(queue, signal),
        this.sweeps(queue, signal),
        this.work(queue, signal),
      ]);
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      queue.shutDown();
      await Promise.all(informers.map((informer) => informer.stop()));
      logger.info('reconciler stopped');
    }
  }

  /**
   * False while an operation has ignored its abort for longer than its own bound: the work is
   * stuck, and the leader stops renewing its Lease so that another replica takes over.
   */
  progressing(now = performance.now()): boolean {
    for (const since of this.overdue) if (now - since > this.deps.passTimeoutMs) return false;
    return true;
  }

  /** Runs `work` within the pass bound, and keeps track of it if it outlives its abort. */
  private bounded<T>(signal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return bounded(this.deps.passTimeoutMs, signal, (boundedSignal) => {
      const running = work(boundedSignal);
      const onAbort = (): void => {
        const since = performance.now();
        this.overdue.add(since);
        void running.then(
          () => this.overdue.delete(since),
          () => this.overdue.delete(since),
        );
      };
      boundedSignal.addEventListener('abort', onAbort, { once: true });
      void running.then(
        () => boundedSignal.removeEventListener('abort', onAbort),
        () => boundedSignal.removeEventListener('abort', onAbort),
      );
      return running;
    });
  }

  /** A full pass now, then one every interval; each queues what is out of place. */
  private async passes(queue: WorkQueue, signal: AbortSignal): Promise<void> {
    const { logger } = this.deps;
    while (!signal.aborted) {
      let waitMs = this.deps.intervalMs;
      try {
        const plans = await this.bounded(signal, (passSignal) =>
          this.deps.reconciler.planAll(passSignal, this.goneAt),
        );
        for (const plan of plans) {
          if (plan.actions.length > 0) queue.add(plan.namespace);
          if (plan.recheckAt !== undefined) {
            queue.addAfter(plan.namespace, plan.recheckAt - Date.now() + RECHECK_SLACK_MS);
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        waitMs = Math.min(this.deps.intervalMs, this.deps.failedPassRetryMs ?? 60_000);
        if (err instanceof PassTimeoutError) {
          this.deps.metrics.reconcile.passesAborted.inc();
          logger.error(
            { timeoutMs: this.deps.passTimeoutMs, retryInMs: waitMs },
            'reconcile pass outlived its bound; aborted',
          );
        } else {
          logger.error({ err, retryInMs: waitMs }, 'reconcile pass failed');
        }
      }
      await sleep(waitMs, undefined, { signal }).catch(() => undefined);
    }
  }

  /**
   * A role made by an admission whose Profile was never stored is deleted within the grace plus
   * a minute, however long the interval: a short sweep of the role path finds such roles (also
   * those of a replica that died) and queues each namespace for when its grace ends.
   */
  private async sweeps(queue: WorkQueue, signal: AbortSignal): Promise<void> {
    const { logger, policy } = this.deps;
    const periodMs = Math.min(this.deps.sweepIntervalMs ?? 60_000, 60_000, policy.orphanGraceMs);
    for (;;) {
      await sleep(periodMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      try {
        for (const { namespace, dueAt } of await this.deps.reconciler.sweep(signal)) {
          queue.addAfter(namespace, Math.max(0, dueAt - Date.now()) + RECHECK_SLACK_MS);
        }
      } catch (err) {
        if (signal.aborted) return;
        logger.warn({ err }, 'sweep of the role path failed; trying again at the next one');
      }
    }
  }

  /** The one worker: each namespace afresh, failures again with backoff. */
  private async work(queue: WorkQueue, signal: AbortSignal): Promise<void> {
    const { logger } = this.deps;
    for (;;) {
      const namespace = await queue.get(signal);
      if (namespace === undefined) return;
      try {
        const rows = await this.bounded(signal, (itemSignal) =>
          this.deps.reconciler.reconcileNamespace(namespace, {
            signal: itemSignal,
            dryRun: false,
            goneAt: this.goneAt,
          }),
        );
        const retry = rows.some((row) =>
          row.outcomes?.some((outcome) => outcome.result !== 'done' && outcome.retryable === true),
        );
        if (retry) queue.addRateLimited(namespace);
        else queue.forget(namespace);
        for (const { plan } of rows) {
          if (plan.recheckAt !== undefined) {
            queue.addAfter(namespace, plan.recheckAt - Date.now() + RECHECK_SLACK_MS);
          }
        }
        // Without an orphan left (the role is gone, or the Profile is back) goneAt has no use.
        if (!rows.some((row) => row.plan.state.kind === 'orphan')) this.goneAt.delete(namespace);
      } catch (err) {
        if (signal.aborted) return;
        logger.warn({ err, namespace }, 'reconciling a namespace failed; trying again later');
        queue.addRateLimited(namespace);
      } finally {
        queue.done(namespace);
      }
    }
  }
}

/** A pass (or one namespace) ran past --reconcile-pass-timeout and was aborted. */
class PassTimeoutError extends Error {
  override readonly name = 'PassTimeoutError';
}

/**
 * Runs `work` with a signal that aborts after `timeoutMs` (or with `signal`), and settles by then
 * even if the work does not heed its signal: a call that hangs cannot hold the loop.
 */
async function bounded<T>(
  timeoutMs: number,
  signal: AbortSignal,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new PassTimeoutError(`aborted after ${timeoutMs} ms`)),
    timeoutMs,
  );
  const combined = AbortSignal.any([signal, deadline.signal]);
  try {
    const aborted = new Promise<never>((_, reject) => {
      combined.addEventListener('abort', () => reject(combined.reason as Error), { once: true });
    });
    aborted.catch(() => undefined);
    return await Promise.race([work(combined), aborted]);
  } catch (err) {
    if (deadline.signal.aborted && !signal.aborted) throw deadline.signal.reason as Error;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** What the reconciler acts on in a Profile: its plugins (as JSON), and whether it is going. */
interface ActedOn {
  plugins: string;
  terminating: boolean;
}

function actedOn(profile: Profile): ActedOn {
  return {
    plugins: JSON.stringify(fieldPath(profile, 'spec', 'plugins') ?? null),
    terminating:
      profile.metadata?.deletionTimestamp !== undefined &&
      profile.metadata.deletionTimestamp !== null,
  };
}

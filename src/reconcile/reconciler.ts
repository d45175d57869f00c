import type { Logger } from 'pino';
import type { Observation, ObservedProfile } from '../core/reconcile-observed.js';
import {
  planReconcile,
  type NamespacePlan,
  type ReconcilePolicy,
  type RoleState,
} from '../core/reconcile-plan.js';
import { actionText, describeState, rowStatus, type ReportRow } from '../core/reconcile-report.js';
import type { Metrics } from '../metrics/registry.js';
import type { Actor } from './actor.js';
import type { Observer } from './observer.js';
import type { ReconcileEventSink } from './profile-event-sink.js';

export interface ReconcilerOptions {
  observer: Observer;
  actor: Actor;
  policy: ReconcilePolicy;
  metrics: Metrics;
  logger: Logger;
  /** Events on Profiles for what was found and done; none when absent (the CLI). */
  events?: ReconcileEventSink | undefined;
}

const STATES: RoleState['kind'][] = [
  'in-place',
  'drift',
  'missing',
  'foreign',
  'orphan',
  'stray',
  'refused',
  'blocked',
  'terminating',
  'external',
  'gone',
];

/** Observe, plan, act: the same steps for a full pass, one namespace, `serve` and the CLI. */
export class Reconciler {
  private readonly deps: ReconcilerOptions;

  constructor(options: ReconcilerOptions) {
    this.deps = options;
  }

  /**
   * A full pass: every Profile and every role under the path, observed and planned; nothing is
   * changed here (the caller reconciles the namespaces that need it, each afresh).
   */
  async planAll(
    signal: AbortSignal,
    goneAt: ReadonlyMap<string, number> = new Map(),
  ): Promise<NamespacePlan[]> {
    const { metrics, logger } = this.deps;
    const started = performance.now();
    try {
      const observation = await this.deps.observer.observeAll(signal, goneAt);
      const plans = planReconcile(observation, this.deps.policy);
      const seconds = (performance.now() - started) / 1000;
      metrics.reconcile.passes.inc({ result: 'success' });
      metrics.reconcile.passDuration.observe(seconds);
      metrics.reconcile.passIamCalls.set(observation.iamCalls ?? 0);
      metrics.reconcile.passProfiles.set(observation.profiles.length);
      metrics.reconcile.lastSuccess.set(Date.now() / 1000);
      const counts = new Map(STATES.map((state) => [state, 0]));
      for (const plan of plans) counts.set(plan.state.kind, (counts.get(plan.state.kind) ?? 0) + 1);
      for (const [state, count] of counts) {
        metrics.reconcile.roles.set({ state: state.replaceAll('-', '_') }, count);
      }
      // What the pass leaves as it is (a retained orphan, a foreign role) is said on every pass;
      // the rest is logged when it is acted on.
      for (const plan of plans) {
        if (plan.inPlace || plan.actions.length > 0) continue;
        this.deps.events?.record(plan, undefined, profileIn(observation, plan.namespace));
        logger.info(
          {
            namespace: plan.namespace,
            role: plan.roleName,
            state: describeState(plan.state),
            detail: actionText({ plan }, false),
          },
          'reconcile: out of place, left as it is',
        );
      }
      logger.info(
        {
          seconds: Math.round(seconds * 10) / 10,
          namespaces: plans.length,
          outOfPlace: plans.filter((plan) => !plan.inPlace).length,
        },
        'reconcile pass planned',
      );
      return plans;
    } catch (err) {
      if (!signal.aborted) metrics.reconcile.passes.inc({ result: 'failure' });
      throw err;
    }
  }

  /** The roles of this cluster that serve no stored Profile yet (see Observer.sweep). */
  sweep(signal: AbortSignal): Promise<{ namespace: string; dueAt: number }[]> {
    return this.deps.observer.sweep(signal);
  }

  /** One namespace, observed afresh (a GET of its Profile), planned, and acted on unless dryRun. */
  async reconcileNamespace(
    namespace: string,
    options: { signal: AbortSignal; dryRun: boolean; goneAt?: ReadonlyMap<string, number> },
  ): Promise<ReportRow[]> {
    const observation = await this.deps.observer.observeNamespace(
      namespace,
      options.signal,
      options.goneAt ?? new Map(),
    );
    const rows: ReportRow[] = [];
    for (const plan of planReconcile(observation, this.deps.policy)) {
      const row: ReportRow =
        options.dryRun || plan.actions.length === 0
          ? { plan }
          : { plan, outcomes: await this.deps.actor.apply(plan, options.signal) };
      rows.push(row);
      if (!options.dryRun) {
        this.deps.events?.record(plan, row.outcomes, profileIn(observation, plan.namespace));
      }
      const status = rowStatus(row);
      this.deps.metrics.reconcileResults.inc({ result: status.replaceAll('-', '_') });
      if (status === 'out-of-place') {
        this.deps.logger.info(
          {
            namespace: plan.namespace,
            role: plan.roleName,
            state: describeState(plan.state),
            action: actionText(row, options.dryRun),
          },
          'reconcile: out of place',
        );
      }
    }
    return rows;
  }
}

function profileIn(observation: Observation, name: string): ObservedProfile | undefined {
  return observation.profiles.find((profile) => profile.name === name);
}

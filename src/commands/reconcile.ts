import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { policySettings } from '../config/settings.js';
import { exitCodeOf, renderTable, reportJson, type ReportRow } from '../core/reconcile-report.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import { buildReconciler } from '../reconcile/build.js';
import type { RetryBudget } from '../reconcile/retry.js';
import { createDecisionContext } from '../core/decision-context.js';
import { loadKubeConfig } from '../k8s/kubeconfig.js';
import { resolveRoleSettings } from './resolve.js';

type ReconcileOutput = 'table' | 'json';

const CLI_RETRY_BUDGET: RetryBudget = {
  maxWaitMs: 2 * 60_000,
  minDelayMs: 1000,
  maxDelayMs: 10_000,
};

export interface ReconcileCommandOptions {
  apply: boolean;
  output: ReconcileOutput;
  signal: AbortSignal;
}

export interface ReconcileCommandIo {
  logger: Logger;
  write(text: string): void;
  metrics?: Metrics;
  kubeConfig?: KubeConfig;
}

/**
 * `reconcile`: one full pass with the configuration `serve` uses. A dry run (the default) reads
 * and reports only; `--apply` reconciles each namespace that is out of place, afresh, as the
 * leader would. Returns the exit code: 0 when everything is in place or was fixed, else 1.
 */
export async function runReconcile(
  config: Config,
  options: ReconcileCommandOptions,
  io: ReconcileCommandIo,
): Promise<0 | 1> {
  const role = await resolveRoleSettings(config);
  const decisions = createDecisionContext(role, policySettings(config));
  const { reconciler } = await buildReconciler({
    config,
    role,
    decisions,
    kubeConfig: io.kubeConfig ?? (await loadKubeConfig()),
    metrics: io.metrics ?? createMetrics({ defaultMetrics: false }),
    logger: io.logger,
    // Someone waits at the terminal: ride out throttling, but not an outage.
    retryBudget: CLI_RETRY_BUDGET,
  });
  const { signal } = options;
  const plans = await reconciler.planAll(signal);
  let rows: ReportRow[] = plans.map((plan) => ({ plan }));
  if (options.apply) {
    const namespaces = [
      ...new Set(plans.filter((plan) => plan.actions.length > 0).map((p) => p.namespace)),
    ];
    for (const namespace of namespaces) {
      const fresh = await reconciler.reconcileNamespace(namespace, { signal, dryRun: false });
      const freshRoles = new Set(fresh.map((row) => row.plan.roleName));
      // The fresh look replaces the planned rows, except one it cannot see (a stray role of
      // another name, found only by the full pass), which stays as planned.
      rows = rows.filter(
        (row) =>
          row.plan.namespace !== namespace ||
          (row.plan.actions.length === 0 && !freshRoles.has(row.plan.roleName)),
      );
      rows.push(...fresh);
    }
    rows.sort(
      (a, b) =>
        compare(a.plan.namespace, b.plan.namespace) ||
        compare(a.plan.roleName ?? '', b.plan.roleName ?? ''),
    );
  }
  const dryRun = !options.apply;
  io.write(
    options.output === 'json'
      ? `${JSON.stringify(reportJson(rows, dryRun), null, 2)}\n`
      : renderTable(rows, dryRun),
  );
  return exitCodeOf(rows);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

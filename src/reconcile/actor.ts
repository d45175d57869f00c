import type { Logger } from 'pino';
import { scanPlugins, pluginRole } from '../core/profile-request.js';
import { ORPHANED_SINCE_TAG, orphanedSinceValue, PROFILE_UID_TAG } from '../core/role-binding.js';
import type { ActionKind, NamespacePlan, ReconcileAction } from '../core/reconcile-plan.js';
import type { ActionOutcome } from '../core/reconcile-report.js';
import { RoleProvisioningError } from '../iam/errors.js';
import type { RoleEnsurer } from '../iam/role-ensurer.js';
import { RoleReplacedError, type RoleInventory } from '../iam/role-inventory.js';
import { apiMessage, ConflictError } from '../k8s/errors.js';
import type { ProfileClient } from '../k8s/profiles.js';
import type { ServiceAccountClient } from '../k8s/service-accounts.js';
import type { Metrics } from '../metrics/registry.js';
import { isRetryable } from './retry.js';

export interface ActorOptions {
  /** The reconciler's own ensurer (its own rate-limited IAM client, no cache). */
  roles: RoleEnsurer;
  inventory: RoleInventory;
  profiles: ProfileClient;
  serviceAccounts: ServiceAccountClient;
  metrics: Metrics;
  logger: Logger;
  /** Called after a role was deleted, so this replica's admission cache forgets it. */
  onRoleDeleted?: ((namespace: string) => void) | undefined;
}

/** Later actions of a namespace depend on these: after a failure, the rest waits. */
const GATING: ReadonlySet<ActionKind> = new Set(['create-role', 'repair-role', 'add-plugin']);

/**
 * Carries out a namespace's plan, in order, and says what became of each action. Roles are made
 * and repaired by the same RoleEnsurer as admission, so both follow one set of rules.
 */
export class Actor {
  private readonly deps: ActorOptions;

  constructor(options: ActorOptions) {
    this.deps = options;
  }

  async apply(plan: NamespacePlan, signal: AbortSignal): Promise<ActionOutcome[]> {
    const outcomes: ActionOutcome[] = [];
    for (const action of plan.actions) {
      if (signal.aborted) break;
      const logger = this.deps.logger.child({
        namespace: plan.namespace,
        role: plan.roleName,
        action: action.kind,
      });
      let outcome: ActionOutcome;
      try {
        const detail = await this.run(action, signal, logger);
        outcome = { action, result: 'done', detail };
        logger.info({ detail }, `reconcile: ${action.kind} done`);
      } catch (err) {
        if (signal.aborted) break;
        // The world moved since the plan (a Profile is back, the role was made again): the
        // namespace is planned afresh.
        const conflict = err instanceof ConflictError || err instanceof RoleReplacedError;
        outcome = {
          action,
          result: conflict ? 'skipped' : 'failed',
          detail:
            err instanceof RoleProvisioningError || err instanceof RoleReplacedError
              ? err.message
              : apiMessage(err),
          retryable: conflict || isRetryable(err),
          cause: err instanceof RoleProvisioningError ? err.reason : undefined,
        };
        logger.warn(
          { detail: outcome.detail, retryable: outcome.retryable },
          `reconcile: ${action.kind} ${outcome.result}`,
        );
      }
      this.deps.metrics.reconcile.actions.inc({
        action: action.kind,
        result:
          outcome.result === 'done'
            ? 'success'
            : outcome.result === 'failed'
              ? 'failure'
              : 'skipped',
      });
      outcomes.push(outcome);
      if (outcome.result !== 'done' && GATING.has(action.kind)) break;
    }
    return outcomes;
  }

  private async run(
    action: ReconcileAction,
    signal: AbortSignal,
    logger: Logger,
  ): Promise<string | undefined> {
    switch (action.kind) {
      case 'create-role':
      case 'repair-role': {
        const result = await this.deps.roles.provision(action.spec, {
          dryRun: false,
          expectNew: action.kind === 'create-role',
          signal,
          logger,
        });
        return result.outcome;
      }
      case 'add-plugin':
        await this.deps.profiles.patch(action.profile, action.resourceVersion, action.patch);
        return undefined;
      case 'annotate-service-account':
        await this.deps.serviceAccounts.annotate(action.namespace, action.name, action.roleArn);
        return undefined;
      case 'unannotate-service-account':
        await this.deps.serviceAccounts.unannotate(action.namespace, action.name, action.roleArn);
        return undefined;
      case 'bind-role':
        await this.deps.inventory.tagRole(
          action.roleName,
          { [PROFILE_UID_TAG]: action.profileUid },
          signal,
        );
        return action.previousUid === undefined
          ? `Profile UID ${action.profileUid}`
          : `Profile UID ${action.profileUid}, was ${action.previousUid}`;
      case 'mark-orphan':
        await this.deps.inventory.tagRole(
          action.roleName,
          { [ORPHANED_SINCE_TAG]: orphanedSinceValue(action.sinceMs) },
          signal,
        );
        return `orphaned since ${orphanedSinceValue(action.sinceMs)}`;
      case 'unmark-orphan':
        await this.deps.inventory.untagRole(action.roleName, [ORPHANED_SINCE_TAG], signal);
        return undefined;
      case 'delete-role': {
        const { inlinePolicies } = await this.deps.inventory.deleteRole(
          action.roleName,
          // Never from a cache, and before every step: the Profile as the API server has it now.
          {
            roleId: action.roleId,
            inlinePolicies: action.inlinePolicies,
            beforeStep: () => this.guard(action),
          },
          signal,
        );
        this.deps.onRoleDeleted?.(action.namespace);
        return inlinePolicies.length > 0
          ? `inline policies ${inlinePolicies.join(', ')} deleted first`
          : undefined;
      }
    }
  }

  /** Throws (the role is kept) when a fresh GET of the Profile says the role may be in use. */
  private async guard(action: Extract<ReconcileAction, { kind: 'delete-role' }>): Promise<void> {
    const profile = await this.deps.profiles.get(action.namespace);
    if (profile === undefined) return;
    if (action.guard === 'profile-absent') {
      throw new ConflictError(`Profile ${action.namespace} exists again; the role is kept`);
    }
    const scan = scanPlugins(profile.object);
    if (scan.ok && scan.iam.some((plugin) => pluginRole(plugin) === action.roleArn)) {
      throw new ConflictError(`Profile ${action.namespace} names the role now; it is kept`);
    }
  }
}

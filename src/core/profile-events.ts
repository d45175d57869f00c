/**
 * The Events the reconciler writes on a Profile (docs/events.md): what it found and what became
 * of what it did, from the namespace's plan and the outcomes of its actions. Pure: the reference
 * to the Profile and the writing are the adapter's.
 */
import { describeDrift } from './drift.js';
import type { EventType } from './event-correlator.js';
import type { NamespacePlan, ReconcileAction } from './reconcile-plan.js';
import type { ActionOutcome } from './reconcile-report.js';

export interface ProfileEvent {
  type: EventType;
  reason: string;
  action: string;
  note: string;
}

/** Event `action`s: what the reconciler did or tried, per plan action (and for a look alone). */
const ACTIONS: Record<ReconcileAction['kind'], string> = {
  'create-role': 'CreateRole',
  'repair-role': 'RepairRole',
  'add-plugin': 'AddPlugin',
  'annotate-service-account': 'AnnotateServiceAccount',
  'unannotate-service-account': 'RemoveAnnotation',
  'bind-role': 'BindRole',
  'mark-orphan': 'MarkOrphan',
  'unmark-orphan': 'UnmarkOrphan',
  'delete-role': 'DeleteRole',
};
const CHECK = 'CheckRole';

/** Reasons for a role the ensurer refused to use or change (RoleProvisioningError reasons). */
const REFUSALS: Record<string, string> = {
  'foreign-role-untrusted': 'ForeignRole',
  'foreign-cluster': 'ForeignRole',
  'extra-permissions': 'ExtraPermissions',
  'boundary-not-set': 'BoundaryNotSet',
  'path-mismatch': 'RoleBlocked',
  'role-missing': 'RoleMissing',
};

const FAILED: Record<ReconcileAction['kind'], string> = {
  'create-role': 'RoleCreateFailed',
  'repair-role': 'RoleRepairFailed',
  'add-plugin': 'PluginBackfillFailed',
  'annotate-service-account': 'AnnotateFailed',
  'unannotate-service-account': 'RemoveAnnotationFailed',
  'bind-role': 'RoleBindFailed',
  'mark-orphan': 'OrphanMarkFailed',
  'unmark-orphan': 'OrphanUnmarkFailed',
  'delete-role': 'RoleDeleteFailed',
};

/**
 * The events for one namespace. `outcomes` is undefined when nothing was attempted: then only
 * what the plan found is said (a role in place, or why it is left as it is).
 */
export function profileEvents(
  plan: NamespacePlan,
  outcomes: readonly ActionOutcome[] | undefined,
): ProfileEvent[] {
  const events: ProfileEvent[] = [];
  const role = plan.roleArn ?? plan.roleName ?? '(none)';
  if (outcomes === undefined || outcomes.length === 0) {
    const found = stateEvent(plan, role);
    if (found !== undefined) events.push(found);
    return events;
  }
  for (const outcome of outcomes) {
    // Marking a role orphaned is when it became one: say so as a look alone would.
    const marked = outcome.action.kind === 'mark-orphan' && outcome.result !== 'failed';
    const event =
      marked && outcome.result !== 'skipped' ? stateEvent(plan, role) : outcomeEvent(outcome, role);
    if (event !== undefined) events.push(event);
  }
  return events;
}

function stateEvent(plan: NamespacePlan, role: string): ProfileEvent | undefined {
  const state = plan.state;
  switch (state.kind) {
    case 'in-place':
      return normal('RoleInPlace', CHECK, `IAM role ${role} is in place`);
    case 'foreign':
      return state.usable
        ? normal('RoleInPlace', CHECK, `IAM role ${role} is used as is: ${state.reason}`)
        : warning('ForeignRole', CHECK, `IAM role ${role} is not used: ${state.reason}`);
    case 'blocked':
      return warning('RoleBlocked', CHECK, state.reason);
    case 'refused':
      return warning('NamespaceOwnedElsewhere', CHECK, state.reason);
    case 'stray':
      return normal(
        'StrayRole',
        CHECK,
        `IAM role ${role} has a name the role-name template no longer gives (now ${state.expected})`,
      );
    case 'external':
      return normal('ExternalRole', CHECK, `the Profile names IAM role ${state.roleArn}`);
    case 'orphan':
      // The grace's countdown is left out: the note, and so the event, stays the same.
      return normal(
        'RoleOrphaned',
        CHECK,
        `IAM role ${role} outlives its Profile: ${
          plan.recheckAt === undefined
            ? plan.notes.join('; ')
            : 'deleted once the orphan grace has passed'
        }`,
      );
    case 'drift':
    case 'missing':
    case 'terminating':
    case 'gone':
      // Said when acted on; a plan without actions for these has nothing to add.
      return undefined;
  }
}

function outcomeEvent(outcome: ActionOutcome, role: string): ProfileEvent | undefined {
  const { action } = outcome;
  const verb = ACTIONS[action.kind];
  if (outcome.result === 'skipped') return undefined; // planned again at once
  if (outcome.result === 'failed') {
    const refusal = outcome.cause === undefined ? undefined : REFUSALS[outcome.cause];
    const retry = outcome.retryable === true ? ' (will retry)' : '';
    return warning(refusal ?? FAILED[action.kind], verb, `${outcome.detail ?? 'failed'}${retry}`);
  }
  switch (action.kind) {
    case 'create-role':
      // CreateRole found the role there (another replica, an earlier attempt): it was adopted.
      return outcome.detail === 'created' || outcome.detail === undefined
        ? normal('RoleCreated', verb, `created IAM role ${role}`)
        : normal(
            'RoleAdopted',
            verb,
            outcome.detail === 'repaired'
              ? `adopted IAM role ${role} and repaired it`
              : `adopted IAM role ${role}`,
          );
    case 'repair-role':
      return normal(
        'RoleRepaired',
        verb,
        `repaired IAM role ${role}: ${action.drift.map(describeDrift).join(', ')} had drifted`,
      );
    case 'add-plugin':
      return normal(
        'PluginBackfilled',
        verb,
        `added the AwsIamForServiceAccount plugin naming ${role}`,
      );
    case 'annotate-service-account':
      return normal(
        'ServiceAccountAnnotated',
        verb,
        `annotated service account ${action.namespace}/${action.name} with ${action.roleArn}`,
      );
    case 'unannotate-service-account':
      return normal(
        'AnnotationRemoved',
        verb,
        `removed ${action.roleArn} from service account ${action.namespace}/${action.name}`,
      );
    case 'bind-role':
      // The first time the reconciler sees a stored Profile: the same event as a look alone.
      return normal('RoleInPlace', CHECK, `IAM role ${role} is in place`);
    case 'mark-orphan':
    case 'unmark-orphan':
      // Bookkeeping; marking is said by the plan's state event (above).
      return undefined;
    case 'delete-role':
      return normal(
        'RoleDeleted',
        verb,
        `deleted IAM role ${action.roleName}: its Profile is gone${outcome.detail === undefined ? '' : ` (${outcome.detail})`}`,
      );
  }
}

function normal(reason: string, action: string, note: string): ProfileEvent {
  return { type: 'Normal', reason, action, note };
}

function warning(reason: string, action: string, note: string): ProfileEvent {
  return { type: 'Warning', reason, action, note };
}

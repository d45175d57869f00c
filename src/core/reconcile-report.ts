import { describeDrift } from './drift.js';
import { formatDuration } from './duration.js';
import type { NamespacePlan, ReconcileAction, RoleState } from './reconcile-plan.js';

type ActionResult = 'done' | 'failed' | 'skipped';

export interface ActionOutcome {
  action: ReconcileAction;
  result: ActionResult;
  /** Why it failed or was skipped; what it did, for a role (created, repaired, verified...). */
  detail?: string | undefined;
  /** For a failure: whether trying again later may succeed without anyone changing anything. */
  retryable?: boolean | undefined;
  /** For a failure, why as a code (a role provisioning refusal such as `extra-permissions`). */
  cause?: string | undefined;
}

/** One namespace as the report shows it: the plan, and what became of its actions if applied. */
export interface ReportRow {
  plan: NamespacePlan;
  /** Undefined in a dry run, or when nothing was attempted. */
  outcomes?: ActionOutcome[] | undefined;
}

export type RowStatus = 'in-place' | 'fixed' | 'out-of-place';

export function rowStatus(row: ReportRow): RowStatus {
  if (row.plan.inPlace) return 'in-place';
  const outcomes = row.outcomes;
  if (
    row.plan.fixable &&
    outcomes !== undefined &&
    outcomes.length === row.plan.actions.length &&
    outcomes.every((outcome) => outcome.result === 'done')
  ) {
    return 'fixed';
  }
  return 'out-of-place';
}

/** 0 when everything is in place or was fixed, 1 when something is out of place and was not. */
export function exitCodeOf(rows: readonly ReportRow[]): 0 | 1 {
  return rows.every((row) => rowStatus(row) !== 'out-of-place') ? 0 : 1;
}

export function describeState(state: RoleState): string {
  switch (state.kind) {
    case 'in-place':
      return 'in place';
    case 'drift':
      return `drift: ${state.drift.map(describeDrift).join(', ')}`;
    case 'missing':
      return 'missing';
    case 'foreign':
      return state.usable ? 'foreign (usable)' : 'foreign';
    case 'orphan':
      return `${state.served ? 'orphan' : 'orphan (never served)'} ${formatDuration(state.ageMs)}`;
    case 'stray':
      return `stray ${formatDuration(state.ageMs)}`;
    case 'refused':
      return 'refused';
    case 'blocked':
      return 'blocked';
    case 'terminating':
      return 'terminating';
    case 'external':
      return 'external role';
    case 'gone':
      return 'gone';
  }
}

/** The reason behind a state, where there is one worth a sentence. */
function stateReason(state: RoleState): string | undefined {
  if (state.kind === 'blocked' || state.kind === 'foreign' || state.kind === 'refused') {
    return state.reason;
  }
  if (state.kind === 'external') return `the Profile names ${state.roleArn}`;
  return undefined;
}

function describeAction(action: ReconcileAction, result?: ActionResult): string {
  const done = result === 'done';
  switch (action.kind) {
    case 'create-role':
      return done ? 'created the role' : 'create the role';
    case 'repair-role': {
      const what = action.drift.map(describeDrift).join(', ');
      return done ? `repaired ${what}` : `repair ${what}`;
    }
    case 'add-plugin':
      return done ? 'added the plugin' : 'add the plugin';
    case 'annotate-service-account':
      return done ? `annotated ${action.name}` : `annotate ${action.name}`;
    case 'unannotate-service-account':
      return done ? `removed ${action.name}'s annotation` : `remove ${action.name}'s annotation`;
    case 'delete-role':
      return done ? 'deleted the role' : 'delete the role';
    case 'bind-role':
      return action.previousUid === undefined
        ? done
          ? 'bound the role to the Profile'
          : 'bind the role to the Profile'
        : done
          ? 'rebound the role to the new Profile'
          : 'rebind the role to the new Profile';
    case 'mark-orphan':
      return done ? 'marked the role orphaned' : 'mark the role orphaned';
    case 'unmark-orphan':
      return done ? 'cleared the orphan mark' : 'clear the orphan mark';
  }
}

/** The ACTION column: what would be done, or what was done and what failed, and why not more. */
export function actionText(row: ReportRow, dryRun: boolean): string {
  const { plan, outcomes } = row;
  const parts: string[] = [];
  if (outcomes === undefined) {
    if (plan.actions.length > 0) {
      const list = plan.actions.map((action) => describeAction(action)).join(', ');
      parts.push(dryRun ? `would ${list}` : list);
    }
  } else {
    const done = outcomes.filter((outcome) => outcome.result === 'done');
    if (done.length > 0) {
      parts.push(done.map((outcome) => describeAction(outcome.action, 'done')).join(', '));
    }
    for (const outcome of outcomes) {
      if (outcome.result !== 'done') {
        const verb = outcome.result === 'failed' ? 'failed' : 'skipped';
        const why = outcome.detail === undefined ? '' : `: ${outcome.detail}`;
        parts.push(`${describeAction(outcome.action)} ${verb}${why}`);
      }
    }
  }
  const reason = stateReason(plan.state);
  if (reason !== undefined && !plan.inPlace && plan.actions.length === 0) parts.push(reason);
  parts.push(...plan.notes);
  return parts.length === 0 ? '-' : parts.join('; ');
}

export interface Summary {
  namespaces: number;
  inPlace: number;
  fixed: number;
  outOfPlace: number;
}

function summarise(rows: readonly ReportRow[]): Summary {
  const summary: Summary = { namespaces: rows.length, inPlace: 0, fixed: 0, outOfPlace: 0 };
  for (const row of rows) {
    const status = rowStatus(row);
    if (status === 'in-place') summary.inPlace++;
    else if (status === 'fixed') summary.fixed++;
    else summary.outOfPlace++;
  }
  return summary;
}

/** A kubectl-style table: NAMESPACE, ROLE, STATE, ACTION, and a summary line. */
export function renderTable(rows: readonly ReportRow[], dryRun: boolean): string {
  const header = ['NAMESPACE', 'ROLE', 'STATE', 'ACTION'];
  const cells = rows.map((row) => [
    row.plan.namespace,
    row.plan.roleName ?? '-',
    describeState(row.plan.state),
    actionText(row, dryRun),
  ]);
  const widths = header.map((title, i) =>
    Math.max(title.length, ...cells.map((line) => line[i]!.length)),
  );
  const format = (line: string[]) =>
    line
      .map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  const s = summarise(rows);
  const counts = [`${s.inPlace} in place`];
  if (!dryRun) counts.push(`${s.fixed} fixed`);
  counts.push(`${s.outOfPlace} out of place`);
  const tail = dryRun
    ? s.outOfPlace > 0
      ? ' (dry run: nothing was changed; run with --apply to act)'
      : ' (dry run)'
    : '';
  const lines =
    rows.length > 0
      ? [format(header), ...cells.map(format)]
      : ['no Profiles and no roles of this cluster'];
  return `${lines.join('\n')}\n\n${s.namespaces} namespace${s.namespaces === 1 ? '' : 's'}: ${counts.join(', ')}${tail}\n`;
}

/** The same report as one JSON document (`-o json`), stable for scripts. */
export function reportJson(rows: readonly ReportRow[], dryRun: boolean) {
  return {
    dryRun,
    summary: summarise(rows),
    namespaces: rows.map((row) => ({
      namespace: row.plan.namespace,
      role: row.plan.roleName ?? null,
      roleArn: row.plan.roleArn ?? null,
      status: rowStatus(row),
      state: stateJson(row.plan.state),
      actions: row.plan.actions.map((action, i) => {
        const outcome = row.outcomes?.[i];
        return {
          kind: action.kind,
          description: describeAction(action),
          result: outcome?.result ?? (dryRun ? 'planned' : 'not-attempted'),
          ...(outcome?.detail === undefined ? {} : { detail: outcome.detail }),
        };
      }),
      notes: row.plan.notes,
    })),
  };
}

function stateJson(state: RoleState) {
  const base = { kind: state.kind, text: describeState(state) };
  switch (state.kind) {
    case 'drift':
      return { ...base, drift: state.drift.map(describeDrift) };
    case 'orphan':
      return {
        ...base,
        served: state.served,
        ageSeconds: Math.floor(state.ageMs / 1000),
        since: new Date(state.sinceMs).toISOString(),
      };
    case 'stray':
      return {
        ...base,
        expectedRole: state.expected,
        ageSeconds: Math.floor(state.ageMs / 1000),
        since: new Date(state.sinceMs).toISOString(),
      };
    case 'refused':
      return { ...base, reason: state.reason };
    case 'foreign':
      return { ...base, usable: state.usable, reason: state.reason };
    case 'blocked':
      return { ...base, reason: state.reason };
    case 'external':
      return { ...base, roleArn: state.roleArn };
    default:
      return base;
  }
}

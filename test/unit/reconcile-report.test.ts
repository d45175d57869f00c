import t from 'tap';
import { formatDuration, parseDuration } from '../../src/core/duration.js';
import { planReconcile } from '../../src/core/reconcile-plan.js';
import {
  exitCodeOf,
  renderTable,
  reportJson,
  rowStatus,
  type ReportRow,
} from '../../src/core/reconcile-report.js';
import { caseObservation, casePolicy, type PlanCase } from '../helpers/reconcile-cases.js';

const mix: PlanCase = {
  name: 'a mix of states',
  settings: { orphanPolicy: 'delete', annotate: ['default'] },
  profiles: [{ name: 'team-a' }, { name: 'team-b' }, { name: 'team-c', plugin: 'none' }],
  roles: [
    { for: 'team-a' },
    { for: 'team-b', trust: 'wrong-subject' },
    { for: 'team-gone', age: '3h', orphanedAgo: '3h' },
    { for: 'team-new', age: '2m', orphanedAgo: '2m' },
  ],
  serviceAccounts: [{ namespace: 'team-a', name: 'default', roleArn: 'derived' }],
  expect: {},
};
const plans = planReconcile(caseObservation(mix), casePolicy(mix));
const byNs = (ns: string) => plans.find((p) => p.namespace === ns)!;

t.test('durations', async (t) => {
  t.equal(parseDuration('10m'), 600_000);
  t.equal(parseDuration('1h30m'), 5_400_000);
  t.equal(parseDuration('90s'), 90_000);
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('1.5h'), 5_400_000);
  for (const bad of ['10', '', 'm', '1d', '-5m', '10 m', '1h 30m']) {
    t.equal(parseDuration(bad), undefined, `"${bad}" is refused`);
  }
  t.equal(formatDuration(3 * 3600_000 + 12 * 60_000 + 5000), '3h12m');
  t.equal(formatDuration(8 * 60_000), '8m');
  t.equal(formatDuration(45_000), '45s');
  t.equal(formatDuration(3 * 86_400_000 + 3600_000), '3d1h');
  t.equal(formatDuration(0), '0ms');
});

t.test('a dry run: the table shows what is out of place and what would be done', async (t) => {
  const rows: ReportRow[] = plans.map((plan) => ({ plan }));
  const table = renderTable(rows, true);
  const lines = table.trimEnd().split('\n');
  t.match(lines[0], /^NAMESPACE\s+ROLE\s+STATE\s+ACTION$/);
  const line = (ns: string) => lines.find((l) => l.startsWith(`${ns} `))!;
  t.match(line('team-a'), /team-a-prod-role\s+in place\s+-$/);
  t.match(line('team-b'), /team-b-prod-role\s+drift: trust policy\s+would repair trust policy$/);
  t.match(line('team-c'), /team-c-prod-role\s+missing\s+would create the role, add the plugin$/);
  t.match(line('team-gone'), /orphan 3h\s+would delete the role$/);
  t.match(line('team-new'), /orphan 2m\s+deleted in 8m, once past the orphan grace$/);
  t.match(
    table,
    '5 namespaces: 1 in place, 4 out of place (dry run: nothing was changed; run with --apply to act)',
  );
  t.equal(exitCodeOf(rows), 1, 'out of place and not fixed');
  // Columns line up.
  const column = lines[0]!.indexOf('STATE');
  for (const l of lines.slice(1, 6)) t.match(l.slice(column), /^(in place|drift|missing|orphan)/);
});

t.test('applied: fixed rows count as fixed, a failure keeps the exit code at 1', async (t) => {
  const done = (ns: string): ReportRow => ({
    plan: byNs(ns),
    outcomes: byNs(ns).actions.map((action) => ({ action, result: 'done' as const })),
  });
  const fixed = [done('team-a'), done('team-b'), done('team-c'), done('team-gone')];
  t.same(
    fixed.map(rowStatus),
    ['in-place', 'fixed', 'fixed', 'fixed'],
    'in place, or fixed by their actions',
  );
  t.equal(exitCodeOf(fixed), 0, 'everything in place or fixed');
  t.match(renderTable(fixed, false), /drift: trust policy\s+repaired trust policy/);
  t.match(renderTable(fixed, false), '4 namespaces: 1 in place, 3 fixed, 0 out of place\n');

  const waiting = [...fixed, { plan: byNs('team-new') }];
  t.equal(exitCodeOf(waiting), 1, 'an orphan still in its grace is out of place');

  const failed: ReportRow = {
    plan: byNs('team-c'),
    outcomes: [
      {
        action: byNs('team-c').actions[0]!,
        result: 'failed',
        detail: 'IAM CreateRole failed for role team-c-prod-role (Throttling); retrying may help',
      },
    ],
  };
  t.equal(rowStatus(failed), 'out-of-place');
  t.equal(exitCodeOf([fixed[0]!, failed]), 1);
  t.match(renderTable([failed], false), /create the role failed: IAM CreateRole failed/);
  const json = reportJson([failed], false);
  t.same(
    json.namespaces[0]!.actions.map((a) => [a.kind, a.result]),
    [
      ['create-role', 'failed'],
      ['add-plugin', 'not-attempted'],
    ],
    'actions after a failed role action are not attempted',
  );
});

t.test('JSON: one document with every row, its state and its actions', async (t) => {
  const json = reportJson(
    plans.map((plan) => ({ plan })),
    true,
  );
  t.equal(json.dryRun, true);
  t.same(json.summary, { namespaces: 5, inPlace: 1, fixed: 0, outOfPlace: 4 });
  const gone = json.namespaces.find((n) => n.namespace === 'team-gone')!;
  t.same(gone.state, {
    kind: 'orphan',
    text: 'orphan 3h',
    served: true,
    ageSeconds: 3 * 3600,
    since: '2026-12-01T09:00:00.000Z',
  });
  t.same(gone.actions, [
    { kind: 'delete-role', description: 'delete the role', result: 'planned' },
  ]);
  t.equal(gone.status, 'out-of-place');
  const b = json.namespaces.find((n) => n.namespace === 'team-b')!;
  t.same(b.state, { kind: 'drift', text: 'drift: trust policy', drift: ['trust policy'] });
  t.equal(b.roleArn, 'arn:aws:iam::111122223333:role/kubeflow-profiles/team-b-prod-role');
  t.same(JSON.parse(JSON.stringify(json)), json, 'plain JSON');
});

t.test('an empty cluster is in place', async (t) => {
  t.equal(exitCodeOf([]), 0);
  t.match(renderTable([], true), 'no Profiles and no roles of this cluster');
});

import t from 'tap';
import { profileEvents } from '../../src/core/profile-events.js';
import { planReconcile, type NamespacePlan } from '../../src/core/reconcile-plan.js';
import type { ActionOutcome } from '../../src/core/reconcile-report.js';
import { caseObservation, casePolicy, type PlanCase } from '../helpers/reconcile-cases.js';

const world: PlanCase = {
  name: 'every state with an event',
  settings: { orphanPolicy: 'retain', annotate: ['default'] },
  profiles: [
    { name: 'team-a' },
    { name: 'team-b' },
    { name: 'team-c', plugin: 'none' },
    { name: 'team-f' },
    { name: 'team-o' },
    { name: 'team-t', terminating: true },
  ],
  roles: [
    { for: 'team-a' },
    { for: 'team-b', trust: 'wrong-subject', inline: 'wide' },
    { for: 'team-f', tags: 'none', trust: 'ec2' },
    { for: 'team-o', tags: 'other-cluster' },
    { for: 'team-gone', age: '3h' },
  ],
  serviceAccounts: [{ namespace: 'team-a', name: 'default', roleArn: 'none' }],
  expect: {},
};
const plans = planReconcile(caseObservation(world), casePolicy(world));
const plan = (ns: string): NamespacePlan => {
  const found = plans.find((p) => p.namespace === ns);
  if (found === undefined) throw new Error(`no plan for ${ns}`);
  return found;
};
const done = (p: NamespacePlan, detail?: (kind: string) => string | undefined): ActionOutcome[] =>
  p.actions.map((action) => ({ action, result: 'done', detail: detail?.(action.kind) }));
const arn = (ns: string) => `arn:aws:iam::111122223333:role/kubeflow-profiles/${ns}-prod-role`;

t.test('what was found, when nothing was attempted', async (t) => {
  t.same(profileEvents({ ...plan('team-a'), actions: [] }, undefined), [
    {
      type: 'Normal',
      reason: 'RoleInPlace',
      action: 'CheckRole',
      note: `IAM role ${arn('team-a')} is in place`,
    },
  ]);
  const foreign = profileEvents(plan('team-f'), undefined);
  t.match(foreign, [{ type: 'Warning', reason: 'ForeignRole', action: 'CheckRole' }]);
  t.match(foreign[0]?.note, /not managed by profile-irsa-webhook/);
  const other = profileEvents(plan('team-o'), undefined);
  t.match(other, [{ type: 'Warning', reason: 'ForeignRole', note: /managed for cluster staging/ }]);
  t.match(profileEvents(plan('team-gone'), undefined), [
    {
      type: 'Normal',
      reason: 'RoleOrphaned',
      note: `IAM role ${arn('team-gone')} outlives its Profile: kept (--orphan-policy retain)`,
    },
  ]);
  t.same(profileEvents(plan('team-t'), undefined), [], 'a Profile being deleted: nothing found');
});

t.test('what was done: created, plugin backfilled, service account annotated', async (t) => {
  const c = plan('team-c');
  t.same(
    c.actions.map((a) => a.kind),
    ['create-role', 'add-plugin'],
  );
  t.same(
    profileEvents(
      c,
      done(c, (kind) => (kind === 'create-role' ? 'created' : undefined)),
    ).map((e) => [e.type, e.reason, e.action, e.note]),
    [
      ['Normal', 'RoleCreated', 'CreateRole', `created IAM role ${arn('team-c')}`],
      [
        'Normal',
        'PluginBackfilled',
        'AddPlugin',
        `added the AwsIamForServiceAccount plugin naming ${arn('team-c')}`,
      ],
    ],
  );
  const a = plan('team-a');
  t.match(profileEvents(a, done(a)), [
    {
      reason: 'ServiceAccountAnnotated',
      action: 'AnnotateServiceAccount',
      note: `annotated service account team-a/default with ${arn('team-a')}`,
    },
  ]);
});

t.test('a role CreateRole found in place was adopted', async (t) => {
  const c = plan('team-c');
  const outcomes = done(c, (kind) => (kind === 'create-role' ? 'repaired' : undefined));
  t.match(profileEvents(c, outcomes)[0], {
    reason: 'RoleAdopted',
    note: `adopted IAM role ${arn('team-c')} and repaired it`,
  });
  const verified = done(c, (kind) => (kind === 'create-role' ? 'verified' : undefined));
  t.match(profileEvents(c, verified)[0], { reason: 'RoleAdopted', note: /^adopted IAM role/ });
});

t.test('a repair says what drifted', async (t) => {
  const b = plan('team-b');
  t.same(
    b.actions.map((a) => a.kind),
    ['repair-role'],
  );
  t.match(profileEvents(b, done(b)), [
    {
      type: 'Normal',
      reason: 'RoleRepaired',
      action: 'RepairRole',
      note: `repaired IAM role ${arn('team-b')}: trust policy, inline policy had drifted`,
    },
  ]);
});

t.test('failures are warnings; a refusal names its cause; a skip says nothing', async (t) => {
  const b = plan('team-b');
  const refused: ActionOutcome[] = [
    {
      action: b.actions[0]!,
      result: 'failed',
      detail: 'role team-b-prod-role has managed policies attached',
      retryable: false,
      cause: 'extra-permissions',
    },
  ];
  t.same(profileEvents(b, refused), [
    {
      type: 'Warning',
      reason: 'ExtraPermissions',
      action: 'RepairRole',
      note: 'role team-b-prod-role has managed policies attached',
    },
  ]);
  const throttled: ActionOutcome[] = [
    { action: b.actions[0]!, result: 'failed', detail: 'Throttling', retryable: true },
  ];
  t.match(profileEvents(b, throttled), [
    { type: 'Warning', reason: 'RoleRepairFailed', note: 'Throttling (will retry)' },
  ]);
  t.same(profileEvents(b, [{ action: b.actions[0]!, result: 'skipped' }]), []);
});

t.test("a deleted Profile's role, and its annotations", async (t) => {
  // An orphan since longer than the grace (counted from the orphaned-since mark) is deleted.
  const orphaned: PlanCase = {
    ...world,
    settings: { orphanPolicy: 'delete', annotate: ['default'] },
    roles: world.roles!.map((r) => (r.for === 'team-gone' ? { ...r, orphanedAgo: '1h' } : r)),
  };
  const gone = planReconcile(caseObservation(orphaned), casePolicy(orphaned)).find(
    (p) => p.namespace === 'team-gone',
  )!;
  t.match(
    profileEvents(
      gone,
      done(gone, () => 'inline policies kf-team-gone-pipeline-s3 deleted first'),
    ),
    [
      {
        type: 'Normal',
        reason: 'RoleDeleted',
        action: 'DeleteRole',
        note: /^deleted IAM role team-gone-prod-role: its Profile is gone \(inline policies/,
      },
    ],
  );
  const young = planReconcile(
    caseObservation({
      ...world,
      settings: { orphanPolicy: 'delete' },
      roles: [{ for: 'team-new', age: '2m' }],
    }),
    casePolicy({ ...world, settings: { orphanPolicy: 'delete' } }),
  ).find((p) => p.namespace === 'team-new')!;
  t.ok(young.recheckAt !== undefined, 'within its grace');
  t.same(profileEvents(young, undefined), [
    {
      type: 'Normal',
      reason: 'RoleOrphaned',
      action: 'CheckRole',
      note: `IAM role ${arn('team-new')} outlives its Profile: deleted once the orphan grace has passed`,
    },
  ]);
  const unannotate: ActionOutcome[] = [
    {
      action: {
        kind: 'unannotate-service-account',
        namespace: 'team-t',
        name: 'default',
        roleArn: arn('team-t'),
      },
      result: 'done',
    },
  ];
  t.match(profileEvents(plan('team-t'), unannotate), [
    {
      reason: 'AnnotationRemoved',
      note: `removed ${arn('team-t')} from service account team-t/default`,
    },
  ]);
});

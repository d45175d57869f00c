// The reconciler inside `serve`, against the real kube-apiserver and moto: two replicas share one
// Lease and only the leader acts; a Profile created before the webhooks were registered is
// backfilled through the API server; extra service accounts are annotated and trusted; drift is
// repaired; a deleted Profile's role goes after the grace; another cluster's role and an untagged
// role are never touched; the standby takes over when the leader stops; a Profile deleted while
// no reconciler ran is found by the full pass. The control plane has no controller-manager: the
// test creates namespaces and service accounts as the profile controller (and kube) would.

import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteRolePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  UntagRoleCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { parsePolicyDocument, policiesEqual } from '../../src/core/policy-compare.js';
import {
  CLUSTER_TAG,
  deriveRoleSpec,
  trustPolicy,
  type RoleSpec,
} from '../../src/core/role-spec.js';
import { plainProfile } from '../../tools/dev/cluster.js';
import { serveWebhook, startE2eControlPlane, startE2eMoto, waitFor } from '../helpers/e2e.js';
import {
  createHandMadeRole,
  EC2_TRUST,
  roleExists,
  roleSnapshot,
  widenInlinePolicy,
} from '../helpers/iam-roles.js';
import { IAM_WRITES } from '../helpers/iam-proxy.js';
import { MOTO_ACCOUNT_ID } from '../helpers/moto.js';
import { testRoleSettings } from '../helpers/settings.js';
import { startTestWebhook, type TestWebhook } from '../helpers/webhook.js';
import { createReview } from '../helpers/reviews.js';

const LEASE_MS = 3000;
const GRACE_MS = 4000;
const INTERVAL_MS = 6000;
const NAMESPACE = 'irsa-system';
const ANNOTATION = 'eks.amazonaws.com/role-arn';

const { iam } = await startE2eMoto();
const { kc, core, api } = await startE2eControlPlane({ namespaces: [NAMESPACE] });

const EXTRA = ['default', 'pipeline-runner'];
const settings = testRoleSettings({
  accountId: MOTO_ACCOUNT_ID,
  serviceAccounts: ['default-editor', ...EXTRA],
  extraTags: { team: 'ml' },
});
const specFor = (ns: string): RoleSpec => deriveRoleSpec(settings, ns);

const RECONCILER_ENV = {
  RECONCILE: 'true',
  POD_NAMESPACE: NAMESPACE,
  ANNOTATE_SERVICE_ACCOUNTS: EXTRA.join(','),
  ORPHAN_POLICY: 'delete',
  EXTRA_ROLE_TAGS: 'team=ml',
};
const TUNING = {
  intervalMs: INTERVAL_MS,
  orphanGraceMs: GRACE_MS,
  leaseDurationMs: LEASE_MS,
  renewDeadlineMs: 2000,
  retryPeriodMs: 300,
  informerBackoffMs: { min: 200, max: 1000 },
};
const startReplica = (name: string, env: Record<string, string> = {}) =>
  startTestWebhook({ ...RECONCILER_ENV, POD_NAME: name, ...env }, { reconcile: TUNING });

/** IAM writes one replica made (admission and reconciler alike), from its own metrics. */
async function writesOf(webhook: TestWebhook): Promise<number> {
  let sum = 0;
  for (const operation of IAM_WRITES) sum += await webhook.iamCalls(operation);
  return sum;
}

async function metric(webhook: TestWebhook, name: string, labels: Record<string, string> = {}) {
  const text = await webhook.metrics.registry.metrics();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return text
    .split('\n')
    .filter((line) => line.startsWith(name) && wanted.every((label) => line.includes(label)))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

/** What the profile controller (and kube's service account controller) would create. */
async function namespaceWithAccounts(
  ns: string,
  accounts = ['default-editor', 'default-viewer', 'default'],
) {
  // The profile controller annotates its namespace with the Profile's owner: the same user
  // plainProfile names, or the reconciler rightly refuses the namespace as someone else's.
  const owner = plainProfile(ns).spec?.owner?.name ?? '';
  await core.createNamespace({ body: { metadata: { name: ns, annotations: { owner } } } });
  for (const name of accounts) {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
  }
}

const annotationOf = async (ns: string, name: string) =>
  (await core.readNamespacedServiceAccount({ namespace: ns, name })).metadata?.annotations?.[
    ANNOTATION
  ];
const pluginOf = async (name: string) =>
  (await api.get(name)).spec?.plugins?.filter((p) => p.kind === 'AwsIamForServiceAccount') ?? [];

async function roleMatchesSpec(spec: RoleSpec): Promise<boolean> {
  const { Role } = await iam.send(new GetRoleCommand({ RoleName: spec.roleName }));
  const inline = await iam.send(
    new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  const tags = Object.fromEntries((Role?.Tags ?? []).map((tag) => [tag.Key, tag.Value]));
  return (
    policiesEqual(parsePolicyDocument(Role!.AssumeRolePolicyDocument!), spec.trustPolicy) &&
    policiesEqual(parsePolicyDocument(inline.PolicyDocument!), spec.s3Policy.document) &&
    Object.entries(spec.tags).every(([key, value]) => tags[key] === value)
  );
}

// --- Before the webhook is installed -------------------------------------------------------------
// Profiles made before the webhook: one plain, one whose name belongs to a role an admin made by
// hand (not ours, trusting EC2): it must be reported and left exactly as it is.
await api.create(plainProfile('team-old'));
await namespaceWithAccounts('team-old', ['default-editor', 'default-viewer', 'default']);
await createHandMadeRole(iam, specFor('team-hand'), { trust: EC2_TRUST });
await api.create(plainProfile('team-hand'));
// Under the role path: a role of another cluster (tagged, its Profile gone) and an untagged one.
await createHandMadeRole(iam, specFor('team-z'), {
  tags: { ...specFor('team-z').tags, [CLUSTER_TAG]: 'staging' },
});
await createHandMadeRole(iam, { ...specFor('team-y'), roleName: 'hand-made-role' });
const untouched = ['team-hand-prod-role', 'team-z-prod-role', 'hand-made-role'];
const before = await Promise.all(untouched.map((name) => roleSnapshot(iam, name)));

// A pure webhook replica takes the admissions; A and B run for the Lease.
// The same configuration as the reconcilers: admission and reconciler must agree on every role.
const front = await serveWebhook(kc, { ...RECONCILER_ENV, RECONCILE: 'false' });

const a = await startReplica('replica-a');
let aStopped = false;
t.teardown(() => (aStopped ? undefined : a.stop()));
await waitFor('replica-a to lead', async () => a.server.reconciler!.isLeader());
const b = await startReplica('replica-b');
t.teardown(() => b.stop());

t.test('only the leader acts: it backfills a Profile created before the webhook', async (t) => {
  const spec = specFor('team-old');
  await waitFor('the plugin on team-old', async () => (await pluginOf('team-old')).length === 1);
  t.same(await pluginOf('team-old'), [
    { kind: 'AwsIamForServiceAccount', spec: { awsIamRole: spec.roleArn, annotateOnly: true } },
  ]);
  t.ok(
    await roleMatchesSpec(spec),
    'the role was made before the plugin, with trust, policy, tags',
  );
  t.equal(await annotationOf('team-old', 'default'), spec.roleArn, 'the extra service account');
  t.equal(
    await annotationOf('team-old', 'default-editor'),
    undefined,
    "default-editor is the profile controller's",
  );

  t.ok((await writesOf(a)) >= 2, 'the leader wrote to IAM');
  t.equal(await writesOf(b), 0, 'the standby wrote nothing');
  t.equal(await writesOf(front), 0, 'the webhook replica wrote nothing');
  t.equal(await metric(a, 'profile_irsa_reconcile_leader'), 1);
  t.equal(await metric(b, 'profile_irsa_reconcile_leader'), 0);
  const lease = await kc
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ namespace: NAMESPACE, name: 'profile-irsa-webhook' });
  t.equal(lease.spec?.holderIdentity, a.server.reconciler!.identity, 'the Lease names the leader');

  // The plugin went in through the API server, so the webhooks judged that update like any other.
  t.ok(
    (await metric(front, 'profile_irsa_admission_requests_total', {
      webhook: 'validate',
      operation: 'UPDATE',
    })) >= 1,
    'the validating webhook saw the backfill',
  );
  t.ok(
    (await metric(a, 'profile_irsa_reconcile_actions_total', {
      action: 'add-plugin',
      result: 'success',
    })) >= 1,
  );
});

t.test('admission answers on every replica, leader or not', async (t) => {
  for (const replica of [a, b]) {
    const answer = await replica.post('/mutate', createReview('team-q', { dryRun: true }));
    t.equal(answer.status, 200);
    const review = answer.json() as { response: { allowed: boolean; patch?: string } };
    t.equal(review.response.allowed, true);
    t.ok(review.response.patch, 'the plugin patch');
  }
});

t.test('a role that is not ours is reported, and its Profile gets no plugin', async (t) => {
  // Give the leader a full pass or two to have looked at everything.
  await sleep(INTERVAL_MS * 1.5);
  t.same(await pluginOf('team-hand'), [], 'no plugin for a role the webhook cannot use');
  t.ok((await metric(a, 'profile_irsa_reconcile_roles', { state: 'foreign' })) >= 1, 'reported');
});

t.test('an extra service account is annotated when it appears, and trusted', async (t) => {
  const spec = specFor('team-old');
  await core.createNamespacedServiceAccount({
    namespace: 'team-old',
    body: { metadata: { name: 'pipeline-runner' } },
  });
  const started = Date.now();
  await waitFor(
    'pipeline-runner annotated',
    async () => (await annotationOf('team-old', 'pipeline-runner')) === spec.roleArn,
    10_000,
  );
  t.ok(Date.now() - started < INTERVAL_MS, 'from its watch event, not the next full pass');
  const { Role } = await iam.send(new GetRoleCommand({ RoleName: spec.roleName }));
  const trust = parsePolicyDocument(Role!.AssumeRolePolicyDocument!) as {
    Statement: { Condition: { StringEquals: Record<string, string[]> } }[];
  };
  const subjects = Object.entries(trust.Statement[0]!.Condition.StringEquals).find(([k]) =>
    k.endsWith(':sub'),
  )![1];
  t.same(
    [...subjects].sort(),
    ['default', 'default-editor', 'pipeline-runner'].map(
      (sa) => `system:serviceaccount:team-old:${sa}`,
    ),
    "the role trusts exactly its namespace's configured and extra service accounts",
  );
});

t.test('drift on a managed role is repaired within one pass', async (t) => {
  const spec = specFor('team-old');
  await iam.send(
    new UpdateAssumeRolePolicyCommand({
      RoleName: spec.roleName,
      // Still this cluster's provider (else the role would no longer be ours), another subject.
      PolicyDocument: JSON.stringify(
        trustPolicy({ ...settings, serviceAccounts: ['intruder'] }, 'team-old'),
      ),
    }),
  );
  await widenInlinePolicy(iam, spec);
  await iam.send(new UntagRoleCommand({ RoleName: spec.roleName, TagKeys: ['team'] }));
  const passesBefore = await metric(a, 'profile_irsa_reconcile_passes_total', {
    result: 'success',
  });
  await waitFor('the repair', () => roleMatchesSpec(spec), INTERVAL_MS * 3 + 10_000);
  const passes =
    (await metric(a, 'profile_irsa_reconcile_passes_total', { result: 'success' })) - passesBefore;
  t.ok(passes <= 2, `repaired by the first pass that saw it (${passes} passes finished since)`);
  t.ok(
    (await metric(a, 'profile_irsa_reconcile_actions_total', {
      action: 'repair-role',
      result: 'success',
    })) >= 1,
  );
  t.equal(await writesOf(b), 0, 'still nothing from the standby');
});

t.test(
  "a deleted Profile's role goes after the grace, not before, with its annotation",
  async (t) => {
    const spec = specFor('team-gone');
    await api.create(plainProfile('team-gone'));
    await namespaceWithAccounts('team-gone');
    await waitFor(
      'team-gone annotated',
      async () => (await annotationOf('team-gone', 'default')) === spec.roleArn,
    );
    await api.delete('team-gone');
    const deletedAt = Date.now();
    await waitFor(
      'the annotation removed',
      async () => (await annotationOf('team-gone', 'default')) === undefined,
      10_000,
    );
    await sleep(Math.max(0, GRACE_MS / 2 - (Date.now() - deletedAt)));
    t.ok(await roleExists(iam, spec.roleName), 'kept during the grace');
    await waitFor(
      'the orphan deleted',
      async () => !(await roleExists(iam, spec.roleName)),
      GRACE_MS + 10_000,
    );
    const took = Date.now() - deletedAt;
    t.ok(took >= GRACE_MS - 500, `not before the grace (${took} ms)`);
    t.ok(
      took < GRACE_MS + 7000,
      `within the grace and a few seconds, not at the next pass (${took} ms)`,
    );
  },
);

t.test('the standby takes over when the leader stops, and carries on', async (t) => {
  const stopped = Date.now();
  await a.stop();
  aStopped = true;
  t.equal(await metric(a, 'profile_irsa_reconcile_leader'), 0, 'the old leader says so');
  await waitFor('replica-b to lead', async () => b.server.reconciler!.isLeader(), LEASE_MS + 5000);
  t.ok(
    Date.now() - stopped <= LEASE_MS + 2000,
    `within the lease duration (${Date.now() - stopped} ms)`,
  );
  const spec = specFor('team-old');
  await iam.send(
    new DeleteRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  await waitFor('the new leader repairs', () => roleMatchesSpec(spec), INTERVAL_MS * 3 + 10_000);
  t.ok((await writesOf(b)) >= 1, 'the new leader wrote to IAM');
});

t.test('a Profile deleted while no reconciler ran is found by the full pass', async (t) => {
  await b.stop();
  const spec = specFor('team-old');
  await api.delete('team-old');
  await sleep(GRACE_MS);
  t.ok(await roleExists(iam, spec.roleName), 'nobody deleted it while no reconciler ran');
  const c = await startReplica('replica-c');
  t.teardown(() => c.stop());
  await waitFor(
    'the orphan found and deleted',
    async () => !(await roleExists(iam, spec.roleName)),
    20_000,
  );
  t.equal(await annotationOf('team-old', 'default'), undefined, 'its annotations removed too');
  t.equal(await annotationOf('team-old', 'pipeline-runner'), undefined);
});

t.test(
  "another cluster's role, an untagged role and a hand-made role were never touched",
  async (t) => {
    const after = await Promise.all(untouched.map((name) => roleSnapshot(iam, name)));
    t.same(after, before);
  },
);

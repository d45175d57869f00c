// A Profile's life as its Events tell it, against the real kube-apiserver and moto with the
// reconciler running: created (its role in place), its inline policy edited in IAM twice (each
// repaired: one Event, counted twice), deleted (its role orphaned, then deleted after the
// grace). The Events are read with the field selectors `kubectl describe profile` and
// `kubectl events --for profile/NAME` use, and with kubectl itself.

import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { CoreV1Event } from '@kubernetes/client-node';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { plainProfile } from '../../tools/dev/cluster.js';
import { serveWebhook, startE2eControlPlane, startE2eMoto, waitFor } from '../helpers/e2e.js';
import { roleExists, widenInlinePolicy } from '../helpers/iam-roles.js';
import { MOTO_ACCOUNT_ID } from '../helpers/moto.js';
import { testRoleSettings } from '../helpers/settings.js';

const execFileP = promisify(execFile);
const NAMESPACE = 'irsa-system';
const POD = 'profile-irsa-webhook-7c9d8-xk2lp';
const GRACE_MS = 3000;
const INTERVAL_MS = 4000;

const { iam } = await startE2eMoto();
const { cp, kc, core, api } = await startE2eControlPlane({ namespaces: [NAMESPACE] });

const spec = deriveRoleSpec(testRoleSettings({ accountId: MOTO_ACCOUNT_ID }), 'team-a');
await serveWebhook(
  kc,
  { RECONCILE: 'true', POD_NAMESPACE: NAMESPACE, POD_NAME: POD, ORPHAN_POLICY: 'delete' },
  {
    reconcile: {
      intervalMs: INTERVAL_MS,
      orphanGraceMs: GRACE_MS,
      leaseDurationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 300,
      informerBackoffMs: { min: 200, max: 1000 },
    },
  },
);

/** `kubectl describe profile`'s list: every namespace, name, kind, empty namespace and UID. */
async function describeEvents(name: string, uid: string): Promise<CoreV1Event[]> {
  const list = await core.listEventForAllNamespaces({
    fieldSelector: `involvedObject.kind=Profile,involvedObject.name=${name},involvedObject.namespace=,involvedObject.uid=${uid}`,
    limit: 500,
  });
  return list.items;
}

/** `kubectl events --for profile/NAME`'s list: the context's namespace, kind and name. */
async function eventsFor(name: string): Promise<CoreV1Event[]> {
  const list = await core.listNamespacedEvent({
    namespace: 'default',
    fieldSelector: `involvedObject.kind=Profile,involvedObject.name=${name}`,
    limit: 500,
  });
  return list.items;
}

const reasons = (events: CoreV1Event[]) => events.map((e) => e.reason);
const byReason = (events: CoreV1Event[], reason: string) => events.find((e) => e.reason === reason);

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await execFileP('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args]);
  return stdout;
}

t.test("a Profile's life in its Events", async (t) => {
  const created = await api.create(plainProfile('team-a'));
  const uid = created.metadata!.uid!;

  const inPlace = await waitFor('RoleInPlace', async () =>
    byReason(await describeEvents('team-a', uid), 'RoleInPlace'),
  );
  t.equal(inPlace.type, 'Normal');
  t.equal(inPlace.action, 'CheckRole');
  t.equal(inPlace.message, `IAM role ${spec.roleArn} is in place`);
  t.equal(inPlace.reportingComponent, 'profile-irsa-webhook');
  t.equal(inPlace.reportingInstance, POD, 'the replica that acted, by its pod name');
  t.same(inPlace.involvedObject, {
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    name: 'team-a',
    uid,
  });

  await widenInlinePolicy(iam, spec);
  const repaired = await waitFor(
    'RoleRepaired',
    async () => byReason(await describeEvents('team-a', uid), 'RoleRepaired'),
    INTERVAL_MS * 3 + 10_000,
  );
  t.equal(repaired.type, 'Normal');
  t.equal(repaired.action, 'RepairRole');
  t.equal(repaired.message, `repaired IAM role ${spec.roleArn}: inline policy had drifted`);
  t.equal(repaired.series, undefined);

  // The same drift again: the same Event, counted, not a second object.
  await widenInlinePolicy(iam, spec);
  const again = await waitFor(
    'the repair counted on the same Event',
    async () => {
      const event = byReason(await describeEvents('team-a', uid), 'RoleRepaired');
      return event?.series?.count === 2 ? event : undefined;
    },
    INTERVAL_MS * 3 + 10_000,
  );
  t.equal(again.metadata?.name, repaired.metadata?.name);

  const described = await kubectl('describe', 'profile', 'team-a');
  t.comment(`kubectl describe profile team-a\n${described}`);
  const section = described.slice(described.indexOf('Events:'));
  // FROM is the reportingController (kubectl shows the instance only for core/v1 sources).
  t.match(section, /Normal\s+RoleInPlace\s+\S+\s+profile-irsa-webhook\s+IAM role /);
  t.match(
    section,
    /Normal\s+RoleRepaired\s+\S+ \(x2 over \S+\)\s+profile-irsa-webhook\s+repaired /,
  );

  await api.delete('team-a');
  const deleted = await waitFor(
    'RoleDeleted',
    async () => byReason(await eventsFor('team-a'), 'RoleDeleted'),
    GRACE_MS + INTERVAL_MS + 15_000,
  );
  t.notOk(await roleExists(iam, spec.roleName), 'the role is gone');
  t.equal(deleted.action, 'DeleteRole');
  t.match(deleted.message, /^deleted IAM role team-a-prod-role: its Profile is gone/);
  t.equal(deleted.involvedObject.uid, uid, 'about the Profile that was, by its UID');

  const life = await describeEvents('team-a', uid);
  t.same(
    reasons(life).sort(),
    ['RoleDeleted', 'RoleInPlace', 'RoleOrphaned', 'RoleRepaired'],
    'one Event per thing that happened',
  );
  t.ok(
    life.every((e) => e.metadata?.namespace === 'default'),
    'all in default, where both kubectl commands look',
  );
  t.same(reasons(await eventsFor('team-a')).sort(), reasons(life).sort());

  const listed = await kubectl('events', '--for', 'profile/team-a');
  t.comment(`kubectl events --for profile/team-a\n${listed}`);
  for (const reason of reasons(life)) t.match(listed, reason!);
});

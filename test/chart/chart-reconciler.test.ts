// The chart's reconciler settings, rendered by the real helm: exactly the RBAC the reconciler
// needs (and none when it is off), every value reaching the binary, and the schema refusing bad
// input.

import t, { type Test } from 'tap';
import { loadConfig } from '../../src/config/load.js';
import {
  chartDir,
  expectedRoleRules,
  findObject,
  HelmError,
  helmTemplate,
  REQUIRED_VALUES,
  type K8sObject,
} from '../helpers/helm.js';

const FULLNAME = 't-profile-irsa-webhook';
const render = (...args: string[]) =>
  helmTemplate(['t', chartDir, '--namespace', 'irsa', ...REQUIRED_VALUES, ...args]);

/* eslint-disable @typescript-eslint/no-explicit-any */
type Rule = { apiGroups?: string[]; resources?: string[]; verbs: string[] };
const rulesOf = (objects: K8sObject[], kind: string) =>
  (findObject(objects, kind, FULLNAME) as any).rules as Rule[];
const ruleFor = (rules: Rule[], resource: string) =>
  rules.find((rule) => rule.resources?.includes(resource));
function envOf(objects: K8sObject[]): Map<string, unknown> {
  const deployment = findObject(objects, 'Deployment') as any;
  const env = deployment.spec.template.spec.containers[0].env as {
    name: string;
    value?: string;
    valueFrom?: unknown;
  }[];
  return new Map(env.map((e) => [e.name, e.value ?? e.valueFrom]));
}

t.test(
  'defaults: Profiles read and patched, a Lease in its namespace, no service accounts',
  async (t) => {
    const objects = await render();
    const cluster = rulesOf(objects, 'ClusterRole');
    t.same(ruleFor(cluster, 'profiles'), {
      apiGroups: ['kubeflow.org'],
      resources: ['profiles'],
      verbs: ['get', 'list', 'watch', 'patch'],
    });
    t.equal(
      ruleFor(cluster, 'serviceaccounts'),
      undefined,
      'nothing to annotate: no rights on service accounts',
    );
    const role = findObject(objects, 'Role', FULLNAME) as any;
    t.equal(role.metadata.namespace, 'irsa');
    t.same(role.rules, expectedRoleRules(FULLNAME, { reconcile: true }));

    // Events about Profiles (cluster-scoped) are accepted only in `default`: written, never read.
    const events = findObject(objects, 'Role', `${FULLNAME}-events`) as any;
    t.equal(events.metadata.namespace, 'default');
    t.same(events.rules, [
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
    const binding = findObject(objects, 'RoleBinding', `${FULLNAME}-events`) as any;
    t.equal(binding.metadata.namespace, 'default');
    t.same(binding.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: `${FULLNAME}-events`,
    });
    t.same(binding.subjects, [{ kind: 'ServiceAccount', name: FULLNAME, namespace: 'irsa' }]);

    const env = envOf(objects);
    t.equal(env.get('RECONCILE'), 'true');
    t.equal(env.get('RECONCILE_INTERVAL'), '1h');
    t.equal(env.get('ORPHAN_POLICY'), 'retain');
    t.equal(env.get('ORPHAN_GRACE'), '10m');
    t.equal(env.get('IAM_RATE'), '10');
    t.equal(env.get('LEADER_ELECTION_LEASE'), FULLNAME, 'the Lease is named like the release');
    t.same(env.get('POD_NAME'), { fieldRef: { fieldPath: 'metadata.name' } });
    t.same(env.get('POD_NAMESPACE'), { fieldRef: { fieldPath: 'metadata.namespace' } });
    t.notOk(env.has('ANNOTATE_SERVICE_ACCOUNTS'));
  },
);

t.test(
  'extra service accounts: get/list/watch/patch on service accounts, and the list in env',
  async (t) => {
    const objects = await render(
      '--set',
      'annotateServiceAccounts={default,pipeline-runner}',
      '--set',
      'orphanPolicy=delete',
      '--set',
      'orphanGrace=15m',
      '--set',
      'reconcileInterval=30m',
      '--set-json',
      'iamRate=0.5',
    );
    t.same(ruleFor(rulesOf(objects, 'ClusterRole'), 'serviceaccounts'), {
      apiGroups: [''],
      resources: ['serviceaccounts'],
      verbs: ['get', 'list', 'watch', 'patch'],
    });
    const env = envOf(objects);
    t.equal(env.get('ANNOTATE_SERVICE_ACCOUNTS'), 'default,pipeline-runner');
    t.equal(env.get('ORPHAN_POLICY'), 'delete');
    t.equal(env.get('IAM_RATE'), '0.5');
    const strings = Object.fromEntries([...env].filter(([, v]) => typeof v === 'string')) as Record<
      string,
      string
    >;
    const loaded = loadConfig(
      {},
      { ...strings, POD_NAMESPACE: 'irsa' },
      { tls: true, lease: true },
    );
    t.ok(loaded.ok, "the binary accepts the chart's reconciler configuration");
    if (loaded.ok) {
      t.equal(loaded.config.orphanGrace, 900_000);
      t.equal(loaded.config.reconcileInterval, 1_800_000);
    }
  },
);

t.test(
  'reconcile=false: a pure webhook, with no Lease, patch or service account rights',
  async (t) => {
    const objects = await render(
      '--set',
      'reconcile=false',
      '--set',
      'annotateServiceAccounts={default}',
    );
    t.same(ruleFor(rulesOf(objects, 'ClusterRole'), 'profiles')?.verbs, ['get', 'list', 'watch']);
    t.equal(ruleFor(rulesOf(objects, 'ClusterRole'), 'serviceaccounts'), undefined);
    t.same(
      ruleFor(rulesOf(objects, 'ClusterRole'), 'namespaces')?.verbs,
      ['get'],
      "admission reads one Namespace; only the reconciler's full pass lists them",
    );
    const role = findObject(objects, 'Role', FULLNAME) as any;
    t.notMatch(JSON.stringify(role.rules), /leases/, 'no Lease rights');
    t.notOk(
      objects.some((o) => o.metadata.name === `${FULLNAME}-events`),
      'no Events rights: only the reconciler writes Events',
    );
    const env = envOf(objects);
    t.equal(env.get('RECONCILE'), 'false');
    t.notOk(env.has('LEADER_ELECTION_LEASE'));
    t.equal(env.get('ANNOTATE_SERVICE_ACCOUNTS'), 'default', 'still trusted, so admission agrees');
  },
);

async function rejects(t: Test, args: string[], pattern: RegExp, what: string) {
  try {
    await render(...args);
  } catch (err) {
    if (!(err instanceof HelmError)) throw err;
    t.match(err.stderr, pattern, what);
    return;
  }
  t.fail(`${what}: accepted`);
}

t.test('the schema refuses bad reconciler values', async (t) => {
  await rejects(t, ['--set', 'orphanPolicy=purge'], /orphanPolicy/, 'an unknown orphan policy');
  await rejects(t, ['--set', 'orphanGrace=600'], /orphanGrace/, 'a duration without a unit');
  await rejects(t, ['--set', 'reconcileInterval=hourly'], /reconcileInterval/, 'not a duration');
  await rejects(t, ['--set', 'iamRate=0'], /iamRate/, 'no IAM calls at all');
  await rejects(
    t,
    ['--set', 'annotateServiceAccounts={default-editor}'],
    /annotateServiceAccounts/,
    "the profile controller's account",
  );
  await rejects(t, ['--set', 'reconcile=maybe'], /reconcile/, 'not a boolean');
});

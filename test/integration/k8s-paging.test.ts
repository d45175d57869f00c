// Every Kubernetes list the reconciler makes is read to its last page, against the real
// kube-apiserver with a page size far below the objects listed: Profiles (a custom-object list,
// plain JSON whose page token is `metadata.continue`), service accounts across namespaces,
// Namespaces, and a full reconcile pass over more Profiles and Namespaces than one page, which
// must judge every role in place and see the owner of a Namespace listed on the last page.

import t from 'tap';
import { pino } from 'pino';
import { CreateRoleCommand, PutRolePolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { CoreV1Api } from '@kubernetes/client-node';
import { loadConfig } from '../../src/config/load.js';
import { policySettings, roleSettings } from '../../src/config/settings.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { createNamespaceLister } from '../../src/k8s/namespaces.js';
import { ProfileClient } from '../../src/k8s/profiles.js';
import { ServiceAccountClient } from '../../src/k8s/service-accounts.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { buildReconciler } from '../../src/reconcile/build.js';
import { createDecisionContext } from '../../src/core/decision-context.js';
import { plainProfile, profiles } from '../../tools/dev/cluster.js';
import { installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';
import { iamClientFor, MOTO_ACCOUNT_ID, startMoto } from '../helpers/moto.js';
import { ISSUER, REQUIRED_ENV } from '../helpers/settings.js';
import { useMoto } from '../helpers/webhook.js';

const PAGE = 50;
const PROFILES_COUNT = 120;

const moto = await startMoto();
t.teardown(() => moto.stop());
useMoto(moto);
const iam: IAMClient = iamClientFor(moto.endpoint);
const cp = await startControlPlane();
t.teardown(() => cp.stop());
await installProfileCrd(cp.kubeConfig);
const core = cp.kubeConfig.makeApiClient(CoreV1Api);

const loaded = loadConfig({}, { ...REQUIRED_ENV, OIDC_ISSUER: ISSUER, IAM_RATE: '100' });
if (!loaded.ok) throw new Error(loaded.problems.join('; '));
const config = loaded.config;
const role = roleSettings(config, MOTO_ACCOUNT_ID, ISSUER);
const decisions = createDecisionContext(role, policySettings(config));

const names = Array.from(
  { length: PROFILES_COUNT },
  (_, i) => `team-page-${String(i).padStart(3, '0')}`,
);
const api = profiles(cp.kubeConfig);
for (const name of names) {
  const spec = decisions.specFor(name);
  await api.create(
    plainProfile(name, {
      plugins: [
        { kind: 'AwsIamForServiceAccount', spec: { awsIamRole: spec.roleArn, annotateOnly: true } },
      ],
    }),
  );
}

t.test('Profiles are listed to the last page', async (t) => {
  const listed = await new ProfileClient(cp.kubeConfig, { pageSize: PAGE }).list();
  t.equal(listed.length, PROFILES_COUNT, `${PROFILES_COUNT} Profiles in pages of ${PAGE}`);
  t.same(listed.map((p) => p.name).sort(), names);
});

t.test('service accounts are listed to the last page', async (t) => {
  const namespaces = ['sa-page-a', 'sa-page-b', 'sa-page-c', 'sa-page-d', 'sa-page-e'];
  for (const namespace of namespaces) {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: 'pipeline-runner' } },
    });
  }
  const listed = await new ServiceAccountClient(cp.kubeConfig, { pageSize: 2 }).listNamed(
    'pipeline-runner',
  );
  t.same(listed.map((a) => a.namespace).sort(), namespaces, 'five accounts in pages of two');
});

t.test('Namespaces and their owners are listed to the last page', async (t) => {
  const created = ['ns-page-a', 'ns-page-b', 'ns-page-c', 'ns-page-d', 'ns-page-e'];
  for (const name of created) {
    await core.createNamespace({
      body: { metadata: { name, annotations: { owner: `${name}@example.com` } } },
    });
  }
  const listed = await (await createNamespaceLister(cp.kubeConfig, { pageSize: 2 })).list();
  for (const name of created) {
    t.same(listed.get(name), { exists: true, owner: `${name}@example.com` }, name);
  }
  t.same(listed.get('kube-system'), { exists: true, owner: undefined }, 'one with no owner');
  t.equal(listed.get('ns-page-absent'), undefined);
  const all = await core.listNamespace();
  t.equal(listed.size, all.items.length, 'every Namespace, in pages of two');
});

t.test('a full pass over more Profiles than one page judges every role in place', async (t) => {
  // Every Profile's Namespace, as the profile controller makes it; the last one listed belongs
  // to someone else, so admission's namespace-owner rule refuses its role.
  const taken = names.at(-1)!;
  for (const name of names) {
    await core.createNamespace({
      body: {
        metadata: {
          name,
          annotations: { owner: name === taken ? 'mallory@example.com' : `${name}@example.com` },
        },
      },
    });
  }
  for (const name of names) {
    const spec = deriveRoleSpec(role, name);
    await iam.send(
      new CreateRoleCommand({
        RoleName: spec.roleName,
        Path: spec.rolePath,
        AssumeRolePolicyDocument: JSON.stringify(spec.trustPolicy),
        Tags: Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: spec.roleName,
        PolicyName: spec.s3Policy.name,
        PolicyDocument: JSON.stringify(spec.s3Policy.document),
      }),
    );
  }
  const { reconciler } = await buildReconciler({
    config,
    role,
    decisions,
    kubeConfig: cp.kubeConfig,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: pino({ level: 'silent' }),
    pageSize: PAGE,
  });
  const plans = await reconciler.planAll(AbortSignal.timeout(120_000));
  const states = new Map<string, number>();
  for (const plan of plans) states.set(plan.state.kind, (states.get(plan.state.kind) ?? 0) + 1);
  t.same(
    Object.fromEntries(states),
    { 'in-place': PROFILES_COUNT - 1, refused: 1 },
    'every role in place but the one whose Namespace is taken',
  );
  t.equal(plans.find((plan) => plan.state.kind === 'refused')?.namespace, taken);
});

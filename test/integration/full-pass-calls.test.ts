// What a full reconcile pass costs in IAM calls, per Profile, against moto and the real
// kube-apiserver, with every role in place: one ListRoles page per page of roles, then per role
// its tags and its inline policy. With a permissions boundary configured the tags come from
// GetRole, which also returns the boundary, so the pass stays at two calls per role either way.

import t from 'tap';
import { pino } from 'pino';
import { CreatePolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { CoreV1Api } from '@kubernetes/client-node';
import { loadConfig } from '../../src/config/load.js';
import { policySettings, roleSettings } from '../../src/config/settings.js';
import { createDecisionContext } from '../../src/core/decision-context.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { buildReconciler } from '../../src/reconcile/build.js';
import { plainProfile, profiles } from '../../tools/dev/cluster.js';
import { installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';
import { createOwnedRole } from '../helpers/iam-roles.js';
import { iamClientFor, MOTO_ACCOUNT_ID, startMoto } from '../helpers/moto.js';
import { ISSUER, REQUIRED_ENV } from '../helpers/settings.js';
import { useMoto } from '../helpers/webhook.js';

const COUNT = 40;
/** Below the count, so the pass reads IAM and Kubernetes lists past their first page. */
const PAGE = 25;

const moto = await startMoto();
t.teardown(() => moto.stop());
useMoto(moto);
const iam: IAMClient = iamClientFor(moto.endpoint);
const cp = await startControlPlane();
t.teardown(() => cp.stop());
await installProfileCrd(cp.kubeConfig);
const core = cp.kubeConfig.makeApiClient(CoreV1Api);

const boundary = await iam.send(
  new CreatePolicyCommand({
    PolicyName: 'full-pass-boundary',
    PolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }],
    }),
  }),
);
const boundaryArn = boundary.Policy!.Arn!;

function setup(withBoundary: boolean) {
  const env = withBoundary
    ? { ...REQUIRED_ENV, ALLOW_NO_BOUNDARY: 'false', PERMISSIONS_BOUNDARY_ARN: boundaryArn }
    : REQUIRED_ENV;
  const loaded = loadConfig({}, { ...env, OIDC_ISSUER: ISSUER, IAM_RATE: '100' });
  if (!loaded.ok) throw new Error(loaded.problems.join('; '));
  const role = roleSettings(loaded.config, MOTO_ACCOUNT_ID, ISSUER);
  return {
    config: loaded.config,
    role,
    decisions: createDecisionContext(role, policySettings(loaded.config)),
  };
}

/** COUNT Profiles, their Namespaces (owned by them) and their roles, all in place. */
async function populate(prefix: string, withBoundary: boolean) {
  const { role, decisions } = setup(withBoundary);
  for (let i = 0; i < COUNT; i++) {
    const name = `${prefix}-${String(i).padStart(2, '0')}`;
    const spec = deriveRoleSpec(role, name);
    await profiles(cp.kubeConfig).create(
      plainProfile(name, {
        plugins: [
          {
            kind: 'AwsIamForServiceAccount',
            spec: { awsIamRole: decisions.specFor(name).roleArn, annotateOnly: true },
          },
        ],
      }),
    );
    await core.createNamespace({
      body: { metadata: { name, annotations: { owner: `${name}@example.com` } } },
    });
    await createOwnedRole(iam, spec, withBoundary ? { boundaryArn } : {});
  }
}

async function pass(withBoundary: boolean) {
  const { config, role, decisions } = setup(withBoundary);
  const metrics = createMetrics({ defaultMetrics: false });
  const { reconciler } = await buildReconciler({
    config,
    role,
    decisions,
    kubeConfig: cp.kubeConfig,
    metrics,
    logger: pino({ level: 'silent' }),
    pageSize: PAGE,
    iamPageSize: PAGE,
  });
  const plans = await reconciler.planAll(AbortSignal.timeout(120_000));
  const calls: Record<string, number> = {};
  for (const { labels, value } of (await metrics.iamCalls.get()).values) {
    calls[String(labels.operation)] = (calls[String(labels.operation)] ?? 0) + value;
  }
  const states: Record<string, number> = {};
  for (const plan of plans) states[plan.state.kind] = (states[plan.state.kind] ?? 0) + 1;
  const reported = (await metrics.reconcile.passIamCalls.get()).values[0]?.value;
  return { calls, states, reported };
}

t.test('without a boundary: ListRoleTags and GetRolePolicy per role', async (t) => {
  await populate('calls-plain', false);
  const { calls, states, reported } = await pass(false);
  t.same(states, { 'in-place': COUNT }, 'every role in place');
  t.same(calls, { ListRoles: 2, ListRoleTags: COUNT, GetRolePolicy: COUNT });
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  t.equal(reported, total, 'the pass reports the IAM requests it made');
  t.ok(total / COUNT <= 2.1, `${total / COUNT} IAM calls per Profile`);
});

t.test('with a boundary: GetRole brings tags and boundary in one call', async (t) => {
  // The path holds the first test's roles too (no boundary): judged as well, so counted.
  await populate('calls-bound', true);
  const { calls, states, reported } = await pass(true);
  t.equal(states['in-place'], COUNT, "this configuration's roles in place");
  t.equal(states.drift, COUNT, 'the roles without the boundary drift: it was read');
  t.same(calls, { ListRoles: 4, GetRole: 2 * COUNT, GetRolePolicy: 2 * COUNT });
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  t.equal(reported, total, 'the pass reports the IAM requests it made');
  t.ok(total / (2 * COUNT) <= 2.1, `${total / (2 * COUNT)} IAM calls per role`);
});

import t from 'tap';

// Creating roles, the cache, one flight per namespace, races and deadlines.

import { GetRoleCommand, GetRolePolicyCommand, ListRolePoliciesCommand } from '@aws-sdk/client-iam';
import { roleSnapshot } from '../helpers/iam-roles.js';
import { startBlackhole } from '../helpers/tcp-faults.js';
import { parsePolicyDocument, policiesEqual } from '../../src/core/policy-compare.js';
import {
  BOUNDARY,
  ISSUER,
  calls,
  count,
  ensure,
  holdCommand,
  rejection,
  startRig,
  until,
  writes,
} from '../helpers/role-ensurer-rig.js';

const { raw, specFor, harness } = await startRig(t);

t.test('creates a missing role with path, tags, trust, boundary and inline policy', async (t) => {
  const h = harness();
  const spec = specFor('create');
  const result = await ensure(h, spec);
  t.same(result, { outcome: 'created', roleArn: spec.roleArn, warnings: [] });

  const { Role } = await raw.send(new GetRoleCommand({ RoleName: spec.roleName }));
  t.equal(Role?.Arn, spec.roleArn);
  t.equal(Role?.Path, '/kubeflow-profiles/');
  t.ok(policiesEqual(parsePolicyDocument(Role?.AssumeRolePolicyDocument ?? ''), spec.trustPolicy));
  t.equal(Role?.PermissionsBoundary?.PermissionsBoundaryArn, BOUNDARY);
  t.equal(Role?.MaxSessionDuration, 7200);
  const tags = Object.fromEntries((Role?.Tags ?? []).map((tag) => [tag.Key, tag.Value]));
  t.same(tags, {
    team: 'ml',
    'app.kubernetes.io/managed-by': 'profile-irsa-webhook',
    'profile-irsa-webhook/cluster': 'prod',
    'profile-irsa-webhook/oidc-provider': ISSUER,
    'kubeflow.org/profile': spec.namespace,
  });
  const { PolicyNames } = await raw.send(new ListRolePoliciesCommand({ RoleName: spec.roleName }));
  t.same(PolicyNames, [`kf-${spec.namespace}-pipeline-s3`]);
  const policy = await raw.send(
    new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  t.ok(policiesEqual(parsePolicyDocument(policy.PolicyDocument ?? ''), spec.s3Policy.document));

  t.equal(await count(h.metrics, 'CreateRole'), 1);
  t.equal(await count(h.metrics, 'PutRolePolicy'), 1);
  const writeLogs = h.logs.filter((l) => l['roleName'] === spec.roleName && l['level'] === 30);
  t.same(
    writeLogs.map((l) => l['iamAction']),
    ['CreateRole', 'PutRolePolicy'],
    'every write is logged at info with the role name',
  );
});

t.test('a role without boundary or session duration', async (t) => {
  const plain = { permissionsBoundary: undefined, maxSessionDuration: undefined };
  const h = harness({ settings: plain });
  const spec = specFor('plain', plain);
  t.equal((await ensure(h, spec)).outcome, 'created');
  const { Role } = await raw.send(new GetRoleCommand({ RoleName: spec.roleName }));
  t.equal(Role?.PermissionsBoundary, undefined);
  t.equal(Role?.MaxSessionDuration, 3600, "IAM's default");
  h.ensurer.forget(spec.namespace);
  t.equal((await ensure(h, spec)).outcome, 'verified', 'unset options are not drift');
});

t.test('idempotent: a second ensure verifies without writing', async (t) => {
  const h = harness();
  const spec = specFor('idem');
  await ensure(h, spec);
  const before = await roleSnapshot(raw, spec.roleName);
  const writesBefore = await writes(h.metrics);
  h.ensurer.forget(spec.namespace);
  const again = await ensure(h, spec);
  t.same(again, { outcome: 'verified', roleArn: spec.roleArn, warnings: [] });
  t.equal(await writes(h.metrics), writesBefore, 'no write call');
  t.same(await roleSnapshot(raw, spec.roleName), before);

  // A fresh process (another replica) verifies the same role without writing either.
  const other = harness();
  t.equal((await ensure(other, spec)).outcome, 'verified');
  t.equal(await writes(other.metrics), 0);
});

t.test('a cache hit makes no IAM call; expiry, forget and another role miss', async (t) => {
  let now = 1_000_000;
  const h = harness({ now: () => now });
  const spec = specFor('cache');
  await ensure(h, spec);
  const callsBefore = await count(h.metrics);
  const hit = await ensure(h, spec);
  t.same(hit, { outcome: 'cached', roleArn: spec.roleArn, warnings: [] });
  t.equal(await count(h.metrics), callsBefore, 'zero IAM calls');
  t.equal((await h.metrics.roleCacheHits.get()).values[0]?.value, 1);

  t.equal(
    h.ensurer.cached(spec.namespace, `${spec.roleArn}-other`),
    undefined,
    'another ARN is a miss',
  );

  now += 60_001;
  t.equal((await ensure(h, spec)).outcome, 'verified', 'an expired entry is a miss');
  t.equal((await ensure(h, spec)).outcome, 'cached');
  h.ensurer.forget(spec.namespace);
  t.equal((await ensure(h, spec)).outcome, 'verified', 'a forgotten entry is a miss');
});

t.test('20 concurrent ensures for one namespace share one flight', async (t) => {
  const h = harness();
  const spec = specFor('concurrent');
  const results = await Promise.all(Array.from({ length: 20 }, () => ensure(h, spec)));
  t.equal(await count(h.metrics, 'CreateRole'), 1, 'exactly one CreateRole');
  t.equal(await count(h.metrics, 'PutRolePolicy'), 1);
  t.equal(await count(h.metrics, 'GetRole'), 1);
  for (const r of results) t.same(r, results[0]);
  t.equal(results[0]?.outcome, 'created');
});

t.test('two replicas racing: EntityAlreadyExists means look it up', async (t) => {
  const spec = specFor('race');
  const a = harness();
  const b = harness();

  // Hold replica B's CreateRole until replica A has created the role completely, so B surely
  // hits EntityAlreadyExists after its own GetRole found nothing.
  const bCreate = holdCommand(b.iam, 'CreateRoleCommand');

  const bResult = ensure(b, spec);
  await bCreate.reached;
  const aResult = await ensure(a, spec);
  bCreate.release();
  t.equal(aResult.outcome, 'created');
  t.same(await bResult, { outcome: 'verified', roleArn: spec.roleArn, warnings: [] });
  // The three reads after the second GetRole run side by side, so their order is not fixed.
  const byOp = (a: { op: string; outcome: string }, b: { op: string; outcome: string }) =>
    `${a.op} ${a.outcome}`.localeCompare(`${b.op} ${b.outcome}`);
  t.same((await calls(b.metrics)).sort(byOp), [
    { op: 'CreateRole', outcome: 'EntityAlreadyExistsException', n: 1 },
    { op: 'GetRole', outcome: 'NoSuchEntityException', n: 1 },
    { op: 'GetRole', outcome: 'success', n: 1 },
    { op: 'GetRolePolicy', outcome: 'success', n: 1 },
    { op: 'ListAttachedRolePolicies', outcome: 'success', n: 1 },
    { op: 'ListRolePolicies', outcome: 'success', n: 1 },
  ]);
  t.equal(b.logs.filter((l) => /exists already; verifying it/.test(String(l['msg']))).length, 1);

  // And an unorchestrated race: whatever the interleaving, one role and two successes.
  const spec2 = specFor('race-free');
  const [x, y] = await Promise.all([ensure(harness(), spec2), ensure(harness(), spec2)]);
  t.ok(['created', 'verified', 'repaired'].includes(x.outcome));
  t.ok(['created', 'verified', 'repaired'].includes(y.outcome));
  t.ok(x.outcome === 'created' || y.outcome === 'created');
  t.match(await roleSnapshot(raw, spec2.roleName), { arn: spec2.roleArn, boundary: BOUNDARY });
  t.ok(
    policiesEqual(
      ((await roleSnapshot(raw, spec2.roleName)) as { trust: unknown }).trust,
      spec2.trustPolicy,
    ),
  );
});

t.test('an already fired signal fails at once with a deadline error', async (t) => {
  const h = harness();
  const spec = specFor('aborted');
  const controller = new AbortController();
  controller.abort();
  const err = await rejection(ensure(h, spec, { signal: controller.signal }));
  t.equal(err.reason, 'deadline');
  t.equal(err.retryable, true);
  t.match(err.message, spec.roleName);
  t.equal(await count(h.metrics), 0, 'no IAM call');
});

t.test('a signal firing during a call ends it quickly with a deadline error', async (t) => {
  const hanging = await startBlackhole();
  t.teardown(() => hanging.close());
  const h = harness({ endpoint: hanging.endpoint });
  const spec = specFor('hang');
  const started = performance.now();
  const err = await rejection(ensure(h, spec, { signal: AbortSignal.timeout(200) }));
  const elapsed = performance.now() - started;
  t.equal(err.reason, 'deadline');
  t.equal(err.retryable, true);
  t.ok(elapsed < 5_000, `returned after ${Math.round(elapsed)} ms`);
  // The caller stops waiting at once; the cancelled request settles just after.
  await until(async () => (await count(h.metrics)) > 0 && hanging.openConnections() === 0);
  t.match(await calls(h.metrics), [{ op: 'GetRole', outcome: /Abort/ }]);
  t.equal(hanging.openConnections(), 0, 'the request was cancelled, not left hanging');
});

t.test('a waiter whose deadline fires does not cancel the shared flight', async (t) => {
  const h = harness();
  const spec = specFor('waiters');
  const getRole = holdCommand(h.iam, 'GetRoleCommand');

  const impatient = new AbortController();
  const first = ensure(h, spec, { signal: impatient.signal });
  const second = ensure(h, spec);
  await getRole.reached;
  impatient.abort();
  const err = await rejection(first);
  t.equal(err.reason, 'deadline');
  getRole.release();
  t.equal((await second).outcome, 'created', 'the patient caller gets the shared result');
  t.equal(await count(h.metrics, 'CreateRole'), 1);
});

// Repairs the shipped IAM policy used to deny (issue 13): each one is made here against moto,
// and the IAM recorder in front of moto judges every call against that policy.

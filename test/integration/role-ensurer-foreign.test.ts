import t from 'tap';

// Roles that are not this cluster's to change, lookup mode and dry runs: never written.

import { DeleteRolePolicyCommand } from '@aws-sdk/client-iam';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { createHandMadeRole, EC2_TRUST, roleExists, roleSnapshot } from '../helpers/iam-roles.js';
import { MOTO_ACCOUNT_ID } from '../helpers/moto.js';
import {
  ISSUER,
  calls,
  count,
  ensure,
  rejection,
  settings,
  startRig,
  wildcardTrust,
  writes,
} from '../helpers/role-ensurer-rig.js';

const { moto, raw, specFor, harness } = await startRig(t);
// Namespaces of the tests that derive their specs themselves, apart from specFor's.
let namespaceCounter = 1000;

t.test('a foreign role whose trust admits the namespace is used, never changed', async (t) => {
  const h = harness();
  const spec = specFor('foreign-ok');
  await createHandMadeRole(raw, spec, { tags: { owner: 'terraform' } });
  const before = await roleSnapshot(raw, spec.roleName);

  const result = await ensure(h, spec);
  t.equal(result.outcome, 'looked-up');
  t.equal(result.roleArn, spec.roleArn);
  t.same(result.warnings, [
    `role ${spec.roleName} is not managed by profile-irsa-webhook and is used as is`,
  ]);
  t.ok(result.warnings.every((w) => w.length <= 120));
  t.equal(await writes(h.metrics), 0, 'no write call at all');
  t.same(await roleSnapshot(raw, spec.roleName), before, 'documents, tags and policies unchanged');
  t.equal((await ensure(h, spec)).outcome, 'cached', 'a usable foreign role is cached');
});

t.test('a foreign role whose trust does not admit the namespace is refused', async (t) => {
  const h = harness();
  const spec = specFor('foreign-bad');
  await createHandMadeRole(raw, spec, { trust: wildcardTrust(spec) });
  const before = await roleSnapshot(raw, spec.roleName);

  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'foreign-role-untrusted');
  t.equal(err.roleName, spec.roleName);
  t.equal(err.retryable, false);
  t.match(err.message, spec.roleName);
  t.match(err.message, 'is not managed by profile-irsa-webhook');
  t.match(err.message, `system:serviceaccount:${spec.namespace}:default-editor`);
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, spec.roleName), before);
});

t.test('a role tagged for another cluster is foreign', async (t) => {
  const h = harness();
  const spec = specFor('other-cluster');
  const otherTags = { ...spec.tags, 'profile-irsa-webhook/cluster': 'staging' };

  // Even with a trust that admits the namespace: another cluster's role is neither written nor used.
  await createHandMadeRole(raw, spec, { tags: otherTags });
  const before = await roleSnapshot(raw, spec.roleName);
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'foreign-cluster');
  t.equal(err.retryable, false);
  t.match(err.message, `belongs to cluster staging (OIDC provider ${ISSUER}`);
  t.match(err.message, `not to this cluster prod (OIDC provider ${ISSUER}`);
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, spec.roleName), before);

  // With an admitting trust it is used as is: its drifted inline policy is not "repaired".
  const spec2 = specFor('other-profile');
  await createHandMadeRole(raw, spec2, {
    tags: { ...spec2.tags, 'kubeflow.org/profile': 'someone-else' },
  });
  const before2 = await roleSnapshot(raw, spec2.roleName);
  t.equal((await ensure(h, spec2)).outcome, 'looked-up');
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, spec2.roleName), before2);
});

t.test('a role at another path is refused', async (t) => {
  const h = harness();
  const spec = specFor('path');
  await createHandMadeRole(raw, spec, { path: '/elsewhere/', tags: spec.tags });
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'path-mismatch');
  t.match(err.message, `role/elsewhere/${spec.roleName}`);
  t.match(err.message, spec.roleArn);
  t.equal(await writes(h.metrics), 0);
});

t.test('lookup mode never creates or modifies', async (t) => {
  const h = harness({ mode: 'lookup' });

  const missing = specFor('lookup-missing');
  const err = await rejection(ensure(h, missing));
  t.equal(err.reason, 'role-missing');
  t.match(err.message, missing.roleArn);
  t.match(err.message, 'lookup mode');
  t.notOk(await roleExists(raw, missing.roleName));

  const present = specFor('lookup-present');
  await createHandMadeRole(raw, present);
  const result = await ensure(h, present);
  t.same(result, { outcome: 'looked-up', roleArn: present.roleArn, warnings: [] });

  // Even a role tagged as ours is only looked up: no repair in lookup mode.
  const owned = specFor('lookup-owned');
  await createHandMadeRole(raw, owned, { tags: owned.tags });
  const before = await roleSnapshot(raw, owned.roleName);
  t.equal((await ensure(h, owned)).outcome, 'looked-up');
  t.same(await roleSnapshot(raw, owned.roleName), before);

  const untrusted = specFor('lookup-untrusted');
  await createHandMadeRole(raw, untrusted, {
    trust: wildcardTrust(untrusted),
    tags: untrusted.tags,
  });
  const refused = await rejection(ensure(h, untrusted));
  t.equal(refused.reason, 'foreign-role-untrusted');
  t.match(refused.message, 'lookup mode');

  t.equal(await writes(h.metrics), 0, 'never a write');
});

t.test('dry run on a missing role reports would-create and creates nothing', async (t) => {
  const h = harness();
  const spec = specFor('dry-missing');
  const result = await ensure(h, spec, { dryRun: true });
  t.same(result, {
    outcome: 'would-create',
    roleArn: spec.roleArn,
    warnings: [`dry run: role ${spec.roleName} does not exist yet and was not created`],
  });
  t.notOk(await roleExists(raw, spec.roleName));
  t.equal(await writes(h.metrics), 0);
  const gets = await count(h.metrics, 'GetRole');
  t.equal((await ensure(h, spec, { dryRun: true })).outcome, 'would-create', 'not cached');
  t.equal(await count(h.metrics, 'GetRole'), gets + 1);

  t.equal((await ensure(h, spec)).outcome, 'created', 'a real request afterwards creates');
});

t.test('dry run on a drifted role reports would-repair and changes nothing', async (t) => {
  const h = harness();
  const spec = specFor('dry-drift');
  await ensure(h, spec);
  await raw.send(
    new DeleteRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  h.ensurer.forget(spec.namespace);
  const before = await roleSnapshot(raw, spec.roleName);
  const writesBefore = await writes(h.metrics);

  const result = await ensure(h, spec, { dryRun: true });
  t.equal(result.outcome, 'would-repair');
  t.match(result.warnings[0], /^dry run: role .* has drifted \(missing inline policy\)/);
  t.equal(await writes(h.metrics), writesBefore);
  t.same(await roleSnapshot(raw, spec.roleName), before);
  t.equal((await ensure(h, spec, { dryRun: true })).outcome, 'would-repair', 'not cached');

  t.equal((await ensure(h, spec)).outcome, 'repaired');
  h.ensurer.forget(spec.namespace);
  t.equal((await ensure(h, spec, { dryRun: true })).outcome, 'verified');
  t.equal((await ensure(h, spec, { dryRun: true })).outcome, 'cached', 'a verified role is cached');
});

t.test('a role of the same name under another path reads as exactly that', async (t) => {
  // The shipped policy used to scope GetRole to the role path: on AWS this GetRole was denied and
  // the answer below never reached. The recorder now judges it against the policy.
  const h = harness();
  const spec = specFor('elsewhere');
  await createHandMadeRole(raw, spec, { path: '/teams/', tags: { owner: 'platform' } });
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'path-mismatch');
  t.match(err.message, `exists as arn:aws:iam::${MOTO_ACCOUNT_ID}:role/teams/${spec.roleName}`);
  const getRole = (await moto.recorder.requests()).find(
    (r) => r.operation === 'GetRole' && r.params['RoleName'] === spec.roleName,
  );
  t.same(
    getRole?.verdicts.map((v) => [v.request.resource, v.result]),
    [[`arn:aws:iam::${MOTO_ACCOUNT_ID}:role/teams/${spec.roleName}`, 'Allowed']],
  );
});

t.test('a role tagged for this cluster that trusts another principal is foreign', async (t) => {
  const h = harness();
  const spec = specFor('copied-tags');
  await createHandMadeRole(raw, spec, { tags: spec.tags, trust: EC2_TRUST });
  const before = await roleSnapshot(raw, spec.roleName);
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'foreign-role-untrusted');
  t.match(err.message, 'its trust policy does not name');
  t.match(err.message, spec.owner.oidcProviderArn);
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, spec.roleName), before);
});

t.test('a role from before the provider tag is used as is and says how to adopt it', async (t) => {
  const h = harness();
  const spec = specFor('legacy');
  const { ['profile-irsa-webhook/oidc-provider']: _provider, ...legacyTags } = spec.tags;
  void _provider;
  await createHandMadeRole(raw, spec, { tags: legacyTags });
  const before = await roleSnapshot(raw, spec.roleName);
  const result = await ensure(h, spec);
  t.equal(result.outcome, 'looked-up');
  t.match(result.warnings, [/is not this cluster's to manage and is used as is/]);
  const logged = h.logs.find((l) => l['roleName'] === spec.roleName && l['ownership']);
  t.match(logged?.['msg'], `Key=profile-irsa-webhook/oidc-provider,Value=${ISSUER}`);
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, spec.roleName), before);
});

t.test("two clusters of one name in two regions never write each other's roles", async (t) => {
  const east = { clusterName: 'kubeflow' };
  const west = {
    clusterName: 'kubeflow',
    region: 'eu-west-1',
    oidcIssuer: 'https://oidc.eks.eu-west-1.amazonaws.com/id/WEST',
  };
  const namespace = `team-${++namespaceCounter}`;
  const eastSpec = deriveRoleSpec(settings(east), namespace);
  const westSpec = deriveRoleSpec(settings(west), namespace);
  t.equal(westSpec.roleArn, eastSpec.roleArn, 'the default template gives both the same role');

  const eastHarness = harness({ settings: east });
  const westHarness = harness({ settings: west });
  t.equal((await ensure(eastHarness, eastSpec)).outcome, 'created');
  const before = await roleSnapshot(raw, eastSpec.roleName);
  const err = await rejection(ensure(westHarness, westSpec));
  t.equal(err.reason, 'foreign-cluster');
  t.match(err.message, `belongs to cluster kubeflow (OIDC provider ${ISSUER}`);
  t.match(
    err.message,
    'this cluster kubeflow (OIDC provider oidc.eks.eu-west-1.amazonaws.com/id/WEST',
  );
  t.match(err.message, 'Two clusters named kubeflow, in us-east-1 and eu-west-1');
  t.match(err.message, "--role-name-template '{namespace}-{cluster}-{region}-role'");
  t.equal(await writes(westHarness.metrics), 0);
  t.same(await roleSnapshot(raw, eastSpec.roleName), before, "east's role is untouched");
});

t.test('team-a@prod and team@a-prod meet on one role name; neither writes the other', async (t) => {
  const suffix = ++namespaceCounter;
  const mine = deriveRoleSpec(settings({ clusterName: `prod${suffix}` }), 'team-a');
  const theirs = deriveRoleSpec(settings({ clusterName: `a-prod${suffix}` }), 'team');
  t.equal(mine.roleName, theirs.roleName);
  t.equal(
    (await ensure(harness({ settings: { clusterName: `a-prod${suffix}` } }), theirs)).outcome,
    'created',
  );
  const before = await roleSnapshot(raw, theirs.roleName);
  const h = harness({ settings: { clusterName: `prod${suffix}` } });
  const err = await rejection(ensure(h, mine));
  t.equal(err.reason, 'foreign-cluster');
  t.match(err.message, `belongs to cluster a-prod${suffix}`);
  t.match(err.message, `profile team)`);
  t.match(err.message, `this cluster prod${suffix}`);
  t.match(err.message, "--role-name-template '{namespace}.{cluster}-role'");
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, theirs.roleName), before);
});

t.test(
  'a foreign role whose trust also admits every service account is shared: refused',
  async (t) => {
    const h = harness();
    const spec = specFor('shared');
    const exact = spec.trustPolicy.Statement[0]!;
    const everyone = {
      ...exact,
      Condition: {
        StringEquals: { [`${ISSUER}:aud`]: 'sts.amazonaws.com' },
        StringLike: { [`${ISSUER}:sub`]: 'system:serviceaccount:*' },
      },
    };
    await createHandMadeRole(raw, spec, {
      trust: { Version: '2012-10-17', Statement: [exact, everyone] },
      tags: { owner: 'platform' },
    });
    const before = await roleSnapshot(raw, spec.roleName);
    for (const operation of ['CREATE', 'UPDATE'] as const) {
      const err = await rejection(ensure(h, spec, { operation }));
      t.equal(err.reason, 'foreign-role-untrusted', operation);
      t.equal(err.retryable, false);
      t.match(
        err.message,
        /by pattern \(StringLike system:serviceaccount:\*\), so the role is shared/,
      );
    }
    const writesDone = (await calls(h.metrics)).filter(
      (c) => c.outcome === 'success' && c.op !== 'GetRole',
    );
    t.same(writesDone, [], 'no write succeeded: CreateRole met EntityAlreadyExists, nothing else');
    t.same(await roleSnapshot(raw, spec.roleName), before, 'the role is untouched');
  },
);

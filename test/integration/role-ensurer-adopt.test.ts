import t from 'tap';

// Roles this cluster owns: verified, adopted and repaired with only the writes the shipped policy allows.

import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  DeleteRolePermissionsBoundaryCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
  TagRoleCommand,
  UntagRoleCommand,
  UpdateRoleCommand,
} from '@aws-sdk/client-iam';
import { createHandMadeRole, roleSnapshot, widenInlinePolicy } from '../helpers/iam-roles.js';
import { parsePolicyDocument, policiesEqual } from '../../src/core/policy-compare.js';
import {
  BOUNDARY,
  count,
  ensure,
  rejection,
  startRig,
  widenTrust,
  writes,
} from '../helpers/role-ensurer-rig.js';

const { moto, raw, specFor, harness } = await startRig(t);

t.test('repairs drift on an owned role', async (t) => {
  const h = harness();
  const spec = specFor('drift');
  await ensure(h, spec);
  await widenTrust(raw, spec);
  await widenInlinePolicy(raw, spec);
  h.ensurer.forget(spec.namespace);

  const result = await ensure(h, spec);
  t.equal(result.outcome, 'repaired');
  t.same(result.warnings, [`role ${spec.roleName} adopted: trust policy, inline policy repaired`]);
  const after = await roleSnapshot(raw, spec.roleName);
  t.match(after, { boundary: BOUNDARY });
  const role = await raw.send(new GetRoleCommand({ RoleName: spec.roleName }));
  t.ok(
    policiesEqual(parsePolicyDocument(role.Role?.AssumeRolePolicyDocument ?? ''), spec.trustPolicy),
  );
  const policy = await raw.send(
    new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  t.ok(policiesEqual(parsePolicyDocument(policy.PolicyDocument ?? ''), spec.s3Policy.document));

  h.ensurer.forget(spec.namespace);
  t.equal((await ensure(h, spec)).outcome, 'verified', 'repaired content verifies');
});

t.test('puts a missing inline policy back (a half-made role)', async (t) => {
  const h = harness();
  const spec = specFor('half');
  await ensure(h, spec);
  await raw.send(
    new DeleteRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  h.ensurer.forget(spec.namespace);
  const result = await ensure(h, spec);
  t.equal(result.outcome, 'repaired');
  t.match(result.warnings[0], /missing inline policy repaired/);
  t.ok(
    await raw.send(
      new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
    ),
  );
});

t.test('an equivalent document in another form is not drift', async (t) => {
  const h = harness();
  const spec = specFor('form');
  await ensure(h, spec);
  // Same content: keys reordered, one-item arrays, Action order reversed.
  const statement = spec.s3Policy.document.Statement[0]!;
  await raw.send(
    new PutRolePolicyCommand({
      RoleName: spec.roleName,
      PolicyName: spec.s3Policy.name,
      PolicyDocument: JSON.stringify({
        Statement: [
          {
            Resource: [...(statement.Resource as string[])].reverse(),
            Action: [...(statement.Action as string[])].reverse(),
            Effect: ['Allow'][0],
          },
        ],
        Version: '2012-10-17',
      }),
    }),
  );
  h.ensurer.forget(spec.namespace);
  t.equal((await ensure(h, spec)).outcome, 'verified');
  t.equal(await count(h.metrics, 'PutRolePolicy'), 1, 'only the first put');
});

t.test('repairs the extra tags of an owned role with TagRole of those tags only', async (t) => {
  const h = harness();
  const spec = specFor('tags');
  await ensure(h, spec);
  await raw.send(new UntagRoleCommand({ RoleName: spec.roleName, TagKeys: ['team'] }));
  await raw.send(
    new TagRoleCommand({ RoleName: spec.roleName, Tags: [{ Key: 'owner', Value: 'someone' }] }),
  );
  h.ensurer.forget(spec.namespace);
  const result = await ensure(h, spec);
  t.equal(result.outcome, 'repaired');
  t.same(result.warnings, [`role ${spec.roleName} adopted: tags repaired`]);
  const tagRoles = (await moto.recorder.requests()).filter(
    (r) => r.operation === 'TagRole' && r.params['RoleName'] === spec.roleName,
  );
  t.equal(tagRoles.length, 1);
  t.same(
    tagRoles[0]!.params,
    { ...tagRoles[0]!.params, 'Tags.member.1.Key': 'team', 'Tags.member.1.Value': 'ml' },
    'only the drifted extra tag is sent',
  );
  t.notOk('Tags.member.2.Key' in tagRoles[0]!.params);
  const { Role } = await raw.send(new GetRoleCommand({ RoleName: spec.roleName }));
  t.match(Object.fromEntries((Role?.Tags ?? []).map((tag) => [tag.Key, tag.Value])), {
    team: 'ml',
    owner: 'someone',
  });
});

t.test('repairs the max session duration of an owned role', async (t) => {
  const h = harness();
  const spec = specFor('session');
  await ensure(h, spec);
  await raw.send(new UpdateRoleCommand({ RoleName: spec.roleName, MaxSessionDuration: 3600 }));
  h.ensurer.forget(spec.namespace);
  const result = await ensure(h, spec);
  t.equal(result.outcome, 'repaired');
  t.same(result.warnings, [`role ${spec.roleName} adopted: max session duration repaired`]);
  t.match(await roleSnapshot(raw, spec.roleName), { maxSession: 7200 });
});

t.test('a missing boundary is reported, never set, and blocks other repairs', async (t) => {
  const h = harness();
  const spec = specFor('boundary');
  await ensure(h, spec);
  await raw.send(new DeleteRolePermissionsBoundaryCommand({ RoleName: spec.roleName }));
  h.ensurer.forget(spec.namespace);

  // Nothing else drifted: the role works, the profile is admitted, the operator is told.
  const result = await ensure(h, spec);
  t.equal(result.outcome, 'verified');
  t.match(result.warnings, [/lacks the configured permissions boundary/]);
  const logged = h.logs.find((l) => l['roleName'] === spec.roleName && l['level'] === 40);
  t.match(logged?.['msg'], `aws iam put-role-permissions-boundary --role-name ${spec.roleName}`);
  t.equal(await count(h.metrics, 'PutRolePermissionsBoundary'), 0, 'never set by the webhook');
  t.match(await roleSnapshot(raw, spec.roleName), { boundary: undefined });

  // With drift as well: the policy lets it write only roles that carry the boundary, so deny.
  await widenTrust(raw, spec);
  h.ensurer.forget(spec.namespace);
  const before = await roleSnapshot(raw, spec.roleName);
  const writesBefore = await writes(h.metrics);
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'boundary-not-set');
  t.equal(err.retryable, false);
  t.match(err.message, `has no permissions boundary, not the configured ${BOUNDARY}`);
  t.match(err.message, 'cannot repair its trust policy');
  t.match(err.message, `--permissions-boundary ${BOUNDARY}`);
  t.equal(await writes(h.metrics), writesBefore, 'no write');
  t.same(await roleSnapshot(raw, spec.roleName), before);

  // Once the operator has set it, the webhook repairs the rest.
  await raw.send(
    new PutRolePermissionsBoundaryCommand({
      RoleName: spec.roleName,
      PermissionsBoundary: BOUNDARY,
    }),
  );
  const repaired = await ensure(h, spec);
  t.equal(repaired.outcome, 'repaired');
  t.same(repaired.warnings, [`role ${spec.roleName} adopted: trust policy repaired`]);
});

t.test('an owned role with a managed policy attached is not adopted', async (t) => {
  const h = harness();
  const spec = specFor('attached');
  await ensure(h, spec);
  const { Policy } = await raw.send(
    new CreatePolicyCommand({
      PolicyName: `admin-${spec.namespace}`,
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
      }),
    }),
  );
  await raw.send(new AttachRolePolicyCommand({ RoleName: spec.roleName, PolicyArn: Policy!.Arn! }));
  await widenTrust(raw, spec);
  h.ensurer.forget(spec.namespace);
  const before = await roleSnapshot(raw, spec.roleName);
  const writesBefore = await writes(h.metrics);
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'extra-permissions');
  t.match(err.message, `managed policies attached: ${Policy!.Arn!}`);
  t.match(err.message, 'does not adopt it or change its trust');
  t.equal(await writes(h.metrics), writesBefore, 'the trust is not rewritten');
  t.same(await roleSnapshot(raw, spec.roleName), before);
});

t.test('an owned role with an inline policy of its own is not adopted', async (t) => {
  const h = harness();
  const spec = specFor('inline');
  // Tagged as ours, with the derived trust, and an extra inline policy "admin-made".
  await createHandMadeRole(raw, spec, { tags: spec.tags });
  const before = await roleSnapshot(raw, spec.roleName);
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'extra-permissions');
  t.match(err.message, `inline policies other than ${spec.s3Policy.name}: admin-made`);
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, spec.roleName), before);
});

// The reconciler's IAM adapter against moto: every list is read to its end across page
// boundaries (a page size of 1), and a deletion takes only the role it was judged on.

import t from 'tap';
import { pino } from 'pino';
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreatePolicyCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  IAMClient,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { RoleInventory, RoleReplacedError } from '../../src/iam/role-inventory.js';
import {
  FAKE_CREDENTIALS,
  iamClientFor,
  MOTO_ACCOUNT_ID,
  MOTO_REGION,
  startMoto,
} from '../helpers/moto.js';
import { startIamProxy } from '../helpers/iam-proxy.js';
import { createOwnedRole } from '../helpers/iam-roles.js';
import { testRoleSettings } from '../helpers/settings.js';

const moto = await startMoto();
t.teardown(() => moto.stop());
const admin = iamClientFor(moto.endpoint);
const settings = testRoleSettings({ accountId: MOTO_ACCOUNT_ID });
// moto answers ListRolePolicies and ListInstanceProfilesForRole whole; the proxy pages them.
const proxy = await startIamProxy(moto.endpoint);
t.teardown(() => proxy.close());
proxy.pageLists();
const inventory = (pageSize: number, deleteConflictDelaysMs: number[] = []) =>
  new RoleInventory({
    iam: new IAMClient({
      region: MOTO_REGION,
      endpoint: proxy.endpoint,
      credentials: FAKE_CREDENTIALS,
    }),
    rolePath: settings.rolePath,
    logger: pino({ level: 'silent' }),
    pageSize,
    deleteConflictDelaysMs,
  });

async function makeRole(namespace: string) {
  const spec = deriveRoleSpec(settings, namespace);
  await createOwnedRole(admin, spec);
  return spec;
}

const specs = [await makeRole('team-a'), await makeRole('team-b'), await makeRole('team-c')];
const signal = new AbortController().signal;

t.test('ListRoles, ListRoleTags and ListAttachedRolePolicies are read past page 1', async (t) => {
  const small = inventory(1);
  const names: string[] = [];
  let marker: string | undefined;
  let pages = 0;
  do {
    const page = await small.listRoles(marker, signal);
    names.push(...page.roles.map((role) => role.roleName));
    marker = page.marker;
    pages++;
  } while (marker !== undefined);
  t.same(names.sort(), specs.map((s) => s.roleName).sort(), 'every role');
  t.ok(pages >= 3, `${pages} pages of one`);

  const tags = await small.tags(specs[0]!.roleName, signal);
  t.same(tags, specs[0]!.tags, `all ${Object.keys(tags).length} tags, one a page`);

  for (const name of ['one', 'two', 'three']) {
    const { Policy } = await admin.send(
      new CreatePolicyCommand({
        PolicyName: name,
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*' }],
        }),
      }),
    );
    await admin.send(
      new AttachRolePolicyCommand({ RoleName: specs[1]!.roleName, PolicyArn: Policy!.Arn! }),
    );
  }
  const attachments = await small.attachments(specs[1]!.roleName, signal);
  t.equal(attachments.managedPolicies.length, 3, 'every attached policy');
  t.same(attachments.inlinePolicies, [specs[1]!.s3Policy.name]);
});

t.test('a role made again under the name is not deleted', async (t) => {
  const spec = specs[2]!;
  const before = await admin.send(new GetRoleCommand({ RoleName: spec.roleName }));
  const judgedId = before.Role!.RoleId!;
  await admin.send(
    new DeleteRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  await admin.send(new DeleteRoleCommand({ RoleName: spec.roleName }));
  await makeRole('team-c');
  await t.rejects(
    inventory(1).deleteRole(
      spec.roleName,
      { roleId: judgedId, beforeStep: async () => undefined },
      signal,
    ),
    RoleReplacedError,
  );
  const after = await admin.send(new GetRoleCommand({ RoleName: spec.roleName }));
  t.not(after.Role!.RoleId, judgedId, 'the new role is still there');
});

t.test('a Profile back before the delete (the guard throws) keeps the role whole', async (t) => {
  const spec = specs[0]!;
  const { Role } = await admin.send(new GetRoleCommand({ RoleName: spec.roleName }));
  let steps = 0;
  await t.rejects(
    inventory(1).deleteRole(
      spec.roleName,
      {
        roleId: Role!.RoleId!,
        inlinePolicies: [spec.s3Policy.name],
        beforeStep: async () => {
          steps++;
          throw new Error('Profile team-a exists again');
        },
      },
      signal,
    ),
    /exists again/,
  );
  t.equal(steps, 1);
  const after = await inventory(1).attachments(spec.roleName, signal);
  t.same(after.inlinePolicies, [spec.s3Policy.name], 'its inline policy too');
});

t.test('the judged role is deleted, inline policy first', async (t) => {
  const spec = specs[0]!;
  const { Role } = await admin.send(new GetRoleCommand({ RoleName: spec.roleName }));
  let steps = 0;
  const result = await inventory(1).deleteRole(
    spec.roleName,
    {
      roleId: Role!.RoleId!,
      inlinePolicies: [spec.s3Policy.name],
      beforeStep: async () => void steps++,
    },
    signal,
  );
  t.same(result.inlinePolicies, [spec.s3Policy.name]);
  t.equal(steps, 2, 'checked before the inline policies go and before the role goes');
  await t.rejects(
    admin.send(new GetRoleCommand({ RoleName: spec.roleName })),
    /NoSuchEntity|not found/,
  );
});

t.test('a role made again after its inline policies went is not deleted', async (t) => {
  const spec = await makeRole('team-d');
  await admin.send(
    new PutRolePolicyCommand({
      RoleName: spec.roleName,
      PolicyName: 'second',
      PolicyDocument: JSON.stringify(spec.s3Policy.document),
    }),
  );
  const { Role } = await admin.send(new GetRoleCommand({ RoleName: spec.roleName }));
  let steps = 0;
  await t.rejects(
    inventory(1).deleteRole(
      spec.roleName,
      {
        roleId: Role!.RoleId!,
        inlinePolicies: [spec.s3Policy.name, 'second'],
        beforeStep: async () => {
          // Between the inline policies and the role, the role is deleted and made again.
          if (++steps !== 2) return;
          await admin.send(new DeleteRoleCommand({ RoleName: spec.roleName }));
          await makeRole('team-d');
        },
      },
      signal,
    ),
    RoleReplacedError,
  );
  t.equal(steps, 2, 'one check before both inline policies, one before the role');
  const after = await admin.send(new GetRoleCommand({ RoleName: spec.roleName }));
  t.not(after.Role!.RoleId, Role!.RoleId, 'the new role is still there');
});

t.test('ListRolePolicies and ListInstanceProfilesForRole are read past page 1', async (t) => {
  const spec = await makeRole('team-e');
  for (const name of ['second', 'third']) {
    await admin.send(
      new PutRolePolicyCommand({
        RoleName: spec.roleName,
        PolicyName: name,
        PolicyDocument: JSON.stringify(spec.s3Policy.document),
      }),
    );
    await admin.send(new CreateInstanceProfileCommand({ InstanceProfileName: `${name}-profile` }));
    await admin.send(
      new AddRoleToInstanceProfileCommand({
        InstanceProfileName: `${name}-profile`,
        RoleName: spec.roleName,
      }),
    );
  }
  const pages = (action: string) => proxy.forwarded(action);
  const before = [pages('ListRolePolicies'), pages('ListInstanceProfilesForRole')];
  const attachments = await inventory(1).attachments(spec.roleName, signal);
  t.same(attachments.inlinePolicies.sort(), [spec.s3Policy.name, 'second', 'third'].sort());
  t.same(attachments.instanceProfiles.sort(), ['second-profile', 'third-profile']);
  t.same(
    [pages('ListRolePolicies') - before[0]!, pages('ListInstanceProfilesForRole') - before[1]!],
    [3, 2],
    'one item a page',
  );

  // A deletion that lists the inline policies itself deletes every one of them.
  const { Role } = await admin.send(new GetRoleCommand({ RoleName: spec.roleName }));
  await t.rejects(
    inventory(1, [0]).deleteRole(
      spec.roleName,
      { roleId: Role!.RoleId!, beforeStep: async () => {} },
      signal,
    ),
    /DeleteConflict|instance profile|must remove/i,
    'IAM refuses while instance profiles hold the role',
  );
  const left = await inventory(1).attachments(spec.roleName, signal);
  t.same(left.inlinePolicies, [], 'every inline policy went, page by page');
});

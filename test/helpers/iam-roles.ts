import {
  CreateRoleCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import { parsePolicyDocument } from '../../src/core/policy-compare.js';
import type { RoleSpec } from '../../src/core/role-spec.js';

/** An inline policy wider than any the webhook writes: all of S3. */
export const ALL_OF_S3 = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }],
};

/** Drift, as a hand edit in the console would make it: the role's own inline policy widened. */
export async function widenInlinePolicy(iam: IAMClient, spec: RoleSpec): Promise<void> {
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: spec.roleName,
      PolicyName: spec.s3Policy.name,
      PolicyDocument: JSON.stringify(ALL_OF_S3),
    }),
  );
}

/** What IAM (moto) holds, read directly: the tests' view of the real part. */
export async function roleExists(iam: IAMClient, roleName: string): Promise<boolean> {
  try {
    await iam.send(new GetRoleCommand({ RoleName: roleName }));
    return true;
  } catch (err) {
    if ((err as Error).name === 'NoSuchEntityException') return false;
    throw err;
  }
}

/** Everything IAM holds about a role, decoded, for before/after comparisons. */
export async function roleSnapshot(iam: IAMClient, roleName: string): Promise<unknown> {
  const { Role } = await iam.send(new GetRoleCommand({ RoleName: roleName }));
  const { PolicyNames = [] } = await iam.send(new ListRolePoliciesCommand({ RoleName: roleName }));
  const inline: Record<string, unknown> = {};
  for (const name of PolicyNames) {
    const out = await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }));
    inline[name] = parsePolicyDocument(out.PolicyDocument ?? '');
  }
  return {
    arn: Role?.Arn,
    trust: parsePolicyDocument(Role?.AssumeRolePolicyDocument ?? ''),
    tags: Role?.Tags,
    boundary: Role?.PermissionsBoundary?.PermissionsBoundaryArn,
    maxSession: Role?.MaxSessionDuration,
    inline,
  };
}

/** A trust policy for EC2 instances: nothing a profile's service account could use. */
export const EC2_TRUST = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
  ],
};

/**
 * Creates a profile's role directly, the way an admin or Terraform would: the derived trust
 * unless another is given, no ownership tags unless given, and an inline policy of its own.
 */
export async function createHandMadeRole(
  iam: IAMClient,
  spec: RoleSpec,
  options: { trust?: unknown; tags?: Record<string, string>; path?: string } = {},
): Promise<void> {
  await iam.send(
    new CreateRoleCommand({
      RoleName: spec.roleName,
      Path: options.path ?? spec.rolePath,
      AssumeRolePolicyDocument: JSON.stringify(options.trust ?? spec.trustPolicy),
      Tags: Object.entries(options.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: spec.roleName,
      PolicyName: 'admin-made',
      PolicyDocument: JSON.stringify(ALL_OF_S3),
    }),
  );
}

/**
 * Creates a profile's role as the webhook makes it: the derived trust and ownership tags, and
 * (unless `inlinePolicy: false`) the derived inline policy; no Profile UID tag yet.
 */
export async function createOwnedRole(
  iam: IAMClient,
  spec: RoleSpec,
  options: { boundaryArn?: string; inlinePolicy?: boolean } = {},
): Promise<void> {
  await iam.send(
    new CreateRoleCommand({
      RoleName: spec.roleName,
      Path: spec.rolePath,
      AssumeRolePolicyDocument: JSON.stringify(spec.trustPolicy),
      Tags: Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value })),
      PermissionsBoundary: options.boundaryArn,
    }),
  );
  if (options.inlinePolicy === false) return;
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: spec.roleName,
      PolicyName: spec.s3Policy.name,
      PolicyDocument: JSON.stringify(spec.s3Policy.document),
    }),
  );
}

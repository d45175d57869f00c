import type { PolicyDocument } from './policy-document.js';
import { roleNameFor } from './role-name.js';
import { partitionForRegion, type RoleSettings, type S3Access } from './settings.js';

/** Everything the webhook wants to be true in IAM for one profile namespace. */
export interface RoleSpec {
  namespace: string;
  roleName: string;
  rolePath: string;
  roleArn: string;
  trustPolicy: PolicyDocument;
  s3Policy: { name: string; document: PolicyDocument };
  tags: Record<string, string>;
  permissionsBoundary?: string | undefined;
  maxSessionDuration?: number | undefined;
}

export const MANAGED_BY_TAG = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'profile-irsa-webhook';
export const CLUSTER_TAG = 'profile-irsa-webhook/cluster';
export const PROFILE_TAG = 'kubeflow.org/profile';

const S3_ACTIONS: Record<S3Access, string[]> = {
  full: ['s3:*'],
  readwrite: [
    's3:GetObject',
    's3:PutObject',
    's3:DeleteObject',
    's3:ListBucket',
    's3:GetBucketLocation',
    's3:AbortMultipartUpload',
    's3:ListMultipartUploadParts',
    's3:ListBucketMultipartUploads',
  ],
  readonly: ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation'],
};

/** The issuer as IAM names it in provider ARNs and condition keys: no scheme, no trailing slash. */
export function bareIssuer(issuer: string): string {
  return issuer.replace(/^https:\/\//, '').replace(/\/+$/, '');
}

export function roleArn(settings: RoleSettings, roleName: string): string {
  const partition = partitionForRegion(settings.region);
  return `arn:${partition}:iam::${settings.accountId}:role${settings.rolePath}${roleName}`;
}

export function trustPolicy(settings: RoleSettings, namespace: string): PolicyDocument {
  const partition = partitionForRegion(settings.region);
  const issuer = bareIssuer(settings.oidcIssuer);
  const subjects = settings.serviceAccounts.map((sa) => `system:serviceaccount:${namespace}:${sa}`);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: {
          Federated: `arn:${partition}:iam::${settings.accountId}:oidc-provider/${issuer}`,
        },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: {
            [`${issuer}:aud`]: 'sts.amazonaws.com',
            [`${issuer}:sub`]: subjects.length === 1 ? subjects[0]! : subjects,
          },
        },
      },
    ],
  };
}

export function s3PolicyName(namespace: string): string {
  return `kf-${namespace}-pipeline-s3`;
}

export function s3Policy(settings: RoleSettings): PolicyDocument {
  const partition = partitionForRegion(settings.region);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: S3_ACTIONS[settings.s3Access],
        Resource: settings.s3Buckets.flatMap((bucket) => [
          `arn:${partition}:s3:::${bucket}`,
          `arn:${partition}:s3:::${bucket}/*`,
        ]),
      },
    ],
  };
}

export function roleTags(settings: RoleSettings, namespace: string): Record<string, string> {
  // The ownership tags come last so configured extra tags can never overwrite them.
  return {
    ...settings.extraTags,
    [MANAGED_BY_TAG]: MANAGED_BY_VALUE,
    [CLUSTER_TAG]: settings.clusterName,
    [PROFILE_TAG]: namespace,
  };
}

/** True when the tags say the role was made by this webhook for this cluster and profile. */
export function isOwnedBy(
  tags: Record<string, string>,
  clusterName: string,
  namespace: string,
): boolean {
  return (
    tags[MANAGED_BY_TAG] === MANAGED_BY_VALUE &&
    tags[CLUSTER_TAG] === clusterName &&
    tags[PROFILE_TAG] === namespace
  );
}

export function deriveRoleSpec(settings: RoleSettings, namespace: string): RoleSpec {
  const roleName = roleNameFor(
    settings.roleNameTemplate,
    namespace,
    settings.clusterName,
    settings.region,
  );
  return {
    namespace,
    roleName,
    rolePath: settings.rolePath,
    roleArn: roleArn(settings, roleName),
    trustPolicy: trustPolicy(settings, namespace),
    s3Policy: { name: s3PolicyName(namespace), document: s3Policy(settings) },
    tags: roleTags(settings, namespace),
    permissionsBoundary: settings.permissionsBoundary,
    maxSessionDuration: settings.maxSessionDuration,
  };
}

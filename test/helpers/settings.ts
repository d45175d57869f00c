import { DEFAULT_RESERVED_NAMESPACES } from '../../src/core/namespace.js';
import type { PolicySettings, RoleSettings } from '../../src/core/settings.js';

export const ACCOUNT_ID = '111122223333';
export const ISSUER =
  'https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';
/** The issuer without its scheme: how IAM names the provider and its condition keys. */
export const PROVIDER = ISSUER.replace(/^https:\/\//, '');
/** The issuer's OIDC provider in IAM. */
export const PROVIDER_ARN = `arn:aws:iam::${ACCOUNT_ID}:oidc-provider/${PROVIDER}`;

/**
 * The required settings, as environment variables, that the fixtures are written against. The
 * permissions boundary that provision mode requires is waived explicitly: tests that need one set
 * PERMISSIONS_BOUNDARY_ARN (see BOUNDARY_ENV).
 */
export const REQUIRED_ENV = {
  CLUSTER_NAME: 'prod',
  CLUSTER_REGION: 'us-east-1',
  S3_BUCKET: 'kf-artifacts',
  ALLOW_NO_BOUNDARY: 'true',
} as const;

/** The required settings with a permissions boundary instead of the waiver: the recommended install. */
export const BOUNDARY_ENV = {
  CLUSTER_NAME: 'prod',
  CLUSTER_REGION: 'us-east-1',
  S3_BUCKET: 'kf-artifacts',
  PERMISSIONS_BOUNDARY_ARN: `arn:aws:iam::${ACCOUNT_ID}:policy/profile-irsa-webhook-boundary-prod`,
} as const;

/** The configuration every fixture is written against. */
export function testRoleSettings(overrides: Partial<RoleSettings> = {}): RoleSettings {
  return {
    clusterName: 'prod',
    region: 'us-east-1',
    accountId: ACCOUNT_ID,
    oidcIssuer: ISSUER,
    roleNameTemplate: '{namespace}-{cluster}-role',
    rolePath: '/kubeflow-profiles/',
    serviceAccounts: ['default-editor'],
    s3Access: 'readwrite',
    s3Buckets: ['kf-artifacts'],
    extraTags: {},
    ...overrides,
  };
}

export function testPolicySettings(overrides: Partial<PolicySettings> = {}): PolicySettings {
  return {
    allowedRoleArns: [],
    reservedNamespaces: DEFAULT_RESERVED_NAMESPACES,
    requirePlugin: true,
    roleAdminGroups: [],
    ...overrides,
  };
}

export function derivedArn(namespace: string): string {
  return `arn:aws:iam::${ACCOUNT_ID}:role/kubeflow-profiles/${namespace}-prod-role`;
}

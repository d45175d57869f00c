// The shipped IAM policy and the condition keys of the requests judged against it, for the files
// that ask the policy simulator what someone holding the webhook's credentials may do.

import { webhookIamPolicy, type IamPolicySettings } from '../../src/core/iam-policy.js';
import type { PolicyDocument } from '../../src/core/policy-document.js';
import {
  CLUSTER_TAG,
  MANAGED_BY_TAG,
  MANAGED_BY_VALUE,
  OIDC_PROVIDER_TAG,
  PROFILE_TAG,
} from '../../src/core/role-spec.js';
import { ACCOUNT_ID, ISSUER, PROVIDER } from './settings.js';

export const BOUNDARY = `arn:aws:iam::${ACCOUNT_ID}:policy/profile-irsa-webhook-boundary`;

/** The recommended install: provision mode with a permissions boundary, one extra tag. */
export const RECOMMENDED: IamPolicySettings = {
  accountId: ACCOUNT_ID,
  region: 'us-east-1',
  clusterName: 'prod',
  oidcIssuer: ISSUER,
  rolePath: '/kubeflow-profiles/',
  extraTags: { team: 'ml' },
  permissionsBoundary: BOUNDARY,
  s3Buckets: ['kf-artifacts'],
  mode: 'provision',
};

/** The policy `iam-policy` prints for it, and for the same install without a boundary. */
export const WITH_BOUNDARY = webhookIamPolicy(RECOMMENDED);
export const WITHOUT_BOUNDARY = webhookIamPolicy({
  ...RECOMMENDED,
  permissionsBoundary: undefined,
});
export const VARIANTS: [string, PolicyDocument][] = [
  ['with the boundary', WITH_BOUNDARY],
  ['without a boundary', WITHOUT_BOUNDARY],
];

/** The tags the webhook puts on team-a's role. */
export const OUR_TAGS: Record<string, string> = {
  team: 'ml',
  [MANAGED_BY_TAG]: MANAGED_BY_VALUE,
  [CLUSTER_TAG]: 'prod',
  [OIDC_PROVIDER_TAG]: PROVIDER,
  [PROFILE_TAG]: 'team-a',
};

/** The condition keys IAM sets from a role's own tags (an undefined one is absent) and boundary. */
export function existing(tags: Record<string, string | undefined>, boundary?: string) {
  const context: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(tags)) {
    if (value === undefined) continue;
    context[`iam:ResourceTag/${key}`] = value;
    context[`aws:ResourceTag/${key}`] = value;
  }
  if (boundary !== undefined) context['iam:PermissionsBoundary'] = boundary;
  return context;
}

/** The condition keys of a request that sets tags. */
export function tagging(tags: Record<string, string>) {
  return {
    ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
    'aws:TagKeys': Object.keys(tags),
  };
}

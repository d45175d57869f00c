import t, { type Test } from 'tap';
import { webhookIamPolicy, type IamPolicySettings } from '../../src/core/iam-policy.js';
import type { PolicyDocument } from '../../src/core/policy-document.js';
import { ORPHANED_SINCE_TAG, PROFILE_UID_TAG } from '../../src/core/role-binding.js';
import {
  CLUSTER_TAG,
  MANAGED_BY_TAG,
  MANAGED_BY_VALUE,
  OIDC_PROVIDER_TAG,
  PROFILE_TAG,
} from '../../src/core/role-spec.js';
import { describeRequest, simulate, type SimulatedRequest } from '../helpers/simulator.js';

// The reconciler's bookkeeping tags (the Profile UID a role serves, when it became an orphan):
// the shipped policy lets it set them on the roles this cluster owns, and on nothing else, and
// they open no way to change or remove the ownership tags. Judged by the policy simulator.

const ACCOUNT = '111122223333';
const PROVIDER = 'oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';
const BOUNDARY = `arn:aws:iam::${ACCOUNT}:policy/profile-irsa-webhook-boundary`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/kubeflow-profiles/team-a-prod-role`;
const ROLE_ELSEWHERE = `arn:aws:iam::${ACCOUNT}:role/admin/team-a-prod-role`;

const BASE: IamPolicySettings = {
  accountId: ACCOUNT,
  region: 'us-east-1',
  clusterName: 'prod',
  oidcIssuer: `https://${PROVIDER}`,
  rolePath: '/kubeflow-profiles/',
  extraTags: { team: 'ml' },
  permissionsBoundary: BOUNDARY,
  s3Buckets: ['kf-artifacts'],
  mode: 'provision',
};
const VARIANTS: [string, PolicyDocument][] = [
  ['with the boundary', webhookIamPolicy(BASE)],
  ['without a boundary', webhookIamPolicy({ ...BASE, permissionsBoundary: undefined })],
];

const OURS = {
  team: 'ml',
  [MANAGED_BY_TAG]: MANAGED_BY_VALUE,
  [CLUSTER_TAG]: 'prod',
  [OIDC_PROVIDER_TAG]: PROVIDER,
  [PROFILE_TAG]: 'team-a',
};
const OTHERS: [string, Record<string, string>][] = [
  ['an untagged role', {}],
  ["cluster staging's role", { ...OURS, [CLUSTER_TAG]: 'staging' }],
  [
    'a same-name cluster of another region',
    { ...OURS, [OIDC_PROVIDER_TAG]: 'oidc.eks.eu-west-1.amazonaws.com/id/WEST' },
  ],
  ['a hand-made role', { owner: 'terraform' }],
  ['a role from before the provider tag', { ...OURS, [OIDC_PROVIDER_TAG]: undefined! }],
];

function existing(tags: Record<string, string | undefined>) {
  const context: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(tags)) {
    if (value === undefined) continue;
    context[`iam:ResourceTag/${key}`] = value;
    context[`aws:ResourceTag/${key}`] = value;
  }
  context['iam:PermissionsBoundary'] = BOUNDARY;
  return context;
}

function tagging(tags: Record<string, string>) {
  return {
    ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
    'aws:TagKeys': Object.keys(tags),
  };
}

async function verdict(t: Test, policy: PolicyDocument, request: SimulatedRequest) {
  const result = await simulate(request, { identity: [policy] });
  return { result: result.result, why: `${describeRequest(request)} (${result.explanation})` };
}

const UID = { [PROFILE_UID_TAG]: '6f1c9a52-1b9e-4d8e-9a51-0c2f4b7e1a10' };
const SINCE = { [ORPHANED_SINCE_TAG]: '2026-12-05T09:00:00.000Z' };

t.test('the bookkeeping tags may be set and the orphan mark removed on our roles', async (t) => {
  for (const [name, policy] of VARIANTS) {
    for (const tags of [UID, SINCE, { ...UID, ...SINCE }]) {
      const v = await verdict(t, policy, {
        action: 'iam:TagRole',
        resource: ROLE,
        context: { ...existing(OURS), ...tagging(tags) },
      });
      t.equal(v.result, 'Allowed', `${name}: ${v.why}`);
    }
    const v = await verdict(t, policy, {
      action: 'iam:UntagRole',
      resource: ROLE,
      context: { ...existing({ ...OURS, ...SINCE }), 'aws:TagKeys': [ORPHANED_SINCE_TAG] },
    });
    t.equal(v.result, 'Allowed', `${name}: ${v.why}`);
  }
});

t.test('never on a role this cluster does not own, nor outside the path', async (t) => {
  for (const [name, policy] of VARIANTS) {
    for (const [victim, tags] of OTHERS) {
      for (const request of [
        { action: 'iam:TagRole', context: { ...existing(tags), ...tagging(UID) } },
        { action: 'iam:TagRole', context: { ...existing(tags), ...tagging(SINCE) } },
        {
          action: 'iam:UntagRole',
          context: { ...existing({ ...tags, ...SINCE }), 'aws:TagKeys': [ORPHANED_SINCE_TAG] },
        },
      ]) {
        const v = await verdict(t, policy, { ...request, resource: ROLE });
        t.not(v.result, 'Allowed', `${name}, ${victim}: ${v.why}`);
      }
    }
    const v = await verdict(t, policy, {
      action: 'iam:TagRole',
      resource: ROLE_ELSEWHERE,
      context: { ...existing(OURS), ...tagging(UID) },
    });
    t.not(v.result, 'Allowed', `${name}, our tags outside the path: ${v.why}`);
  }
});

t.test('the ownership tags cannot be changed or removed through them', async (t) => {
  for (const [name, policy] of VARIANTS) {
    // A bookkeeping tag does not carry an ownership tag along.
    for (const [what, tags] of [
      ['our cluster tag onto staging', { ...UID, [CLUSTER_TAG]: 'prod' }],
      ['our provider tag onto staging', { ...SINCE, [OIDC_PROVIDER_TAG]: PROVIDER }],
      ['a new managed-by tag', { ...UID, [MANAGED_BY_TAG]: MANAGED_BY_VALUE }],
    ] as const) {
      const v = await verdict(t, policy, {
        action: 'iam:TagRole',
        resource: ROLE,
        context: { ...existing({ ...OURS, [CLUSTER_TAG]: 'staging' }), ...tagging(tags) },
      });
      t.not(v.result, 'Allowed', `${name}, ${what}: ${v.why}`);
    }
    const moved = await verdict(t, policy, {
      action: 'iam:TagRole',
      resource: ROLE,
      context: { ...existing(OURS), ...tagging({ ...UID, [CLUSTER_TAG]: 'staging' }) },
    });
    t.not(moved.result, 'Allowed', `${name}, our role handed to staging: ${moved.why}`);
    // Removing anything but the orphan mark is denied explicitly, on any role.
    for (const keys of [
      [CLUSTER_TAG],
      [OIDC_PROVIDER_TAG],
      [MANAGED_BY_TAG],
      [PROFILE_TAG],
      [PROFILE_UID_TAG],
      [ORPHANED_SINCE_TAG, CLUSTER_TAG],
    ]) {
      for (const tags of [OURS, { ...OURS, [CLUSTER_TAG]: 'staging' }]) {
        const v = await verdict(t, policy, {
          action: 'iam:UntagRole',
          resource: ROLE,
          context: { ...existing({ ...tags, ...SINCE }), 'aws:TagKeys': keys },
        });
        t.equal(v.result, 'ExplicitlyDenied', `${name}, removing ${keys.join(', ')}: ${v.why}`);
      }
    }
  }
});

t.test('the bookkeeping tags cannot make a role at creation', async (t) => {
  for (const [name, policy] of VARIANTS) {
    const v = await verdict(t, policy, {
      action: 'iam:CreateRole',
      resource: ROLE,
      context: { ...tagging({ ...OURS, ...UID }), 'iam:PermissionsBoundary': BOUNDARY },
    });
    t.not(v.result, 'Allowed', `${name}, CreateRole already bound: ${v.why}`);
  }
});

t.test('lookup mode sets no tag at all', async (t) => {
  const policy = webhookIamPolicy({ ...BASE, mode: 'lookup' });
  for (const tags of [UID, SINCE]) {
    const v = await verdict(t, policy, {
      action: 'iam:TagRole',
      resource: ROLE,
      context: { ...existing(OURS), ...tagging(tags) },
    });
    t.not(v.result, 'Allowed', v.why);
  }
});

import t, { type Test } from 'tap';
import { webhookIamPolicy } from '../../src/core/iam-policy.js';
import type { PolicyDocument } from '../../src/core/policy-document.js';
import { ORPHANED_SINCE_TAG, PROFILE_UID_TAG } from '../../src/core/role-binding.js';
import {
  CLUSTER_TAG,
  MANAGED_BY_TAG,
  MANAGED_BY_VALUE,
  OIDC_PROVIDER_TAG,
  PROFILE_TAG,
} from '../../src/core/role-spec.js';
import {
  BOUNDARY,
  existing as existingWith,
  OUR_TAGS,
  RECOMMENDED,
  tagging,
  VARIANTS,
} from '../helpers/policy-requests.js';
import { ACCOUNT_ID, PROVIDER } from '../helpers/settings.js';
import { describeRequest, simulate, type SimulatedRequest } from '../helpers/simulator.js';

// The reconciler's bookkeeping tags (the Profile UID a role serves, when it became an orphan):
// the shipped policy lets it set them on the roles this cluster owns, and on nothing else, and
// they open no way to change or remove the ownership tags. Judged by the policy simulator.

const ROLE = `arn:aws:iam::${ACCOUNT_ID}:role/kubeflow-profiles/team-a-prod-role`;
const ROLE_ELSEWHERE = `arn:aws:iam::${ACCOUNT_ID}:role/admin/team-a-prod-role`;

const OTHERS: [string, Record<string, string>][] = [
  ['an untagged role', {}],
  ["cluster staging's role", { ...OUR_TAGS, [CLUSTER_TAG]: 'staging' }],
  [
    'a same-name cluster of another region',
    { ...OUR_TAGS, [OIDC_PROVIDER_TAG]: 'oidc.eks.eu-west-1.amazonaws.com/id/WEST' },
  ],
  ['a hand-made role', { owner: 'terraform' }],
  ['a role from before the provider tag', { ...OUR_TAGS, [OIDC_PROVIDER_TAG]: undefined! }],
];

/** Every role here carries the boundary. */
const existing = (tags: Record<string, string | undefined>) => existingWith(tags, BOUNDARY);

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
        context: { ...existing(OUR_TAGS), ...tagging(tags) },
      });
      t.equal(v.result, 'Allowed', `${name}: ${v.why}`);
    }
    const v = await verdict(t, policy, {
      action: 'iam:UntagRole',
      resource: ROLE,
      context: { ...existing({ ...OUR_TAGS, ...SINCE }), 'aws:TagKeys': [ORPHANED_SINCE_TAG] },
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
      context: { ...existing(OUR_TAGS), ...tagging(UID) },
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
        context: { ...existing({ ...OUR_TAGS, [CLUSTER_TAG]: 'staging' }), ...tagging(tags) },
      });
      t.not(v.result, 'Allowed', `${name}, ${what}: ${v.why}`);
    }
    const moved = await verdict(t, policy, {
      action: 'iam:TagRole',
      resource: ROLE,
      context: { ...existing(OUR_TAGS), ...tagging({ ...UID, [CLUSTER_TAG]: 'staging' }) },
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
      for (const tags of [OUR_TAGS, { ...OUR_TAGS, [CLUSTER_TAG]: 'staging' }]) {
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
      context: { ...tagging({ ...OUR_TAGS, ...UID }), 'iam:PermissionsBoundary': BOUNDARY },
    });
    t.not(v.result, 'Allowed', `${name}, CreateRole already bound: ${v.why}`);
  }
});

t.test('lookup mode sets no tag at all', async (t) => {
  const policy = webhookIamPolicy({ ...RECOMMENDED, mode: 'lookup' });
  for (const tags of [UID, SINCE]) {
    const v = await verdict(t, policy, {
      action: 'iam:TagRole',
      resource: ROLE,
      context: { ...existing(OUR_TAGS), ...tagging(tags) },
    });
    t.not(v.result, 'Allowed', v.why);
  }
});

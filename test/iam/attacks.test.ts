import t, { type Test } from 'tap';
import type { PolicyDocument } from '../../src/core/policy-document.js';
import {
  CLUSTER_TAG,
  MANAGED_BY_TAG,
  OIDC_PROVIDER_TAG,
  PROFILE_TAG,
} from '../../src/core/role-spec.js';
import {
  BOUNDARY,
  existing,
  OUR_TAGS,
  tagging,
  VARIANTS,
  WITH_BOUNDARY,
  WITHOUT_BOUNDARY,
} from '../helpers/policy-requests.js';
import { ACCOUNT_ID, PROVIDER } from '../helpers/settings.js';
import { describeRequest, simulate, type SimulatedRequest } from '../helpers/simulator.js';

// What someone holding the webhook's credentials could try, each judged by the policy simulator
// against the policy `iam-policy` prints. Everything here must be denied, in the recommended
// variant (with a permissions boundary) and, where the item does not depend on the boundary,
// without one too.

const OTHER_REGION_PROVIDER = 'oidc.eks.eu-west-1.amazonaws.com/id/WEST0000000000000000000000';
const STAGING_PROVIDER = 'oidc.eks.us-east-1.amazonaws.com/id/STAGING000000000000000000000';
const ROLE = (path: string, name = 'team-a-prod-role') =>
  `arn:aws:iam::${ACCOUNT_ID}:role${path}${name}`;
const UNDER_PATH = ROLE('/kubeflow-profiles/');

const STAGING_TAGS = {
  ...OUR_TAGS,
  [CLUSTER_TAG]: 'staging',
  [OIDC_PROVIDER_TAG]: STAGING_PROVIDER,
};
const OTHER_REGION_TAGS = { ...OUR_TAGS, [OIDC_PROVIDER_TAG]: OTHER_REGION_PROVIDER };
const { [OIDC_PROVIDER_TAG]: _provider, ...LEGACY_TAGS } = OUR_TAGS;
void _provider;

async function denied(
  t: Test,
  policy: PolicyDocument | PolicyDocument[],
  request: SimulatedRequest,
  what: string,
  explicitly = false,
) {
  const identity = Array.isArray(policy) ? policy : [policy];
  const verdict = await simulate(request, { identity });
  const expected = explicitly
    ? verdict.result === 'ExplicitlyDenied'
    : verdict.result !== 'Allowed';
  t.ok(
    expected,
    `${what}: ${describeRequest(request)} is ${verdict.result} (${verdict.explanation})`,
  );
}

async function allowed(t: Test, policy: PolicyDocument, request: SimulatedRequest, what: string) {
  const verdict = await simulate(request, { identity: [policy] });
  t.equal(
    verdict.result,
    'Allowed',
    `${what}: ${describeRequest(request)} (${verdict.explanation})`,
  );
}

const CREATE_CONTEXT = { ...tagging(OUR_TAGS), 'iam:PermissionsBoundary': BOUNDARY };

t.test(
  'the legitimate create is allowed, so every denial below is about its difference',
  async (t) => {
    for (const [name, policy] of VARIANTS) {
      await allowed(
        t,
        policy,
        { action: 'iam:CreateRole', resource: UNDER_PATH, context: CREATE_CONTEXT },
        name,
      );
      await allowed(
        t,
        policy,
        { action: 'iam:TagRole', resource: UNDER_PATH, context: tagging(OUR_TAGS) },
        name,
      );
    }
  },
);

t.test('creating outside the path', async (t) => {
  for (const [name, policy] of VARIANTS) {
    for (const resource of [
      ROLE('/'),
      ROLE('/admin/'),
      ROLE('/kubeflow-profiles-other/'),
      ROLE('/x/kubeflow-profiles/'),
    ]) {
      await denied(
        t,
        policy,
        { action: 'iam:CreateRole', resource, context: CREATE_CONTEXT },
        name,
      );
      await denied(
        t,
        policy,
        { action: 'iam:TagRole', resource, context: tagging(OUR_TAGS) },
        name,
      );
    }
  }
});

t.test('creating without the ownership tags', async (t) => {
  const { [PROFILE_TAG]: _profile, ...noProfile } = OUR_TAGS;
  void _profile;
  const { [CLUSTER_TAG]: _cluster, ...noCluster } = OUR_TAGS;
  void _cluster;
  const { [OIDC_PROVIDER_TAG]: _p, ...noProvider } = OUR_TAGS;
  void _p;
  const cases: [string, Record<string, string | string[]>][] = [
    ['no tags at all', {}],
    ['no profile tag', tagging(noProfile)],
    ['no cluster tag', tagging(noCluster)],
    ['no provider tag', tagging(noProvider)],
    ["another cluster's name", tagging({ ...OUR_TAGS, [CLUSTER_TAG]: 'staging' })],
    [
      "another cluster's provider",
      tagging({ ...OUR_TAGS, [OIDC_PROVIDER_TAG]: OTHER_REGION_PROVIDER }),
    ],
    ['another manager', tagging({ ...OUR_TAGS, [MANAGED_BY_TAG]: 'terraform' })],
    ['an extra tag value other than configured', tagging({ ...OUR_TAGS, team: 'admins' })],
    ['an unconfigured tag key', tagging({ ...OUR_TAGS, admin: 'true' })],
  ];
  for (const [name, policy] of VARIANTS) {
    for (const [what, context] of cases) {
      await denied(
        t,
        policy,
        {
          action: 'iam:CreateRole',
          resource: UNDER_PATH,
          context: { ...context, 'iam:PermissionsBoundary': BOUNDARY },
        },
        `${name}, ${what}`,
      );
    }
  }
});

t.test(
  'creating or putting an inline policy without the boundary (recommended variant)',
  async (t) => {
    const owned = existing(OUR_TAGS);
    const cases: SimulatedRequest[] = [
      { action: 'iam:CreateRole', resource: UNDER_PATH, context: tagging(OUR_TAGS) },
      {
        action: 'iam:CreateRole',
        resource: UNDER_PATH,
        context: {
          ...tagging(OUR_TAGS),
          'iam:PermissionsBoundary': `arn:aws:iam::${ACCOUNT_ID}:policy/weaker`,
        },
      },
      { action: 'iam:PutRolePolicy', resource: UNDER_PATH, context: owned },
      {
        action: 'iam:PutRolePolicy',
        resource: UNDER_PATH,
        context: {
          ...owned,
          'iam:PermissionsBoundary': `arn:aws:iam::${ACCOUNT_ID}:policy/weaker`,
        },
      },
      { action: 'iam:UpdateAssumeRolePolicy', resource: UNDER_PATH, context: owned },
    ];
    for (const request of cases) await denied(t, WITH_BOUNDARY, request, 'without the boundary');
    // Explicitly, so that no other policy on the webhook's role can allow it either.
    const admin: PolicyDocument = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
    };
    for (const request of cases.slice(0, 4)) {
      await denied(t, [WITH_BOUNDARY, admin], request, 'even beside AdministratorAccess', true);
    }
  },
);

const WRITES: [string, Record<string, string | string[]>][] = [
  ['iam:PutRolePolicy', {}],
  ['iam:UpdateAssumeRolePolicy', {}],
  ['iam:UpdateRole', {}],
  ['iam:DeleteRolePolicy', {}],
  ['iam:DeleteRole', {}],
  ['iam:TagRole', tagging({ team: 'ml' })],
  ['iam:UntagRole', { 'aws:TagKeys': [CLUSTER_TAG] }],
  ['iam:PutRolePermissionsBoundary', { 'iam:PermissionsBoundary': BOUNDARY }],
  ['iam:DeleteRolePermissionsBoundary', {}],
  ['iam:AttachRolePolicy', { 'iam:PolicyARN': 'arn:aws:iam::aws:policy/AdministratorAccess' }],
  ['iam:DetachRolePolicy', { 'iam:PolicyARN': 'arn:aws:iam::aws:policy/AdministratorAccess' }],
  ['iam:PassRole', { 'iam:PassedToService': 'ec2.amazonaws.com' }],
];

t.test('any write to a role this cluster does not own', async (t) => {
  const victims: [string, string, Record<string, string | string[]>][] = [
    ["cluster staging's role", UNDER_PATH, existing(STAGING_TAGS, BOUNDARY)],
    [
      'the role of a cluster of the same name in another region',
      UNDER_PATH,
      existing(OTHER_REGION_TAGS, BOUNDARY),
    ],
    ['an untagged role under the path', UNDER_PATH, existing({})],
    [
      'an untagged role under the path that carries the boundary',
      UNDER_PATH,
      existing({}, BOUNDARY),
    ],
    ['a hand-made role under the path', UNDER_PATH, existing({ owner: 'terraform' }, BOUNDARY)],
    ['a role from before the provider tag', UNDER_PATH, existing(LEGACY_TAGS, BOUNDARY)],
    ['a role tagged as ours outside the path', ROLE('/admin/'), existing(OUR_TAGS, BOUNDARY)],
  ];
  for (const [name, policy] of VARIANTS) {
    for (const [victim, resource, context] of victims) {
      for (const [action, extra] of WRITES) {
        await denied(
          t,
          policy,
          { action, resource, context: { ...context, ...extra } },
          `${name}, ${victim}`,
        );
      }
    }
  }
});

t.test("DeleteRole of another cluster's role", async (t) => {
  for (const [name, policy] of VARIANTS) {
    for (const tags of [STAGING_TAGS, OTHER_REGION_TAGS]) {
      await denied(
        t,
        policy,
        { action: 'iam:DeleteRole', resource: UNDER_PATH, context: existing(tags, BOUNDARY) },
        name,
      );
      await denied(
        t,
        policy,
        { action: 'iam:DeleteRolePolicy', resource: UNDER_PATH, context: existing(tags, BOUNDARY) },
        name,
      );
    }
  }
});

t.test('re-tagging a role another cluster owns', async (t) => {
  const cases: [string, Record<string, string>, Record<string, string>][] = [
    ['all our ownership tags onto staging', STAGING_TAGS, OUR_TAGS],
    ['our cluster tag onto staging', STAGING_TAGS, { [CLUSTER_TAG]: 'prod' }],
    ['our provider tag onto staging', STAGING_TAGS, { [OIDC_PROVIDER_TAG]: PROVIDER }],
    [
      'our provider onto the same-name cluster of another region',
      OTHER_REGION_TAGS,
      { [OIDC_PROVIDER_TAG]: PROVIDER },
    ],
    ['all our tags onto the same-name cluster of another region', OTHER_REGION_TAGS, OUR_TAGS],
    [
      'our provider onto a role from before the provider tag',
      LEGACY_TAGS,
      { [OIDC_PROVIDER_TAG]: PROVIDER },
    ],
    ["another cluster's name onto our own role", OUR_TAGS, { [CLUSTER_TAG]: 'staging' }],
  ];
  for (const [name, policy] of VARIANTS) {
    for (const [what, before, tags] of cases) {
      await denied(
        t,
        policy,
        {
          action: 'iam:TagRole',
          resource: UNDER_PATH,
          context: { ...existing(before, BOUNDARY), ...tagging(tags) },
        },
        `${name}, ${what}`,
      );
    }
    await denied(
      t,
      policy,
      {
        action: 'iam:UntagRole',
        resource: UNDER_PATH,
        context: {
          ...existing(STAGING_TAGS, BOUNDARY),
          'aws:TagKeys': [CLUSTER_TAG, OIDC_PROVIDER_TAG],
        },
      },
      `${name}, removing staging's tags to claim the role afterwards`,
      true,
    );
  }
});

t.test('iam:PassRole and attaching managed policies, even beside broader grants', async (t) => {
  const admin: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
  };
  const owned = existing(OUR_TAGS, BOUNDARY);
  for (const [name, policy] of VARIANTS) {
    for (const identity of [[policy], [policy, admin]]) {
      const label = identity.length > 1 ? `${name}, beside AdministratorAccess` : name;
      await denied(
        t,
        identity,
        {
          action: 'iam:PassRole',
          resource: UNDER_PATH,
          context: { ...owned, 'iam:PassedToService': 'ec2.amazonaws.com' },
        },
        label,
        true,
      );
      await denied(
        t,
        identity,
        { action: 'iam:PassRole', resource: ROLE('/', 'admin'), context: {} },
        label,
        true,
      );
      await denied(
        t,
        identity,
        {
          action: 'iam:AttachRolePolicy',
          resource: UNDER_PATH,
          context: { ...owned, 'iam:PolicyARN': 'arn:aws:iam::aws:policy/AdministratorAccess' },
        },
        label,
        true,
      );
      await denied(
        t,
        identity,
        {
          action: 'iam:PutRolePermissionsBoundary',
          resource: UNDER_PATH,
          context: {
            ...owned,
            'iam:PermissionsBoundary': `arn:aws:iam::${ACCOUNT_ID}:policy/weaker`,
          },
        },
        label,
        true,
      );
      await denied(
        t,
        identity,
        { action: 'iam:DeleteRolePermissionsBoundary', resource: UNDER_PATH, context: owned },
        label,
        true,
      );
      await denied(
        t,
        identity,
        { action: 'iam:CreatePolicyVersion', resource: BOUNDARY, context: {} },
        `${label}: editing the boundary`,
        true,
      );
      await denied(
        t,
        identity,
        { action: 'iam:SetDefaultPolicyVersion', resource: BOUNDARY, context: {} },
        `${label}: editing the boundary`,
        true,
      );
    }
  }
});

t.test('nothing beyond roles: users, keys, policies, other services', async (t) => {
  const cases: SimulatedRequest[] = [
    { action: 'iam:CreateUser', resource: `arn:aws:iam::${ACCOUNT_ID}:user/backdoor` },
    { action: 'iam:CreateAccessKey', resource: `arn:aws:iam::${ACCOUNT_ID}:user/admin` },
    { action: 'iam:PutUserPolicy', resource: `arn:aws:iam::${ACCOUNT_ID}:user/admin` },
    { action: 'iam:CreatePolicy', resource: `arn:aws:iam::${ACCOUNT_ID}:policy/anything` },
    {
      action: 'iam:CreateOpenIDConnectProvider',
      resource: `arn:aws:iam::${ACCOUNT_ID}:oidc-provider/evil.example.com`,
    },
    {
      action: 'iam:UpdateOpenIDConnectProviderThumbprint',
      resource: `arn:aws:iam::${ACCOUNT_ID}:oidc-provider/${PROVIDER}`,
    },
    { action: 'sts:AssumeRole', resource: UNDER_PATH },
    { action: 's3:GetObject', resource: 'arn:aws:s3:::kf-artifacts/x' },
    {
      action: 'iam:GetOpenIDConnectProvider',
      resource: `arn:aws:iam::${ACCOUNT_ID}:oidc-provider/${STAGING_PROVIDER}`,
    },
    { action: 'iam:GetRolePolicy', resource: ROLE('/admin/') },
  ];
  for (const [name, policy] of VARIANTS) {
    for (const request of cases) await denied(t, policy, { context: {}, ...request }, name);
  }
});

t.test('the one write IAM cannot refuse, and what it leads to', async (t) => {
  // IAM authorizes the tags of CreateRole as iam:TagRole on the new role, which has no tags yet.
  // It cannot tell that from iam:TagRole on an existing untagged role, so the full set of this
  // cluster's ownership tags can be put on an untagged role under the path (docs/iam-policy.md).
  const untagged = existing({});
  for (const [name, policy] of VARIANTS) {
    await allowed(
      t,
      policy,
      {
        action: 'iam:TagRole',
        resource: UNDER_PATH,
        context: { ...untagged, ...tagging(OUR_TAGS) },
      },
      name,
    );
  }
  // With the boundary, such a role is still not writable: it does not carry the boundary, and
  // nothing lets the webhook set one.
  const claimed = existing(OUR_TAGS);
  for (const [action, extra] of WRITES.filter(([a]) => a !== 'iam:TagRole')) {
    await denied(
      t,
      WITH_BOUNDARY,
      { action, resource: UNDER_PATH, context: { ...claimed, ...extra } },
      'a claimed hand-made role, with the boundary',
    );
  }
  // Without a boundary it is: this is the risk the no-boundary variant documents.
  await allowed(
    t,
    WITHOUT_BOUNDARY,
    { action: 'iam:UpdateAssumeRolePolicy', resource: UNDER_PATH, context: claimed },
    'the no-boundary risk',
  );
});

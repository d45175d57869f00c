import t from 'tap';
import {
  boundaryPolicy,
  webhookIamCalls,
  webhookIamPolicy,
  type IamPolicySettings,
} from '../../src/core/iam-policy.js';
import { describeRequest, simulate } from '../helpers/simulator.js';

// Every IAM call the webhook makes, as webhookIamCalls() lists it for doctor, is allowed by the
// policy `iam-policy` prints, for every kind of configuration. (The calls the code really makes
// are recorded at moto's endpoint and judged the same way: test/helpers/iam-recorder.ts.)

const BASE: IamPolicySettings = {
  accountId: '111122223333',
  region: 'us-east-1',
  clusterName: 'kubeflow',
  oidcIssuer: 'https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE',
  rolePath: '/kubeflow-profiles/',
  extraTags: {},
  permissionsBoundary: undefined,
  s3Buckets: ['kubeflow-pipelines'],
  mode: 'provision',
};
const BOUNDARY = 'arn:aws:iam::111122223333:policy/profile-irsa-webhook-boundary';

const CONFIGURATIONS: [string, Partial<IamPolicySettings>][] = [
  ['the defaults, no boundary', {}],
  ['with a boundary', { permissionsBoundary: BOUNDARY }],
  [
    'with extra tags and a boundary',
    { extraTags: { team: 'ml', 'cost-center': '4711' }, permissionsBoundary: BOUNDARY },
  ],
  ['a deeper role path', { rolePath: '/platform/kubeflow/' }],
  ['the root path', { rolePath: '/' }],
  [
    'aws-cn',
    {
      region: 'cn-north-1',
      oidcIssuer: 'https://oidc.eks.cn-north-1.amazonaws.com.cn/id/EXAMPLE',
      permissionsBoundary: 'arn:aws-cn:iam::111122223333:policy/boundary',
    },
  ],
  [
    'aws-us-gov',
    {
      region: 'us-gov-west-1',
      oidcIssuer: 'https://oidc.eks.us-gov-west-1.amazonaws.com/id/EXAMPLE',
    },
  ],
  ['lookup mode', { mode: 'lookup' }],
  ['lookup mode with a boundary', { mode: 'lookup', permissionsBoundary: BOUNDARY }],
  ['a non-EKS issuer', { oidcIssuer: 'https://kubernetes.default.svc.cluster.local' }],
];

for (const [name, overrides] of CONFIGURATIONS) {
  t.test(`every call the webhook makes is allowed: ${name}`, async (t) => {
    const settings = { ...BASE, ...overrides };
    const policy = webhookIamPolicy(settings);
    const calls = webhookIamCalls(settings);
    for (const call of calls) {
      const verdict = await simulate(call, { identity: [policy] });
      t.equal(
        verdict.result,
        'Allowed',
        `${call.purpose}: ${describeRequest(call)} (${verdict.explanation})`,
      );
    }
    const partition = /^arn:([^:]+):/.exec(calls[1]!.resource)![1];
    t.equal(
      partition,
      { 'cn-north-1': 'aws-cn', 'us-gov-west-1': 'aws-us-gov' }[settings.region] ?? 'aws',
    );
    const arnPartitions = new Set(
      [...JSON.stringify(policy).matchAll(/"arn:([a-z-]+):/g)].map((match) => match[1]),
    );
    t.same([...arnPartitions], [partition], 'one partition throughout');
  });
}

t.test('lookup mode is read-only: no IAM write is allowed at all', async (t) => {
  const settings = { ...BASE, mode: 'lookup' as const };
  const policy = webhookIamPolicy(settings);
  const role = 'arn:aws:iam::111122223333:role/kubeflow-profiles/team-a-kubeflow-role';
  for (const action of [
    'iam:CreateRole',
    'iam:TagRole',
    'iam:PutRolePolicy',
    'iam:UpdateAssumeRolePolicy',
    'iam:DeleteRole',
  ]) {
    const verdict = await simulate({ action, resource: role, context: {} }, { identity: [policy] });
    t.not(verdict.result, 'Allowed', action);
  }
  t.same(
    webhookIamCalls(settings).map((call) => call.operation),
    [
      'GetCallerIdentity',
      'GetRole',
      'GetRole',
      'GetOpenIDConnectProvider',
      'SimulatePrincipalPolicy',
    ],
  );
});

t.test('the calls list names its resources and context for doctor', async (t) => {
  const calls = webhookIamCalls(
    { ...BASE, permissionsBoundary: BOUNDARY, extraTags: { team: 'ml' } },
    {
      webhookRoleArn: 'arn:aws:iam::111122223333:role/infra/profile-irsa-webhook-kubeflow',
      sampleNamespace: 'team-a',
    },
  );
  const create = calls.find((c) => c.action === 'iam:CreateRole')!;
  t.equal(create.resource, 'arn:aws:iam::111122223333:role/kubeflow-profiles/team-a-kubeflow-role');
  t.match(create.context, {
    'aws:RequestTag/profile-irsa-webhook/oidc-provider':
      'oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE',
    'aws:RequestTag/kubeflow.org/profile': 'team-a',
    'aws:RequestTag/team': 'ml',
    'iam:PermissionsBoundary': BOUNDARY,
  });
  t.same(
    new Set(create.context['aws:TagKeys']),
    new Set([
      'team',
      'app.kubernetes.io/managed-by',
      'profile-irsa-webhook/cluster',
      'profile-irsa-webhook/oidc-provider',
      'kubeflow.org/profile',
    ]),
  );
  t.equal(
    calls.find((c) => c.operation === 'SimulatePrincipalPolicy')!.resource,
    'arn:aws:iam::111122223333:role/infra/profile-irsa-webhook-kubeflow',
  );
  const extraTags = calls.find((c) => c.purpose.includes('extra tags'))!;
  t.same(extraTags.context['aws:TagKeys'], ['team'], 'the extra-tag repair sends only those');
  for (const call of calls) t.ok(call.purpose.length > 0, `${call.operation} says why`);
});

t.test('the policy fits the quota of a customer managed policy', async (t) => {
  // IAM counts a managed policy without whitespace: at most 6,144 characters.
  const size = (settings: IamPolicySettings) => JSON.stringify(webhookIamPolicy(settings)).length;
  t.ok(size({ ...BASE, permissionsBoundary: BOUNDARY }) <= 6144);
  const tenTags = Object.fromEntries(
    Array.from({ length: 10 }, (_, i) => [`tag-${i}`, `value-${i}`]),
  );
  t.ok(
    size({ ...BASE, permissionsBoundary: BOUNDARY, extraTags: tenTags }) <= 6144,
    'with ten extra tags',
  );
});

t.test('the boundary allows S3 on the configured buckets and nothing else', async (t) => {
  const boundary = boundaryPolicy({
    region: 'us-east-1',
    s3Buckets: ['kubeflow-pipelines', 'shared-data'],
  });
  const identity = [
    {
      Version: '2012-10-17' as const,
      Statement: [{ Effect: 'Allow' as const, Action: '*', Resource: '*' }],
    },
  ];
  const principal = 'arn:aws:iam::111122223333:role/kubeflow-profiles/team-a-kubeflow-role';
  const decide = async (action: string, resource: string) =>
    (await simulate({ action, resource, principal }, { identity, boundary })).result;
  t.equal(await decide('s3:GetObject', 'arn:aws:s3:::kubeflow-pipelines/a/b'), 'Allowed');
  t.equal(await decide('s3:ListBucket', 'arn:aws:s3:::shared-data'), 'Allowed');
  t.equal(
    await decide('s3:PutBucketPolicy', 'arn:aws:s3:::kubeflow-pipelines'),
    'Allowed',
    'the inline policy decides what within the buckets',
  );
  t.not(await decide('s3:GetObject', 'arn:aws:s3:::other-bucket/a'), 'Allowed', 'another bucket');
  t.not(await decide('s3:ListAllMyBuckets', '*'), 'Allowed');
  t.not(await decide('iam:CreateRole', 'arn:aws:iam::111122223333:role/x'), 'Allowed', 'no IAM');
  t.not(
    await decide('sts:AssumeRole', 'arn:aws:iam::111122223333:role/admin'),
    'Allowed',
    'no role chaining',
  );
  t.not(await decide('ec2:DescribeInstances', '*'), 'Allowed');
});

t.test('doctor may read the configured boundary policy, and no other policy', async (t) => {
  const settings = { ...BASE, permissionsBoundary: BOUNDARY };
  const policy = webhookIamPolicy(settings);
  const read = (resource: string) =>
    simulate({ action: 'iam:GetPolicy', resource, context: {} }, { identity: [policy] });
  t.equal((await read(BOUNDARY)).result, 'Allowed', 'the configured boundary');
  for (const other of [
    'arn:aws:iam::111122223333:policy/AdministratorAccess-copy',
    'arn:aws:iam::111122223333:policy/profile-irsa-webhook-boundary-v2',
    'arn:aws:iam::444455556666:policy/profile-irsa-webhook-boundary',
  ]) {
    t.not((await read(other)).result, 'Allowed', other);
  }
  t.not(
    (await read(BOUNDARY.replace('policy/', 'policy/x'))).result,
    'Allowed',
    'a look-alike name',
  );
  for (const without of [
    BASE,
    { ...BASE, mode: 'lookup' as const, permissionsBoundary: BOUNDARY },
  ]) {
    t.not(
      (
        await simulate(
          { action: 'iam:GetPolicy', resource: BOUNDARY, context: {} },
          { identity: [webhookIamPolicy(without)] },
        )
      ).result,
      'Allowed',
      `no policy read without a boundary to check (${without.mode}, ${without.permissionsBoundary ?? 'none'})`,
    );
  }
  t.ok(
    webhookIamCalls(settings).some((c) => c.action === 'iam:GetPolicy' && c.resource === BOUNDARY),
    'doctor simulates its own GetPolicy too',
  );
});

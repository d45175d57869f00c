import t from 'tap';
import { roleNameFor, ROLE_NAME_CHARS, shortenRoleName } from '../../src/core/role-name.js';
import {
  deriveRoleSpec,
  isOwnedBy,
  oidcProviderTagProblem,
  roleOwnership,
} from '../../src/core/role-spec.js';
import { partitionForRegion } from '../../src/core/settings.js';
import { ISSUER, testRoleSettings } from '../helpers/settings.js';

const BARE_ISSUER = ISSUER.replace('https://', '');

t.test('the manual process name and ARN for an ordinary namespace', async (t) => {
  const spec = deriveRoleSpec(testRoleSettings(), 'team-a');
  t.equal(spec.roleName, 'team-a-prod-role');
  t.equal(spec.rolePath, '/kubeflow-profiles/');
  t.equal(spec.roleArn, 'arn:aws:iam::111122223333:role/kubeflow-profiles/team-a-prod-role');
  t.equal(spec.s3Policy.name, 'kf-team-a-pipeline-s3');
  t.same(spec.tags, {
    'app.kubernetes.io/managed-by': 'profile-irsa-webhook',
    'profile-irsa-webhook/cluster': 'prod',
    'profile-irsa-webhook/oidc-provider': BARE_ISSUER,
    'kubeflow.org/profile': 'team-a',
  });
  t.same(spec.owner, {
    clusterName: 'prod',
    oidcProvider: BARE_ISSUER,
    oidcProviderArn: `arn:aws:iam::111122223333:oidc-provider/${BARE_ISSUER}`,
  });
});

t.test('trust policy: one statement, exact subject, no wildcards', async (t) => {
  const spec = deriveRoleSpec(testRoleSettings(), 'team-a');
  t.same(spec.trustPolicy, {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: `arn:aws:iam::111122223333:oidc-provider/${BARE_ISSUER}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: {
            [`${BARE_ISSUER}:aud`]: 'sts.amazonaws.com',
            [`${BARE_ISSUER}:sub`]: 'system:serviceaccount:team-a:default-editor',
          },
        },
      },
    ],
  });
  t.notMatch(JSON.stringify(spec.trustPolicy), /\*/, 'no wildcard anywhere');
});

t.test('several service accounts give a list of subjects', async (t) => {
  const spec = deriveRoleSpec(
    testRoleSettings({ serviceAccounts: ['default-editor', 'pipeline-runner'] }),
    'team-a',
  );
  t.same(spec.trustPolicy.Statement[0]!.Condition!.StringEquals![`${BARE_ISSUER}:sub`], [
    'system:serviceaccount:team-a:default-editor',
    'system:serviceaccount:team-a:pipeline-runner',
  ]);
});

t.test(
  'an issuer given without https:// or with a trailing slash gives the same documents',
  async (t) => {
    const plain = deriveRoleSpec(testRoleSettings(), 'team-a');
    t.same(deriveRoleSpec(testRoleSettings({ oidcIssuer: BARE_ISSUER }), 'team-a'), plain);
    t.same(deriveRoleSpec(testRoleSettings({ oidcIssuer: `${ISSUER}/` }), 'team-a'), plain);
  },
);

t.test('S3 access levels', async (t) => {
  const actions = (s3Access: 'full' | 'readwrite' | 'readonly') =>
    deriveRoleSpec(testRoleSettings({ s3Access }), 'team-a').s3Policy.document.Statement[0]!.Action;
  t.same(actions('full'), ['s3:*']);
  t.same(actions('readonly'), ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation']);
  const readwrite = actions('readwrite') as string[];
  for (const action of [
    's3:GetObject',
    's3:PutObject',
    's3:DeleteObject',
    's3:ListBucket',
    's3:GetBucketLocation',
    's3:AbortMultipartUpload',
  ]) {
    t.ok(readwrite.includes(action), action);
  }
  t.notOk(
    readwrite.some((a) => a.includes('*')),
    'readwrite has no wildcard action',
  );
  const spec = deriveRoleSpec(
    testRoleSettings({ s3Buckets: ['kf-artifacts', 'shared-data'] }),
    'team-a',
  );
  t.same(spec.s3Policy.document.Statement[0]!.Resource, [
    'arn:aws:s3:::kf-artifacts',
    'arn:aws:s3:::kf-artifacts/*',
    'arn:aws:s3:::shared-data',
    'arn:aws:s3:::shared-data/*',
  ]);
});

t.test('partitions follow the region', async (t) => {
  t.equal(partitionForRegion('us-east-1'), 'aws');
  t.equal(partitionForRegion('eu-west-3'), 'aws');
  t.equal(partitionForRegion('cn-north-1'), 'aws-cn');
  t.equal(partitionForRegion('cn-northwest-1'), 'aws-cn');
  t.equal(partitionForRegion('us-gov-west-1'), 'aws-us-gov');
  for (const [region, partition] of [
    ['cn-north-1', 'aws-cn'],
    ['us-gov-east-1', 'aws-us-gov'],
  ] as const) {
    const spec = deriveRoleSpec(testRoleSettings({ region }), 'team-a');
    t.equal(
      spec.roleArn,
      `arn:${partition}:iam::111122223333:role/kubeflow-profiles/team-a-prod-role`,
    );
    t.equal(
      spec.trustPolicy.Statement[0]!.Principal!.Federated,
      `arn:${partition}:iam::111122223333:oidc-provider/${BARE_ISSUER}`,
    );
    t.same(spec.s3Policy.document.Statement[0]!.Resource, [
      `arn:${partition}:s3:::kf-artifacts`,
      `arn:${partition}:s3:::kf-artifacts/*`,
    ]);
  }
});

t.test('role names: 64 is the limit, longer names shorten deterministically', async (t) => {
  const exactly64 = 'x'.repeat(64);
  t.equal(shortenRoleName(exactly64), exactly64, '64 characters are kept');
  const ns63 = 'a'.repeat(63);
  const name = roleNameFor('{namespace}-{cluster}-role', ns63, 'prod');
  t.equal(name.length, 64);
  t.match(name, ROLE_NAME_CHARS);
  t.ok(name.startsWith('aaaaaaaaaa'), 'keeps a readable prefix');
  t.equal(roleNameFor('{namespace}-{cluster}-role', ns63, 'prod'), name, 'same input, same name');

  const longCluster = 'c'.repeat(100);
  const a = roleNameFor('{namespace}-{cluster}-role', 'team-a', longCluster);
  const b = roleNameFor('{namespace}-{cluster}-role', 'team-b', longCluster);
  t.ok(a.length <= 64 && b.length <= 64);
  t.not(a, b, 'namespaces that share a long prefix still get distinct roles');
  t.match(a, ROLE_NAME_CHARS);

  const prefixTwins = new Set(
    Array.from({ length: 200 }, (_, i) =>
      roleNameFor('{namespace}-{cluster}-role', `${'p'.repeat(55)}-${i}`, 'prod'),
    ),
  );
  t.equal(prefixTwins.size, 200, '200 long namespaces, 200 distinct names');
});

t.test('templates: {cluster} anywhere, literal text kept', async (t) => {
  t.equal(roleNameFor('kf-{cluster}-{namespace}', 'team-a', 'prod'), 'kf-prod-team-a');
});

t.test('boundary and session duration travel with the spec', async (t) => {
  const spec = deriveRoleSpec(
    testRoleSettings({
      permissionsBoundary: 'arn:aws:iam::111122223333:policy/boundary',
      maxSessionDuration: 7200,
    }),
    'team-a',
  );
  t.equal(spec.permissionsBoundary, 'arn:aws:iam::111122223333:policy/boundary');
  t.equal(spec.maxSessionDuration, 7200);
});

t.test('extra tags never override the ownership tags', async (t) => {
  const spec = deriveRoleSpec(
    testRoleSettings({ extraTags: { team: 'ml', 'kubeflow.org/profile': 'evil' } }),
    'team-a',
  );
  t.equal(spec.tags['kubeflow.org/profile'], 'team-a');
  t.equal(spec.tags.team, 'ml');
});

t.test(
  'ownership: tagged for this cluster and its OIDC provider, and trusting that provider',
  async (t) => {
    const spec = deriveRoleSpec(testRoleSettings(), 'team-a');
    const role = { tags: spec.tags, trustPolicy: JSON.stringify(spec.trustPolicy) };
    const owner = spec.owner;
    t.same(roleOwnership(role, owner), { kind: 'owned', profile: 'team-a' });
    t.ok(isOwnedBy(role, owner, 'team-a'));
    t.ok(isOwnedBy(role, owner), 'without a profile: any profile of this cluster');
    t.notOk(isOwnedBy(role, owner, 'team-b'), 'another profile');
    t.ok(
      isOwnedBy({ ...role, trustPolicy: encodeURIComponent(role.trustPolicy) }, owner),
      'the trust policy as IAM returns it, URL-encoded',
    );

    const withTags = (tags: Record<string, string>) => ({
      ...role,
      tags: { ...spec.tags, ...tags },
    });
    t.same(roleOwnership(withTags({ 'app.kubernetes.io/managed-by': 'terraform' }), owner), {
      kind: 'unmanaged',
    });
    t.same(roleOwnership({ ...role, tags: {} }, owner), { kind: 'unmanaged' });
    t.same(roleOwnership(withTags({ 'profile-irsa-webhook/cluster': 'staging' }), owner), {
      kind: 'other-cluster',
      clusterName: 'staging',
      oidcProvider: BARE_ISSUER,
      profile: 'team-a',
    });
    const euProvider = 'oidc.eks.eu-west-1.amazonaws.com/id/OTHER';
    t.same(
      roleOwnership(withTags({ 'profile-irsa-webhook/oidc-provider': euProvider }), owner),
      { kind: 'other-cluster', clusterName: 'prod', oidcProvider: euProvider, profile: 'team-a' },
      'same cluster name, another provider: another cluster (e.g. another region)',
    );
    const { ['profile-irsa-webhook/oidc-provider']: _provider, ...legacy } = spec.tags;
    void _provider;
    t.same(roleOwnership({ ...role, tags: legacy }, owner), {
      kind: 'no-provider-tag',
      profile: 'team-a',
      trustNamesProvider: true,
    });
    const elsewhere = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Federated: `arn:aws:iam::111122223333:oidc-provider/${euProvider}` },
          Action: 'sts:AssumeRoleWithWebIdentity',
        },
      ],
    });
    t.same(
      roleOwnership({ tags: spec.tags, trustPolicy: elsewhere }, owner),
      { kind: 'trust-elsewhere', profile: 'team-a' },
      'our tags copied onto a role that trusts another provider',
    );
    t.same(roleOwnership({ tags: spec.tags, trustPolicy: 'not json' }, owner), {
      kind: 'trust-elsewhere',
      profile: 'team-a',
    });
    t.notOk(isOwnedBy({ tags: spec.tags, trustPolicy: elsewhere }, owner));
  },
);

t.test('the OIDC provider must fit in a tag value', async (t) => {
  t.equal(oidcProviderTagProblem(ISSUER), undefined);
  t.equal(oidcProviderTagProblem('https://kubernetes.default.svc.cluster.local'), undefined);
  t.equal(oidcProviderTagProblem('https://issuer.example.com:8443/path'), undefined);
  t.match(oidcProviderTagProblem('https://issuer.example.com/a?b'), /cannot be an IAM tag value/);
  t.match(oidcProviderTagProblem(`https://${'a'.repeat(257)}`), /at most 256/);
  t.match(oidcProviderTagProblem('https://'), /empty/);
});

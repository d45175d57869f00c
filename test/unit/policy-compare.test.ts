import t from 'tap';
import {
  PolicyParseError,
  parsePolicyDocument,
  policiesEqual,
  trustAdmits,
} from '../../src/core/policy-compare.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { PROVIDER, PROVIDER_ARN, testRoleSettings } from '../helpers/settings.js';

const SUB = 'system:serviceaccount:team-a:default-editor';

const spec = deriveRoleSpec(testRoleSettings(), 'team-a');
const twoSaSpec = deriveRoleSpec(
  testRoleSettings({ serviceAccounts: ['default-editor', 'runner'] }),
  'team-a',
);

/** A trust statement in the webhook's shape, with parts replaceable per case. */
function trust(overrides: Record<string, unknown> = {}, condition?: unknown): unknown {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: PROVIDER_ARN },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: condition ?? {
          StringEquals: { [`${PROVIDER}:aud`]: 'sts.amazonaws.com', [`${PROVIDER}:sub`]: SUB },
        },
        ...overrides,
      },
    ],
  };
}

t.test('parsePolicyDocument', async (t) => {
  const doc = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*' }] };
  t.same(parsePolicyDocument(JSON.stringify(doc)), doc, 'plain JSON');
  t.same(
    parsePolicyDocument(encodeURIComponent(JSON.stringify(doc))),
    doc,
    'URL-encoded as IAM returns it',
  );
  // Exactly as IAM/moto return it: `/` left as is, `*` encoded.
  const fromIam =
    '%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C' +
    '%22Action%22%3A%5B%22s3%3AGetObject%22%5D%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Ab/%2A%22%7D%5D%7D';
  t.same(parsePolicyDocument(fromIam), {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: 'arn:aws:s3:::b/*' }],
  });
  t.throws(() => parsePolicyDocument('{not json'), PolicyParseError);
  t.throws(() => parsePolicyDocument('%E0%A4%A'), PolicyParseError, 'broken escape');
});

t.test('policiesEqual', async (t) => {
  const base = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject'],
        Resource: ['arn:aws:s3:::b', 'arn:aws:s3:::b/*'],
      },
      { Effect: 'Deny', Action: 's3:DeleteBucket', Resource: 'arn:aws:s3:::b' },
    ],
  };
  const equal: [string, unknown][] = [
    [
      'key order',
      {
        Statement: [
          {
            Resource: ['arn:aws:s3:::b', 'arn:aws:s3:::b/*'],
            Action: ['s3:GetObject', 's3:PutObject'],
            Effect: 'Allow',
          },
          { Resource: 'arn:aws:s3:::b', Effect: 'Deny', Action: 's3:DeleteBucket' },
        ],
        Version: '2012-10-17',
      },
    ],
    [
      'single-item arrays',
      {
        Version: '2012-10-17',
        Statement: [
          base.Statement[0],
          { Effect: 'Deny', Action: ['s3:DeleteBucket'], Resource: ['arn:aws:s3:::b'] },
        ],
      },
    ],
    [
      'order inside Action and Resource',
      {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['s3:PutObject', 's3:GetObject'],
            Resource: ['arn:aws:s3:::b/*', 'arn:aws:s3:::b'],
          },
          base.Statement[1],
        ],
      },
    ],
    [
      'statement order',
      { Version: '2012-10-17', Statement: [base.Statement[1], base.Statement[0]] },
    ],
    [
      'duplicates in a set',
      {
        Version: '2012-10-17',
        Statement: [
          { ...base.Statement[0], Action: ['s3:GetObject', 's3:PutObject', 's3:GetObject'] },
          base.Statement[1],
        ],
      },
    ],
  ];
  for (const [name, other] of equal) t.ok(policiesEqual(base, other), name);

  const different: [string, unknown][] = [
    ['missing action', { ...base, Statement: [{ ...base.Statement[0], Action: 's3:GetObject' }] }],
    [
      'other effect',
      { ...base, Statement: [{ ...base.Statement[0], Effect: 'Deny' }, base.Statement[1]] },
    ],
    ['missing statement', { ...base, Statement: [base.Statement[0]] }],
    ['other version', { ...base, Version: '2008-10-17' }],
  ];
  for (const [name, other] of different) t.notOk(policiesEqual(base, other), name);

  t.ok(
    policiesEqual(
      spec.trustPolicy,
      parsePolicyDocument(encodeURIComponent(JSON.stringify(spec.trustPolicy))),
    ),
  );
  t.ok(
    policiesEqual(
      { Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 'x' } },
      { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['x'] }] },
    ),
    'a bare Statement object equals a one-item list',
  );
  t.ok(
    policiesEqual(
      { Condition: { Bool: { 'aws:SecureTransport': true } } },
      { Condition: { Bool: { 'aws:SecureTransport': 'true' } } },
    ),
    'condition values compare as strings',
  );
  t.ok(
    policiesEqual(
      { Condition: { StringEquals: { k: ['a', 'b'] } } },
      { Condition: { StringEquals: { k: ['b', 'a'] } } },
    ),
    'condition value order',
  );
});

t.test('trustAdmits accepts', async (t) => {
  const cases: [string, unknown, typeof spec][] = [
    ['the derived trust policy', spec.trustPolicy, spec],
    ['the derived policy URL-encoded', encodeURIComponent(JSON.stringify(spec.trustPolicy)), spec],
    [
      'a one-item list of subjects',
      trust(
        {},
        {
          StringEquals: { [`${PROVIDER}:aud`]: ['sts.amazonaws.com'], [`${PROVIDER}:sub`]: [SUB] },
        },
      ),
      spec,
    ],
    ['an action glob', trust({ Action: ['sts:AssumeRole*'] }), spec],
    [
      'condition keys in another case',
      trust(
        {},
        { StringEquals: { [`${PROVIDER}:AUD`]: 'sts.amazonaws.com', [`${PROVIDER}:Sub`]: SUB } },
      ),
      spec,
    ],
    [
      'two service accounts in two statements',
      {
        Version: '2012-10-17',
        Statement: ['default-editor', 'runner'].map(
          (sa) =>
            (
              trust(
                {},
                {
                  StringEquals: {
                    [`${PROVIDER}:aud`]: 'sts.amazonaws.com',
                    [`${PROVIDER}:sub`]: `system:serviceaccount:team-a:${sa}`,
                  },
                },
              ) as { Statement: unknown[] }
            ).Statement[0],
        ),
      },
      twoSaSpec,
    ],
    ['two service accounts, derived', twoSaSpec.trustPolicy, twoSaSpec],
  ];
  for (const [name, doc, expected] of cases) {
    t.same(trustAdmits(doc, expected.trustPolicy), { ok: true }, name);
  }
});

t.test('trustAdmits denies with a readable reason', async (t) => {
  const cases: [string, unknown, RegExp, typeof spec?][] = [
    [
      'wildcard subject in StringEquals',
      trust(
        {},
        {
          StringEquals: {
            [`${PROVIDER}:aud`]: 'sts.amazonaws.com',
            [`${PROVIDER}:sub`]: 'system:serviceaccount:team-a:*',
          },
        },
      ),
      /only by pattern.*system:serviceaccount:team-a:default-editor/,
    ],
    [
      'StringLike subject',
      trust(
        {},
        {
          StringEquals: { [`${PROVIDER}:aud`]: 'sts.amazonaws.com' },
          StringLike: { [`${PROVIDER}:sub`]: 'system:serviceaccount:team-a:*' },
        },
      ),
      /only by pattern; it must admit system:serviceaccount:team-a:default-editor with StringEquals/,
    ],
    [
      'StringLike with the exact subject',
      trust(
        {},
        { StringLike: { [`${PROVIDER}:aud`]: 'sts.amazonaws.com', [`${PROVIDER}:sub`]: SUB } },
      ),
      /only by pattern/,
    ],
    [
      'another namespace',
      trust(
        {},
        {
          StringEquals: {
            [`${PROVIDER}:aud`]: 'sts.amazonaws.com',
            [`${PROVIDER}:sub`]: 'system:serviceaccount:team-b:default-editor',
          },
        },
      ),
      /^its trust policy does not admit system:serviceaccount:team-a:default-editor$/,
    ],
    [
      'wrong provider',
      trust({
        Principal: { Federated: `arn:aws:iam::111122223333:oidc-provider/oidc.example/other` },
      }),
      /does not trust the cluster's OIDC provider arn:aws:iam::111122223333:oidc-provider\/oidc\.eks/,
    ],
    [
      'provider of another account',
      trust({ Principal: { Federated: `arn:aws:iam::999999999999:oidc-provider/${PROVIDER}` } }),
      /does not trust the cluster's OIDC provider/,
    ],
    [
      'missing aud',
      trust({}, { StringEquals: { [`${PROVIDER}:sub`]: SUB } }),
      /admits system:serviceaccount:team-a:default-editor but does not require the audience sts\.amazonaws\.com/,
    ],
    [
      'wrong aud',
      trust({}, { StringEquals: { [`${PROVIDER}:aud`]: 'other', [`${PROVIDER}:sub`]: SUB } }),
      /does not require the audience/,
    ],
    [
      'no condition at all',
      trust({ Condition: undefined }),
      /does not admit system:serviceaccount:team-a:default-editor/,
    ],
    [
      'a Deny statement',
      trust({ Effect: 'Deny' }),
      /no Allow statement for sts:AssumeRoleWithWebIdentity/,
    ],
    ['another action', trust({ Action: 'sts:AssumeRole' }), /no Allow statement/],
    [
      'a service principal',
      trust({ Principal: { Service: 'ec2.amazonaws.com' } }),
      /OIDC provider/,
    ],
    ['not a policy', 'garbage%%', /not a valid policy document/],
    ['no statements', { Version: '2012-10-17' }, /not a valid policy document/],
    [
      'one of two service accounts missing',
      spec.trustPolicy,
      /^its trust policy does not admit system:serviceaccount:team-a:runner$/,
      twoSaSpec,
    ],
  ];
  for (const [name, doc, reason, expected] of cases) {
    const verdict = trustAdmits(doc, (expected ?? spec).trustPolicy);
    t.equal(verdict.ok, false, name);
    if (!verdict.ok) t.match(verdict.reason, reason, name);
  }
});

import t from 'tap';
import fc from 'fast-check';
import { trustAdmits } from '../../src/core/policy-compare.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { PROVIDER, PROVIDER_ARN, testRoleSettings } from '../helpers/settings.js';

// A role someone else made is used as is only when its trust admits the namespace's service
// accounts and nobody else: these are the ways a trust policy is broader.

const SUB_KEY = `${PROVIDER}:sub`;
const AUD_KEY = `${PROVIDER}:aud`;
const SUB = 'system:serviceaccount:team-a:default-editor';
const spec = deriveRoleSpec(testRoleSettings(), 'team-a');

type Statement = Record<string, unknown>;

/** The webhook's own statement for team-a, with parts replaced. */
function exact(overrides: Statement = {}): Statement {
  return {
    Effect: 'Allow',
    Principal: { Federated: PROVIDER_ARN },
    Action: 'sts:AssumeRoleWithWebIdentity',
    Condition: { StringEquals: { [AUD_KEY]: 'sts.amazonaws.com', [SUB_KEY]: SUB } },
    ...overrides,
  };
}

function doc(...statements: Statement[]): unknown {
  return { Version: '2012-10-17', Statement: statements };
}

function admits(document: unknown): ReturnType<typeof trustAdmits> {
  return trustAdmits(document, spec.trustPolicy);
}

const broader: [string, Statement[], RegExp][] = [
  [
    'another statement admits every service account by StringLike',
    [
      exact(),
      exact({
        Condition: {
          StringEquals: { [AUD_KEY]: 'sts.amazonaws.com' },
          StringLike: { [SUB_KEY]: 'system:serviceaccount:*' },
        },
      }),
    ],
    /also matches the subject by pattern \(StringLike system:serviceaccount:\*\)/,
  ],
  [
    'the same statement admits system:serviceaccount:* beside the exact subject',
    [
      exact({
        Condition: {
          StringEquals: { [AUD_KEY]: 'sts.amazonaws.com', [SUB_KEY]: SUB },
          StringLike: { [SUB_KEY]: [SUB, 'system:serviceaccount:*'] },
        },
      }),
    ],
    /by pattern \(StringLike/,
  ],
  [
    'a wildcard in a StringLike subject of this namespace',
    [
      exact(),
      exact({
        Condition: {
          StringEquals: { [AUD_KEY]: 'sts.amazonaws.com' },
          StringLike: { [SUB_KEY]: 'system:serviceaccount:team-a:*' },
        },
      }),
    ],
    /by pattern/,
  ],
  [
    'another statement has no subject condition',
    [exact(), exact({ Condition: { StringEquals: { [AUD_KEY]: 'sts.amazonaws.com' } } })],
    /admits every service account of the cluster in a statement without a condition on .*:sub/,
  ],
  [
    'another statement has no condition at all',
    [exact(), exact({ Condition: undefined })],
    /without a condition/,
  ],
  [
    'the same statement admits another namespace too',
    [
      exact({
        Condition: {
          StringEquals: {
            [AUD_KEY]: 'sts.amazonaws.com',
            [SUB_KEY]: [SUB, 'system:serviceaccount:team-b:default-editor'],
          },
        },
      }),
    ],
    /also admits system:serviceaccount:team-b:default-editor/,
  ],
  [
    'a service principal in another statement',
    [
      exact(),
      { Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
    ],
    /also trusts Service ec2\.amazonaws\.com/,
  ],
  [
    'every AWS principal',
    [exact(), { Effect: 'Allow', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' }],
    /also trusts AWS \*/,
  ],
  [
    'the principal "*"',
    [exact(), { Effect: 'Allow', Principal: '*', Action: 'sts:AssumeRole' }],
    /also trusts the principal "\*"/,
  ],
  [
    'another OIDC provider beside this one',
    [
      exact({
        Principal: {
          Federated: [PROVIDER_ARN, 'arn:aws:iam::111122223333:oidc-provider/oidc.example/other'],
        },
      }),
    ],
    /also trusts Federated arn:aws:iam::111122223333:oidc-provider\/oidc\.example\/other/,
  ],
  [
    'a subject condition that holds when the key is missing',
    [
      exact(),
      exact({
        Condition: {
          StringEquals: { [AUD_KEY]: 'sts.amazonaws.com' },
          StringEqualsIfExists: { [SUB_KEY]: SUB },
        },
      }),
    ],
    /by pattern \(StringEqualsIfExists/,
  ],
  [
    'a set operator on the subject',
    [
      exact(),
      exact({
        Condition: {
          StringEquals: { [AUD_KEY]: 'sts.amazonaws.com' },
          'ForAnyValue:StringLike': { [SUB_KEY]: ['system:serviceaccount:*'] },
        },
      }),
    ],
    /by pattern \(ForAnyValue:StringLike/,
  ],
  [
    'NotPrincipal',
    [exact(), { Effect: 'Allow', NotPrincipal: { AWS: 'arn:aws:iam::1:root' }, Action: 'sts:*' }],
    /an Allow statement with NotPrincipal/,
  ],
  [
    'NotAction',
    [exact(), { Effect: 'Allow', Principal: { Federated: PROVIDER_ARN }, NotAction: 's3:*' }],
    /an Allow statement with NotAction/,
  ],
  [
    'another statement admits the subject for any audience',
    [exact(), exact({ Condition: { StringEquals: { [SUB_KEY]: SUB } } })],
    /does not require the audience sts\.amazonaws\.com alone/,
  ],
  [
    'another audience beside STS',
    [
      exact({
        Condition: { StringEquals: { [AUD_KEY]: ['sts.amazonaws.com', 'other'], [SUB_KEY]: SUB } },
      }),
    ],
    /does not require the audience/,
  ],
  [
    'extra subjects and statements',
    [
      { Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
      exact({
        Condition: {
          StringEquals: {
            [AUD_KEY]: 'sts.amazonaws.com',
            [SUB_KEY]: [SUB, 'system:serviceaccount:team-b:default-editor'],
          },
        },
      }),
    ],
    /also trusts Service ec2\.amazonaws\.com/,
  ],
];

t.test('a trust that admits more than the namespace is shared and denied', async (t) => {
  for (const [name, statements, reason] of broader) {
    const verdict = admits(doc(...statements));
    t.equal(verdict.ok, false, name);
    if (!verdict.ok) {
      t.match(verdict.reason, reason, name);
      t.match(
        verdict.reason,
        /the role is shared; a role used as is must admit only system:serviceaccount:team-a:default-editor$/,
        name,
      );
    }
  }
});

t.test('what only narrows the trust is accepted', async (t) => {
  const narrowing: [string, Statement[]][] = [
    [
      'a Deny statement for everyone else',
      [
        exact(),
        {
          Effect: 'Deny',
          Principal: '*',
          Action: 'sts:*',
          Condition: { StringNotEquals: { [SUB_KEY]: SUB } },
        },
      ],
    ],
    [
      'an extra condition on the session',
      [
        exact({
          Condition: {
            StringEquals: { [AUD_KEY]: 'sts.amazonaws.com', [SUB_KEY]: SUB },
            Bool: { 'aws:SecureTransport': 'true' },
          },
        }),
      ],
    ],
    [
      'another action for this provider',
      [
        exact(),
        { Effect: 'Allow', Principal: { Federated: PROVIDER_ARN }, Action: 'sts:TagSession' },
      ],
    ],
    ['the subject twice', [exact(), exact()]],
  ];
  for (const [name, statements] of narrowing)
    t.same(admits(doc(...statements)), { ok: true }, name);
});

t.test('property: the exact statement plus any broader one is always denied', async (t) => {
  const otherSubject = fc
    .tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/))
    .map(([ns, sa]) => `system:serviceaccount:${ns}:${sa}`)
    .filter((subject) => subject !== SUB);
  const pattern = fc
    .stringMatching(/^system:serviceaccount:[a-z*?:-]{0,12}$/)
    .filter((v) => v.includes('*') || v.includes('?'));
  const subCondition = fc.oneof(
    otherSubject.map((s) => ({
      StringEquals: { [AUD_KEY]: 'sts.amazonaws.com', [SUB_KEY]: [SUB, s] },
    })),
    fc
      .tuple(
        fc.constantFrom(
          'StringLike',
          'StringEqualsIfExists',
          'ForAnyValue:StringLike',
          'StringEqualsIgnoreCase',
        ),
        fc.oneof(pattern, fc.constant(SUB)),
      )
      .map(([operator, value]) => ({
        StringEquals: { [AUD_KEY]: 'sts.amazonaws.com' },
        [operator]: { [SUB_KEY]: value },
      })),
    fc.constant({ StringEquals: { [AUD_KEY]: 'sts.amazonaws.com' } }),
    fc.constant({ StringEquals: { [SUB_KEY]: SUB } }),
  );
  const principal = fc.oneof(
    fc.constant<unknown>('*'),
    fc.constantFrom('ec2.amazonaws.com', 'lambda.amazonaws.com').map((Service) => ({ Service })),
    fc.constantFrom('*', 'arn:aws:iam::999999999999:root').map((AWS) => ({ AWS })),
    fc.constant({ Federated: [PROVIDER_ARN, 'arn:aws:iam::111122223333:oidc-provider/x.example'] }),
  );
  const broaderStatement = fc.oneof(
    subCondition.map((Condition) => exact({ Condition })),
    principal.map((Principal) => exact({ Principal })),
  );
  fc.assert(
    fc.property(broaderStatement, fc.boolean(), (extra, first) => {
      const statements = first ? [extra, exact()] : [exact(), extra];
      return admits(doc(...statements)).ok === false;
    }),
    { numRuns: 500 },
  );
  t.pass('500 broader trust policies denied');
});

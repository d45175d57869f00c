import t from 'tap';
import { describeDrift, roleDrift, type ObservedRole } from '../../src/core/drift.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { testRoleSettings } from '../helpers/settings.js';

const spec = deriveRoleSpec(
  testRoleSettings({
    permissionsBoundary: 'arn:aws:iam::111122223333:policy/boundary',
    maxSessionDuration: 7200,
  }),
  'team-a',
);
/** The role as IAM would hand it back once everything is in place (documents URL-encoded). */
const inPlace: ObservedRole = {
  trustPolicy: encodeURIComponent(JSON.stringify(spec.trustPolicy)),
  inlinePolicy: encodeURIComponent(JSON.stringify(spec.s3Policy.document)),
  permissionsBoundaryArn: spec.permissionsBoundary,
  maxSessionDuration: 7200,
  tags: { ...spec.tags },
};

const cases: [string, Partial<ObservedRole>, string[]][] = [
  ['nothing drifted', {}, []],
  [
    'an equivalent document in another form is not drift',
    {
      trustPolicy: JSON.stringify({
        Statement: [
          { ...spec.trustPolicy.Statement[0], Action: ['sts:AssumeRoleWithWebIdentity'] },
        ],
        Version: '2012-10-17',
      }),
    },
    [],
  ],
  [
    'a widened trust policy',
    { trustPolicy: JSON.stringify({ Version: '2012-10-17', Statement: [] }) },
    ['trust policy'],
  ],
  ['an unparseable trust policy', { trustPolicy: '%7Bnot json' }, ['trust policy']],
  ['a removed boundary', { permissionsBoundaryArn: undefined }, ['permissions boundary']],
  ['a deleted inline policy', { inlinePolicy: undefined }, ['missing inline policy']],
  [
    'a widened inline policy',
    { inlinePolicy: '{"Version":"2012-10-17","Statement":[]}' },
    ['inline policy'],
  ],
  ['another session duration', { maxSessionDuration: 3600 }, ['max session duration']],
  ['a changed ownership tag', { tags: { ...spec.tags, 'kubeflow.org/profile': 'x' } }, ['tags']],
  ['extra tags of others are not drift', { tags: { ...spec.tags, team: 'ml' } }, []],
  [
    'everything: trust first, grants after',
    {
      trustPolicy: '{}',
      permissionsBoundaryArn: undefined,
      inlinePolicy: '{}',
      maxSessionDuration: 3600,
      tags: {},
    },
    ['trust policy', 'permissions boundary', 'inline policy', 'max session duration', 'tags'],
  ],
];

for (const [name, change, expected] of cases) {
  t.test(name, async (t) => {
    t.same(roleDrift(spec, { ...inPlace, ...change }).map(describeDrift), expected);
  });
}

t.test('unset options are not drift, and a boundary is never removed', async (t) => {
  const plain = deriveRoleSpec(testRoleSettings(), 'team-a');
  const observed: ObservedRole = {
    ...inPlace,
    trustPolicy: JSON.stringify(plain.trustPolicy),
    inlinePolicy: JSON.stringify(plain.s3Policy.document),
    tags: { ...plain.tags },
  };
  t.same(
    roleDrift(plain, observed),
    [],
    'an existing boundary and session duration are left alone',
  );
});

t.test('drift carries what the repair writes', async (t) => {
  const drift = roleDrift(spec, {
    ...inPlace,
    permissionsBoundaryArn: undefined,
    maxSessionDuration: 1,
    tags: {},
  });
  t.same(drift, [
    { kind: 'permissions-boundary', arn: 'arn:aws:iam::111122223333:policy/boundary' },
    { kind: 'max-session-duration', seconds: 7200 },
    { kind: 'tags', tags: spec.tags },
  ]);
});

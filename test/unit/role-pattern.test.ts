import t from 'tap';
import { matchesAny, parseRoleArn, roleArnPattern } from '../../src/core/role-pattern.js';
import { loadConfig } from '../../src/config/load.js';
import { REQUIRED_ENV } from '../helpers/settings.js';

function compile(glob: string): RegExp {
  const result = roleArnPattern(glob);
  if (!result.ok) throw new Error(result.problem);
  return result.pattern;
}

t.test('a role ARN is parsed into its parts', async (t) => {
  t.same(parseRoleArn('arn:aws:iam::111122223333:role/legacy/x/team-a'), {
    partition: 'aws',
    account: '111122223333',
    path: ['legacy', 'x'],
    name: 'team-a',
  });
  t.same(parseRoleArn('arn:aws-iso-b:iam::111122223333:role/r+=,.@_-1')?.name, 'r+=,.@_-1');
  for (const bad of [
    'arn:aws:iam::111122223333:role/legacy/x/../OrgAdmin',
    'arn:aws:iam::111122223333:role/legacy/..',
    'arn:aws:iam::111122223333:role/./OrgAdmin',
    'arn:aws:iam::111122223333:role//OrgAdmin',
    'arn:aws:iam::111122223333:role/legacy/',
    'arn:aws:iam::111122223333:role/Org Admin',
    'arn:aws:iam::111122223333:role/Org%41dmin',
    'arn:aws:iam::111122223333:role/OrgAdmin?x=1',
    'arn:aws:iam::111122223333:role/Org\u0000Admin',
    'arn:aws:iam::111122223333:role/ＯrgAdmin',
    'arn:aws:iam::111122223333:role/' + 'n'.repeat(65),
    'arn:aws:iam::111122223333:role/' + 'p/'.repeat(256) + 'x',
    'arn:aws:iam::11112222333:role/x',
    'arn:aws:iam:us-east-1:111122223333:role/x',
    'arn:AWS:iam::111122223333:role/x',
    'arn:aws:iam::111122223333:user/x',
    ' arn:aws:iam::111122223333:role/x',
  ]) {
    t.equal(parseRoleArn(bad), undefined, bad);
  }
});

t.test('* matches within one part and never crosses / or :', async (t) => {
  const legacy = [compile('arn:aws:iam::111122223333:role/legacy/*')];
  const admitted = (arn: string) => matchesAny(arn, legacy);
  t.ok(admitted('arn:aws:iam::111122223333:role/legacy/team-a'));
  t.notOk(admitted('arn:aws:iam::111122223333:role/legacy/any/OrgAdmin'), 'a deeper path');
  t.notOk(admitted('arn:aws:iam::111122223333:role/legacy/x/../OrgAdmin'), 'a .. segment');
  t.notOk(admitted('arn:aws:iam::111122223333:role/legacy/..'), '.. as the name');
  t.notOk(admitted('arn:aws:iam::111122223333:role/legacy/'), 'no name');
  t.notOk(admitted('arn:aws:iam::111122223333:role/OrgAdmin'), 'another path');
  t.notOk(admitted('arn:aws:iam::999999999999:role/legacy/team-a'), 'another account');
  t.notOk(admitted('arn:aws-cn:iam::111122223333:role/legacy/team-a'), 'another partition');

  const prefix = [compile('arn:aws:iam::111122223333:role/legacy/kf-*-role')];
  t.ok(matchesAny('arn:aws:iam::111122223333:role/legacy/kf-team-a-role', prefix));
  t.ok(matchesAny('arn:aws:iam::111122223333:role/legacy/kf--role', prefix), '* may be empty');
  t.notOk(matchesAny('arn:aws:iam::111122223333:role/legacy/kf-x/y-role', prefix));

  const anyAccount = [compile('arn:*:iam::*:role/shared/*/pipelines')];
  t.ok(matchesAny('arn:aws-us-gov:iam::111122223333:role/shared/ml/pipelines', anyAccount));
  t.notOk(matchesAny('arn:aws:iam::111122223333:role/shared/ml/x/pipelines', anyAccount));
  t.notOk(matchesAny('arn:aws:iam::111122223333:role/shared/pipelines', anyAccount));

  const literal = [compile('arn:aws:iam::111122223333:role/a.b')];
  t.ok(matchesAny('arn:aws:iam::111122223333:role/a.b', literal));
  t.notOk(matchesAny('arn:aws:iam::111122223333:role/aXb', literal), 'dots are literal');
});

t.test('bad patterns are refused at start, each with its reason', async (t) => {
  const patterns = [
    'role/legacy/*',
    'arn:aws:iam::111122223333:role/legacy/../*',
    'arn:aws:iam::111122223333:role//*',
    'arn:aws:iam::111122223333:role/legacy/ *',
    'arn:aws:iam::1111-2222:role/*',
    'arn:AWS:iam::111122223333:role/*',
    'arn:aws:iam::111122223333:user/*',
  ];
  const result = loadConfig({}, { ...REQUIRED_ENV, ALLOWED_ROLE_ARNS: patterns.join(',') });
  t.notOk(result.ok);
  const text = result.ok ? '' : result.problems.join('\n');
  for (const pattern of patterns) t.match(text, `"${pattern}"`, pattern);
  const good = loadConfig(
    {},
    {
      ...REQUIRED_ENV,
      ALLOWED_ROLE_ARNS: 'arn:aws:iam::111122223333:role/legacy/*,arn:*:iam::*:role/kf-*',
    },
  );
  t.ok(good.ok, good.ok ? 'accepted' : good.problems.join('; '));
});

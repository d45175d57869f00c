import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { knownPartition, partitionForRegion } from '../../src/core/settings.js';
import { REQUIRED_ENV, testRoleSettings } from '../helpers/settings.js';

// The table is the AWS SDK's (the one the IAM client resolves endpoints with), not a list here.
const REGIONS: [string, string][] = [
  ['us-east-1', 'aws'],
  ['eu-west-3', 'aws'],
  ['il-central-1', 'aws'],
  ['cn-north-1', 'aws-cn'],
  ['cn-northwest-1', 'aws-cn'],
  ['us-gov-west-1', 'aws-us-gov'],
  ['us-gov-east-1', 'aws-us-gov'],
  ['us-iso-east-1', 'aws-iso'],
  ['us-isob-east-1', 'aws-iso-b'],
  ['eu-isoe-west-1', 'aws-iso-e'],
  ['us-isof-south-1', 'aws-iso-f'],
  ['eusc-de-east-1', 'aws-eusc'],
];

t.test('every partition of the SDK table, ISO and European Sovereign Cloud included', async (t) => {
  for (const [region, partition] of REGIONS) {
    t.equal(partitionForRegion(region), partition, region);
    const config = loadConfig({}, { ...REQUIRED_ENV, CLUSTER_REGION: region });
    t.ok(config.ok, `${region} is accepted at start`);
    const spec = deriveRoleSpec(testRoleSettings({ region }), 'team-a');
    t.match(spec.roleArn, `arn:${partition}:iam::111122223333:role/`, `${region}: role ARN`);
    t.match(
      spec.trustPolicy.Statement[0]!.Principal!['Federated'],
      `arn:${partition}:iam::111122223333:oidc-provider/`,
      `${region}: OIDC provider ARN`,
    );
    t.match(spec.s3Policy.document.Statement[0]!.Resource, [`arn:${partition}:s3:::kf-artifacts`]);
  }
});

t.test('a region the table does not list is refused at start', async (t) => {
  // The SDK answers `aws` for anything it does not know; that must not pass for a region.
  for (const region of [
    'nowhere',
    'us-east-99',
    'us-esat-1',
    'moon-base-1',
    'aws-global',
    'cn-global',
  ]) {
    t.equal(knownPartition(region), undefined, `${region} is unknown`);
    const result = loadConfig({}, { ...REQUIRED_ENV, CLUSTER_REGION: region });
    t.notOk(result.ok, `${region} is refused`);
    t.match(!result.ok && result.problems.join(), /--region .*partition table/);
  }
  t.throws(() => partitionForRegion('nowhere'), /not in the AWS SDK's partition table/);
});

t.test('the permissions boundary is a policy ARN of the region partition', async (t) => {
  const ok = (region: string, arn: string) =>
    loadConfig({}, { ...REQUIRED_ENV, CLUSTER_REGION: region, PERMISSIONS_BOUNDARY_ARN: arn });
  t.ok(ok('us-iso-east-1', 'arn:aws-iso:iam::111122223333:policy/kf-boundary').ok, 'aws-iso');
  t.ok(ok('eusc-de-east-1', 'arn:aws-eusc:iam::111122223333:policy/path/b').ok, 'aws-eusc');
  t.ok(ok('us-east-1', 'arn:aws:iam::aws:policy/PowerUserAccess').ok, 'an AWS managed policy');
  const wrong = ok('us-east-1', 'arn:aws-cn:iam::111122223333:policy/kf-boundary');
  t.notOk(wrong.ok);
  t.match(
    !wrong.ok && wrong.problems.join(),
    'is in partition aws-cn, but region us-east-1 is in aws',
  );
  const notArn = ok('us-east-1', 'arn:aws:iam::111122223333:role/kf-boundary');
  t.match(!notArn.ok && notArn.problems.join(), 'must be an IAM policy ARN');
});

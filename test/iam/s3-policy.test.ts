import t from 'tap';
import { boundaryPolicy } from '../../src/core/iam-policy.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import type { S3Access } from '../../src/core/settings.js';
import { testRoleSettings } from '../helpers/settings.js';
import { PIPELINE_S3_CALLS, s3Resource, simulate } from '../helpers/simulator.js';

// The S3 inline policy of a profile's role (whole bucket), judged by the policy simulator: the
// calls Kubeflow Pipelines makes are allowed on the configured buckets and denied on any other,
// with the recommended permissions boundary on the role and without it.

const LEVELS: S3Access[] = ['full', 'readwrite', 'readonly'];

for (const s3Access of LEVELS) {
  for (const withBoundary of [true, false]) {
    t.test(`${s3Access}${withBoundary ? ', under the boundary' : ''}`, async (t) => {
      const settings = testRoleSettings({ s3Access, s3Buckets: ['kf-artifacts', 'shared-data'] });
      const spec = deriveRoleSpec(settings, 'team-a');
      const policies = {
        identity: [spec.s3Policy.document],
        boundary: withBoundary ? boundaryPolicy(settings) : undefined,
      };
      const decide = async (action: string, resource: string) =>
        (await simulate({ action, resource, principal: spec.roleArn }, policies)).result;
      const { allowed, denied } = PIPELINE_S3_CALLS[s3Access];

      for (const bucket of ['kf-artifacts', 'shared-data']) {
        for (const call of allowed) {
          t.equal(
            await decide(call.action, s3Resource(call, bucket)),
            'Allowed',
            `${call.operation} on ${bucket}`,
          );
        }
        for (const call of denied) {
          t.not(
            await decide(call.action, s3Resource(call, bucket)),
            'Allowed',
            `${call.operation} on ${bucket} (${s3Access})`,
          );
        }
      }
      for (const call of [...allowed, ...denied]) {
        t.not(
          await decide(call.action, s3Resource(call, 'someone-elses-bucket')),
          'Allowed',
          `${call.operation} on another bucket`,
        );
        t.not(
          await decide(call.action, s3Resource(call, 'kf-artifacts-backup')),
          'Allowed',
          `${call.operation} on a bucket whose name starts like ours`,
        );
      }
      for (const action of ['s3:ListAllMyBuckets', 's3:CreateBucket']) {
        t.not(
          await decide(action, action === 's3:CreateBucket' ? 'arn:aws:s3:::new-bucket' : '*'),
          'Allowed',
          action,
        );
      }
    });
  }
}

t.test('another partition: the same calls on the same bucket names', async (t) => {
  const settings = testRoleSettings({ region: 'cn-north-1' });
  const spec = deriveRoleSpec(settings, 'team-a');
  const policies = { identity: [spec.s3Policy.document], boundary: boundaryPolicy(settings) };
  for (const call of PIPELINE_S3_CALLS.readwrite.allowed) {
    const verdict = await simulate(
      {
        action: call.action,
        resource: s3Resource(call, 'kf-artifacts', undefined, 'aws-cn'),
        principal: spec.roleArn,
      },
      policies,
    );
    t.equal(verdict.result, 'Allowed', call.operation);
  }
});

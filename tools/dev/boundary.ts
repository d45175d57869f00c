import { CreatePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { boundaryPolicy } from '../../src/core/iam-policy.js';

/**
 * The recommended install, locally: the permissions boundary for the roles the webhook creates,
 * made in moto from `iam-policy --boundary`'s document, as an operator makes it in IAM. Returns
 * its ARN for PERMISSIONS_BOUNDARY_ARN.
 */
export async function createBoundaryPolicy(options: {
  endpoint: string;
  clusterName: string;
  region: string;
  s3Buckets: string[];
}): Promise<string> {
  const iam = new IAMClient({
    endpoint: options.endpoint,
    region: options.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const document = boundaryPolicy({ region: options.region, s3Buckets: options.s3Buckets });
    const created = await iam.send(
      new CreatePolicyCommand({
        PolicyName: `profile-irsa-webhook-boundary-${options.clusterName}`,
        PolicyDocument: JSON.stringify(document),
        Description: 'profile-irsa-webhook: permissions boundary of the profile roles',
      }),
      { abortSignal: AbortSignal.timeout(10_000) },
    );
    const arn = created.Policy?.Arn;
    if (!arn) throw new Error('moto created the boundary policy but returned no ARN');
    return arn;
  } finally {
    iam.destroy();
  }
}

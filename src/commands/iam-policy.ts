import type { Config } from '../config/schema.js';
import { boundaryPolicy, webhookIamPolicy } from '../core/iam-policy.js';
import type { PolicyDocument } from '../core/policy-document.js';
import { resolveRoleSettings } from './resolve.js';

/**
 * `iam-policy`: the webhook's own least-privilege IAM policy for this configuration, or with
 * `boundary` the permissions boundary for the roles it creates. The boundary needs neither the
 * account nor the issuer, so it is printed without any AWS or Kubernetes call.
 */
export async function iamPolicy(
  config: Config,
  options: { boundary: boolean },
): Promise<PolicyDocument> {
  if (options.boundary) {
    return boundaryPolicy({
      region: config.region,
      s3Buckets: [config.s3Bucket, ...config.extraS3Buckets],
    });
  }
  const role = await resolveRoleSettings(config);
  return webhookIamPolicy({ ...role, mode: config.mode });
}

import type { Config } from '../config/schema.js';
import { bareIssuer } from '../core/role-spec.js';
import { fail, ok, warn, type CheckResult } from './check.js';
import type { CallerIdentity, Outcome, SettingSource } from './facts.js';

export function judgeValid(config: Config): CheckResult {
  const buckets = [config.s3Bucket, ...config.extraS3Buckets].join(', ');
  return ok(
    `configuration is complete and valid: cluster ${config.clusterName}, region ${config.region}, ` +
      `bucket ${buckets}, ${config.mode} mode, role path ${config.rolePath}`,
  );
}

export function judgeAccount(
  configured: string | undefined,
  source: SettingSource,
  identity: Outcome<CallerIdentity>,
): CheckResult {
  if (configured !== undefined) {
    return ok(`account ${configured} (${describeSetting(source, '')})`);
  }
  if (identity.ok) {
    return ok(
      `account ${identity.value.account} (${describeSetting(source, 'with STS GetCallerIdentity')})`,
    );
  }
  return fail(
    `account: not configured, and STS GetCallerIdentity failed (${identity.error.message})`,
    'set --account-id or AWS_ACCOUNT_ID (the chart: accountId), or fix the AWS credentials (aws.credentials)',
  );
}

const EKS_ISSUER_HINT = (config: Config) =>
  `aws eks describe-cluster --name ${config.clusterName} --region ${config.region} --query cluster.identity.oidc.issuer --output text`;

export function judgeIssuer(
  config: Config,
  source: SettingSource,
  apiIssuer: Outcome<string>,
): CheckResult {
  const configured = config.oidcIssuer;
  if (configured === undefined) {
    if (apiIssuer.ok) {
      return ok(`issuer ${apiIssuer.value} (${describeSetting(source, 'from the API server')})`);
    }
    return fail(
      `issuer: not configured, and the API server's OIDC discovery failed (${apiIssuer.error.message})`,
      `set --oidc-issuer or OIDC_ISSUER (the chart: oidcIssuer) to the cluster's issuer:\n${EKS_ISSUER_HINT(config)}`,
    );
  }
  const where = describeSetting(source, '');
  if (!apiIssuer.ok) {
    return warn(
      `issuer ${configured} (${where}); could not compare it with the API server's (${apiIssuer.error.message})`,
      'the webhook may GET /.well-known/openid-configuration (the chart grants it); see what it says: kubectl get --raw /.well-known/openid-configuration',
    );
  }
  if (bareIssuer(configured) !== bareIssuer(apiIssuer.value)) {
    return fail(
      `issuer ${configured} (${where}) is not the API server's service-account issuer ${apiIssuer.value}: ` +
        'roles would trust a provider that does not sign the pods’ tokens',
      `set the issuer to ${apiIssuer.value}, or leave it empty to discover it`,
    );
  }
  return ok(`issuer ${configured} (${where}; the API server's too)`);
}

function describeSetting(source: SettingSource, discoveredBy: string): string {
  switch (source.kind) {
    case 'flag':
      return `from flag ${source.name}`;
    case 'environment':
      return `from environment ${source.name}`;
    case 'discovery':
      return `discovered ${discoveredBy}`;
  }
}

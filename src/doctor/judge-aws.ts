import type { Config } from '../config/schema.js';
import { isAccessDenied, isCredentialsError } from '../iam/errors.js';
import { fail, ok, warn, type CheckResult } from './check.js';
import type {
  CallerIdentity,
  ErrorFact,
  OidcProviderFact,
  Outcome,
  SimulationDecision,
} from './facts.js';

const STS_AUDIENCE = 'sts.amazonaws.com';

const IAM_UNREACHABLE =
  'check that IAM can be reached from here (AWS_ENDPOINT_URL_IAM, proxies) and retry with --wait';

/** An IAM read that failed: the action to allow when it was denied, else the way to IAM. */
function iamReadFailed(error: ErrorFact, what: string, allow: string): CheckResult {
  if (isAccessDenied(error)) return fail(`not allowed to read ${what} (${error.message})`, allow);
  return fail(`could not read ${what} (${error.name}: ${error.message})`, IAM_UNREACHABLE);
}

export function judgeCredentials(identity: Outcome<CallerIdentity>): CheckResult {
  if (identity.ok) {
    return ok(
      `AWS credentials work: ${identity.value.arn} (account ${identity.value.account}, STS GetCallerIdentity)`,
    );
  }
  const { error } = identity;
  const what = `AWS credentials do not work: STS GetCallerIdentity failed (${error.name}: ${error.message})`;
  if (
    error.name === 'CredentialsProviderError' ||
    /Could not load credentials/i.test(error.message)
  ) {
    return fail(
      what,
      'no credentials were found. In the pod they come from IRSA: the ServiceAccount needs the annotation ' +
        'eks.amazonaws.com/role-arn (the chart: serviceAccount.roleArn), then restart the pods ' +
        '(kubectl rollout restart); elsewhere from the AWS SDK chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...)',
    );
  }
  if (/AssumeRoleWithWebIdentity/.test(error.message) || error.name === 'InvalidIdentityToken') {
    return fail(
      what,
      "STS refused the pod's token for the role: its trust policy must name the cluster's OIDC provider " +
        'with sub system:serviceaccount:<namespace>:<service account> and aud sts.amazonaws.com (docs/iam-policy.md, step 1)',
    );
  }
  if (isCredentialsError(error)) {
    return fail(
      what,
      'AWS rejected these credentials (unknown, expired or mistyped key): renew them, or check which ones the SDK picks ' +
        '(`aws sts get-caller-identity` with the same environment shows the same identity)',
    );
  }
  return fail(
    what,
    'check that STS can be reached from here (AWS_ENDPOINT_URL_STS, proxies, network policy) and retry with --wait',
  );
}

/** What the discovered account is judged by: the OIDC provider the roles would trust, when known. */
export interface AccountEvidence {
  providerArn: string;
  provider: Outcome<OidcProviderFact | null>;
}

const SET_ACCOUNT = 'set --account-id / AWS_ACCOUNT_ID (the chart: accountId)';

export function judgeAccountMatch(
  configured: string | undefined,
  identity: CallerIdentity,
  evidence?: AccountEvidence,
): CheckResult {
  const actual = identity.account;
  if (configured === undefined) {
    // Discovered, not chosen: it is right only if the cluster's OIDC provider lives there.
    const discovered = `account ${actual}, discovered from the credentials (STS GetCallerIdentity)`;
    if (evidence === undefined) {
      return warn(
        `${discovered}; the issuer is unknown, so nothing confirms the roles belong there`,
        `${SET_ACCOUNT} to the account of the cluster's OIDC provider`,
      );
    }
    if (!evidence.provider.ok) {
      return warn(
        `${discovered}; could not confirm that ${evidence.providerArn} is in it (${evidence.provider.error.name})`,
        `${SET_ACCOUNT} to the account of the cluster's OIDC provider, so it is not left to the credentials`,
      );
    }
    if (evidence.provider.value === null) {
      return warn(
        `${discovered}, which holds no OIDC provider ${evidence.providerArn}: ` +
          'if the cluster trusts a provider of another account, roles would trust one that does not exist',
        `${SET_ACCOUNT} to the account that holds the cluster's OIDC provider ` +
          '(or create the provider in this account: aws.oidc-provider)',
      );
    }
    return ok(`${discovered}; it holds the cluster's OIDC provider ${evidence.providerArn}`);
  }
  if (configured !== actual) {
    return fail(
      `the configured account ${configured} is not the credentials' account ${actual}: ` +
        `role ARNs would name account ${configured} while roles are made in ${actual}`,
      `${SET_ACCOUNT} to ${actual}, or run the webhook with credentials of account ${configured}`,
    );
  }
  return ok(`the configured account ${configured} is the credentials' account`);
}

export function judgeOidcProvider(
  config: Config,
  issuer: string,
  arn: string,
  provider: Outcome<OidcProviderFact | null>,
): CheckResult {
  const create =
    `eksctl utils associate-iam-oidc-provider --cluster ${config.clusterName} --region ${config.region} --approve\n` +
    `(or: aws iam create-open-id-connect-provider --url ${withScheme(issuer)} --client-id-list ${STS_AUDIENCE})`;
  if (!provider.ok) {
    const allow = `allow iam:GetOpenIDConnectProvider on ${arn} in the webhook's IAM policy (docs/iam-policy.json)`;
    return iamReadFailed(provider.error, `the IAM OIDC provider ${arn}`, allow);
  }
  if (provider.value === null) {
    return fail(
      `IAM has no OIDC provider for the issuer ${issuer}: no pod can assume its Profile's role`,
      create,
    );
  }
  if (!provider.value.clientIds.includes(STS_AUDIENCE)) {
    const listed = provider.value.clientIds.length ? provider.value.clientIds.join(', ') : 'none';
    return fail(
      `the IAM OIDC provider ${arn} does not list the client ID ${STS_AUDIENCE} (it lists: ${listed}): ` +
        "STS refuses the pods' tokens",
      `aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn ${arn} --client-id ${STS_AUDIENCE}`,
    );
  }
  return ok(`IAM OIDC provider ${arn} exists and lists ${STS_AUDIENCE}`);
}

/**
 * The principal to simulate: the role IRSA assumes (AWS_ROLE_ARN, exact with its path), else the
 * caller. An assumed-role session names its role without the path, so that form is right for
 * roles at `/` (as docs/iam-policy.md creates it).
 */
export function simulationPrincipal(
  irsaRoleArn: string | undefined,
  identity: CallerIdentity,
): { arn: string } | { problem: string } {
  if (irsaRoleArn) return { arn: irsaRoleArn };
  const match = /^arn:([\w-]+):(sts|iam)::(\d{12}):(.+)$/.exec(identity.arn);
  if (!match) return { problem: `the caller ${identity.arn} is not an IAM user or role` };
  const [, partition, , account, resource] = match;
  const assumed = /^assumed-role\/([^/]+)\/.+$/.exec(resource!);
  if (assumed) return { arn: `arn:${partition}:iam::${account}:role/${assumed[1]}` };
  if (/^(user|role)\//.test(resource!))
    return { arn: `arn:${partition}:iam::${account}:${resource}` };
  return { problem: `the caller ${identity.arn} is not an IAM user or role` };
}

const SIMULATE_HINT = (principal: string, actions: string[]) =>
  `check it in the IAM policy simulator, or: aws iam simulate-principal-policy --policy-source-arn ${principal} ` +
  `--action-names ${actions.join(' ')}`;

export function judgePermissions(
  principal: { arn: string } | { problem: string },
  actions: string[],
  simulation: Outcome<SimulationDecision[]> | undefined,
): CheckResult {
  if ('problem' in principal) {
    return warn(
      `cannot simulate the webhook's IAM calls: ${principal.problem}`,
      'run doctor with the webhook\'s own credentials (kubectl exec into its pod; see the chart README "Check the install")',
    );
  }
  if (simulation === undefined || !simulation.ok) {
    const error: ErrorFact | undefined = simulation?.ok === false ? simulation.error : undefined;
    const reason = error ? `${error.name}: ${error.message}` : 'no answer';
    if (error && isAccessDenied(error)) {
      return warn(
        `cannot simulate the webhook's IAM calls: iam:SimulatePrincipalPolicy on ${principal.arn} is not allowed (${error.message})`,
        `allow iam:SimulatePrincipalPolicy on ${principal.arn} to let doctor check; meanwhile ${SIMULATE_HINT(principal.arn, actions)}`,
      );
    }
    return warn(
      `cannot simulate the webhook's IAM calls: this IAM endpoint did not answer iam:SimulatePrincipalPolicy (${reason})`,
      `the permissions are unproven here (IAM emulators such as moto do not implement the simulator); against AWS, ${SIMULATE_HINT(principal.arn, actions)}`,
    );
  }
  const denied = simulation.value.filter((d) => d.decision !== 'allowed');
  if (denied.length > 0) {
    const list = denied
      .map(
        (d) => `${d.action} on ${d.resource} (${d.decision}${d.purpose ? `; ${d.purpose}` : ''})`,
      )
      .join(', ');
    return fail(
      `${denied.length} of ${simulation.value.length} IAM calls the webhook makes are denied for ${principal.arn}: ${list}`,
      `give ${principal.arn} the policy \`profile-irsa-webhook iam-policy\` prints for this configuration (docs/iam-policy.md)`,
    );
  }
  return ok(
    `all ${simulation.value.length} IAM calls the webhook makes are allowed for ${principal.arn} ` +
      '(iam:SimulatePrincipalPolicy with their context keys)',
  );
}

/**
 * Provision mode needs a boundary unless the operator waived it; a configured boundary must
 * exist, or IAM refuses every CreateRole that names it. `exists`: whether it does, when one is set.
 */
export function judgeBoundary(
  config: Pick<Config, 'mode' | 'permissionsBoundary' | 'allowNoBoundary'>,
  exists: Outcome<boolean> | undefined,
): CheckResult {
  if (config.mode === 'lookup') {
    return ok('lookup mode creates no roles: no permissions boundary applies');
  }
  const boundary = config.permissionsBoundary;
  if (boundary === undefined) {
    const risk =
      'no permissions boundary: a role the webhook creates is limited only by what its own policy lets it write';
    const fix =
      'create it (`profile-irsa-webhook iam-policy --boundary`) and set --permissions-boundary / ' +
      'PERMISSIONS_BOUNDARY_ARN (the chart: permissionsBoundary); docs/iam-policy.md ' +
      '("Variant: a permissions boundary on every created role") explains why';
    if (config.allowNoBoundary) return warn(`${risk} (waived with --allow-no-boundary)`, fix);
    return fail(risk, `${fix}; or waive it explicitly with --allow-no-boundary`);
  }
  if (!exists?.ok) {
    const allow = `allow iam:GetPolicy on ${boundary} in the webhook's IAM policy (\`profile-irsa-webhook iam-policy\`)`;
    const error = exists?.error ?? { name: 'Error', message: 'not read' };
    return iamReadFailed(error, `the permissions boundary ${boundary}`, allow);
  }
  if (!exists.value) {
    return fail(
      `the permissions boundary ${boundary} does not exist: IAM refuses every role created with it`,
      `create it: profile-irsa-webhook iam-policy --boundary > boundary.json && aws iam create-policy ` +
        `--policy-name ${boundary.split('/').pop()} --policy-document file://boundary.json ` +
        '(or correct --permissions-boundary)',
    );
  }
  return ok(`created roles get the permissions boundary ${boundary}, which exists (iam:GetPolicy)`);
}

function withScheme(issuer: string): string {
  return issuer.startsWith('https://') ? issuer : `https://${issuer}`;
}

import type { Config } from '../config/schema.js';
import { isObject } from '../core/json.js';
import { PLUGIN_KIND, scanPlugins } from '../core/profile-request.js';
import { s3PolicyName } from '../core/s3-policy.js';
import { fail, ok, warn, type CheckResult } from './check.js';
import type { Outcome } from './facts.js';

/** The Profile the end-to-end check creates with `dryRun=All`: never stored, named for the check. */
export const CHECK_PROFILE_NAME = 'profile-irsa-webhook-doctor';

export function checkProfile(): object {
  return {
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    metadata: {
      name: CHECK_PROFILE_NAME,
      labels: { 'app.kubernetes.io/created-by': 'profile-irsa-webhook-doctor' },
    },
    spec: { owner: { kind: 'User', name: 'profile-irsa-webhook-doctor@example.invalid' } },
  };
}

export interface DryRunFacts {
  expectedArn: string;
  roleName: string;
  /** Whether the check's role existed in IAM before and after the dry run. */
  before: Outcome<boolean>;
  response: Outcome<unknown>;
  after: Outcome<boolean> | undefined;
}

const deleteRole = (roleName: string) =>
  `aws iam delete-role-policy --role-name ${roleName} --policy-name ${s3PolicyName(CHECK_PROFILE_NAME)}; ` +
  `aws iam delete-role --role-name ${roleName}`;

export function judgeDryRun(config: Config, facts: DryRunFacts): CheckResult {
  const what = `a server-side dry-run CREATE of Profile ${CHECK_PROFILE_NAME}`;
  const { response } = facts;
  if (!response.ok) {
    const { error } = response;
    if (error.status === 403) {
      return warn(
        `cannot run ${what}: ${error.message} (dry-run requests are authorized like real ones)`,
        'run doctor with a kubeconfig that may create Profiles, or try it yourself: ' +
          'kubectl create --dry-run=server -o yaml -f profile.yaml (the chart README shows one)',
      );
    }
    return fail(`${what} was refused: ${error.message}`, refusalHint(config, error.message));
  }
  const scan = scanPlugins(response.value);
  const plugins = scan.ok ? scan.iam : [];
  if (plugins.length === 0) {
    return fail(
      `${what} came back without the ${PLUGIN_KIND} plugin: the API server did not call the mutating webhook`,
      "check k8s.mutating-webhook (its rules, matchConditions and objectSelector) and the webhook's logs",
    );
  }
  const spec = plugins[0]!.spec;
  const arn = isObject(spec) ? spec['awsIamRole'] : undefined;
  if (arn !== facts.expectedArn) {
    return fail(
      `${what} came back with role ${String(arn)}, but this configuration derives ${facts.expectedArn}`,
      "the webhook runs with another configuration than this doctor: run doctor in the webhook's pod (kubectl exec deploy/<name> -- /nodejs/bin/node dist/bin/cli.js doctor)",
    );
  }
  if (!isObject(spec) || spec['annotateOnly'] !== true) {
    return fail(
      `${what} came back with the role but without annotateOnly: true`,
      "the validating webhook refuses such Profiles; check the webhook's version and logs",
    );
  }
  if (facts.before.ok && facts.before.value) {
    return warn(
      `${what} came back with ${PLUGIN_KIND} ${arn}; role ${facts.roleName} existed before, so "nothing written to IAM" cannot be shown`,
      `delete the leftover role: ${deleteRole(facts.roleName)}`,
    );
  }
  if (facts.after?.ok && facts.after.value) {
    return fail(
      `${what} wrote role ${facts.roleName} to IAM: a dry run must never write`,
      `this is a bug in the webhook (sideEffects NoneOnDryRun); report it, and delete the role: ${deleteRole(facts.roleName)}`,
    );
  }
  if (!facts.before.ok || !facts.after?.ok) {
    const error = !facts.before.ok
      ? facts.before.error
      : facts.after?.ok === false
        ? facts.after.error
        : undefined;
    return warn(
      `${what} came back with ${PLUGIN_KIND} ${arn}, but IAM could not be asked whether role ${facts.roleName} was written (${error?.message ?? 'not asked'})`,
      `allow iam:GetRole on the role path ${config.rolePath} (docs/iam-policy.json does), then run doctor again`,
    );
  }
  return ok(
    `${what} came back with ${PLUGIN_KIND} ${arn} (annotateOnly), and nothing was written to IAM`,
  );
}

function refusalHint(config: Config, message: string): string {
  if (/x509|certificate/i.test(message)) {
    return "the API server does not trust the webhook's certificate: see k8s.serving-certificate";
  }
  if (
    /no endpoints|connection refused|i\/o timeout|deadline exceeded|context canceled|no route/i.test(
      message,
    )
  ) {
    return `the API server could not reach the webhook: see k8s.service-endpoints and kubectl -n ${config.podNamespace ?? '<namespace>'} logs deploy/${config.webhookName}`;
  }
  if (/denied the request/.test(message)) {
    return `the webhook itself refused it: its reason is in the message; kubectl -n ${config.podNamespace ?? '<namespace>'} logs deploy/${config.webhookName} has the details`;
  }
  return "the message is the API server's; retry with --wait if it is transient";
}

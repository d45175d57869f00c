import type { V1RuleWithOperations, V1ValidatingWebhook } from '@kubernetes/client-node';
import type { Config } from '../config/schema.js';
import { fail, ok, type CheckResult } from './check.js';
import type { Outcome, WebhookConfiguration, WebhookEndpoint } from './facts.js';
import { CHECK_API, unreadable } from './judge-kubernetes.js';
import { LONGEST_TIMEOUT_SECONDS, type ExpectedWebhook } from './registration.js';

export function webhookEndpoint(
  config: Config,
  webhooks: V1ValidatingWebhook[],
): WebhookEndpoint | { problem: string } {
  const service = webhooks.find((w) => w.clientConfig.service)?.clientConfig.service;
  if (service) {
    return {
      mode: 'service',
      namespace: service.namespace,
      name: service.name,
      port: service.port ?? 443,
    };
  }
  const urls = webhooks.map((w) => w.clientConfig.url).filter((u): u is string => !!u);
  if (urls.length > 0) return { mode: 'url', urls };
  if (!config.podNamespace) {
    return {
      problem: '--pod-namespace / POD_NAMESPACE is not set, so the Service cannot be found',
    };
  }
  return { mode: 'service', namespace: config.podNamespace, name: config.webhookName, port: 443 };
}

export function ourWebhook(
  configuration: WebhookConfiguration,
  expected: ExpectedWebhook,
): V1ValidatingWebhook | undefined {
  return configuration.webhooks?.find((w) => w.name === expected.webhookName);
}

function helmHint(config: Config, configuration?: WebhookConfiguration): string {
  const { annotations = {}, labels = {} } = configuration?.metadata ?? {};
  const release =
    annotations['meta.helm.sh/release-name'] ?? labels['app.kubernetes.io/instance'] ?? '<release>';
  const namespace =
    annotations['meta.helm.sh/release-namespace'] ?? config.podNamespace ?? '<namespace>';
  return (
    `re-render it from the chart: helm -n ${namespace} upgrade ${release} charts/profile-irsa-webhook --reuse-values` +
    (release === '<release>' ? ` (helm -n ${namespace} list names the release)` : '')
  );
}

export function judgeWebhookConfiguration(
  config: Config,
  expected: ExpectedWebhook,
  fact: Outcome<WebhookConfiguration | null>,
): CheckResult {
  const label = `${expected.kind} ${config.webhookName}`;
  if (!fact.ok) {
    const rule = `get on ${expected.kind.toLowerCase()}s named ${config.webhookName}`;
    return unreadable(fact.error, label, rule, undefined, CHECK_API);
  }
  if (fact.value === null) {
    const effect =
      expected.kind === 'MutatingWebhookConfiguration'
        ? 'Profiles are stored without a role or plugin'
        : 'nothing stops a Profile from naming a role that is not its own';
    return fail(
      `${label} is missing: ${effect}`,
      `${helmHint(config)}; the name doctor looks for is --webhook-name / WEBHOOK_NAME`,
    );
  }
  const webhook = ourWebhook(fact.value, expected);
  if (!webhook) {
    return fail(
      `${label} has no webhook named ${expected.webhookName} (it has: ${(fact.value.webhooks ?? []).map((w) => w.name).join(', ') || 'none'})`,
      helmHint(config, fact.value),
    );
  }
  const problems = webhookProblems(config, expected, webhook);
  if (problems.length > 0) {
    return fail(`${label}: ${problems.join('; ')}`, helmHint(config, fact.value));
  }
  const { service, url } = webhook.clientConfig;
  const target = service
    ? `Service ${service.namespace}/${service.name}:${service.port ?? 443}${service.path ?? ''}`
    : url!;
  const n = expected.matchConditions.length;
  const conditions = n > 0 ? ` and its ${n} matchCondition${n === 1 ? '' : 's'}` : '';
  return ok(
    `${label} calls ${target}, sideEffects NoneOnDryRun, with the chart's rules${conditions}`,
  );
}

function webhookProblems(
  config: Config,
  expected: ExpectedWebhook,
  webhook: V1ValidatingWebhook,
): string[] {
  const problems: string[] = [];
  const { service, url } = webhook.clientConfig;
  if (service) {
    if (service.name !== config.webhookName) {
      problems.push(
        `it calls Service ${service.namespace}/${service.name}, not ${config.webhookName}`,
      );
    }
    if (!config.podNamespace) {
      problems.push(
        '--pod-namespace / POD_NAMESPACE is not set, so its Service namespace cannot be checked',
      );
    } else if (service.namespace !== config.podNamespace) {
      problems.push(
        `it calls a Service in namespace ${service.namespace}, not ${config.podNamespace}`,
      );
    }
    if ((service.path ?? '/') !== expected.path) {
      problems.push(`its path is ${service.path ?? '/'}, not ${expected.path}`);
    }
  } else if (url) {
    const parsed = URL.parse(url);
    if (!parsed) problems.push(`its URL ${url} is not a URL`);
    else if (parsed.pathname !== expected.path) {
      problems.push(`its URL path is ${parsed.pathname}, not ${expected.path}`);
    }
  } else {
    problems.push('its clientConfig names neither a Service nor a URL');
  }
  if (webhook.sideEffects !== 'NoneOnDryRun') {
    problems.push(
      `sideEffects is ${webhook.sideEffects ?? 'unset'}, not NoneOnDryRun (the webhook writes to IAM, except on dry run)`,
    );
  }
  if (!webhook.admissionReviewVersions.includes('v1')) {
    problems.push(`admissionReviewVersions ${webhook.admissionReviewVersions.join(', ')} lacks v1`);
  }
  if (webhook.failurePolicy !== expected.failurePolicy) {
    problems.push(
      `failurePolicy is ${webhook.failurePolicy ?? 'unset'}, not ${expected.failurePolicy}: ` +
        (expected.kind === 'ValidatingWebhookConfiguration'
          ? 'validation must fail closed'
          : 'a Profile would be stored without its role when the webhook cannot be reached'),
    );
  }
  if (webhook.matchPolicy !== expected.matchPolicy) {
    problems.push(
      `matchPolicy is ${webhook.matchPolicy ?? 'unset'}, not ${expected.matchPolicy}: ` +
        'writes through another version of kubeflow.org (v1beta1) would skip the webhook',
    );
  }
  const timeout = webhook.timeoutSeconds;
  if (timeout === undefined || timeout < 1 || timeout > LONGEST_TIMEOUT_SECONDS) {
    problems.push(
      `timeoutSeconds is ${timeout ?? 'unset'}: the admission budget is 1 to ${LONGEST_TIMEOUT_SECONDS} seconds`,
    );
  } else if (timeout >= config.requestTimeoutSeconds) {
    problems.push(
      `timeoutSeconds ${timeout} is not below the webhook's --request-timeout-seconds ${config.requestTimeoutSeconds}: ` +
        'the webhook would drop requests the API server still waits for',
    );
  }
  for (const which of ['objectSelector', 'namespaceSelector'] as const) {
    if (!same(webhook[which] ?? {}, expected[which])) {
      problems.push(
        `its ${which} ${JSON.stringify(webhook[which] ?? {})} is not the chart's ` +
          `${JSON.stringify(expected[which])}: it may skip Profiles`,
      );
    }
  }
  const rules = webhook.rules ?? [];
  if (!same(rules, expected.rules)) {
    problems.push(
      `its rules ${JSON.stringify(rules.map(completeRule))} are not the chart's ${JSON.stringify(expected.rules)}`,
    );
  }
  const conditions = webhook.matchConditions ?? [];
  if (!same(conditions, expected.matchConditions)) {
    const names = (list: { name: string }[]) => list.map((c) => c.name).join(', ') || 'none';
    problems.push(
      `its matchConditions (${names(conditions)}) are not the chart's (${names(expected.matchConditions)})`,
    );
  }
  return problems;
}

/** A rule with every list present, in the order the chart writes them. */
const completeRule = (rule: V1RuleWithOperations) => ({
  apiGroups: rule.apiGroups ?? [],
  apiVersions: rule.apiVersions ?? [],
  resources: rule.resources ?? [],
  operations: rule.operations ?? [],
  scope: rule.scope,
});

/**
 * Equal as the API server reads them: up to the order of lists and keys, around blanks in
 * strings (CEL expressions from YAML blocks), and with absent or empty parts alike.
 */
function same(actual: unknown, expected: unknown): boolean {
  return JSON.stringify(canonical(actual)) === JSON.stringify(canonical(expected));
}

function canonical(value: unknown): unknown {
  if (typeof value === 'string') return value.trim();
  if (Array.isArray(value)) {
    return value.map((v) => JSON.stringify(canonical(v))).sort();
  }
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value)
    .map(([key, v]) => [key, canonical(v)] as const)
    .filter(([, v]) => v !== undefined && !['[]', '{}'].includes(JSON.stringify(v)));
  return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
}

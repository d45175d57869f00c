import type { V1LabelSelector } from '@kubernetes/client-node';
import type { Config } from '../config/schema.js';
import { fail, ok, warn, type CheckResult } from './check.js';
import type {
  EndpointSliceFact,
  ErrorFact,
  LeaseFact,
  Outcome,
  ProfileApiFact,
  RegisteredWebhook,
  ServiceFact,
  WebhookConfigurationFact,
  WebhookRule,
} from './facts.js';
import { LONGEST_TIMEOUT_SECONDS, type ExpectedWebhook } from './registration.js';

const CHECK_API = 'retry with --wait; check the API server (k8s.api)';
const NOT_READ: ErrorFact = { name: 'Error', message: 'not read' };

/**
 * A read that failed. RBAC refusing it is a warning: the check could not be made, which is not
 * the same as a fault. Anything else fails with `failed` and the error.
 */
function unreadable(
  error: ErrorFact,
  what: string,
  rule: string,
  failed = `cannot read ${what}`,
  hint = 'retry with --wait',
): CheckResult {
  if (error.status !== 403) return fail(`${failed} (${error.message})`, hint);
  return warn(
    `cannot check ${what}: ${error.message}`,
    `run doctor with a kubeconfig that may read it (KUBECONFIG=... profile-irsa-webhook doctor), or grant ${rule}`,
  );
}

export function judgeApiServer(server: string, version: Outcome<string>): CheckResult {
  if (version.ok) return ok(`API server ${server} is reachable (Kubernetes ${version.value})`);
  const { error } = version;
  if (error.status === 401) {
    return fail(
      `the API server ${server} refused the credentials (401: ${error.message})`,
      'in a pod: the ServiceAccount token must be mounted (automountServiceAccountToken); elsewhere: check KUBECONFIG and `kubectl auth whoami`',
    );
  }
  return fail(
    `cannot reach the API server ${server} (${error.message})`,
    'in a pod the in-cluster configuration is used; elsewhere KUBECONFIG or ~/.kube/config: check `kubectl cluster-info` with the same settings',
  );
}

export function judgeProfileCrd(api: Outcome<ProfileApiFact>): CheckResult {
  if (!api.ok) {
    return fail(
      `cannot read the kubeflow.org API group from the API server (${api.error.message})`,
      'check `kubectl api-resources --api-group=kubeflow.org` with the same settings',
    );
  }
  const { servedVersions, v1Profiles } = api.value;
  if (v1Profiles) {
    const others = servedVersions.filter((v) => v !== 'v1');
    return ok(
      `the Profile CRD is served as kubeflow.org/v1${others.length ? ` (also ${others.join(', ')})` : ''}`,
    );
  }
  if (servedVersions.length > 0) {
    return fail(
      `kubeflow.org serves ${servedVersions.join(', ')} but no v1 profiles: the webhooks match kubeflow.org/v1 profiles`,
      'install a Kubeflow release whose Profile CRD serves v1 (kubectl get crd profiles.kubeflow.org -o jsonpath="{.spec.versions[*].name}")',
    );
  }
  return fail(
    'the Profile CRD (profiles.kubeflow.org) is not installed: there are no Profiles to give roles to',
    "install Kubeflow's profile controller, which brings the CRD (kubeflow/manifests: apps/profiles/upstream); check with kubectl get crd profiles.kubeflow.org",
  );
}

/** Where both configurations send requests: a Service, or URLs (the chart's `webhook.url`). */
export type WebhookEndpoint =
  | { mode: 'service'; namespace: string; name: string; port: number }
  | { mode: 'url'; urls: string[] };

export function webhookEndpoint(
  config: Config,
  webhooks: RegisteredWebhook[],
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
  configuration: WebhookConfigurationFact,
  expected: ExpectedWebhook,
): RegisteredWebhook | undefined {
  return configuration.webhooks.find((w) => w.name === expected.webhookName);
}

function helmHint(config: Config, configuration?: WebhookConfigurationFact): string {
  const release =
    configuration?.annotations['meta.helm.sh/release-name'] ??
    configuration?.labels['app.kubernetes.io/instance'] ??
    '<release>';
  const namespace =
    configuration?.annotations['meta.helm.sh/release-namespace'] ??
    config.podNamespace ??
    '<namespace>';
  return (
    `re-render it from the chart: helm -n ${namespace} upgrade ${release} charts/profile-irsa-webhook --reuse-values` +
    (release === '<release>' ? ` (helm -n ${namespace} list names the release)` : '')
  );
}

export function judgeWebhookConfiguration(
  config: Config,
  expected: ExpectedWebhook,
  fact: Outcome<WebhookConfigurationFact | null>,
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
      `${label} has no webhook named ${expected.webhookName} (it has: ${fact.value.webhooks.map((w) => w.name).join(', ') || 'none'})`,
      helmHint(config, fact.value),
    );
  }
  const problems = webhookProblems(config, expected, webhook);
  if (problems.length > 0) {
    return fail(`${label}: ${problems.join('; ')}`, helmHint(config, fact.value));
  }
  const target = webhook.clientConfig.service
    ? `Service ${webhook.clientConfig.service.namespace}/${webhook.clientConfig.service.name}:${webhook.clientConfig.service.port ?? 443}${webhook.clientConfig.service.path ?? ''}`
    : webhook.clientConfig.url!;
  const n = expected.matchConditions.length;
  const conditions = n > 0 ? ` and its ${n} matchCondition${n === 1 ? '' : 's'}` : '';
  return ok(
    `${label} calls ${target}, sideEffects NoneOnDryRun, with the chart's rules${conditions}`,
  );
}

function webhookProblems(
  config: Config,
  expected: ExpectedWebhook,
  webhook: RegisteredWebhook,
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
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      problems.push(`its URL ${url} is not a URL`);
    }
    if (parsed && parsed.pathname !== expected.path) {
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
  } else if (timeout * 1000 >= config.requestTimeoutSeconds * 1000) {
    problems.push(
      `timeoutSeconds ${timeout} is not below the webhook's --request-timeout-seconds ${config.requestTimeoutSeconds}: ` +
        'the webhook would drop requests the API server still waits for',
    );
  }
  for (const which of ['objectSelector', 'namespaceSelector'] as const) {
    if (!sameSelector(webhook[which], expected[which])) {
      problems.push(
        `its ${which} ${JSON.stringify(webhook[which] ?? {})} is not the chart's ` +
          `${JSON.stringify(expected[which])}: it may skip Profiles`,
      );
    }
  }
  if (!sameRules(webhook.rules, expected.rules)) {
    problems.push(
      `its rules ${JSON.stringify(webhook.rules)} are not the chart's ${JSON.stringify(expected.rules)}`,
    );
  }
  if (!sameConditions(webhook.matchConditions, expected.matchConditions)) {
    const names = (list: { name: string }[]) => list.map((c) => c.name).join(', ') || 'none';
    problems.push(
      `its matchConditions (${names(webhook.matchConditions)}) are not the chart's (${names(expected.matchConditions)})`,
    );
  }
  return problems;
}

const sorted = (list: string[]) => [...list].sort();

/** Equal selectors, up to order; absent parts are empty, as the API server reads them. */
function sameSelector(actual: V1LabelSelector | undefined, expected: V1LabelSelector): boolean {
  const key = (selector: V1LabelSelector | undefined) =>
    JSON.stringify({
      labels: Object.entries(selector?.matchLabels ?? {}).sort(),
      expressions: sorted(
        (selector?.matchExpressions ?? []).map((e) =>
          JSON.stringify([e.key, e.operator, sorted(e.values ?? [])]),
        ),
      ),
    });
  return key(actual) === key(expected);
}

function normalRule(rule: WebhookRule) {
  return {
    apiGroups: sorted(rule.apiGroups),
    apiVersions: sorted(rule.apiVersions),
    resources: sorted(rule.resources),
    operations: sorted(rule.operations),
    scope: rule.scope ?? '*',
  };
}

function sameRules(actual: WebhookRule[], expected: WebhookRule[]): boolean {
  const key = (rules: WebhookRule[]) => sorted(rules.map((r) => JSON.stringify(normalRule(r))));
  return JSON.stringify(key(actual)) === JSON.stringify(key(expected));
}

function sameConditions(
  actual: { name: string; expression: string }[],
  expected: { name: string; expression: string }[],
): boolean {
  const key = (list: { name: string; expression: string }[]) =>
    JSON.stringify(
      [...list]
        .map((c) => [c.name, c.expression.trim()])
        .sort((a, b) => a[0]!.localeCompare(b[0]!)),
    );
  return key(actual) === key(expected);
}

/** The ready endpoints serving the Service port `port`, as address:port, the way the API server picks them. */
export function readyEndpoints(
  service: ServiceFact,
  slices: EndpointSliceFact[],
  port: number,
): { ready: { address: string; port: number }[]; notReady: string[] } | { problem: string } {
  const servicePort = service.ports.find((p) => p.port === port);
  if (!servicePort) {
    return {
      problem: `Service ${service.namespace}/${service.name} has no port ${port} (it has ${service.ports.map((p) => p.port).join(', ') || 'none'})`,
    };
  }
  const ready: { address: string; port: number }[] = [];
  const notReady: string[] = [];
  for (const slice of slices) {
    const slicePort = slice.ports.find((p) => (p.name ?? '') === (servicePort.name ?? ''));
    if (slicePort?.port === undefined) continue;
    for (const endpoint of slice.endpoints) {
      if (endpoint.ready) ready.push({ address: endpoint.address, port: slicePort.port });
      else notReady.push(endpoint.pod ?? endpoint.address);
    }
  }
  return { ready, notReady };
}

export function judgeServiceEndpoints(
  endpoint: WebhookEndpoint | { problem: string },
  service: Outcome<ServiceFact | null> | undefined,
  slices: Outcome<EndpointSliceFact[]> | undefined,
): CheckResult {
  if ('problem' in endpoint) {
    return fail(
      endpoint.problem,
      "set POD_NAMESPACE to the webhook's namespace (the chart sets it from the pod)",
    );
  }
  if (endpoint.mode === 'url') {
    return ok(
      `no Service: the webhook configurations call ${endpoint.urls.join(' and ')} directly (webhook.url)`,
    );
  }
  const ref = `${endpoint.namespace}/${endpoint.name}`;
  if (!service?.ok) {
    const rule = `get on services in ${endpoint.namespace}`;
    return unreadable(service?.error ?? NOT_READ, `Service ${ref}`, rule, undefined, CHECK_API);
  }
  if (service.value === null) {
    return fail(
      `Service ${ref}, which the webhook configurations call, is missing: every Profile CREATE and UPDATE is refused`,
      `re-render it from the chart: helm -n ${endpoint.namespace} upgrade <release> charts/profile-irsa-webhook --reuse-values (helm -n ${endpoint.namespace} list names the release)`,
    );
  }
  if (!slices?.ok) {
    return unreadable(
      slices?.error ?? NOT_READ,
      `the endpoints of Service ${ref}`,
      `list on endpointslices.discovery.k8s.io in ${endpoint.namespace}`,
      `cannot list the EndpointSlices of Service ${ref}`,
    );
  }
  const found = readyEndpoints(service.value, slices.value, endpoint.port);
  if ('problem' in found) {
    return fail(
      found.problem,
      `the configurations' port must be the Service's https port; re-render both from the chart (helm upgrade)`,
    );
  }
  const selector = Object.entries(service.value.selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  if (found.ready.length === 0) {
    const waiting = found.notReady.length ? ` (not ready: ${found.notReady.join(', ')})` : '';
    return fail(
      `Service ${ref} has no ready endpoints${waiting}: the API server cannot call the webhook, so every Profile CREATE and UPDATE is refused`,
      `see why the webhook pods are not ready: kubectl -n ${endpoint.namespace} get pods -l ${selector || '<selector>'}; ` +
        `kubectl -n ${endpoint.namespace} describe pods -l ${selector || '<selector>'}; kubectl -n ${endpoint.namespace} logs -l ${selector || '<selector>'}`,
    );
  }
  const list = found.ready.map((e) => `${e.address}:${e.port}`).join(', ');
  const waiting = found.notReady.length ? `; ${found.notReady.length} not ready` : '';
  return ok(
    `Service ${ref} has ${found.ready.length} ready endpoint${found.ready.length === 1 ? '' : 's'} (${list})${waiting}`,
  );
}

/** How much older than its duration a renewal may look before the holder counts as gone (clock skew). */
const LEASE_SKEW_MS = 5000;

export function judgeLease(
  config: Config,
  lease: Outcome<LeaseFact | null> | undefined,
  now: number,
): CheckResult {
  if (!config.reconcile)
    return ok('the reconciler is off (--reconcile=false): no leader election to check');
  if (!config.podNamespace) {
    return fail(
      "cannot find the reconciler's Lease: --pod-namespace / POD_NAMESPACE is not set",
      "set POD_NAMESPACE to the webhook's namespace (the chart sets it from the pod)",
    );
  }
  const ref = `${config.podNamespace}/${config.leaderElectionLease}`;
  const logs = `kubectl -n ${config.podNamespace} logs deploy/${config.webhookName} | grep -i -e lease -e leader`;
  if (!lease?.ok) {
    const rule = `get on leases.coordination.k8s.io in ${config.podNamespace}`;
    return unreadable(lease?.error ?? NOT_READ, `Lease ${ref}`, rule);
  }
  if (lease.value === null) {
    return fail(
      `no Lease ${ref}: no webhook replica has become the reconciler's leader`,
      `${logs}; the webhook's Role must allow get, create and update on leases in ${config.podNamespace}`,
    );
  }
  const { holderIdentity, renewTime, leaseDurationSeconds } = lease.value;
  if (!holderIdentity) {
    return fail(
      `Lease ${ref} has no holder: the last leader released it and no replica took over`,
      logs,
    );
  }
  if (!renewTime || leaseDurationSeconds === undefined) {
    return fail(`Lease ${ref} held by ${holderIdentity} has no renewTime or duration`, logs);
  }
  const age = now - renewTime.getTime();
  if (age > leaseDurationSeconds * 1000 + LEASE_SKEW_MS) {
    return fail(
      `Lease ${ref} held by ${holderIdentity} was last renewed ${Math.round(age / 1000)}s ago ` +
        `(duration ${leaseDurationSeconds}s): the leader is gone and no replica took over`,
      `${logs}; is pod ${holderIdentity} still running? kubectl -n ${config.podNamespace} get pods`,
    );
  }
  return ok(
    `Lease ${ref} is held by ${holderIdentity}, renewed ${Math.max(0, Math.round(age / 1000))}s ago`,
  );
}

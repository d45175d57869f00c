import type { V1LabelSelector, V1RuleWithOperations } from '@kubernetes/client-node';
import type { WebhookKind } from './facts.js';

/**
 * How the chart registers the webhook (templates/*webhookconfiguration.yaml and _helpers.tpl):
 * what doctor expects to find in the cluster. The chart is the source; the image carries no
 * chart, so this is its runtime copy. test/e2e/doctor-healthy.test.ts renders the chart (for a
 * current and for a 1.27 API server) and fails when the two differ, and its healthy install is
 * registered from the chart and must pass.
 */
export interface ExpectedWebhook {
  kind: WebhookKind;
  /** The webhook's own name inside the configuration. */
  webhookName: string;
  path: string;
  rules: V1RuleWithOperations[];
  matchConditions: { name: string; expression: string }[];
  /** `Equivalent`: a write through another version of the group (v1beta1) is still sent. */
  matchPolicy: string;
  /** Both fail closed: no Profile is stored without its role or unchecked. */
  failurePolicy: string;
  /** The chart's selectors; `{}` selects everything. */
  objectSelector: V1LabelSelector;
  namespaceSelector: V1LabelSelector;
}

const RULES: V1RuleWithOperations[] = [
  {
    apiGroups: ['kubeflow.org'],
    apiVersions: ['v1'],
    resources: ['profiles'],
    operations: ['CREATE', 'UPDATE'],
    scope: 'Cluster',
  },
];

/** _helpers.tpl "profile-irsa-webhook.matchConditions", as the API server stores them. */
const CREATE_OR_PLUGINS_CHANGE = {
  name: 'create-or-plugins-change',
  expression:
    "request.operation == 'CREATE' || " +
    '(has(object.spec) && has(object.spec.plugins) ? object.spec.plugins : []) != ' +
    '(has(oldObject.spec) && has(oldObject.spec.plugins) ? oldObject.spec.plugins : [])',
};
const NOT_BEING_DELETED = {
  name: 'not-being-deleted',
  expression:
    '!has(object.metadata.deletionTimestamp) && ' +
    '(oldObject == null || !has(oldObject.metadata.deletionTimestamp))',
};

/** The chart's default webhook.mutating.skipLabel. */
const SKIP_MUTATION_LABEL = 'profile-irsa-webhook.kubeflow.org/skip-mutation';

/** The API server waits at most this long for a webhook (and refuses more). */
export const LONGEST_TIMEOUT_SECONDS = 30;

/** The chart renders matchConditions for API servers from this minor version on. */
const MATCH_CONDITIONS_SINCE = { major: 1, minor: 28 };

export const EXPECTED_WEBHOOKS: Record<WebhookKind, ExpectedWebhook> = {
  MutatingWebhookConfiguration: {
    kind: 'MutatingWebhookConfiguration',
    webhookName: 'mutate.profile-irsa-webhook.kubeflow.org',
    path: '/mutate',
    rules: RULES,
    matchConditions: [CREATE_OR_PLUGINS_CHANGE, NOT_BEING_DELETED],
    matchPolicy: 'Equivalent',
    failurePolicy: 'Fail',
    // webhook.mutating.skipLabel: the one opt-out, of mutation only.
    objectSelector: {
      matchExpressions: [{ key: SKIP_MUTATION_LABEL, operator: 'NotIn', values: ['true'] }],
    },
    namespaceSelector: {},
  },
  ValidatingWebhookConfiguration: {
    kind: 'ValidatingWebhookConfiguration',
    webhookName: 'validate.profile-irsa-webhook.kubeflow.org',
    path: '/validate',
    rules: RULES,
    matchConditions: [CREATE_OR_PLUGINS_CHANGE],
    matchPolicy: 'Equivalent',
    failurePolicy: 'Fail',
    objectSelector: {},
    namespaceSelector: {},
  },
};

/**
 * What the chart renders for an API server of `gitVersion` (e.g. `v1.35.4`, `v1.27.16-eks-2d5f260`):
 * no matchConditions before 1.28. An unreadable version is taken as a current one.
 */
export function expectedFor(kind: WebhookKind, gitVersion: string | undefined): ExpectedWebhook {
  const expected = EXPECTED_WEBHOOKS[kind];
  const match = /^v?(\d+)\.(\d+)/.exec(gitVersion ?? '');
  const old =
    match !== null &&
    (Number(match[1]) < MATCH_CONDITIONS_SINCE.major ||
      (Number(match[1]) === MATCH_CONDITIONS_SINCE.major &&
        Number(match[2]) < MATCH_CONDITIONS_SINCE.minor));
  return old ? { ...expected, matchConditions: [] } : expected;
}

/** The DNS name the API server checks the serving certificate for, in Service mode. */
export function serviceHostname(name: string, namespace: string): string {
  return `${name}.${namespace}.svc`;
}

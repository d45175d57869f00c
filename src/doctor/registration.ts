import type { WebhookKind, WebhookRule } from './facts.js';

/**
 * How the chart registers the webhook (templates/*webhookconfiguration.yaml and _helpers.tpl):
 * what doctor expects to find in the cluster. The chart is the source; the image carries no
 * chart, so this is its runtime copy, and test/e2e/doctor.test.ts renders the chart and fails
 * when the two differ.
 */
export interface ExpectedWebhook {
  kind: WebhookKind;
  /** The webhook's own name inside the configuration. */
  webhookName: string;
  path: string;
  rules: WebhookRule[];
  matchConditions: { name: string; expression: string }[];
}

const RULES: WebhookRule[] = [
  {
    apiGroups: ['kubeflow.org'],
    apiVersions: ['v1'],
    resources: ['profiles'],
    operations: ['CREATE', 'UPDATE'],
    scope: 'Cluster',
  },
];

export const EXPECTED_WEBHOOKS: Record<WebhookKind, ExpectedWebhook> = {
  MutatingWebhookConfiguration: {
    kind: 'MutatingWebhookConfiguration',
    webhookName: 'mutate.profile-irsa-webhook.kubeflow.org',
    path: '/mutate',
    rules: RULES,
    matchConditions: [],
  },
  ValidatingWebhookConfiguration: {
    kind: 'ValidatingWebhookConfiguration',
    webhookName: 'validate.profile-irsa-webhook.kubeflow.org',
    path: '/validate',
    rules: RULES,
    matchConditions: [],
  },
};

/** The DNS name the API server checks the serving certificate for, in Service mode. */
export function serviceHostname(name: string, namespace: string): string {
  return `${name}.${namespace}.svc`;
}

import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { createObjects, waitUntilMutating, type Profile } from '../dev/cluster.js';
import {
  BUILD_HINT,
  isControlPlaneBuilt,
  installProfileCrd,
  startControlPlane,
} from '../dev/controlplane.js';
import { isHelmInstalled, renderWebhookConfigurations, type K8sObject } from '../dev/helm.js';
import { median } from './stats.js';

/**
 * Phase 5: Profile writes through a real kube-apiserver (the repo's local control plane), with and
 * without the webhook in the admission chain. The webhook is registered with the chart's own
 * configurations, limited to Profiles carrying a bench label, so requests with and without the
 * webhook alternate one by one in a single run.
 */
export type ApiServerPhaseResult =
  | { skipped: true; reason: string }
  | {
      skipped: false;
      version: string;
      profiles: number;
      operations: ApiServerOperation[];
    };

interface ApiServerOperation {
  /** CREATE provisions a new role (moto) when the webhook is on; UPDATE is the cached path. */
  operation: 'CREATE' | 'UPDATE';
  withoutMs: number;
  withMs: number;
  ratio: number;
}

export interface ApiServerPhaseOptions {
  quick: boolean;
  /** `https://127.0.0.1:PORT` of the running webhook and the CA that signed its certificate. */
  admissionUrl: string;
  caCert: string;
  progress(message: string): void;
}

const GROUP = 'kubeflow.org';
const VERSION = 'v1';
const PLURAL = 'profiles';
export const SELECTOR_LABEL = 'bench.profile-irsa-webhook/webhook';
/** Helm release name: the configurations are `bench-profile-irsa-webhook`. */
const RELEASE = 'bench';

export async function apiServerPhase(
  options: ApiServerPhaseOptions,
): Promise<ApiServerPhaseResult> {
  if (!isControlPlaneBuilt()) {
    return { skipped: true, reason: `control plane not built (${BUILD_HINT})` };
  }
  if (!isHelmInstalled()) {
    return {
      skipped: true,
      reason: 'helm not installed (install it with `bash scripts/install-helm.sh`)',
    };
  }
  options.progress('API server: starting the local control plane');
  const controlPlane = await startControlPlane();
  try {
    const kc = controlPlane.kubeConfig;
    await installProfileCrd(kc);
    await registerBenchWebhook(kc, options.admissionUrl, options.caCert);
    const objects = kc.makeApiClient(CustomObjectsApi);
    await waitUntilMutating(kc, 60_000, profile('bench-api-probe', 'on'));

    const count = options.quick ? 3 : 30;
    const created: Record<'on' | 'off', number[]> = { on: [], off: [] };
    const updated: Record<'on' | 'off', number[]> = { on: [], off: [] };
    for (let i = 0; i < count; i++) {
      // Alternate which side goes first, so drift in the machine's load hits both alike.
      const sides = i % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
      for (const side of sides) {
        const name = `bench-api-${side}-${i}`;
        let started = performance.now();
        const object = (await objects.createClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          body: profile(name, side),
        })) as Profile;
        created[side].push(performance.now() - started);
        object.metadata = {
          ...object.metadata,
          labels: { ...object.metadata?.labels, touched: 'yes' },
        };
        started = performance.now();
        await objects.replaceClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          name,
          body: object,
        });
        updated[side].push(performance.now() - started);
      }
    }
    const operation = (op: 'CREATE' | 'UPDATE', times: Record<'on' | 'off', number[]>) => {
      const withoutMs = median(times.off);
      const withMs = median(times.on);
      return { operation: op, withoutMs, withMs, ratio: withMs / withoutMs };
    };
    return {
      skipped: false,
      version: controlPlane.version,
      profiles: count,
      operations: [operation('CREATE', created), operation('UPDATE', updated)],
    };
  } finally {
    await controlPlane.stop();
  }
}

function profile(name: string, webhook: 'on' | 'off'): Profile {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Profile',
    metadata: { name, labels: { [SELECTOR_LABEL]: webhook } },
    spec: { owner: { kind: 'User', name: `${name}@example.com` } },
  };
}

/**
 * The chart's two webhook configurations for the local webhook, each limited to Profiles labelled
 * `SELECTOR_LABEL: on`. The chart has no value for an objectSelector (the mutating webhook's is
 * fixed to its skip-mutation label, `webhook.mutating.skipLabel`, which opts out of mutation only;
 * the validating one has none: there is no opt-out of validation in production), so no helm
 * argument can do this: the label requirement is added to the rendered objects here, next to the
 * chart's own selector, before they are created. Everything else (rules, failure policies, timeouts, reinvocation) is
 * what users install.
 */
export async function registerBenchWebhook(kc: KubeConfig, admissionUrl: string, caCert: string) {
  const { mutating, validating } = await renderWebhookConfigurations({
    url: admissionUrl,
    ca: caCert,
    release: RELEASE,
  });
  for (const configuration of [mutating, validating]) {
    for (const webhook of webhooksOf(configuration)) {
      webhook.objectSelector = {
        ...webhook.objectSelector,
        matchLabels: { ...webhook.objectSelector?.matchLabels, [SELECTOR_LABEL]: 'on' },
      };
    }
  }
  await createObjects(kc, [mutating, validating]);
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: unknown[];
}

function webhooksOf(configuration: K8sObject): { objectSelector?: LabelSelector }[] {
  const webhooks = configuration.webhooks;
  if (!Array.isArray(webhooks) || webhooks.length === 0) {
    throw new Error(`${configuration.kind} ${configuration.metadata.name} has no webhooks`);
  }
  return webhooks as { objectSelector?: LabelSelector }[];
}

// Talking to a (local) API server about Profiles and this webhook: register a locally running
// webhook through the chart's own configurations, and read and write Profiles. Used by
// `npm run dev`, `npm run bench` and the tests (test/helpers/cluster.ts re-exports this module).

import {
  CustomObjectsApi,
  KubernetesObjectApi,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { renderWebhookConfigurations, type K8sObject } from './helm.js';
import { plainProfile, type ProfileSpec } from './sample.js';

export { plainProfile };

export const PROFILES = { group: 'kubeflow.org', version: 'v1', plural: 'profiles' } as const;

export interface Profile extends KubernetesObject {
  spec?: ProfileSpec;
}

export interface RegisterWebhookOptions {
  /** Helm release name; the configurations are named after it. Default `t`. */
  release?: string;
  /** More helm arguments (chart values), e.g. `['--set', 'webhook.mutating.timeoutSeconds=15']`. */
  extraArgs?: readonly string[];
}

/**
 * Registers a locally running webhook (`url` like `https://127.0.0.1:9443`, `caPem` the CA that
 * signed its serving certificate) through the chart's own MutatingWebhookConfiguration and
 * ValidatingWebhookConfiguration.
 */
export async function registerWebhook(
  kc: KubeConfig,
  url: string,
  caPem: string,
  options: RegisterWebhookOptions = {},
): Promise<void> {
  const { mutating, validating } = await renderWebhookConfigurations({
    url,
    ca: caPem,
    ...options,
  });
  await createObjects(kc, [mutating, validating]);
}

/** Creates rendered objects as they are, in order (the generic client, like `kubectl create`). */
export async function createObjects(kc: KubeConfig, objects: readonly K8sObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const object of objects) {
    await api.create(object);
  }
}

export function profiles(kc: KubeConfig) {
  const api = kc.makeApiClient(CustomObjectsApi);
  return {
    create: (body: Profile, options: { dryRun?: boolean; version?: string } = {}) =>
      api.createClusterCustomObject({
        ...PROFILES,
        version: options.version ?? PROFILES.version,
        body,
        ...(options.dryRun ? { dryRun: 'All' } : {}),
      }) as Promise<Profile>,
    get: (name: string) => api.getClusterCustomObject({ ...PROFILES, name }) as Promise<Profile>,
    replace: (body: Profile) =>
      api.replaceClusterCustomObject({
        ...PROFILES,
        name: body.metadata!.name!,
        body,
      }) as Promise<Profile>,
    delete: (name: string) => api.deleteClusterCustomObject({ ...PROFILES, name }),
    list: async () =>
      ((await api.listClusterCustomObject({ ...PROFILES })) as { items: Profile[] }).items,
  };
}

/** The API server message of a refused request (client-node puts the Status in `body`). */
export function apiErrorMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  try {
    const status =
      typeof body === 'string'
        ? (JSON.parse(body) as { message?: string })
        : (body as { message?: string });
    return status?.message ?? String(error);
  } catch {
    return String(body ?? error);
  }
}

/**
 * Webhook configurations take effect a moment after they are created; wait until one answers:
 * until a dry-run create of `probe` comes back with the plugin patched in. Dry run: nothing is
 * stored and the webhook writes nothing to IAM.
 */
export async function waitUntilMutating(
  kc: KubeConfig,
  timeoutMs = 30_000,
  probe: Profile = plainProfile('webhook-probe'),
): Promise<void> {
  const api = profiles(kc);
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const created = await api.create(probe, { dryRun: true });
      if (created.spec?.plugins?.some((p) => p.kind === 'AwsIamForServiceAccount')) return;
    } catch (error) {
      last = error;
    }
    await sleep(200);
  }
  throw new Error(`the webhook was not called within ${timeoutMs} ms: ${apiErrorMessage(last)}`);
}

import {
  AdmissionregistrationV1Api,
  ApisApi,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  VersionApi,
  type ConfigurationOptions,
  type KubeConfig,
  type V1MutatingWebhook,
  type V1ValidatingWebhook,
} from '@kubernetes/client-node';
import { discoverOidcIssuer } from '../discovery/oidc-issuer.js';
import { withSignal } from '../k8s/api-client.js';
import { apiFailure, isNotFound } from '../k8s/errors.js';
import type {
  EndpointSliceFact,
  ErrorFact,
  LeaseFact,
  Outcome,
  ProfileApiFact,
  RegisteredWebhook,
  ServiceFact,
  WebhookConfigurationFact,
  WebhookKind,
} from './facts.js';

const CALL_TIMEOUT_MS = 10_000;
const GROUP = 'kubeflow.org';

/** The API server's Status reason and message for a refused request, else the transport's error. */
function kubernetesError(error: unknown): ErrorFact {
  const { reason, message, status, code } = apiFailure(error);
  return { name: reason, message, status, code };
}

/** Every request gets a deadline: an API server that accepts and never answers must not hang doctor. */
function withTimeout(): ConfigurationOptions | undefined {
  return withSignal(AbortSignal.timeout(CALL_TIMEOUT_MS));
}

async function attempt<T>(read: () => Promise<T>, notFound?: T): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (error) {
    if (notFound !== undefined && isNotFound(error)) {
      return { ok: true, value: notFound };
    }
    return { ok: false, error: kubernetesError(error) };
  }
}

function toWebhook(webhook: V1MutatingWebhook | V1ValidatingWebhook): RegisteredWebhook {
  return {
    ...webhook,
    // Listed in the order doctor prints them.
    rules: (webhook.rules ?? []).map((rule) => ({
      apiGroups: rule.apiGroups ?? [],
      apiVersions: rule.apiVersions ?? [],
      resources: rule.resources ?? [],
      operations: rule.operations ?? [],
      scope: rule.scope,
    })),
    matchConditions: webhook.matchConditions ?? [],
  };
}

/** Reads (and the one dry-run create) doctor makes against the API server. */
export function createKubernetesGatherers(kc: KubeConfig) {
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  return {
    /** The API server URL from the Kubernetes configuration. */
    server: kc.getCurrentCluster()?.server ?? '(no cluster in the Kubernetes configuration)',
    serverVersion: () =>
      attempt(async () => (await kc.makeApiClient(VersionApi).getCode(withTimeout())).gitVersion),
    /** The service-account issuer in the API server's OIDC discovery document. */
    apiIssuer: async (): Promise<Outcome<string>> => {
      try {
        return { ok: true, value: await discoverOidcIssuer(kc, CALL_TIMEOUT_MS) };
      } catch (error) {
        const cause = (error as { cause?: unknown }).cause;
        return {
          ok: false,
          error: { ...kubernetesError(cause ?? error), message: (error as Error).message },
        };
      }
    },
    profileApi: () =>
      attempt<ProfileApiFact>(async () => {
        const groups = await kc.makeApiClient(ApisApi).getAPIVersions(withTimeout());
        const group = groups.groups.find((g) => g.name === GROUP);
        const servedVersions = (group?.versions ?? []).map((v) => v.version);
        let v1Profiles = false;
        if (servedVersions.includes('v1')) {
          const resources = await custom.getAPIResources(
            { group: GROUP, version: 'v1' },
            withTimeout(),
          );
          v1Profiles = resources.resources.some((r) => r.name === 'profiles');
        }
        return { servedVersions, v1Profiles };
      }),
    /** `null`: not found. */
    webhookConfiguration: (kind: WebhookKind, name: string) =>
      attempt<WebhookConfigurationFact | null>(async () => {
        const object =
          kind === 'MutatingWebhookConfiguration'
            ? await admission.readMutatingWebhookConfiguration({ name }, withTimeout())
            : await admission.readValidatingWebhookConfiguration({ name }, withTimeout());
        return {
          kind,
          name,
          labels: object.metadata?.labels ?? {},
          annotations: object.metadata?.annotations ?? {},
          webhooks: (object.webhooks ?? []).map(toWebhook),
        };
      }, null),
    /** `null`: not found. */
    service: (namespace: string, name: string) =>
      attempt<ServiceFact | null>(async () => {
        const service = await core.readNamespacedService({ namespace, name }, withTimeout());
        return {
          namespace,
          name,
          ports: (service.spec?.ports ?? []).map((p) => ({ name: p.name, port: p.port })),
          selector: service.spec?.selector ?? {},
        };
      }, null),
    endpointSlices: (namespace: string, service: string) =>
      attempt<EndpointSliceFact[]>(async () => {
        const list = await discovery.listNamespacedEndpointSlice(
          { namespace, labelSelector: `kubernetes.io/service-name=${service}` },
          withTimeout(),
        );
        return list.items.map((slice) => ({
          name: slice.metadata?.name ?? '',
          ports: (slice.ports ?? []).map((p) => ({ name: p.name, port: p.port })),
          // Only the first address is used, by the API server as by kube-proxy.
          endpoints: (slice.endpoints ?? [])
            .filter((e) => e.addresses.length > 0)
            .map((e) => ({
              address: e.addresses[0]!,
              ready: e.conditions?.ready ?? true,
              pod: e.targetRef?.kind === 'Pod' ? e.targetRef.name : undefined,
            })),
        }));
      }),
    /** `null`: not found. */
    lease: (namespace: string, name: string) =>
      attempt<LeaseFact | null>(async () => {
        const lease = await coordination.readNamespacedLease({ namespace, name }, withTimeout());
        return {
          holderIdentity: lease.spec?.holderIdentity,
          renewTime: lease.spec?.renewTime ? new Date(lease.spec.renewTime) : undefined,
          leaseDurationSeconds: lease.spec?.leaseDurationSeconds,
        };
      }, null),
    /** The object a server-side dry-run CREATE returns. */
    dryRunCreate: (profile: object) =>
      attempt<unknown>(() =>
        custom.createClusterCustomObject(
          { group: GROUP, version: 'v1', plural: 'profiles', body: profile, dryRun: 'All' },
          withTimeout(),
        ),
      ),
  };
}

export type KubernetesGatherers = ReturnType<typeof createKubernetesGatherers>;

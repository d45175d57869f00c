import {
  AdmissionregistrationV1Api,
  ApisApi,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  VersionApi,
  type KubeConfig,
} from '@kubernetes/client-node';
import { discoverOidcIssuer } from '../discovery/oidc-issuer.js';
import { withSignal } from '../k8s/api-client.js';
import { apiFailure } from '../k8s/errors.js';
import { reader, type ErrorFact, type ProfileApiFact, type WebhookKind } from './facts.js';

const CALL_TIMEOUT_MS = 10_000;
const GROUP = 'kubeflow.org';

/** The API server's Status reason and message for a refused request, else the transport's error. */
function kubernetesError(error: unknown): ErrorFact {
  const { reason, message, status, code } = apiFailure(error);
  return { name: reason, message, status, code };
}

const attempt = reader(kubernetesError, (error) => error.status === 404);

/** Discovery's own message says which step failed; the API server's error is its cause. */
const discover = reader(
  (error) => ({
    ...kubernetesError((error as { cause?: unknown }).cause ?? error),
    message: (error as Error).message,
  }),
  () => false,
);

/** Every request gets a deadline: an API server that accepts and never answers must not hang doctor. */
const timeout = () => withSignal(AbortSignal.timeout(CALL_TIMEOUT_MS));

/** Reads (and the one dry-run create) doctor makes against the API server; `null`: not found. */
export function createKubernetesGatherers(kc: KubeConfig) {
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const version = kc.makeApiClient(VersionApi);
  const apis = kc.makeApiClient(ApisApi);
  return {
    /** The API server URL from the Kubernetes configuration. */
    server: kc.getCurrentCluster()?.server ?? '(no cluster in the Kubernetes configuration)',
    serverVersion: () => attempt(async () => (await version.getCode(timeout())).gitVersion),
    /** The service-account issuer in the API server's OIDC discovery document. */
    apiIssuer: () => discover(() => discoverOidcIssuer(kc, CALL_TIMEOUT_MS)),
    profileApi: () =>
      attempt<ProfileApiFact>(async () => {
        const groups = await apis.getAPIVersions(timeout());
        const group = groups.groups.find((g) => g.name === GROUP);
        const servedVersions = (group?.versions ?? []).map((v) => v.version);
        const v1 = servedVersions.includes('v1')
          ? await custom.getAPIResources({ group: GROUP, version: 'v1' }, timeout())
          : undefined;
        return { servedVersions, v1Profiles: !!v1?.resources.some((r) => r.name === 'profiles') };
      }),
    webhookConfiguration: (kind: WebhookKind, name: string) =>
      attempt(async () => {
        const read =
          kind === 'MutatingWebhookConfiguration'
            ? admission.readMutatingWebhookConfiguration({ name }, timeout())
            : admission.readValidatingWebhookConfiguration({ name }, timeout());
        return { ...(await read), kind };
      }, null),
    service: (namespace: string, name: string) =>
      attempt(() => core.readNamespacedService({ namespace, name }, timeout()), null),
    endpointSlices: (namespace: string, service: string) =>
      attempt(async () => {
        const labelSelector = `kubernetes.io/service-name=${service}`;
        return (
          await discovery.listNamespacedEndpointSlice({ namespace, labelSelector }, timeout())
        ).items;
      }),
    lease: (namespace: string, name: string) =>
      attempt(async () => {
        return (await coordination.readNamespacedLease({ namespace, name }, timeout())).spec ?? {};
      }, null),
    /** The object a server-side dry-run CREATE returns. */
    dryRunCreate: (profile: object) =>
      attempt<unknown>(() =>
        custom.createClusterCustomObject(
          { group: GROUP, version: 'v1', plural: 'profiles', body: profile, dryRun: 'All' },
          timeout(),
        ),
      ),
  };
}

export type KubernetesGatherers = ReturnType<typeof createKubernetesGatherers>;

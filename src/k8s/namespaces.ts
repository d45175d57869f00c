import type { KubeConfig, V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ObservedNamespace } from '../core/namespace.js';
import type { ApiClientOptions } from './api-client.js';
import { loadKubeConfigIfAny } from './kubeconfig.js';

/** What admission needs to know about one Namespace; one GET, no cache, no watch. */
export interface NamespaceReader {
  read(name: string): Promise<ObservedNamespace>;
}

/** The Namespace could not be read: the webhook's access (401/403) or the API server's health. */
export class NamespaceReadError extends Error {
  override readonly name = 'NamespaceReadError';
  constructor(
    readonly namespace: string,
    readonly status: number | undefined,
    options: { cause: unknown },
  ) {
    super(
      `could not read namespace ${namespace}${status === undefined ? '' : ` (HTTP ${status})`}`,
      options,
    );
  }

  /** The webhook's own RBAC (or credentials) do not let it read namespaces. */
  get forbidden(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

/**
 * Admission answers within its own budget whatever this read does; the timeout ends the request
 * itself, so reads of an API server that stopped answering do not pile up.
 */
const NAMESPACE_READ_TIMEOUT_MS = 10_000;

/** What the namespace-owner rule reads of a Namespace, the same from a GET and from a LIST. */
function observedNamespace(namespace: V1Namespace): ObservedNamespace {
  return { exists: true, owner: namespace.metadata?.annotations?.['owner'] };
}

export async function createNamespaceReader(kubeConfig: KubeConfig): Promise<NamespaceReader> {
  // The Kubernetes client is loaded only when Kubernetes is configured (start-up memory).
  const { CoreV1Api } = await import('@kubernetes/client-node');
  const { makeApiClient } = await import('./api-client.js');
  const { statusOf } = await import('./errors.js');
  const api = makeApiClient(kubeConfig, CoreV1Api, { timeoutMs: NAMESPACE_READ_TIMEOUT_MS });
  return {
    async read(name) {
      try {
        return observedNamespace(await api.readNamespace({ name }));
      } catch (error) {
        const status = statusOf(error);
        if (status === 404) return { exists: false };
        throw new NamespaceReadError(name, status, { cause: error });
      }
    },
  };
}

/**
 * Every Namespace's owner, for a full reconcile pass: one paged LIST, read to its last page,
 * instead of one GET per Profile.
 */
export interface NamespaceLister {
  list(signal?: AbortSignal): Promise<Map<string, ObservedNamespace>>;
}

export async function createNamespaceLister(
  kubeConfig: KubeConfig,
  options: ApiClientOptions = {},
): Promise<NamespaceLister> {
  const { CoreV1Api } = await import('@kubernetes/client-node');
  const { DEFAULT_PAGE_SIZE, makeApiClient, withSignal } = await import('./api-client.js');
  const api = makeApiClient(kubeConfig, CoreV1Api, options);
  const limit = options.pageSize ?? DEFAULT_PAGE_SIZE;
  return {
    async list(signal) {
      const namespaces = new Map<string, ObservedNamespace>();
      let next: string | undefined;
      do {
        const page = await api.listNamespace(
          { limit, ...(next !== undefined ? { _continue: next } : {}) },
          withSignal(signal),
        );
        for (const namespace of page.items) {
          const name = namespace.metadata?.name;
          if (name === undefined) continue;
          namespaces.set(name, observedNamespace(namespace));
        }
        next = page.metadata?._continue || undefined;
      } while (next !== undefined);
      return namespaces;
    },
  };
}

/**
 * The reader `serve` uses, or undefined (logged as a warning) when Kubernetes is not configured,
 * as in `npm run dev` without the local control plane: new Profiles are then not checked against
 * existing namespaces, and everything else works as before.
 */
export async function namespaceReaderFor(logger: Logger): Promise<NamespaceReader | undefined> {
  const kubeConfig = await loadKubeConfigIfAny();
  if (kubeConfig === undefined) {
    logger.warn(
      'no Kubernetes configuration (KUBECONFIG unset, no in-cluster service account, no ~/.kube/config): ' +
        "new Profiles are not checked against existing namespaces' owners",
    );
    return undefined;
  }
  logger.info(
    { server: kubeConfig.getCurrentCluster()?.server },
    "new Profiles are checked against existing namespaces' owners",
  );
  return createNamespaceReader(kubeConfig);
}

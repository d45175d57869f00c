import { existsSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ObservedNamespace } from '../core/namespace.js';

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

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * The Kubernetes access a serving webhook uses: the pod's service account in a cluster, else the
 * file(s) named by KUBECONFIG. Nothing else: a developer's ~/.kube/config is not picked up by a
 * process that was not pointed at it. Undefined when neither is there.
 */
export async function kubeConfigFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
): Promise<KubeConfig | undefined> {
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST) && existsSync(SERVICE_ACCOUNT_TOKEN);
  if (!inCluster && !env.KUBECONFIG) return undefined;
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kubeConfig = new KubeConfig();
  if (inCluster) kubeConfig.loadFromCluster();
  else kubeConfig.loadFromDefault();
  return kubeConfig;
}

export async function createNamespaceReader(kubeConfig: KubeConfig): Promise<NamespaceReader> {
  const { CoreV1Api } = await import('@kubernetes/client-node');
  const api = kubeConfig.makeApiClient(CoreV1Api);
  return {
    async read(name) {
      try {
        const namespace = await api.readNamespace({ name });
        return { exists: true, owner: namespace.metadata?.annotations?.['owner'] };
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 404) return { exists: false };
        throw new NamespaceReadError(name, typeof code === 'number' ? code : undefined, {
          cause: error,
        });
      }
    },
  };
}

/**
 * The reader `serve` uses, or undefined (logged as a warning) when Kubernetes is not configured,
 * as in `npm run dev` without the local control plane: new Profiles are then not checked against
 * existing namespaces, and everything else works as before.
 */
export async function namespaceReaderFor(logger: Logger): Promise<NamespaceReader | undefined> {
  const kubeConfig = await kubeConfigFromEnvironment();
  if (kubeConfig === undefined) {
    logger.warn(
      'no Kubernetes configuration (no in-cluster service account, KUBECONFIG unset): ' +
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

import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Where the Kubernetes configuration comes from, in the order it is looked for. */
type KubeConfigSource = 'KUBECONFIG' | 'in-cluster' | '~/.kube/config';

interface KubeConfigLocation {
  source: KubeConfigSource;
  /** The kubeconfig files (none for in-cluster). */
  files: string[];
}

/** No Kubernetes configuration where any of the sources would have it. */
export class NoKubeConfigError extends Error {
  override readonly name = 'NoKubeConfigError';
  constructor() {
    super(
      'no Kubernetes configuration: KUBECONFIG is unset, this is not a pod with a service ' +
        'account, and there is no ~/.kube/config',
    );
  }
}

/**
 * controller-runtime's rules (config.GetConfig): the files named by KUBECONFIG, else the pod's
 * service account, else ~/.kube/config. In a pod the in-cluster configuration wins over a stray
 * ~/.kube/config in the image. Undefined when none is there.
 */
function locateKubeConfig(
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): KubeConfigLocation | undefined {
  const files = (env.KUBECONFIG ?? '').split(delimiter).filter((file) => file !== '');
  if (files.length > 0) return { source: 'KUBECONFIG', files };
  if (Boolean(env.KUBERNETES_SERVICE_HOST) && existsSync(SERVICE_ACCOUNT_TOKEN)) {
    return { source: 'in-cluster', files: [] };
  }
  const file = join(home, '.kube', 'config');
  if (home !== '' && existsSync(file)) return { source: '~/.kube/config', files: [file] };
  return undefined;
}

/**
 * The one Kubernetes configuration every command uses (serve's admission reads, its reconciler,
 * `reconcile`, `doctor`, issuer discovery). Throws NoKubeConfigError when there is none.
 * client-node is loaded only here: it is a large share of the process's memory.
 */
export async function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): Promise<KubeConfig> {
  const location = locateKubeConfig(env);
  if (location === undefined) throw new NoKubeConfigError();
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kubeConfig = new KubeConfig();
  if (location.source === 'in-cluster') {
    kubeConfig.loadFromCluster();
    return kubeConfig;
  }
  const [first, ...rest] = location.files;
  kubeConfig.loadFromFile(first!);
  for (const file of rest) {
    const next = new KubeConfig();
    next.loadFromFile(file);
    kubeConfig.mergeConfig(next);
  }
  return kubeConfig;
}

/** As loadKubeConfig, but undefined when nothing is configured (optional uses of Kubernetes). */
export async function loadKubeConfigIfAny(
  env: NodeJS.ProcessEnv = process.env,
): Promise<KubeConfig | undefined> {
  return locateKubeConfig(env) === undefined ? undefined : loadKubeConfig(env);
}

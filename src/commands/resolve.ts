import type { KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../config/schema.js';
import { roleSettings } from '../config/settings.js';
import type { RoleSettings } from '../core/settings.js';

/**
 * Fills in the account and issuer where the configuration left them to be discovered. The STS
 * and Kubernetes clients are loaded only then: together they are a third of the process's memory.
 */
export async function resolveRoleSettings(config: Config): Promise<RoleSettings> {
  const accountId =
    config.accountId ??
    (await (await import('../discovery/account-id.js')).discoverAccountId(config.region));
  const oidcIssuer =
    config.oidcIssuer ??
    (await (
      await import('../discovery/oidc-issuer.js')
    ).discoverOidcIssuer(await loadKubeConfig()));
  return roleSettings(config, accountId, oidcIssuer);
}

/** In-cluster configuration in a pod, else KUBECONFIG or ~/.kube/config. */
export async function loadKubeConfig(): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  return kubeConfig;
}

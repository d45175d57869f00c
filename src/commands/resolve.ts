import { KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../config/schema.js';
import { roleSettings } from '../config/settings.js';
import type { RoleSettings } from '../core/settings.js';
import { discoverAccountId } from '../discovery/account-id.js';
import { discoverOidcIssuer } from '../discovery/oidc-issuer.js';

/** Fills in the account and issuer where the configuration left them to be discovered. */
export async function resolveRoleSettings(config: Config): Promise<RoleSettings> {
  const accountId = config.accountId ?? (await discoverAccountId(config.region));
  const oidcIssuer = config.oidcIssuer ?? (await discoverOidcIssuer(loadKubeConfig()));
  return roleSettings(config, accountId, oidcIssuer);
}

/** In-cluster configuration in a pod, else KUBECONFIG or ~/.kube/config. */
export function loadKubeConfig(): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  return kubeConfig;
}

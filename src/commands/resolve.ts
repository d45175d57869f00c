import type { Config } from '../config/schema.js';
import { roleSettings } from '../config/settings.js';
import { oidcProviderTagProblem } from '../core/role-spec.js';
import type { RoleSettings } from '../core/settings.js';
import { DiscoveryError } from '../discovery/errors.js';
import { loadKubeConfig, NoKubeConfigError } from '../k8s/kubeconfig.js';

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
    ).discoverOidcIssuer(await kubeConfigForDiscovery()));
  // The provider is recorded in every role's ownership tag, so it must be a valid tag value.
  const problem = oidcProviderTagProblem(oidcIssuer);
  if (problem !== undefined)
    throw new DiscoveryError(`${problem}; set --oidc-issuer or OIDC_ISSUER`);
  return roleSettings(config, accountId, oidcIssuer);
}

async function kubeConfigForDiscovery() {
  try {
    return await loadKubeConfig();
  } catch (err) {
    if (!(err instanceof NoKubeConfigError)) throw err;
    throw new DiscoveryError(
      `cannot discover the OIDC issuer (${err.message}); set --oidc-issuer or OIDC_ISSUER`,
      { cause: err },
    );
  }
}

import { roleSettings } from '../config/settings.js';
import { deriveRoleSpec, oidcProviderArn } from '../core/role-spec.js';
import type { RoleSettings } from '../core/settings.js';
import type { Check, Need } from './check.js';
import type {
  DoctorFacts,
  RegisteredWebhook,
  WebhookConfigurationFact,
  WebhookKind,
  Outcome,
} from './facts.js';
import {
  judgeAccountMatch,
  judgeBoundary,
  judgeCredentials,
  judgeOidcProvider,
  judgePermissions,
  simulationPrincipal,
} from './judge-aws.js';
import {
  judgeAccount,
  judgeIssuer,
  judgeValid,
  resolvedAccount,
  resolvedIssuer,
} from './judge-configuration.js';
import { CHECK_PROFILE_NAME, checkProfile, judgeDryRun } from './judge-e2e.js';
import {
  judgeApiServer,
  judgeLease,
  judgeProfileCrd,
  judgeServiceEndpoints,
  judgeWebhookConfiguration,
  ourWebhook,
  readyEndpoints,
  webhookEndpoint,
  type WebhookEndpoint,
} from './judge-kubernetes.js';
import {
  caBundlePem,
  judgeServingCertificate,
  tlsTargets,
  type ServingProbe,
} from './judge-tls.js';
import { EXPECTED_WEBHOOKS, expectedFor } from './registration.js';

type DoctorCheck = Check<DoctorFacts>;
type DoctorNeed = Need<DoctorFacts>;

const KINDS: WebhookKind[] = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'];
const EXPECTED = KINDS.map((kind) => EXPECTED_WEBHOOKS[kind]);

/** The account and issuer resolved as `serve` resolves them; undefined while either is unknown. */
async function settingsOf(f: DoctorFacts): Promise<RoleSettings | undefined> {
  const account = resolvedAccount(f.config.accountId, await f.identity());
  const issuer = resolvedIssuer(f.config.oidcIssuer, await f.apiIssuer());
  return account && issuer ? roleSettings(f.config, account, issuer) : undefined;
}

async function configurations(f: DoctorFacts): Promise<(WebhookConfigurationFact | null)[]> {
  const facts = await Promise.all(KINDS.map((kind) => f.webhookConfiguration(kind)));
  return facts.map((fact) => (fact.ok ? fact.value : null));
}

async function endpointOf(f: DoctorFacts): Promise<WebhookEndpoint | { problem: string }> {
  return webhookEndpoint(f.config, await configurations(f), EXPECTED);
}

/**
 * The ready endpoints of the webhook's Service: a list (maybe empty: none ready, or no
 * Service), or undefined when they cannot be read (then doctor connects to the Service's DNS name).
 */
async function serviceEndpoints(
  f: DoctorFacts,
  endpoint: Extract<WebhookEndpoint, { mode: 'service' }>,
): Promise<{ address: string; port: number }[] | undefined> {
  const service = await f.service(endpoint.namespace, endpoint.name);
  if (!service.ok) return undefined;
  if (service.value === null) return [];
  const slices = await f.endpointSlices(endpoint.namespace, endpoint.name);
  if (!slices.ok) return undefined;
  const found = readyEndpoints(service.value, slices.value, endpoint.port);
  return 'problem' in found ? [] : found.ready;
}

/** A fact a need has established: reading it again in the same round gives the same answer. */
function known<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw new Error(outcome.error.message);
  return outcome.value;
}

const API: DoctorNeed = {
  why: 'the API server cannot be reached',
  fixFirst: 'k8s.api',
  holds: async (f) => (await f.serverVersion()).ok,
};
const CRD: DoctorNeed = {
  why: 'kubeflow.org/v1 profiles are not served',
  fixFirst: 'k8s.crd',
  holds: async (f) => {
    const api = await f.profileApi();
    return api.ok && api.value.v1Profiles;
  },
};
const CREDENTIALS: DoctorNeed = {
  why: 'the AWS credentials do not work',
  fixFirst: 'aws.credentials',
  holds: async (f) => (await f.identity()).ok,
};
const SETTINGS: DoctorNeed = {
  why: 'the account or the issuer is unknown',
  fixFirst: 'config.account and config.issuer',
  holds: async (f) => (await settingsOf(f)) !== undefined,
};
const ACCOUNT: DoctorNeed = {
  why: "the configured account is not the credentials' account",
  fixFirst: 'aws.account',
  holds: async (f) => {
    const identity = await f.identity();
    return !f.config.accountId || !identity.ok || identity.value.account === f.config.accountId;
  },
};
/** With no ready endpoint the API server has nothing to call; a dry run would only repeat that. */
const READY_ENDPOINTS: DoctorNeed = {
  why: "the webhook's Service has no ready endpoints",
  fixFirst: 'k8s.service-endpoints',
  holds: async (f) => {
    const endpoint = await endpointOf(f);
    if ('problem' in endpoint || endpoint.mode === 'url') return true;
    const ready = await serviceEndpoints(f, endpoint);
    return ready === undefined || ready.length > 0;
  },
};

export const CHECKS: readonly DoctorCheck[] = [
  { id: 'config.valid', section: 'configuration', run: async (f) => judgeValid(f.config) },
  {
    id: 'config.account',
    section: 'configuration',
    run: async (f) => judgeAccount(f.config.accountId, f.sources.accountId, await f.identity()),
  },
  {
    id: 'config.issuer',
    section: 'configuration',
    run: async (f) => judgeIssuer(f.config, f.sources.oidcIssuer, await f.apiIssuer()),
  },

  { id: 'aws.credentials', section: 'aws', run: async (f) => judgeCredentials(await f.identity()) },
  {
    id: 'aws.account',
    section: 'aws',
    needs: [CREDENTIALS],
    run: async (f) => {
      const identity = known(await f.identity());
      const settings = f.config.accountId === undefined ? await settingsOf(f) : undefined;
      if (!settings) return judgeAccountMatch(f.config.accountId, identity);
      const providerArn = oidcProviderArn(settings);
      return judgeAccountMatch(undefined, identity, {
        providerArn,
        provider: await f.oidcProvider(providerArn),
      });
    },
  },
  {
    id: 'aws.oidc-provider',
    section: 'aws',
    needs: [CREDENTIALS, SETTINGS],
    run: async (f) => {
      const settings = (await settingsOf(f))!;
      const arn = oidcProviderArn(settings);
      return judgeOidcProvider(f.config, settings.oidcIssuer, arn, await f.oidcProvider(arn));
    },
  },
  {
    id: 'aws.permissions',
    section: 'aws',
    needs: [CREDENTIALS, SETTINGS, ACCOUNT],
    run: async (f) => {
      const principal = simulationPrincipal(f.irsaRoleArn, known(await f.identity()));
      if (!('arn' in principal)) return judgePermissions(principal, [], undefined);
      const calls = f.webhookIamCalls((await settingsOf(f))!, principal.arn);
      const actions = [...new Set(calls.map((c) => c.action))];
      return judgePermissions(principal, actions, await f.simulate(principal.arn, calls));
    },
  },
  {
    id: 'aws.permissions-boundary',
    section: 'aws',
    run: async (f) => {
      const boundary = f.config.mode === 'provision' ? f.config.permissionsBoundary : undefined;
      const readable = boundary !== undefined && (await f.identity()).ok;
      return judgeBoundary(f.config, readable ? await f.policyExists(boundary) : undefined);
    },
  },

  {
    id: 'k8s.api',
    section: 'kubernetes',
    run: async (f) => judgeApiServer(f.apiServer, await f.serverVersion()),
  },
  {
    id: 'k8s.crd',
    section: 'kubernetes',
    needs: [API],
    run: async (f) => judgeProfileCrd(await f.profileApi()),
  },
  ...KINDS.map((kind): DoctorCheck => ({
    id: kind === 'MutatingWebhookConfiguration' ? 'k8s.mutating-webhook' : 'k8s.validating-webhook',
    section: 'kubernetes',
    needs: [API],
    run: async (f) =>
      judgeWebhookConfiguration(
        f.config,
        expectedFor(kind, known(await f.serverVersion())),
        await f.webhookConfiguration(kind),
      ),
  })),
  {
    id: 'k8s.service-endpoints',
    section: 'kubernetes',
    needs: [API],
    run: async (f) => {
      const endpoint = await endpointOf(f);
      if ('problem' in endpoint || endpoint.mode === 'url')
        return judgeServiceEndpoints(endpoint, undefined, undefined);
      const service = await f.service(endpoint.namespace, endpoint.name);
      const slices =
        service.ok && service.value
          ? await f.endpointSlices(endpoint.namespace, endpoint.name)
          : undefined;
      return judgeServiceEndpoints(endpoint, service, slices);
    },
  },
  {
    id: 'k8s.serving-certificate',
    section: 'kubernetes',
    needs: [API],
    run: async (f) => {
      const present = await configurations(f);
      const endpoint = await endpointOf(f);
      const ready =
        !('problem' in endpoint) && endpoint.mode === 'service'
          ? await serviceEndpoints(f, endpoint)
          : undefined;
      const checked: ServingProbe[] = [];
      for (const [i, configuration] of present.entries()) {
        if (!configuration) continue;
        const webhook: RegisteredWebhook | undefined = ourWebhook(configuration, EXPECTED[i]!);
        if (!webhook) continue;
        const targets = tlsTargets(webhook, ready);
        const probes =
          'problem' in targets
            ? targets
            : await Promise.all(
                targets.map(async (target) => ({
                  target,
                  result: await f.tls(target, caBundlePem(webhook.clientConfig.caBundle)),
                })),
              );
        checked.push({ configuration, webhook, probes });
      }
      return judgeServingCertificate(checked, f.inCluster, f.now());
    },
  },
  {
    id: 'k8s.leader-lease',
    section: 'kubernetes',
    needs: [API],
    run: async (f) => {
      const lease =
        f.config.reconcile && f.config.podNamespace
          ? await f.lease(f.config.podNamespace, f.config.leaderElectionLease)
          : undefined;
      return judgeLease(f.config, lease, f.now());
    },
  },

  {
    id: 'e2e.dry-run-create',
    section: 'end to end',
    needs: [API, CRD, SETTINGS, READY_ENDPOINTS],
    run: async (f) => {
      const spec = deriveRoleSpec((await settingsOf(f))!, CHECK_PROFILE_NAME);
      const before = await f.roleExists(spec.roleName);
      const response = await f.dryRunCreate(checkProfile());
      const after = response.ok ? await f.roleExists(spec.roleName) : undefined;
      return judgeDryRun(f.config, {
        expectedArn: spec.roleArn,
        roleName: spec.roleName,
        before,
        response,
        after,
      });
    },
  },
];

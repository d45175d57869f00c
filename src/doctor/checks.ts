import { roleSettings } from '../config/settings.js';
import { deriveRoleSpec, oidcProviderArn } from '../core/role-spec.js';
import type { RoleSettings } from '../core/settings.js';
import { notChecked, type Check, type CheckResult } from './check.js';
import type {
  DoctorFacts,
  RegisteredWebhook,
  WebhookConfigurationFact,
  WebhookKind,
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

const KINDS: WebhookKind[] = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'];
const EXPECTED = KINDS.map((kind) => EXPECTED_WEBHOOKS[kind]);

/** The account and issuer resolved as `serve` resolves them; undefined while either is unknown. */
async function settingsOf(f: DoctorFacts): Promise<RoleSettings | undefined> {
  const account = resolvedAccount(f.config.accountId, await f.identity());
  const issuer = resolvedIssuer(f.config.oidcIssuer, await f.apiIssuer());
  return account && issuer ? roleSettings(f.config, account, issuer) : undefined;
}

const MISSING_SETTINGS = () =>
  notChecked('the account or the issuer is unknown', 'config.account and config.issuer');

async function apiDown(f: DoctorFacts): Promise<CheckResult | undefined> {
  const version = await f.serverVersion();
  return version.ok ? undefined : notChecked('the API server cannot be reached', 'k8s.api');
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
    run: async (f) => {
      const identity = await f.identity();
      if (f.config.accountId !== undefined || !identity.ok)
        return judgeAccountMatch(f.config.accountId, identity);
      const settings = await settingsOf(f);
      if (!settings) return judgeAccountMatch(undefined, identity);
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
    run: async (f) => {
      if (!(await f.identity()).ok)
        return notChecked('the AWS credentials do not work', 'aws.credentials');
      const settings = await settingsOf(f);
      if (!settings) return MISSING_SETTINGS();
      const arn = oidcProviderArn(settings);
      return judgeOidcProvider(f.config, settings.oidcIssuer, arn, await f.oidcProvider(arn));
    },
  },
  {
    id: 'aws.permissions',
    section: 'aws',
    run: async (f) => {
      const identity = await f.identity();
      if (!identity.ok) return notChecked('the AWS credentials do not work', 'aws.credentials');
      const settings = await settingsOf(f);
      if (!settings) return MISSING_SETTINGS();
      if (f.config.accountId && f.config.accountId !== identity.value.account) {
        return notChecked("the configured account is not the credentials' account", 'aws.account');
      }
      const principal = simulationPrincipal(f.irsaRoleArn, identity.value);
      if (!('arn' in principal)) return judgePermissions(principal, [], undefined);
      const calls = f.webhookIamCalls(settings, principal.arn);
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
    run: async (f) => (await apiDown(f)) ?? judgeProfileCrd(await f.profileApi()),
  },
  ...KINDS.map((kind): DoctorCheck => ({
    id: kind === 'MutatingWebhookConfiguration' ? 'k8s.mutating-webhook' : 'k8s.validating-webhook',
    section: 'kubernetes',
    run: async (f) => {
      const version = await f.serverVersion();
      if (!version.ok) return notChecked('the API server cannot be reached', 'k8s.api');
      return judgeWebhookConfiguration(
        f.config,
        expectedFor(kind, version.value),
        await f.webhookConfiguration(kind),
      );
    },
  })),
  {
    id: 'k8s.service-endpoints',
    section: 'kubernetes',
    run: async (f) => {
      const down = await apiDown(f);
      if (down) return down;
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
    run: async (f) => {
      const down = await apiDown(f);
      if (down) return down;
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
    run: async (f) => {
      const down = await apiDown(f);
      if (down) return down;
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
    run: async (f) => {
      const down = await apiDown(f);
      if (down) return down;
      const api = await f.profileApi();
      if (!api.ok || !api.value.v1Profiles)
        return notChecked('kubeflow.org/v1 profiles are not served', 'k8s.crd');
      const settings = await settingsOf(f);
      if (!settings) return MISSING_SETTINGS();
      const endpoint = await endpointOf(f);
      // With no ready endpoint the API server has nothing to call; the create would only repeat that.
      if (!('problem' in endpoint) && endpoint.mode === 'service') {
        const ready = await serviceEndpoints(f, endpoint);
        if (ready !== undefined && ready.length === 0) {
          return notChecked(
            "the webhook's Service has no ready endpoints",
            'k8s.service-endpoints',
          );
        }
      }
      const spec = deriveRoleSpec(settings, CHECK_PROFILE_NAME);
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

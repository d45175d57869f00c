import type { Config } from '../config/schema.js';
import { deriveRoleSpec, oidcProviderArn } from '../core/role-spec.js';
import { webhookIamCalls } from '../core/iam-policy.js';
import type { Check, Need } from './check.js';
import type { Outcome, WebhookKind } from './facts.js';
import type { DoctorFacts } from './gather.js';
import {
  judgeAccountMatch,
  judgeBoundary,
  judgeCredentials,
  judgeOidcProvider,
  judgePermissions,
  simulationPrincipal,
} from './judge-aws.js';
import { judgeAccount, judgeIssuer, judgeValid } from './judge-configuration.js';
import { CHECK_PROFILE_NAME, checkProfile, judgeDryRun } from './judge-e2e.js';
import {
  judgeApiServer,
  judgeLease,
  judgeProfileCrd,
  judgeServiceEndpoints,
  judgeWebhookConfiguration,
} from './judge-kubernetes.js';
import { caBundlePem, judgeServingCertificate, tlsTargets } from './judge-tls.js';
import { expectedFor } from './registration.js';

type DoctorCheck = Check<DoctorFacts>;
type DoctorNeed = Need<DoctorFacts>;

/** A fact a need has established: asked again in the same round, it gives the same answer. */
function known<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw new Error(outcome.error.message);
  return outcome.value;
}

/** The role settings, for checks that need SETTINGS. */
async function settingsOf(f: DoctorFacts) {
  const settings = await f.settings();
  if (!settings) throw new Error('the account or the issuer is unknown');
  return settings;
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
  holds: async (f) => (await f.settings()) !== undefined,
};
const ACCOUNT: DoctorNeed = {
  why: "the configured account is not the credentials' account",
  fixFirst: 'aws.account',
  holds: async (f) => {
    const identity = await f.identity();
    return !f.config.accountId || !identity.ok || identity.value.account === f.config.accountId;
  },
};
/** The boundary created roles get, when the webhook creates roles. */
const boundaryOf = (config: Config) =>
  config.mode === 'provision' ? config.permissionsBoundary : undefined;
/** A boundary is read with the credentials; without one there is nothing to read. */
const BOUNDARY_READABLE: DoctorNeed = {
  ...CREDENTIALS,
  holds: async (f) => boundaryOf(f.config) === undefined || (await f.identity()).ok,
};
/** With no ready endpoint the API server has nothing to call; a dry run would only repeat that. */
const READY_ENDPOINTS: DoctorNeed = {
  why: "the webhook's Service has no ready endpoints",
  fixFirst: 'k8s.service-endpoints',
  holds: async (f) => (await f.readyEndpoints())?.length !== 0,
};

const webhookCheck = (kind: WebhookKind, id: string): DoctorCheck => ({
  id,
  section: 'kubernetes',
  needs: [API],
  run: async (f) =>
    judgeWebhookConfiguration(
      f.config,
      expectedFor(kind, known(await f.serverVersion())),
      await f.webhookConfiguration(kind),
    ),
});

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
      // A configured account is judged by the credentials; a discovered one by the provider.
      const settings = f.config.accountId === undefined ? await f.settings() : undefined;
      if (!settings) return judgeAccountMatch(f.config.accountId, identity);
      const providerArn = oidcProviderArn(settings);
      const provider = await f.oidcProvider(providerArn);
      return judgeAccountMatch(undefined, identity, { providerArn, provider });
    },
  },
  {
    id: 'aws.oidc-provider',
    section: 'aws',
    needs: [CREDENTIALS, SETTINGS],
    run: async (f) => {
      const settings = await settingsOf(f);
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
      const calls = webhookIamCalls(
        { ...(await settingsOf(f)), mode: f.config.mode },
        { webhookRoleArn: principal.arn },
      );
      const actions = [...new Set(calls.map((c) => c.action))];
      return judgePermissions(principal, actions, await f.simulate(principal.arn, calls));
    },
  },
  {
    id: 'aws.permissions-boundary',
    section: 'aws',
    needs: [BOUNDARY_READABLE],
    run: async (f) => {
      const boundary = boundaryOf(f.config);
      return judgeBoundary(f.config, boundary ? await f.policyExists(boundary) : undefined);
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
  webhookCheck('MutatingWebhookConfiguration', 'k8s.mutating-webhook'),
  webhookCheck('ValidatingWebhookConfiguration', 'k8s.validating-webhook'),
  {
    id: 'k8s.service-endpoints',
    section: 'kubernetes',
    needs: [API],
    run: async (f) => {
      const endpoint = await f.endpoint();
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
      const ready = await f.readyEndpoints();
      const checked = await Promise.all(
        (await f.registered()).map(async ({ configuration, webhook }) => {
          const targets = tlsTargets(webhook, ready);
          const ca = caBundlePem(webhook.clientConfig.caBundle);
          const probes =
            'problem' in targets
              ? targets
              : await Promise.all(
                  targets.map(async (target) => ({ target, result: await f.tls(target, ca) })),
                );
          return { configuration, webhook, probes };
        }),
      );
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
      const spec = deriveRoleSpec(await settingsOf(f), CHECK_PROFILE_NAME);
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

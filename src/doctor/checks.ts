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
} from './judge-kubernetes.js';
import { judgeWebhookConfiguration } from './judge-webhooks.js';
import { caBundlePem, judgeServingCertificate, tlsTargets } from './judge-tls.js';
import { expectedFor } from './registration.js';

type DoctorCheck = Check<DoctorFacts>;
type DoctorNeed = Need<DoctorFacts>;
type Registered = Awaited<ReturnType<DoctorFacts['registered']>>[number];

/** A fact a need has established: asked again in the same round, it gives the same answer. */
function known<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw new Error(outcome.error.message);
  return outcome.value;
}

/** The role settings, for checks that need SETTINGS. */
async function settingsOf(facts: DoctorFacts) {
  const settings = await facts.settings();
  if (!settings) throw new Error('the account or the issuer is unknown');
  return settings;
}

const API: DoctorNeed = {
  why: 'the API server cannot be reached',
  fixFirst: 'k8s.api',
  holds: async (facts) => (await facts.serverVersion()).ok,
};
const CRD: DoctorNeed = {
  why: 'kubeflow.org/v1 profiles are not served',
  fixFirst: 'k8s.crd',
  holds: async (facts) => {
    const api = await facts.profileApi();
    return api.ok && api.value.v1Profiles;
  },
};
const CREDENTIALS: DoctorNeed = {
  why: 'the AWS credentials do not work',
  fixFirst: 'aws.credentials',
  holds: async (facts) => (await facts.identity()).ok,
};
const SETTINGS: DoctorNeed = {
  why: 'the account or the issuer is unknown',
  fixFirst: 'config.account and config.issuer',
  holds: async (facts) => (await facts.settings()) !== undefined,
};
const ACCOUNT: DoctorNeed = {
  why: "the configured account is not the credentials' account",
  fixFirst: 'aws.account',
  holds: async (facts) => {
    const identity = await facts.identity();
    return (
      !facts.config.accountId || !identity.ok || identity.value.account === facts.config.accountId
    );
  },
};
/** The boundary created roles get, when the webhook creates roles. */
const boundaryOf = (config: Config) =>
  config.mode === 'provision' ? config.permissionsBoundary : undefined;
/** A boundary is read with the credentials; without one there is nothing to read. */
const BOUNDARY_READABLE: DoctorNeed = {
  ...CREDENTIALS,
  holds: async (facts) => boundaryOf(facts.config) === undefined || (await facts.identity()).ok,
};
/** With no ready endpoint the API server has nothing to call; a dry run would only repeat that. */
const READY_ENDPOINTS: DoctorNeed = {
  why: "the webhook's Service has no ready endpoints",
  fixFirst: 'k8s.service-endpoints',
  holds: async (facts) => (await facts.readyEndpoints())?.length !== 0,
};

/** A check: its id, what it needs, and how it gathers and judges. */
function check(id: DoctorCheck['id'], needs: DoctorNeed[], run: DoctorCheck['run']): DoctorCheck {
  return { id, needs, run };
}

const webhookCheck = (kind: WebhookKind, id: DoctorCheck['id']) =>
  check(id, [API], async (facts) =>
    judgeWebhookConfiguration(
      facts.config,
      expectedFor(kind, known(await facts.serverVersion())),
      await facts.webhookConfiguration(kind),
    ),
  );

export const CHECKS: readonly DoctorCheck[] = [
  check('config.valid', [], async (facts) => judgeValid(facts.config)),
  check('config.account', [], async (facts) =>
    judgeAccount(facts.config.accountId, facts.sources.accountId, await facts.identity()),
  ),
  check('config.issuer', [], async (facts) =>
    judgeIssuer(facts.config, facts.sources.oidcIssuer, await facts.apiIssuer()),
  ),

  check('aws.credentials', [], async (facts) => judgeCredentials(await facts.identity())),
  check('aws.account', [CREDENTIALS], async (facts) => {
    const identity = known(await facts.identity());
    // A configured account is judged by the credentials; a discovered one by the provider.
    const settings = facts.config.accountId === undefined ? await facts.settings() : undefined;
    if (!settings) return judgeAccountMatch(facts.config.accountId, identity);
    const providerArn = oidcProviderArn(settings);
    const provider = await facts.oidcProvider(providerArn);
    return judgeAccountMatch(undefined, identity, { providerArn, provider });
  }),
  check('aws.oidc-provider', [CREDENTIALS, SETTINGS], async (facts) => {
    const settings = await settingsOf(facts);
    const arn = oidcProviderArn(settings);
    return judgeOidcProvider(facts.config, settings.oidcIssuer, arn, await facts.oidcProvider(arn));
  }),
  check('aws.permissions', [CREDENTIALS, SETTINGS, ACCOUNT], async (facts) => {
    const principal = simulationPrincipal(facts.irsaRoleArn, known(await facts.identity()));
    if (!('arn' in principal)) return judgePermissions(principal, [], undefined);
    const calls = webhookIamCalls(
      { ...(await settingsOf(facts)), mode: facts.config.mode },
      { webhookRoleArn: principal.arn },
    );
    const actions = [...new Set(calls.map((c) => c.action))];
    return judgePermissions(principal, actions, await facts.simulate(principal.arn, calls));
  }),
  check('aws.permissions-boundary', [BOUNDARY_READABLE], async (facts) => {
    const boundary = boundaryOf(facts.config);
    return judgeBoundary(facts.config, boundary ? await facts.policyExists(boundary) : undefined);
  }),

  check('k8s.api', [], async (facts) =>
    judgeApiServer(facts.apiServer, await facts.serverVersion()),
  ),
  check('k8s.crd', [API], async (facts) => judgeProfileCrd(await facts.profileApi())),
  webhookCheck('MutatingWebhookConfiguration', 'k8s.mutating-webhook'),
  webhookCheck('ValidatingWebhookConfiguration', 'k8s.validating-webhook'),
  check('k8s.service-endpoints', [API], async (facts) => {
    const { endpoint, service, slices } = await facts.serviceEndpoints();
    return judgeServiceEndpoints(endpoint, service, slices);
  }),
  check('k8s.serving-certificate', [API], async (facts) => {
    const ready = await facts.readyEndpoints();
    const probe = async ({ configuration, webhook }: Registered) => {
      const targets = tlsTargets(webhook, ready);
      if ('problem' in targets) return { configuration, webhook, probes: targets };
      const ca = caBundlePem(webhook.clientConfig.caBundle);
      const probes = targets.map(async (target) => ({
        target,
        result: await facts.tls(target, ca),
      }));
      return { configuration, webhook, probes: await Promise.all(probes) };
    };
    const checked = await Promise.all((await facts.registered()).map(probe));
    return judgeServingCertificate(checked, facts.inCluster, facts.now());
  }),
  check('k8s.leader-lease', [API], async (facts) => {
    const { reconcile, podNamespace, leaderElectionLease } = facts.config;
    const lease =
      reconcile && podNamespace ? await facts.lease(podNamespace, leaderElectionLease) : undefined;
    return judgeLease(facts.config, lease, facts.now());
  }),

  check('e2e.dry-run-create', [API, CRD, SETTINGS, READY_ENDPOINTS], async (facts) => {
    const spec = deriveRoleSpec(await settingsOf(facts), CHECK_PROFILE_NAME);
    const before = await facts.roleExists(spec.roleName);
    const response = await facts.dryRunCreate(checkProfile());
    const after = response.ok ? await facts.roleExists(spec.roleName) : undefined;
    const { roleArn: expectedArn, roleName } = spec;
    return judgeDryRun(facts.config, { expectedArn, roleName, before, response, after });
  }),
];

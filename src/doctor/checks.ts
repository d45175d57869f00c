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

/** A check: its id, what it needs, and how it gathers and judges. */
function check(id: DoctorCheck['id'], needs: DoctorNeed[], run: DoctorCheck['run']): DoctorCheck {
  return { id, needs, run };
}

const webhookCheck = (kind: WebhookKind, id: DoctorCheck['id']) =>
  check(id, [API], async (f) =>
    judgeWebhookConfiguration(
      f.config,
      expectedFor(kind, known(await f.serverVersion())),
      await f.webhookConfiguration(kind),
    ),
  );

export const CHECKS: readonly DoctorCheck[] = [
  check('config.valid', [], async (f) => judgeValid(f.config)),
  check('config.account', [], async (f) =>
    judgeAccount(f.config.accountId, f.sources.accountId, await f.identity()),
  ),
  check('config.issuer', [], async (f) =>
    judgeIssuer(f.config, f.sources.oidcIssuer, await f.apiIssuer()),
  ),

  check('aws.credentials', [], async (f) => judgeCredentials(await f.identity())),
  check('aws.account', [CREDENTIALS], async (f) => {
    const identity = known(await f.identity());
    // A configured account is judged by the credentials; a discovered one by the provider.
    const settings = f.config.accountId === undefined ? await f.settings() : undefined;
    if (!settings) return judgeAccountMatch(f.config.accountId, identity);
    const providerArn = oidcProviderArn(settings);
    const provider = await f.oidcProvider(providerArn);
    return judgeAccountMatch(undefined, identity, { providerArn, provider });
  }),
  check('aws.oidc-provider', [CREDENTIALS, SETTINGS], async (f) => {
    const settings = await settingsOf(f);
    const arn = oidcProviderArn(settings);
    return judgeOidcProvider(f.config, settings.oidcIssuer, arn, await f.oidcProvider(arn));
  }),
  check('aws.permissions', [CREDENTIALS, SETTINGS, ACCOUNT], async (f) => {
    const principal = simulationPrincipal(f.irsaRoleArn, known(await f.identity()));
    if (!('arn' in principal)) return judgePermissions(principal, [], undefined);
    const calls = webhookIamCalls(
      { ...(await settingsOf(f)), mode: f.config.mode },
      { webhookRoleArn: principal.arn },
    );
    const actions = [...new Set(calls.map((c) => c.action))];
    return judgePermissions(principal, actions, await f.simulate(principal.arn, calls));
  }),
  check('aws.permissions-boundary', [BOUNDARY_READABLE], async (f) => {
    const boundary = boundaryOf(f.config);
    return judgeBoundary(f.config, boundary ? await f.policyExists(boundary) : undefined);
  }),

  check('k8s.api', [], async (f) => judgeApiServer(f.apiServer, await f.serverVersion())),
  check('k8s.crd', [API], async (f) => judgeProfileCrd(await f.profileApi())),
  webhookCheck('MutatingWebhookConfiguration', 'k8s.mutating-webhook'),
  webhookCheck('ValidatingWebhookConfiguration', 'k8s.validating-webhook'),
  check('k8s.service-endpoints', [API], async (f) => {
    const { endpoint, service, slices } = await f.serviceEndpoints();
    return judgeServiceEndpoints(endpoint, service, slices);
  }),
  check('k8s.serving-certificate', [API], async (f) => {
    const ready = await f.readyEndpoints();
    const probe = async ({ configuration, webhook }: Registered) => {
      const targets = tlsTargets(webhook, ready);
      if ('problem' in targets) return { configuration, webhook, probes: targets };
      const ca = caBundlePem(webhook.clientConfig.caBundle);
      const probes = targets.map(async (target) => ({ target, result: await f.tls(target, ca) }));
      return { configuration, webhook, probes: await Promise.all(probes) };
    };
    const checked = await Promise.all((await f.registered()).map(probe));
    return judgeServingCertificate(checked, f.inCluster, f.now());
  }),
  check('k8s.leader-lease', [API], async (f) => {
    const { reconcile, podNamespace, leaderElectionLease } = f.config;
    const lease =
      reconcile && podNamespace ? await f.lease(podNamespace, leaderElectionLease) : undefined;
    return judgeLease(f.config, lease, f.now());
  }),

  check('e2e.dry-run-create', [API, CRD, SETTINGS, READY_ENDPOINTS], async (f) => {
    const spec = deriveRoleSpec(await settingsOf(f), CHECK_PROFILE_NAME);
    const before = await f.roleExists(spec.roleName);
    const response = await f.dryRunCreate(checkProfile());
    const after = response.ok ? await f.roleExists(spec.roleName) : undefined;
    const { roleArn: expectedArn, roleName } = spec;
    return judgeDryRun(f.config, { expectedArn, roleName, before, response, after });
  }),
];

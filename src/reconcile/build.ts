import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { ReconcilePolicy } from '../core/reconcile-plan.js';
import { roleOwner } from '../core/role-spec.js';
import type { RoleSettings } from '../core/settings.js';
import type { IamClientOptions } from '../iam/client.js';
import { createRateLimitedIamClient } from '../iam/rate-limit.js';
import { RoleEnsurer } from '../iam/role-ensurer.js';
import { RoleInventory } from '../iam/role-inventory.js';
import { createNamespaceLister, createNamespaceReader } from '../k8s/namespaces.js';
import { ProfileClient } from '../k8s/profiles.js';
import { ServiceAccountClient } from '../k8s/service-accounts.js';
import type { Metrics } from '../metrics/registry.js';
import type { DecisionContext } from '../core/decision-context.js';
import { Actor } from './actor.js';
import { Observer } from './observer.js';
import type { ReconcileEventSink } from './profile-event-sink.js';
import type { RetryBudget } from './retry.js';
import { Reconciler } from './reconciler.js';

export interface ReconcilerParts {
  reconciler: Reconciler;
  policy: ReconcilePolicy;
  profiles: ProfileClient;
  serviceAccounts: ServiceAccountClient;
}

export interface BuildOptions {
  config: Config;
  role: RoleSettings;
  decisions: DecisionContext;
  kubeConfig: KubeConfig;
  metrics: Metrics;
  logger: Logger;
  /** Overrides `config.orphanGrace` (tests only: the configuration refuses less than 30 s). */
  orphanGraceMs?: number | undefined;
  retryBudget?: RetryBudget | undefined;
  /** Objects per Kubernetes list page (tests cross a page boundary with few objects). */
  pageSize?: number | undefined;
  /** Called whenever a reconciler call succeeds (the leader renews its Lease only while it does). */
  onProgress?: (() => void) | undefined;
  onRoleDeleted?: ((namespace: string) => void) | undefined;
  /** Tests: MaxItems of the reconciler's IAM list calls (IAM's default page is 100). */
  iamPageSize?: number | undefined;
  /** Tests: the IAM client's credentials instead of the SDK's chain. */
  iamCredentials?: IamClientOptions['credentials'];
  /** Events on Profiles (`serve`); the CLI writes none. */
  events?: ReconcileEventSink | undefined;
}

/** The reconciler for `serve` and for the `reconcile` command, from one configuration. */
export async function buildReconciler(options: BuildOptions): Promise<ReconcilerParts> {
  const { config, role, decisions, kubeConfig, metrics } = options;
  const logger = options.logger.child({ component: 'reconciler' });
  const policy: ReconcilePolicy = {
    owner: roleOwner(role),
    mode: config.mode,
    mutation: decisions.mutation,
    validation: decisions.validation,
    specFor: decisions.specFor,
    orphanPolicy: config.orphanPolicy,
    orphanGraceMs: options.orphanGraceMs ?? config.orphanGrace,
    annotateServiceAccounts: config.annotateServiceAccounts,
  };
  // Its own client and queue: admissions never wait behind the reconciler's IAM calls.
  const iam = createRateLimitedIamClient({
    region: config.region,
    metrics,
    callsPerSecond: config.iamRate,
    credentials: options.iamCredentials,
  });
  const inventory = new RoleInventory({
    iam,
    rolePath: role.rolePath,
    logger,
    pageSize: options.iamPageSize,
  });
  const reader = await createNamespaceReader(kubeConfig);
  const lister = await createNamespaceLister(kubeConfig, { pageSize: options.pageSize });
  const namespaces = {
    read: (name: string) => reader.read(name),
    list: (signal?: AbortSignal) => lister.list(signal),
  };
  const profiles = new ProfileClient(kubeConfig, { pageSize: options.pageSize });
  const serviceAccounts = new ServiceAccountClient(kubeConfig, { pageSize: options.pageSize });
  const observer = new Observer({
    inventory,
    profiles,
    serviceAccounts,
    policy,
    readBoundary: role.permissionsBoundary !== undefined,
    namespaces,
    logger,
    retryBudget: options.retryBudget,
    onProgress: options.onProgress,
  });
  const actor = new Actor({
    // No cache: every reconcile looks at IAM as it is.
    roles: new RoleEnsurer({
      iam,
      mode: config.mode,
      cacheTtlMs: 0,
      metrics,
    }),
    inventory,
    profiles,
    serviceAccounts,
    metrics,
    logger,
    onRoleDeleted: options.onRoleDeleted,
  });
  return {
    reconciler: new Reconciler({
      observer,
      actor,
      policy,
      metrics,
      logger,
      events: options.events,
    }),
    policy,
    profiles,
    serviceAccounts,
  };
}

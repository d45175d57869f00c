import closeWithGrace from 'close-with-grace';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { policySettings } from '../config/settings.js';
import { startServer, type RunningServer } from '../http/server.js';
import { createIamClient, type IamClientOptions } from '../iam/client.js';
import { CreateBudget } from '../iam/create-budget.js';
import { RoleEnsurer } from '../iam/role-ensurer.js';
import { namespaceReaderFor } from '../k8s/namespaces.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import { createDecisionContext } from '../core/decision-context.js';
import type { ReconcilerTuning, RunningReconciler } from '../reconcile/start.js';
import { resolveRoleSettings } from './resolve.js';

export interface ServeOverrides {
  metrics?: Metrics;
  certPollMs?: number;
  /** Tests: the IAM client's credentials instead of the SDK's chain. */
  iamCredentials?: IamClientOptions['credentials'];
  /** Shorter reconciler and lease timings, for tests. */
  reconcile?: ReconcilerTuning;
}

export interface RunningWebhook extends RunningServer {
  /** The leader-elected reconciler (docs/reconciler.md), unless `--reconcile false`. */
  reconciler: RunningReconciler | undefined;
}

/** Wires the configuration to the adapters and starts both listeners. */
export async function startWebhook(
  config: Config,
  logger: Logger,
  overrides: ServeOverrides = {},
): Promise<RunningWebhook> {
  const metrics = overrides.metrics ?? createMetrics();
  const role = await resolveRoleSettings(config);
  const decisions = createDecisionContext(role, policySettings(config));
  const iam = createIamClient({
    region: config.region,
    metrics,
    ...(overrides.iamCredentials === undefined ? {} : { credentials: overrides.iamCredentials }),
  });
  const roles = new RoleEnsurer({
    iam,
    mode: config.mode,
    cacheTtlMs: config.roleCacheTtlSeconds * 1000,
    metrics,
    createBudget: new CreateBudget({
      perSecond: config.roleCreateRate,
      burst: config.roleCreateBurst,
    }),
  });
  const namespaces = await namespaceReaderFor(logger);
  logger.info(
    {
      cluster: role.clusterName,
      account: role.accountId,
      issuer: role.oidcIssuer,
      mode: config.mode,
      rolePath: role.rolePath,
      sample: decisions.specFor('example').roleArn,
    },
    'configuration resolved',
  );
  if (config.mode === 'provision' && role.permissionsBoundary === undefined) {
    logger.warn(
      { setting: '--permissions-boundary (PERMISSIONS_BOUNDARY_ARN)' },
      'no permissions boundary configured: the roles the webhook creates, and its own IAM policy, ' +
        'are not capped; see docs/iam-policy.md for the recommended install with a boundary',
    );
  }
  const server = await startServer({
    deps: { decisions, roles, metrics, logger, namespaces },
    metrics,
    logger,
    host: config.host,
    port: config.port,
    opsPort: config.opsPort,
    tlsCertFile: config.tlsCertFile!,
    tlsKeyFile: config.tlsKeyFile!,
    shutdownDelayMs: config.shutdownDelaySeconds * 1000,
    certPollMs: overrides.certPollMs,
    limits: {
      maxConnections: config.maxConnections,
      maxConnectionsPerClient:
        config.maxConnectionsPerClient ?? Math.ceil(config.maxConnections / 2),
      bodyMemoryBytes: config.bodyMemoryMib * 1024 * 1024,
      requestTimeoutMs: config.requestTimeoutSeconds * 1000,
      keepAliveTimeoutMs: config.keepAliveTimeoutSeconds * 1000,
    },
  });
  logger.info({ admission: server.admissionUrl, ops: server.opsUrl }, 'serving');
  let reconciler: RunningReconciler | undefined;
  if (config.reconcile) {
    try {
      // Loaded only when it runs: a pure webhook never loads the reconciler's Kubernetes code.
      const { startReconciler } = await import('../reconcile/start.js');
      reconciler = await startReconciler({
        config,
        role,
        decisions,
        metrics,
        logger,
        forget: (namespace) => roles.forget(namespace),
        tuning: overrides.reconcile,
        iamCredentials: overrides.iamCredentials,
      });
    } catch (err) {
      await server.close();
      throw err;
    }
  }
  return {
    ...server,
    reconciler,
    // The reconcile work stops and the Lease is released while admissions drain.
    async close() {
      await Promise.all([reconciler?.stop(), server.close()]);
    },
  };
}

/** `serve`: runs until a signal, then goes unready, drains and exits 0. */
export async function serve(config: Config, logger: Logger): Promise<void> {
  const server = await startWebhook(config, logger);
  // The drain must fit in the pod's termination grace period; past this the process is cut short.
  const delay = config.shutdownDelaySeconds * 1000 + 30_000;
  closeWithGrace(
    { delay, logger: { error: (message: string) => logger.error(message) } },
    async ({ signal, err }) => {
      if (err) logger.error({ err }, 'fatal error; shutting down');
      else logger.info({ signal }, 'shutting down');
      await server.close();
      logger.info('stopped');
    },
  );
}

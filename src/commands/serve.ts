import closeWithGrace from 'close-with-grace';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { policySettings } from '../config/settings.js';
import { startServer, type RunningServer } from '../http/server.js';
import { createIamClient } from '../iam/client.js';
import { RoleEnsurer } from '../iam/role-ensurer.js';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import { createDecisionContext } from '../webhook/context.js';
import { resolveRoleSettings } from './resolve.js';

export interface ServeOverrides {
  metrics?: Metrics;
  certPollMs?: number;
}

/** Wires the configuration to the adapters and starts both listeners. */
export async function startWebhook(
  config: Config,
  logger: Logger,
  overrides: ServeOverrides = {},
): Promise<RunningServer> {
  const metrics = overrides.metrics ?? createMetrics();
  const role = await resolveRoleSettings(config);
  const decisions = createDecisionContext(role, policySettings(config));
  const iam = createIamClient({ region: config.region, metrics });
  const roles = new RoleEnsurer({
    iam,
    mode: config.mode,
    clusterName: config.clusterName,
    cacheTtlMs: config.roleCacheTtlSeconds * 1000,
    metrics,
  });
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
  const server = await startServer({
    deps: { decisions, roles, metrics, logger },
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
      bodyMemoryBytes: config.bodyMemoryMib * 1024 * 1024,
      requestTimeoutMs: config.requestTimeoutSeconds * 1000,
      keepAliveTimeoutMs: config.keepAliveTimeoutSeconds * 1000,
    },
  });
  logger.info({ admission: server.admissionUrl, ops: server.opsUrl }, 'serving');
  return server;
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

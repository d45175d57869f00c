import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/registry.js';
import { applyLimits, DEFAULT_LIMITS, nodeServerOptions, type ServerLimits } from './limits.js';
import type { Readiness } from './readiness.js';

/** Health, readiness and metrics on plain HTTP, apart from the admission port. */
export function buildOpsApp(options: {
  metrics: Metrics;
  readiness: Readiness;
  logger: Logger;
  limits?: ServerLimits;
}): FastifyInstance {
  // The same timeouts and connection cap as the admission port: it is as reachable.
  const limits = options.limits ?? DEFAULT_LIMITS;
  // Probes and scrapes are not worth a log line each; only failures are logged.
  const app: FastifyInstance = Fastify({ logger: false, http: nodeServerOptions(limits) });
  applyLimits(app.server, limits);
  app.setErrorHandler((error, request, reply) => {
    options.logger.error({ err: error, url: request.url }, 'ops request failed');
    return reply.code(500).send({ error: 'InternalError', message: 'see the webhook logs' });
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const failing = options.readiness.failing();
    return failing.length === 0
      ? { status: 'ready' }
      : reply.code(503).send({ status: 'not ready', failing });
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });
  return app;
}

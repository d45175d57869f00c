import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/registry.js';
import type { Readiness } from './readiness.js';

/** Health, readiness and metrics on plain HTTP, apart from the admission port. */
export function buildOpsApp(options: {
  metrics: Metrics;
  readiness: Readiness;
  logger: Logger;
}): FastifyInstance {
  // Probes and scrapes are not worth a log line each; only failures are logged.
  const app: FastifyInstance = Fastify({ logger: false });
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

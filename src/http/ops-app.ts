import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/registry.js';
import type { Readiness } from './readiness.js';

/** Health, readiness and metrics on plain HTTP, apart from the admission port. */
export function buildOpsApp(options: {
  metrics: Metrics;
  readiness: Readiness;
  logger: Logger;
}): FastifyInstance {
  const app: FastifyInstance = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    disableRequestLogging: true,
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

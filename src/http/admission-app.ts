import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { admit, type AdmitDeps, type WebhookName } from '../webhook/admit.js';
import { parseTimeout } from '../webhook/deadline.js';
import type { ConnectionClose, ConnectionTracker } from './connections.js';
import {
  BodyBudget,
  createAdmissionServer,
  DEFAULT_LIMITS,
  type RefusalReason,
  type ServerLimits,
} from './limits.js';

/** Above the API server's own request limit (3 MiB) doubled, since a review carries old and new object. */
export const BODY_LIMIT = 7 * 1024 * 1024 + 512 * 1024;

export interface AdmissionAppOptions {
  deps: AdmitDeps;
  logger: Logger;
  /** TLS material; omitted in tests that use `inject`. */
  https?: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** Timeouts, connection cap and body memory of the HTTPS server (limits.ts). */
  limits?: ServerLimits;
  /** Told of every connection or request the limits refuse. */
  onRefused?: (reason: RefusalReason) => void;
  /** Told of every connection the server closes or refuses itself. */
  onConnectionClosed?: (reason: ConnectionClose) => void;
  /** Given the HTTPS server's connection accounting, once it exists. */
  onConnections?: (tracker: ConnectionTracker) => void;
}

/** The admission endpoints, without listening: `server.ts` owns ports, TLS files and signals. */
export function buildAdmissionApp(options: AdmissionAppOptions): FastifyInstance {
  const fastifyOptions = {
    // No per-request child logger: each admission logs through its own, and only when it has
    // something to say.
    logger: false,
    bodyLimit: BODY_LIMIT,
    // Keys such as `__proto__` are data in a Profile; the decisions read own properties only.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    return503OnClosing: false,
  } as const;
  const tls = options.https;
  const limits = options.limits ?? DEFAULT_LIMITS;
  const budget = new BodyBudget(limits.bodyMemoryBytes);
  // An HTTPS instance differs from an HTTP one only in its server type, which nothing here uses.
  const app: FastifyInstance = tls
    ? Fastify({
        ...fastifyOptions,
        serverFactory: (handler) =>
          createAdmissionServer({
            tls,
            limits,
            bodyLimit: BODY_LIMIT,
            budget,
            onRefused: options.onRefused ?? (() => undefined),
            onConnectionClosed: options.onConnectionClosed ?? (() => undefined),
            onConnections: options.onConnections ?? (() => undefined),
            handler,
          }),
      })
    : Fastify(fastifyOptions);

  // Reviews are JSON; a text body is not one, whatever it contains.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status =
      typeof error.statusCode === 'number' && error.statusCode < 500 ? error.statusCode : 500;
    if (status >= 500) options.logger.error({ err: error, url: request.url }, 'request failed');
    // The API server only decodes JSON bodies; any other media type is as undecodable as bad JSON.
    const code = error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 400 : status;
    return reply.code(code).send({ error: error.code ?? 'Error', message: error.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: 'NotFound', message: `no route ${request.method} ${request.url}` }),
  );

  // Returns admit's own promise: an async wrapper would only add a tick per request.
  const route = (webhook: WebhookName) => (request: { body: unknown; query: unknown }) => {
    const timeout = (request.query as Record<string, unknown> | undefined)?.timeout;
    return admit(webhook, request.body, parseTimeout(timeout), options.deps);
  };
  app.post('/mutate', route('mutate'));
  app.post('/validate', route('validate'));
  return app;
}

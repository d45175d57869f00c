import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Server as HttpsServer } from 'node:https';
import type { Metrics } from '../metrics/registry.js';
import type { AdmitDeps } from '../webhook/admit.js';
import { buildAdmissionApp } from './admission-app.js';
import { CertWatcher, loadCertPair, type CertPair } from './cert-watcher.js';
import type { ConnectionTracker } from './connections.js';
import { InFlight } from './in-flight.js';
import { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
import { buildOpsApp } from './ops-app.js';
import { Readiness } from './readiness.js';

/** The API server waits at most 30 s for a webhook; no admission can be in flight longer. */
const MAX_DRAIN_MS = 30_000;

export interface ServerOptions {
  deps: AdmitDeps;
  metrics: Metrics;
  logger: Logger;
  host: string;
  port: number;
  opsPort: number;
  tlsCertFile: string;
  tlsKeyFile: string;
  /** After shutdown begins, how long to keep serving while endpoints drop the pod. */
  shutdownDelayMs: number;
  certPollMs?: number | undefined;
  /** Timeouts, connection cap and body memory for both ports. */
  limits?: ServerLimits;
}

export interface RunningServer {
  admission: FastifyInstance;
  /** The admission port's connections and their limits. */
  connections: ConnectionTracker;
  ops: FastifyInstance;
  readiness: Readiness;
  certWatcher: CertWatcher;
  admissionUrl: string;
  opsUrl: string;
  /** Unready first, then drain: in-flight admissions finish before the process exits. */
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { logger, metrics } = options;
  const readiness = new Readiness();
  readiness.set('serving', false);
  const recordExpiry = (pair: CertPair) =>
    metrics.certificateExpiry.set(pair.notAfter.getTime() / 1000);

  // The first pair must load, or there is nothing to serve; later ones may fail and be skipped.
  const pair = await loadCertPair(options.tlsCertFile, options.tlsKeyFile);
  recordExpiry(pair);
  const limits = options.limits ?? DEFAULT_LIMITS;
  const ops = buildOpsApp({ metrics, readiness, logger, limits });
  let connections: ConnectionTracker | undefined;
  const admission = buildAdmissionApp({
    deps: options.deps,
    logger,
    https: { cert: pair.cert, key: pair.key },
    limits,
    onRefused: (reason) => metrics.httpRefused.inc({ reason }),
    onConnectionClosed: (reason) => metrics.httpConnectionsClosed.inc({ reason }),
    onConnections: (tracker) => {
      connections = tracker;
      metrics.watchConnections(() => tracker.counts);
    },
  });
  if (!connections) throw new Error('the admission server has no connection accounting');
  const certWatcher = new CertWatcher({
    certFile: options.tlsCertFile,
    keyFile: options.tlsKeyFile,
    logger,
    intervalMs: options.certPollMs,
    current: pair,
    onChange: (next) => {
      (admission.server as HttpsServer).setSecureContext({ cert: next.cert, key: next.key });
      recordExpiry(next);
    },
  });
  try {
    await ops.listen({ host: options.host, port: options.opsPort });
    await admission.listen({ host: options.host, port: options.port });
  } catch (error) {
    await Promise.allSettled([ops.close(), admission.close()]);
    throw error;
  }
  certWatcher.start();
  readiness.set('serving', true);
  const inFlight = new InFlight(admission.server);
  return {
    admission,
    connections,
    ops,
    readiness,
    certWatcher,
    admissionUrl: urlOf(admission, 'https'),
    opsUrl: urlOf(ops, 'http'),
    async close() {
      readiness.set('serving', false);
      if (options.shutdownDelayMs > 0) {
        logger.info({ delayMs: options.shutdownDelayMs }, 'unready; draining before shutdown');
        await new Promise((resolve) => setTimeout(resolve, options.shutdownDelayMs));
      }
      certWatcher.close();
      await inFlight.closeAfterDrain(() => admission.close(), MAX_DRAIN_MS);
      await ops.close();
    },
  };
}

function urlOf(app: FastifyInstance, scheme: string): string {
  const address = app.server.address();
  if (!address || typeof address === 'string') return String(address);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

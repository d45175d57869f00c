import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Server as HttpsServer } from 'node:https';
import type { Metrics } from '../metrics/registry.js';
import type { AdmitDeps } from '../webhook/admit.js';
import { buildAdmissionApp } from './admission-app.js';
import { CertWatcher, type CertPair } from './cert-watcher.js';
import { InFlight } from './in-flight.js';
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
  certPollMs?: number;
}

export interface RunningServer {
  admission: FastifyInstance;
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
  readiness.set('certificate', false);
  readiness.set('serving', false);

  // Assigned once the first pair is loaded; the watcher only calls back after that.
  // eslint-disable-next-line prefer-const
  let admission: FastifyInstance | undefined;
  const recordExpiry = (pair: CertPair) =>
    metrics.certificateExpiry.set(pair.notAfter.getTime() / 1000);
  const certWatcher = new CertWatcher({
    certFile: options.tlsCertFile,
    keyFile: options.tlsKeyFile,
    logger,
    intervalMs: options.certPollMs,
    onChange: (pair) => {
      (admission?.server as HttpsServer | undefined)?.setSecureContext({
        cert: pair.cert,
        key: pair.key,
      });
      recordExpiry(pair);
    },
  });
  const pair = await certWatcher.start();
  recordExpiry(pair);
  readiness.set('certificate', true);

  const ops = buildOpsApp({ metrics, readiness, logger });
  admission = buildAdmissionApp({
    deps: options.deps,
    logger,
    https: { cert: pair.cert, key: pair.key },
  });
  try {
    await ops.listen({ host: options.host, port: options.opsPort });
    await admission.listen({ host: options.host, port: options.port });
  } catch (error) {
    certWatcher.close();
    await Promise.allSettled([ops.close(), admission.close()]);
    throw error;
  }
  readiness.set('serving', true);
  const running = admission;
  const inFlight = new InFlight(running.server);
  return {
    admission: running,
    ops,
    readiness,
    certWatcher,
    admissionUrl: urlOf(running, 'https'),
    opsUrl: urlOf(ops, 'http'),
    async close() {
      readiness.set('serving', false);
      if (options.shutdownDelayMs > 0) {
        logger.info({ delayMs: options.shutdownDelayMs }, 'unready; draining before shutdown');
        await new Promise((resolve) => setTimeout(resolve, options.shutdownDelayMs));
      }
      certWatcher.close();
      await inFlight.closeAfterDrain(() => running.close(), MAX_DRAIN_MS);
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

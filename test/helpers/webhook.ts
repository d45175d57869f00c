import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { startWebhook, type RunningWebhook } from '../../src/commands/serve.js';
import type { ReconcilerTuning } from '../../src/reconcile/start.js';
import { writeCertFiles, writeLocalCerts, type LocalCerts } from '../../tools/dev/certs.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import {
  FAKE_CREDENTIALS,
  judgedCredentials,
  judgedSettingsFor,
  MOTO_REGION,
  type Moto,
} from './moto.js';
import { httpsRequest, type HttpAnswer } from './https.js';
import { ISSUER, REQUIRED_ENV } from './settings.js';

export interface TestWebhook {
  server: RunningWebhook;
  metrics: Metrics;
  certs: LocalCerts;
  url: string;
  opsUrl: string;
  /** POSTs a JSON body to `/mutate` or `/validate` (with an optional `?timeout=`). */
  post(path: string, body: unknown, query?: string): Promise<HttpAnswer>;
  /** IAM calls made, of one operation and (e.g. `success`) one outcome, or of all. */
  iamCalls(operation?: string, outcome?: string): Promise<number>;
  /** Safe to call more than once. */
  stop(): Promise<void>;
}

/** Points the AWS SDK's own environment chain at moto, as a user of the local emulator would. */
export function useMoto(moto: Moto | { endpoint: string }): void {
  process.env.AWS_ENDPOINT_URL_IAM = moto.endpoint;
  process.env.AWS_ENDPOINT_URL_STS = moto.endpoint;
  process.env.AWS_ACCESS_KEY_ID = FAKE_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = FAKE_CREDENTIALS.secretAccessKey;
  process.env.AWS_REGION = MOTO_REGION;
  delete process.env.AWS_PROFILE;
}

/**
 * The settings of a webhook serving on 127.0.0.1 with `certs`, as environment variables. The ports
 * are picked by the webhook when it binds them: a port probed beforehand could be taken first.
 */
export function localServeEnv(certs: Pick<LocalCerts, 'certFile' | 'keyFile'>) {
  return {
    ...REQUIRED_ENV,
    OIDC_ISSUER: ISSUER,
    TLS_CERT_FILE: certs.certFile,
    TLS_KEY_FILE: certs.keyFile,
    HOST: '127.0.0.1',
    PORT: '0',
    OPS_PORT: '0',
    // Admission alone; tests of the reconciler turn it on with a control plane and a namespace.
    RECONCILE: 'false',
  };
}

/**
 * The real webhook on 127.0.0.1 with a fresh CA (or the given one, to restart on the same port);
 * settings are environment variables as in the chart.
 */
export async function startTestWebhook(
  env: Record<string, string> = {},
  reuse: {
    certs?: LocalCerts;
    /**
     * Keys moto issued, for a moto with its authorization on (it knows no other keys); such calls
     * are judged against the default test configuration.
     */
    iamCredentials?: { accessKeyId: string; secretAccessKey: string };
    reconcile?: ReconcilerTuning;
    /** Where the webhook logs; silent unless TEST_LOG_LEVEL is set. */
    logger?: Logger;
  } = {},
): Promise<TestWebhook> {
  const dir = await mkdtemp(join(tmpdir(), 'irsa-webhook-'));
  // A restarted webhook keeps its CA and serving pair.
  const certs = reuse.certs ? await writeCertFiles(dir, reuse.certs) : await writeLocalCerts(dir);
  const result = loadConfig(
    {},
    { ...localServeEnv(certs), SHUTDOWN_DELAY_SECONDS: '0', ...env },
    // As `serve` loads it: provision mode needs a boundary or the waiver REQUIRED_ENV sets.
    { tls: true, boundary: true },
  );
  if (!result.ok) throw new Error(`test configuration: ${result.problems.join('; ')}`);
  const metrics = createMetrics({ defaultMetrics: false });
  const server = await startWebhook(
    result.config,
    reuse.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    {
      metrics,
      certPollMs: 100,
      // Its IAM calls are judged against the IAM policy for exactly this configuration.
      iamCredentials: reuse.iamCredentials ?? judgedCredentials(judgedSettingsFor(result.config)),
      ...(reuse.reconcile === undefined ? {} : { reconcile: reuse.reconcile }),
    },
  );
  let stopping: Promise<void> | undefined;
  return {
    server,
    metrics,
    certs,
    url: server.admissionUrl,
    opsUrl: server.opsUrl,
    post: (path, body, query = '') =>
      httpsRequest(`${server.admissionUrl}${path}${query}`, {
        ca: certs.caCert,
        body: typeof body === 'string' ? body : JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      }),
    async iamCalls(operation, outcome) {
      const metric = await metrics.iamCalls.get();
      return metric.values
        .filter((v) => operation === undefined || v.labels.operation === operation)
        .filter((v) => outcome === undefined || v.labels.outcome === outcome)
        .reduce((sum, v) => sum + v.value, 0);
    },
    stop() {
      stopping ??= (async () => {
        await server.close();
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

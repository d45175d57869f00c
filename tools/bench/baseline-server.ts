import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { BODY_LIMIT } from '../../src/http/admission-app.js';

/*
 * The benchmark's baseline: a fastify HTTPS server with the webhook's certificate, body limit and
 * JSON parsing options that parses the same review and answers a fixed AdmissionReview (the
 * request's uid, allowed). Whatever the webhook costs beyond this is the webhook's own work.
 * Prints one JSON line with its URL when listening; stops on SIGTERM or when stdin closes.
 */
const certFile = process.env.TLS_CERT_FILE;
const keyFile = process.env.TLS_KEY_FILE;
if (!certFile || !keyFile) throw new Error('TLS_CERT_FILE and TLS_KEY_FILE are required');

const app = Fastify({
  https: { cert: readFileSync(certFile), key: readFileSync(keyFile) },
  logger: false,
  bodyLimit: BODY_LIMIT,
  onProtoPoisoning: 'ignore',
  onConstructorPoisoning: 'ignore',
  return503OnClosing: false,
});

const answer = async (request: { body: unknown }) => {
  const uid = (request.body as { request?: { uid?: unknown } } | null)?.request?.uid;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: typeof uid === 'string' ? uid : '', allowed: true },
  };
};
app.post('/mutate', answer);
app.post('/validate', answer);

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no address');
process.stdout.write(`${JSON.stringify({ url: `https://127.0.0.1:${address.port}` })}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void app.close().then(() => process.exit(0));
  });
}

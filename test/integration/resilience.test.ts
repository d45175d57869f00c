import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import { createCa, issueServingCert } from '../../tools/dev/certs.js';
import { startMoto } from '../helpers/moto.js';
import { createReview } from '../helpers/reviews.js';
import { startBlackhole } from '../helpers/tcp-faults.js';
import { startTestWebhook, useMoto } from '../helpers/webhook.js';

const moto = await startMoto();
t.teardown(() => moto.stop());

function servedFingerprint(url: string, ca: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: hostname, port: Number(port), ca, servername: 'localhost' },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

t.test('a hanging IAM endpoint is answered before the API server deadline', async (t) => {
  const blackhole = await startBlackhole();
  t.teardown(() => blackhole.close());
  useMoto(blackhole);
  const webhook = await startTestWebhook({ AWS_ACCOUNT_ID: '123456789012' });
  t.teardown(() => webhook.stop());

  const started = performance.now();
  const res = await webhook.post('/mutate', createReview('team-slow'), '?timeout=3s');
  const elapsed = performance.now() - started;
  t.equal(res.status, 200);
  const answer = res.json().response;
  t.equal(answer.allowed, false, 'denied rather than hung');
  t.ok(answer.status.code >= 500, 'a server-side failure');
  t.match(answer.status.message, /retry/i, 'says a retry can help');
  t.ok(
    elapsed < 3000,
    `answered in ${Math.round(elapsed)} ms, inside the 3 s the API server waits`,
  );

  const again = await webhook.post('/validate', createReview('team-ok'));
  t.equal(again.status, 200, 'still serving');
});

t.test(
  'the serving certificate is reloaded on change; a bad pair keeps the previous one',
  async (t) => {
    useMoto(moto);
    const webhook = await startTestWebhook();
    t.teardown(() => webhook.stop());
    const { certs } = webhook;
    const first = await servedFingerprint(webhook.url, certs.caCert);

    const ca = { cert: certs.caCert, key: '' };
    void ca;
    const nextCa = await createCa('rotated CA');
    const next = await issueServingCert(nextCa, ['127.0.0.1', 'localhost'], {
      notAfter: new Date(Date.now() + 10 * 24 * 3600 * 1000),
    });
    await writeFile(certs.certFile, next.cert);
    await writeFile(certs.keyFile, next.key);
    await webhook.server.certWatcher.check();
    const second = await servedFingerprint(webhook.url, nextCa.cert);
    t.not(second, first, 'the new certificate is served without a restart');
    const expiry = (await webhook.metrics.certificateExpiry.get()).values[0]!.value;
    t.ok(
      Math.abs(expiry * 1000 - (Date.now() + 10 * 24 * 3600 * 1000)) < 5 * 60_000,
      'expiry metric follows',
    );

    const other = await issueServingCert(nextCa, ['127.0.0.1', 'localhost']);
    await writeFile(certs.certFile, other.cert); // a cert without its key: not a pair
    await webhook.server.certWatcher.check();
    t.equal(
      await servedFingerprint(webhook.url, nextCa.cert),
      second,
      'a mismatched pair is refused',
    );
    await writeFile(certs.certFile, 'not a certificate');
    await webhook.server.certWatcher.check();
    t.equal(await servedFingerprint(webhook.url, nextCa.cert), second, 'garbage is refused');
    t.equal((await fetch(`${webhook.opsUrl}/readyz`)).status, 200, 'still ready');

    await writeFile(certs.certFile, other.cert);
    await writeFile(certs.keyFile, other.key);
    await webhook.server.certWatcher.check();
    t.not(
      await servedFingerprint(webhook.url, nextCa.cert),
      second,
      'a good pair after a bad one is taken',
    );
  },
);

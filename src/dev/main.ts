import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { startWebhook } from '../commands/serve.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log/logger.js';
import { writeLocalCerts } from './certs.js';
import { startMoto } from './moto.js';
import { sampleProfile, sampleReview } from './sample.js';

/**
 * `npm run dev`: the webhook on its embedded defaults, for a first look. IAM is moto's local
 * emulator, TLS is a fresh local CA; nothing reaches AWS. Settings can still be overridden with
 * the usual environment variables.
 */
async function main(): Promise<void> {
  const workDir = resolve(process.env.DEV_DIR ?? '.dev');
  await mkdir(workDir, { recursive: true });
  const logger = createLogger(process.env.LOG_LEVEL ?? 'info');

  const moto = await startMoto();
  const stops: (() => Promise<void>)[] = [() => moto.stop()];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    process.env.AWS_ENDPOINT_URL_IAM ??= moto.endpoint;
    process.env.AWS_ENDPOINT_URL_STS ??= moto.endpoint;
    process.env.AWS_ACCESS_KEY_ID ??= 'local';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
    const certs = await writeLocalCerts(join(workDir, 'certs'));
    const env = {
      CLUSTER_NAME: 'dev',
      CLUSTER_REGION: 'us-east-1',
      S3_BUCKET: 'kubeflow-pipelines-dev',
      OIDC_ISSUER: 'https://oidc.eks.us-east-1.amazonaws.com/id/DEVCLUSTER',
      HOST: '127.0.0.1',
      SHUTDOWN_DELAY_SECONDS: '0',
      ...process.env,
      TLS_CERT_FILE: certs.certFile,
      TLS_KEY_FILE: certs.keyFile,
    };
    const loaded = loadConfig({}, env, { tls: true });
    if (!loaded.ok)
      throw new Error(`invalid configuration:\n  - ${loaded.problems.join('\n  - ')}`);
    const server = await startWebhook(loaded.config, logger);
    stops.push(() => server.close());

    const reviewFile = join(workDir, 'sample-review.json');
    const profileFile = join(workDir, 'sample-profile.yaml');
    await writeFile(reviewFile, `${JSON.stringify(sampleReview('team-a'), null, 2)}\n`);
    await writeFile(profileFile, toYaml(sampleProfile('team-a')));
    const rel = (file: string) => file.replace(`${process.cwd()}/`, '');
    process.stderr.write(
      [
        '',
        'profile-irsa-webhook is running on local defaults (IAM: moto at ' + moto.endpoint + ').',
        `  admission (HTTPS): ${server.admissionUrl}/mutate and /validate`,
        `  ops (HTTP):        ${server.opsUrl}/healthz /readyz /metrics`,
        '',
        'Send it a Profile creation and see the patch it returns:',
        `  curl -s --cacert ${rel(certs.caFile)} -H 'content-type: application/json' --data @${rel(reviewFile)} ${server.admissionUrl}/mutate \\`,
        `    | node -e 'const r=JSON.parse(require("fs").readFileSync(0)).response; console.log(r.allowed, Buffer.from(r.patch ?? "", "base64").toString())'`,
        'What it would do for any namespace, as JSON:',
        `  node dist/bin/cli.js plan --namespace team-b --cluster-name dev --region us-east-1 --s3-bucket kubeflow-pipelines-dev --account-id 123456789012 --oidc-issuer ${loaded.config.oidcIssuer}`,
        '',
        'Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
  } catch (error) {
    await stopAll();
    throw error;
  }
  await new Promise<void>((resolveSignal) => {
    process.once('SIGINT', resolveSignal);
    process.once('SIGTERM', resolveSignal);
  });
  await stopAll();
}

main().catch((error: unknown) => {
  process.stderr.write(`dev: ${(error as Error).message ?? String(error)}\n`);
  process.exit(1);
});

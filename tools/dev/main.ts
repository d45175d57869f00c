import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { startWebhook } from '../../src/commands/serve.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { writeLocalCerts } from './certs.js';
import { createObjects, registerWebhook, waitUntilMutating } from './cluster.js';
import {
  installProfileCrd,
  isControlPlaneBuilt,
  startControlPlane,
  type ControlPlane,
} from './controlplane.js';
import { isHelmInstalled } from './helm.js';
import { createBoundaryPolicy } from './boundary.js';
import { startMoto } from './moto.js';
import { plainProfile, sampleReview } from './sample.js';

/** The webhook's own namespace in the local control plane: its Lease lives there. */
const DEV_NAMESPACE = 'profile-irsa-webhook';

/**
 * `npm run dev`: the webhook on its embedded defaults, for a first look. IAM is moto's local
 * emulator, TLS is a fresh local CA; nothing reaches AWS. Settings can still be overridden with
 * the usual environment variables. When the local control plane is built and helm is installed
 * (`bash scripts/test-prereqs.sh` does both), it also starts a real kube-apiserver with the
 * Profile CRD and the webhook registered through the chart's own configurations, so a Profile can
 * be applied with kubectl and seen stored with its plugin.
 */
async function main(): Promise<void> {
  // What has been started, in order; stopped in reverse order. Each stop is safe to call twice.
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (let stop = stops.pop(); stop; stop = stops.pop()) {
      await stop().catch((error: unknown) => {
        process.stderr.write(`dev: while stopping: ${(error as Error).message ?? String(error)}\n`);
        process.exitCode = 1;
      });
    }
  };

  // Listen for Ctrl-C/SIGTERM from the start: startup takes a while with the control plane, and
  // a signal then must still stop what has started so far, not leave it behind. A second signal
  // exits at once (the children then stop themselves: their stdin pipes from us close).
  let signalled: NodeJS.Signals | undefined;
  const stopSignal = new Promise<NodeJS.Signals>((resolveSignal) => {
    const on = (signal: NodeJS.Signals) => {
      signalled = signal;
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolveSignal(signal);
    };
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
  // Registers what a startup step started; after a signal it is stopped at once instead.
  const started = async (stop: () => Promise<void>) => {
    stops.push(stop);
    if (signalled) {
      await stopAll();
      throw new Error(`interrupted by ${signalled}`);
    }
  };

  const startup = start(started);
  const first = await Promise.race([startup.then(() => undefined), stopSignal]).catch(
    async (error: unknown) => {
      await stopAll();
      throw error;
    },
  );
  if (first !== undefined) {
    process.stderr.write(`dev: ${first} during startup, stopping\n`);
    await stopAll();
    // The step in flight stops what it starts when it finishes (see started()).
    await startup.catch(() => undefined);
    await stopAll();
    return;
  }
  await stopSignal;
  await stopAll();
}

async function start(started: (stop: () => Promise<void>) => Promise<void>): Promise<void> {
  const workDir = resolve(process.env.DEV_DIR ?? '.dev');
  await mkdir(workDir, { recursive: true });
  const logger = createLogger(process.env.LOG_LEVEL ?? 'info');
  const moto = await startMoto();
  await started(() => moto.stop());

  process.env.AWS_ENDPOINT_URL_IAM ??= moto.endpoint;
  process.env.AWS_ENDPOINT_URL_STS ??= moto.endpoint;
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  // The control plane comes first, so that the webhook starts with its reconciler.
  let controlPlane: ControlPlane | undefined;
  if (isControlPlaneBuilt() && isHelmInstalled()) {
    process.stderr.write('dev: starting the local control plane (kube-apiserver + etcd)...\n');
    const running = await startControlPlane();
    controlPlane = running;
    await started(() => running.stop());
    await installProfileCrd(controlPlane.kubeConfig);
    // The namespace of the reconciler's Lease, as the chart's release namespace.
    await createObjects(controlPlane.kubeConfig, [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: DEV_NAMESPACE } },
    ]);
    process.env.KUBECONFIG = controlPlane.kubeconfigPath;
  }
  const certs = await writeLocalCerts(join(workDir, 'certs'));
  const env: Record<string, string | undefined> = {
    CLUSTER_NAME: 'dev',
    CLUSTER_REGION: 'us-east-1',
    S3_BUCKET: 'kubeflow-pipelines-dev',
    OIDC_ISSUER: 'https://oidc.eks.us-east-1.amazonaws.com/id/DEVCLUSTER',
    HOST: '127.0.0.1',
    SHUTDOWN_DELAY_SECONDS: '0',
    // The reconciler runs (and records Events) when there is a local API server for it.
    RECONCILE: controlPlane === undefined ? 'false' : 'true',
    POD_NAMESPACE: DEV_NAMESPACE,
    ...process.env,
    TLS_CERT_FILE: certs.certFile,
    TLS_KEY_FILE: certs.keyFile,
  };
  // The recommended install: created roles carry a permissions boundary, made here in moto the
  // way the chart README makes it in IAM (unless a boundary or the waiver is given).
  if (!env.PERMISSIONS_BOUNDARY_ARN && env.ALLOW_NO_BOUNDARY !== 'true') {
    env.PERMISSIONS_BOUNDARY_ARN = await createBoundaryPolicy({
      endpoint: process.env.AWS_ENDPOINT_URL_IAM,
      clusterName: env.CLUSTER_NAME ?? 'dev',
      region: env.CLUSTER_REGION ?? 'us-east-1',
      s3Buckets: [env.S3_BUCKET, ...(env.EXTRA_S3_BUCKETS ?? '').split(',')]
        .map((bucket) => bucket?.trim() ?? '')
        .filter((bucket) => bucket !== ''),
    });
  }
  const loaded = loadConfig({}, env, { tls: true, boundary: true });
  if (!loaded.ok) throw new Error(`invalid configuration:\n  - ${loaded.problems.join('\n  - ')}`);
  const server = await startWebhook(loaded.config, logger);
  await started(() => server.close());

  const reviewFile = join(workDir, 'sample-review.json');
  const profileFile = join(workDir, 'sample-profile.yaml');
  await writeFile(reviewFile, `${JSON.stringify(sampleReview('team-a'), null, 2)}\n`);
  await writeFile(profileFile, toYaml(plainProfile('team-a')));
  const rel = (file: string) => file.replace(`${process.cwd()}/`, '');

  if (controlPlane !== undefined) {
    await registerWebhook(controlPlane.kubeConfig, server.admissionUrl, certs.caCert, {
      release: 'dev',
    });
    await waitUntilMutating(controlPlane.kubeConfig, 60_000);
  }

  const lines = [
    '',
    'profile-irsa-webhook is running on local defaults (IAM: moto at ' + moto.endpoint + ').',
    `  admission (HTTPS): ${server.admissionUrl}/mutate and /validate`,
    `  ops (HTTP):        ${server.opsUrl}/healthz /readyz /metrics`,
    '',
    'Send it a Profile creation and see the patch it returns:',
    `  curl -s --cacert ${rel(certs.caFile)} -H 'content-type: application/json' --data @${rel(reviewFile)} ${server.admissionUrl}/mutate \\`,
    `    | node -e 'const r=JSON.parse(require("fs").readFileSync(0)).response; console.log(r.allowed, Buffer.from(r.patch ?? "", "base64").toString())'`,
    'What it would do for any namespace, as JSON:',
    `  node dist/bin/cli.js plan --namespace team-b --cluster-name ${loaded.config.clusterName} --region ${loaded.config.region} --s3-bucket ${loaded.config.s3Bucket} --account-id 123456789012 --oidc-issuer ${loaded.config.oidcIssuer} ${loaded.config.permissionsBoundary ? `--permissions-boundary ${loaded.config.permissionsBoundary}` : '--allow-no-boundary=true'}`,
    '',
  ];
  if (controlPlane) {
    const kubectl = `kubectl --kubeconfig ${controlPlane.kubeconfigPath}`;
    lines.push(
      `A local kube-apiserver ${controlPlane.version} (${controlPlane.server}) has the Profile CRD and this webhook`,
      "registered through the chart's webhook configurations. Apply a plain Profile and see it stored with the plugin:",
      `  ${kubectl} apply -f ${rel(profileFile)}`,
      `  ${kubectl} get profile team-a -o yaml`,
      "The reconciler runs too; after its first pass the Profile's Events show its role:",
      `  ${kubectl} describe profile team-a`,
      '',
    );
  } else {
    lines.push(
      'No local kube-apiserver to apply Profiles to: the control plane or helm is not built yet; ' +
        '`bash scripts/test-prereqs.sh` builds both (about 13 minutes cold), then run npm run dev again.',
      '',
    );
  }
  lines.push('Ctrl-C stops everything.', '');
  process.stderr.write(lines.join('\n'));
  // One machine-readable line for scripts and tests, on stdout among the webhook's JSON logs.
  process.stdout.write(
    `${JSON.stringify({
      dev: 'ready',
      admissionUrl: server.admissionUrl,
      opsUrl: server.opsUrl,
      mutateUrl: `${server.admissionUrl}/mutate`,
      iamEndpoint: process.env.AWS_ENDPOINT_URL_IAM,
      permissionsBoundary: loaded.config.permissionsBoundary ?? null,
      caFile: certs.caFile,
      sampleProfile: profileFile,
      sampleReview: reviewFile,
      kubeconfig: controlPlane?.kubeconfigPath ?? null,
      pids: { self: process.pid, moto: moto.pid, controlPlane: controlPlane?.pid ?? null },
    })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`dev: ${(error as Error).message ?? String(error)}\n`);
  process.exit(1);
});

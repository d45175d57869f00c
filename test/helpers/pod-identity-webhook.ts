// The real amazon-eks-pod-identity-webhook (what EKS runs to give pods of annotated service
// accounts AWS_ROLE_ARN and a projected token), out of cluster against a test control plane with
// its own TLS, registered as a mutating webhook for pods the way its deploy/mutatingwebhook.yaml
// does (admissionReviewVersions v1beta1 is all it speaks).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AdmissionregistrationV1Api,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { writeLocalCerts } from '../../tools/dev/certs.js';
import { freePort } from '../../tools/dev/loopback.js';
import { ensurePodIdentityWebhook } from './go-tools.js';
import { httpsRequest } from './https.js';

const POD_IDENTITY_CONFIGURATION = 'pod-identity-webhook';
const READY_TIMEOUT_MS = 60_000;

export interface PodIdentityWebhook {
  /** `https://127.0.0.1:<port>` */
  url: string;
  caCert: string;
  /** Removes the configuration and stops the process. */
  stop(): Promise<void>;
}

export interface PodIdentityOptions {
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /** Default `sts.amazonaws.com`, as on EKS. */
  audience?: string;
  region: string;
}

export async function startPodIdentityWebhook(
  options: PodIdentityOptions,
): Promise<PodIdentityWebhook> {
  const binary = await ensurePodIdentityWebhook();
  const dir = await mkdtemp(join(tmpdir(), 'pod-identity-webhook-'));
  const certs = await writeLocalCerts(dir);
  // It only takes port numbers (and binds every interface); a port taken meanwhile is retried.
  for (let attempt = 1; ; attempt++) {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const child = spawn(
      binary,
      [
        '--in-cluster=false',
        `--kubeconfig=${options.kubeconfigPath}`,
        `--tls-cert=${certs.certFile}`,
        `--tls-key=${certs.keyFile}`,
        `--port=${port}`,
        `--metrics-port=${metricsPort}`,
        `--token-audience=${options.audience ?? 'sts.amazonaws.com'}`,
        '--annotation-prefix=eks.amazonaws.com',
        `--aws-default-region=${options.region}`,
        // A pod created right after its service account was annotated waits for the informer.
        '--service-account-lookup-grace-period=2s',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-8000);
    });
    const exited = once(child, 'exit');
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    const stopProcess = async () => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    };
    const url = `https://127.0.0.1:${port}`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let ready = false;
    while (!ready && Date.now() < deadline && child.exitCode === null) {
      ready = await httpsRequest(`${url}/healthz`, { ca: certs.caCert, method: 'GET' })
        .then((answer) => answer.status === 200)
        .catch(() => false);
      if (!ready) await sleep(200);
    }
    if (!ready) {
      await stopProcess();
      if (attempt < 3 && /address already in use/.test(stderr)) continue;
      await rm(dir, { recursive: true, force: true });
      throw new Error(`amazon-eks-pod-identity-webhook did not become ready:\n${stderr}`);
    }
    const admission = options.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    await admission.createMutatingWebhookConfiguration({
      body: configuration(`${url}/mutate`, certs.caCert),
    });
    return {
      url,
      caCert: certs.caCert,
      async stop() {
        await admission
          .deleteMutatingWebhookConfiguration({ name: POD_IDENTITY_CONFIGURATION })
          .catch(() => undefined);
        await stopProcess();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}

/** deploy/mutatingwebhook.yaml of the webhook's repository, pointed at a URL. */
function configuration(url: string, caPem: string): V1MutatingWebhookConfiguration {
  return {
    metadata: { name: POD_IDENTITY_CONFIGURATION },
    webhooks: [
      {
        name: 'pod-identity-webhook.amazonaws.com',
        // Fail rather than upstream's Ignore: a pod the webhook did not see must fail the test.
        failurePolicy: 'Fail',
        clientConfig: { url, caBundle: Buffer.from(caPem).toString('base64') },
        objectSelector: {
          matchExpressions: [
            { key: 'eks.amazonaws.com/skip-pod-identity-webhook', operator: 'DoesNotExist' },
          ],
        },
        rules: [
          { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] },
        ],
        sideEffects: 'None',
        admissionReviewVersions: ['v1beta1'],
      },
    ],
  };
}

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AdmissionregistrationV1Api,
  ApiException,
  ApiextensionsV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { median } from './stats.js';

/**
 * Phase 5: Profile writes through a real kube-apiserver (the repo's test control plane), with and
 * without the webhook in the admission chain. The webhook configurations select Profiles by a
 * label, so requests with and without the webhook alternate one by one in a single run.
 */
export type ApiServerPhaseResult =
  | { skipped: true; reason: string }
  | {
      skipped: false;
      version: string;
      profiles: number;
      operations: ApiServerOperation[];
    };

export interface ApiServerOperation {
  /** CREATE provisions a new role (moto) when the webhook is on; UPDATE is the cached path. */
  operation: 'CREATE' | 'UPDATE';
  withoutMs: number;
  withMs: number;
  ratio: number;
}

export interface ApiServerPhaseOptions {
  repoRoot: string;
  quick: boolean;
  /** `https://127.0.0.1:PORT` of the running webhook and the CA that signed its certificate. */
  admissionUrl: string;
  caCert: string;
  progress(message: string): void;
}

const GROUP = 'kubeflow.org';
const VERSION = 'v1';
const PLURAL = 'profiles';
const SELECTOR_LABEL = 'bench.profile-irsa-webhook/webhook';
const CONFIG_NAME = 'profile-irsa-webhook-bench';

/** The control plane binary for the current sources, when scripts/build-controlplane.sh built it. */
export function controlPlaneBinary(repoRoot: string): string | undefined {
  try {
    const out = execFileSync(
      'bash',
      [join(repoRoot, 'scripts/build-controlplane.sh'), '--print-path'],
      {
        cwd: repoRoot,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const path = out.trim().split('\n').pop();
    return path && existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

export async function apiServerPhase(
  options: ApiServerPhaseOptions,
): Promise<ApiServerPhaseResult> {
  const binary = controlPlaneBinary(options.repoRoot);
  if (binary === undefined) {
    return {
      skipped: true,
      reason: 'control plane not built (build it once with scripts/build-controlplane.sh)',
    };
  }
  options.progress('API server: starting the local control plane');
  const controlPlane = await startControlPlane(binary);
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(controlPlane.kubeconfig);
    await installProfileCrd(kc, join(options.repoRoot, 'test/fixtures/kubeflow.org_profiles.yaml'));
    await registerWebhooks(kc, options.admissionUrl, options.caCert);
    const objects = kc.makeApiClient(CustomObjectsApi);
    await waitUntilWebhookActive(objects);

    const count = options.quick ? 3 : 30;
    const created: Record<'on' | 'off', number[]> = { on: [], off: [] };
    const updated: Record<'on' | 'off', number[]> = { on: [], off: [] };
    for (let i = 0; i < count; i++) {
      // Alternate which side goes first, so drift in the machine's load hits both alike.
      const sides = i % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
      for (const side of sides) {
        const name = `bench-api-${side}-${i}`;
        let started = performance.now();
        const object = (await objects.createClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          body: profile(name, side),
        })) as ProfileObject;
        created[side].push(performance.now() - started);
        object.metadata.labels = { ...object.metadata.labels, touched: 'yes' };
        started = performance.now();
        await objects.replaceClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural: PLURAL,
          name,
          body: object,
        });
        updated[side].push(performance.now() - started);
      }
    }
    const operation = (op: 'CREATE' | 'UPDATE', times: Record<'on' | 'off', number[]>) => {
      const withoutMs = median(times.off);
      const withMs = median(times.on);
      return { operation: op, withoutMs, withMs, ratio: withMs / withoutMs };
    };
    return {
      skipped: false,
      version: controlPlane.version,
      profiles: count,
      operations: [operation('CREATE', created), operation('UPDATE', updated)],
    };
  } finally {
    await controlPlane.stop();
  }
}

interface ProfileObject {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { owner?: unknown; plugins?: { kind?: string }[] };
}

function profile(name: string, webhook: 'on' | 'off'): ProfileObject & Record<string, unknown> {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Profile',
    metadata: { name, labels: { [SELECTOR_LABEL]: webhook } },
    spec: { owner: { kind: 'User', name: `${name}@example.com` } },
  };
}

async function registerWebhooks(kc: KubeConfig, admissionUrl: string, caCert: string) {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const common = {
    clientConfig: { caBundle: Buffer.from(caCert).toString('base64') },
    rules: [
      {
        apiGroups: [GROUP],
        apiVersions: [VERSION],
        resources: [PLURAL],
        operations: ['CREATE', 'UPDATE'],
        scope: 'Cluster',
      },
    ],
    matchPolicy: 'Equivalent',
    objectSelector: { matchLabels: { [SELECTOR_LABEL]: 'on' } },
    sideEffects: 'NoneOnDryRun',
    admissionReviewVersions: ['v1'],
    failurePolicy: 'Fail',
    timeoutSeconds: 10,
  };
  await api.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: CONFIG_NAME },
      webhooks: [
        {
          ...common,
          name: 'mutate.profile-irsa-webhook.bench',
          clientConfig: { ...common.clientConfig, url: `${admissionUrl}/mutate` },
          reinvocationPolicy: 'Never',
        },
      ],
    },
  });
  await api.createValidatingWebhookConfiguration({
    body: {
      metadata: { name: CONFIG_NAME },
      webhooks: [
        {
          ...common,
          name: 'validate.profile-irsa-webhook.bench',
          clientConfig: { ...common.clientConfig, url: `${admissionUrl}/validate` },
        },
      ],
    },
  });
}

/** The API server picks up new webhook configurations a moment later; wait for a patched Profile. */
async function waitUntilWebhookActive(objects: CustomObjectsApi): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const name = `bench-api-probe-${attempt}`;
    const object = (await objects.createClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      body: profile(name, 'on'),
    })) as ProfileObject;
    await objects.deleteClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      name,
    });
    if (object.spec?.plugins?.some((p) => p.kind === 'AwsIamForServiceAccount')) return;
    await sleep(250);
  }
  throw new Error('the API server did not call the webhook within 60 s');
}

async function installProfileCrd(kc: KubeConfig, file: string): Promise<void> {
  const crd = parseYaml(readFileSync(file, 'utf8')) as V1CustomResourceDefinition;
  const name = crd.metadata?.name ?? '';
  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  try {
    await extensions.createCustomResourceDefinition({ body: crd });
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 409)) throw err;
  }
  const objects = kc.makeApiClient(CustomObjectsApi);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const current = await extensions.readCustomResourceDefinition({ name });
      if (
        current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
      ) {
        await objects.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL });
        return;
      }
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error(`CRD ${name} not established within 60 s`);
    await sleep(200);
  }
}

interface RunningControlPlane {
  kubeconfig: string;
  version: string;
  stop(): Promise<void>;
}

/**
 * The kube-controlplane binary (embedded etcd + kube-apiserver on 127.0.0.1). It prints one JSON
 * ready line and stops, removing its data, on SIGTERM or when its stdin closes.
 */
async function startControlPlane(binary: string): Promise<RunningControlPlane> {
  const child = spawn(binary, ['-stop-on-stdin-eof', '-ready-timeout=115s', '--'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => {
      if (child.pid === undefined) resolve();
    });
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-6000);
  });
  let dataDir: string | undefined;
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    child.stdin.destroy();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const ready = await new Promise<{ kubeconfig: string; version: string; dataDir: string }>(
      (resolve, reject) => {
        const lines = createInterface({ input: child.stdout });
        const timer = setTimeout(() => reject(new Error('no ready line within 120 s')), 120_000);
        lines.on('line', (line) => {
          try {
            const value = JSON.parse(line) as {
              ready?: boolean;
              kubeconfig?: string;
              version?: string;
              dataDir?: string;
            };
            if (value.ready === true && value.kubeconfig && value.dataDir) {
              clearTimeout(timer);
              lines.close();
              child.stdout.resume();
              resolve({
                kubeconfig: value.kubeconfig,
                version: value.version ?? '',
                dataDir: value.dataDir,
              });
            }
          } catch {
            // not the ready line
          }
        });
        child.once('exit', () => reject(new Error(`kube-controlplane exited:\n${stderr}`)));
      },
    );
    dataDir = ready.dataDir;
    return { kubeconfig: ready.kubeconfig, version: ready.version, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

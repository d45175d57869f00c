import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import {
  CreateOpenIDConnectProviderCommand,
  CreatePolicyCommand,
  ListRolesCommand,
} from '@aws-sdk/client-iam';
import {
  AdmissionregistrationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  V1MicroTime,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { loadConfig } from '../../src/config/load.js';
import type { Report, ReportCheck } from '../../src/doctor/runner.js';
import { registerWebhook, waitUntilMutating } from '../../tools/dev/cluster.js';
import { installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';
import {
  FAKE_CREDENTIALS,
  iamClientFor,
  judgedCredentials,
  judgedSettingsFor,
  MOTO_ACCOUNT_ID,
  MOTO_REGION,
  startMoto,
} from './moto.js';
import { REQUIRED_ENV } from './settings.js';
import { startTestWebhook, useMoto } from './webhook.js';

// An install as doctor meets it: moto as IAM with the cluster's OIDC provider and a boundary
// policy, the real API server with the chart's registrations, the webhook, and a live Lease.

const CLI = fileURLToPath(new URL('../../dist/bin/cli.js', import.meta.url));
export const NAMESPACE = 'profile-irsa-webhook';
export const RELEASE = 'kf';
/** The chart's full name for release `kf`: both configurations and the Service carry it. */
export const NAME = 'kf-profile-irsa-webhook';
export const LEASE = 'profile-irsa-webhook';
/** The control plane's service-account issuer (test/controlplane/main.go), as doctor discovers it. */
export const CLUSTER_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const STS = 'sts.amazonaws.com';
const WEBHOOK_ROLE_ARN = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/profile-irsa-webhook-prod`;
/** Who holds the reconciler's Lease: a pod name, as client-go's leader election writes it. */
export const HOLDER = `${NAME}-5d8f7c9b4-x2k7q_0d1e2f`;

export const IDS = [
  'config.valid',
  'config.account',
  'config.issuer',
  'aws.credentials',
  'aws.account',
  'aws.oidc-provider',
  'aws.permissions',
  'aws.permissions-boundary',
  'k8s.api',
  'k8s.crd',
  'k8s.mutating-webhook',
  'k8s.validating-webhook',
  'k8s.service-endpoints',
  'k8s.serving-certificate',
  'k8s.leader-lease',
  'e2e.dry-run-create',
];

export interface DoctorResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  onStderr?: (text: string) => void;
  /** The settings its IAM calls are judged for, when they are not its environment's (flags). */
  judgedAs?: Record<string, string>;
}

/** Starts the install; everything stops when `t` ends. */
export async function startDoctorRig(t: Test) {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  useMoto(moto);
  const iam = iamClientFor(moto.endpoint);

  const cp = await startControlPlane();
  t.teardown(() => cp.stop());
  await installProfileCrd(cp.kubeConfig);
  const kc = cp.kubeConfig;

  async function createProvider(clientIds = [STS]): Promise<string> {
    const answer = await iam.send(
      new CreateOpenIDConnectProviderCommand({
        Url: CLUSTER_ISSUER,
        ClientIDList: clientIds,
        ThumbprintList: ['9e99a48a9960b14926bb7f3b02e22da2b0ab7280'],
      }),
    );
    return answer.OpenIDConnectProviderArn!;
  }

  // IAM as an EKS cluster has it: the cluster's OIDC provider, and a permissions boundary policy.
  const providerArn = await createProvider();
  const boundaryArn = (
    await iam.send(
      new CreatePolicyCommand({
        PolicyName: 'kubeflow-profile-boundary',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: 'arn:aws:s3:::kf-artifacts*' }],
        }),
      }),
    )
  ).Policy!.Arn!;

  /** The settings the chart gives the webhook (deployment.yaml env), shared by doctor and the webhook. */
  const settings = {
    ...REQUIRED_ENV,
    PERMISSIONS_BOUNDARY_ARN: boundaryArn,
    POD_NAMESPACE: NAMESPACE,
    WEBHOOK_NAME: NAME,
  };

  // The webhook on 127.0.0.1, registered through the chart's configurations in URL mode
  // (webhook.url): the API server cannot reach a Service here (no pods, and EndpointSlices may not
  // point at loopback; the Service test shows it), so the Service checks are exercised separately.
  const webhook = await startTestWebhook({
    ...settings,
    OIDC_ISSUER: CLUSTER_ISSUER,
    // This process plays the reconciler's leader itself (below).
    RECONCILE: 'false',
  });
  let webhookRunning = true;
  t.teardown(() => (webhookRunning ? webhook.stop() : undefined));
  await registerWebhook(kc, webhook.url, webhook.certs.caCert, { release: RELEASE });
  await waitUntilMutating(kc);

  const core = kc.makeApiClient(CoreV1Api);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });

  // The reconciler's Lease, held and renewed as client-go's leader election does (every 2 s,
  // duration 15 s): the webhook in this process does not run a reconciler.
  const coordination = kc.makeApiClient(CoordinationV1Api);
  await coordination.createNamespacedLease({
    namespace: NAMESPACE,
    body: {
      metadata: { name: LEASE },
      spec: {
        holderIdentity: HOLDER,
        leaseDurationSeconds: 15,
        acquireTime: new V1MicroTime(),
        renewTime: new V1MicroTime(),
        leaseTransitions: 0,
      },
    },
  });
  let renewing = true;
  async function renewLease(): Promise<void> {
    const lease = await coordination.readNamespacedLease({ namespace: NAMESPACE, name: LEASE });
    lease.spec!.renewTime = new V1MicroTime();
    await coordination.replaceNamespacedLease({ namespace: NAMESPACE, name: LEASE, body: lease });
  }
  const renewer = setInterval(() => {
    if (renewing) renewLease().catch(() => {});
  }, 2000);
  t.teardown(() => clearInterval(renewer));

  /**
   * The credentials doctor runs with for these settings: the IAM recorder in front of moto judges
   * each of its IAM calls against the policy `iam-policy` prints for them.
   */
  function credentialsFor(env: Record<string, string>) {
    const loaded = loadConfig({}, { ...settings, OIDC_ISSUER: CLUSTER_ISSUER, ...env });
    return loaded.ok ? judgedCredentials(judgedSettingsFor(loaded.config)) : FAKE_CREDENTIALS;
  }

  /** The built CLI, as a user runs it, with only the environment given here (no inherited AWS or Kubernetes settings). */
  function runDoctor(
    args: string[] = [],
    env: Record<string, string> = {},
    options: RunOptions = {},
  ): Promise<DoctorResult> {
    const started = Date.now();
    const credentials = credentialsFor(options.judgedAs ?? env);
    const child = spawn(process.execPath, [CLI, 'doctor', ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        AWS_ENDPOINT_URL_IAM: moto.endpoint,
        AWS_ENDPOINT_URL_STS: moto.endpoint,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_REGION: MOTO_REGION,
        // As IRSA sets it in the pod: the webhook's own role, which doctor simulates.
        AWS_ROLE_ARN: WEBHOOK_ROLE_ARN,
        KUBECONFIG: cp.kubeconfigPath,
        ...settings,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      options.onStderr?.(chunk.toString());
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    return new Promise((resolve) => {
      child.on('close', (code) => {
        clearTimeout(killer);
        resolve({ code, stdout, stderr, ms: Date.now() - started });
      });
    });
  }

  async function runJson(
    args: string[] = [],
    env: Record<string, string> = {},
    options: RunOptions = {},
  ) {
    const result = await runDoctor(['-o', 'json', ...args], env, options);
    return { ...result, report: JSON.parse(result.stdout) as Report };
  }

  /** Asserts one failure: exit 1, the check failed, its hint names the fix. */
  async function expectFailure(
    t: Test,
    id: string,
    message: RegExp,
    hint: RegExp,
    env: Record<string, string> = {},
  ): Promise<Report> {
    const { code, report, stderr } = await runJson([], env);
    t.equal(code, 1, `exit 1 (${stderr.trim()})`);
    t.equal(report.success, false);
    const check = checkOf(report, id);
    t.equal(check.status, 'fail', `${id}: ${check.message}`);
    t.match(check.message, message);
    t.match(check.hint, hint);
    return report;
  }

  return {
    moto,
    iam,
    cp,
    kc,
    core,
    admission,
    coordination,
    webhook,
    providerArn,
    boundaryArn,
    runDoctor,
    runJson,
    expectFailure,
    renewLease,
    createProvider,
    /** Puts the provider back unless it is there already (a --wait test may have done it). */
    recreateProvider: async (): Promise<void> => {
      try {
        await createProvider();
      } catch (error) {
        if ((error as Error).name !== 'EntityAlreadyExistsException') throw error;
      }
    },
    /** Stops or resumes renewing the Lease, as a leader that is gone or back. */
    setRenewing: (on: boolean) => {
      renewing = on;
    },
    stopWebhook: async () => {
      await webhook.stop();
      webhookRunning = false;
    },
    iamRoleCount: async (): Promise<number> =>
      (await iam.send(new ListRolesCommand({}))).Roles?.length ?? 0,
    /** Reads a configuration, applies `edit`, writes it back; returns how to undo it. */
    editValidating: async (
      edit: (
        object: KubernetesObject & { webhooks: { clientConfig: { caBundle?: string } }[] },
      ) => void,
    ) => {
      const object = await admission.readValidatingWebhookConfiguration({ name: NAME });
      const original = structuredClone(object);
      edit(object as unknown as Parameters<typeof edit>[0]);
      await admission.replaceValidatingWebhookConfiguration({ name: NAME, body: object });
      return async () => {
        const current = await admission.readValidatingWebhookConfiguration({ name: NAME });
        original.metadata!.resourceVersion = current.metadata!.resourceVersion!;
        await admission.replaceValidatingWebhookConfiguration({ name: NAME, body: original });
      };
    },
  };
}

export const checksOf = (report: Report) => report.sections.flatMap((s) => s.checks);
export const checkOf = (report: Report, id: string): ReportCheck => {
  const found = checksOf(report).find((c) => c.id === id);
  if (!found)
    throw new Error(
      `no check ${id} in ${checksOf(report)
        .map((c) => c.id)
        .join(', ')}`,
    );
  return found;
};

import t, { type Test } from 'tap';
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateOpenIDConnectProviderCommand,
  CreatePolicyCommand,
  DeleteOpenIDConnectProviderCommand,
  ListRolesCommand,
} from '@aws-sdk/client-iam';
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubernetesObjectApi,
  V1MicroTime,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { expectedFor } from '../../src/doctor/registration.js';
import type { WebhookKind } from '../../src/doctor/facts.js';
import { CHECK_PROFILE_NAME } from '../../src/doctor/judge-e2e.js';
import type { Report, ReportCheck } from '../../src/doctor/runner.js';
import { createCa } from '../../tools/dev/certs.js';
import {
  apiErrorMessage,
  createObjects,
  profiles,
  registerWebhook,
  waitUntilMutating,
} from '../helpers/cluster.js';
import { installProfileCrd, startControlPlane } from '../helpers/controlplane.js';
import {
  chartDir,
  helm,
  helmTemplate,
  repoRoot,
  renderWebhookConfigurations,
  REQUIRED_VALUES,
} from '../helpers/helm.js';
import { loadConfig } from '../../src/config/load.js';
import {
  FAKE_CREDENTIALS,
  iamClientFor,
  judgedCredentials,
  judgedSettingsFor,
  MOTO_ACCOUNT_ID,
  MOTO_REGION,
  startMoto,
} from '../helpers/moto.js';
import { REQUIRED_ENV } from '../helpers/settings.js';
import { startTestWebhook, useMoto } from '../helpers/webhook.js';

const execFileAsync = promisify(execFile);
const CLI = fileURLToPath(new URL('../../dist/bin/cli.js', import.meta.url));
const NAMESPACE = 'profile-irsa-webhook';
const RELEASE = 'kf';
/** The chart's full name for release `kf`: both configurations and the Service carry it. */
const NAME = 'kf-profile-irsa-webhook';
const LEASE = 'profile-irsa-webhook';
/** The control plane's service-account issuer (test/controlplane/main.go), as doctor discovers it. */
const CLUSTER_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const STS = 'sts.amazonaws.com';
const WEBHOOK_ROLE_ARN = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/profile-irsa-webhook-prod`;

const moto = await startMoto();
t.teardown(() => moto.stop());
useMoto(moto);
const iam = iamClientFor(moto.endpoint);

const cp = await startControlPlane();
t.teardown(() => cp.stop());
await installProfileCrd(cp.kubeConfig);
const kc = cp.kubeConfig;

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
const SETTINGS = {
  ...REQUIRED_ENV,
  PERMISSIONS_BOUNDARY_ARN: boundaryArn,
  POD_NAMESPACE: NAMESPACE,
  WEBHOOK_NAME: NAME,
};

// The webhook on 127.0.0.1, registered through the chart's configurations in URL mode
// (webhook.url): the API server cannot reach a Service here (no pods, and EndpointSlices may not
// point at loopback; the last test shows it), so the Service checks are exercised separately.
const webhook = await startTestWebhook({
  ...SETTINGS,
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
const HOLDER = `${NAME}-5d8f7c9b4-x2k7q_0d1e2f`;
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

interface DoctorResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * The credentials doctor runs with for these settings: the IAM recorder in front of moto judges
 * each of its IAM calls against the policy `iam-policy` prints for them.
 */
function credentialsFor(env: Record<string, string>) {
  const loaded = loadConfig({}, { ...SETTINGS, OIDC_ISSUER: CLUSTER_ISSUER, ...env });
  return loaded.ok ? judgedCredentials(judgedSettingsFor(loaded.config)) : FAKE_CREDENTIALS;
}

interface RunOptions {
  onStderr?: (text: string) => void;
  /** The settings its IAM calls are judged for, when they are not its environment's (flags). */
  judgedAs?: Record<string, string>;
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
      ...SETTINGS,
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

const checksOf = (report: Report) => report.sections.flatMap((s) => s.checks);
const checkOf = (report: Report, id: string): ReportCheck => {
  const found = checksOf(report).find((c) => c.id === id);
  if (!found)
    throw new Error(
      `no check ${id} in ${checksOf(report)
        .map((c) => c.id)
        .join(', ')}`,
    );
  return found;
};

const MARK = { ok: '✔', fail: '×', warn: '‼' } as const;

/** The table shows exactly the document's sections and checks, in order, each hint under its line. */
function assertTableMatches(t: Test, text: string, report: Report): void {
  const expected: string[] = [];
  for (const section of report.sections) {
    expected.push(section.name, '-'.repeat(section.name.length));
    for (const check of section.checks) {
      expected.push(
        `${MARK[check.status]} ${check.message}${check.status === 'ok' ? '' : ` [${check.id}]`}`,
      );
      if (check.hint !== null) {
        const [first, ...rest] = check.hint.split('\n');
        expected.push(`    hint: ${first}`, ...rest.map((line) => `          ${line}`));
      }
    }
    expected.push('');
  }
  // Two runs: only the Lease's age may differ between them.
  const age = (line: string) => line.replace(/renewed \d+s ago/, 'renewed Ns ago');
  t.same(
    text.split('\n').slice(0, expected.length).map(age),
    expected.map(age),
    'the table matches the JSON document',
  );
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

const IDS = [
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

async function iamRoleCount(): Promise<number> {
  return (await iam.send(new ListRolesCommand({}))).Roles?.length ?? 0;
}

t.test('a healthy install passes every check', async (t) => {
  const rolesBefore = await iamRoleCount();
  const text = await runDoctor();
  t.equal(text.code, 0, text.stderr);
  t.comment(`doctor's output:\n${text.stdout}`);
  const { code, report } = await runJson();
  t.equal(code, 0);
  t.equal(report.success, true);
  t.same(
    checksOf(report).map((c) => c.id),
    IDS,
    'stable ids, in order',
  );
  t.same(
    report.sections.map((s) => s.name),
    ['configuration', 'aws', 'kubernetes', 'end to end'],
  );
  for (const check of checksOf(report)) {
    // moto does not implement iam:SimulatePrincipalPolicy: unproven permissions are a warning.
    const expected = check.id === 'aws.permissions' ? 'warn' : 'ok';
    t.equal(check.status, expected, `${check.id}: ${check.message}`);
    t.equal(check.hint === null, check.status === 'ok', `${check.id}: a hint exactly when not ok`);
  }
  t.match(checkOf(report, 'aws.permissions').message, /SimulatePrincipalPolicy/);
  t.match(checkOf(report, 'config.account').message, /discovered with STS GetCallerIdentity/);
  t.match(
    checkOf(report, 'aws.account').message,
    `discovered from the credentials (STS GetCallerIdentity); it holds the cluster's OIDC provider ${providerArn}`,
  );
  t.match(checkOf(report, 'aws.permissions-boundary').message, `${boundaryArn}, which exists`);
  t.match(
    checkOf(report, 'config.issuer').message,
    `${CLUSTER_ISSUER} (discovered from the API server)`,
  );
  t.match(checkOf(report, 'aws.oidc-provider').message, providerArn);
  t.match(checkOf(report, 'k8s.leader-lease').message, `held by ${HOLDER}`);
  t.match(
    checkOf(report, 'k8s.mutating-webhook').message,
    "with the chart's rules and its 2 matchConditions",
  );
  t.match(
    checkOf(report, 'k8s.serving-certificate').message,
    /^the certificate served at 127\.0\.0\.1:\d+ \(CN=127\.0\.0\.1, issued by CN=profile-irsa-webhook local CA, valid until \d{4}-\d\d-\d\d\) verifies against the caBundle of both configurations for 127\.0\.0\.1$/,
  );
  t.match(
    checkOf(report, 'e2e.dry-run-create').message,
    `role/kubeflow-profiles/${CHECK_PROFILE_NAME}-prod-role`,
  );
  assertTableMatches(t, text.stdout, report);
  t.match(text.stdout, /✔ no failures: 15 passed, 1 warning\n$/);

  t.equal(await iamRoleCount(), rolesBefore, 'nothing written to IAM');
  t.equal(await webhook.iamCalls('CreateRole'), 0, 'the webhook created no role');
  t.equal(await webhook.iamCalls('PutRolePolicy'), 0);
  const stored = await profiles(kc).list();
  t.notOk(
    stored.some((p) => p.metadata?.name === CHECK_PROFILE_NAME),
    'no Profile stored',
  );
});

t.test('the chart renders the rules and matchConditions doctor expects', async (t) => {
  // From 1.28 on the chart renders matchConditions; for older API servers none.
  for (const kubeVersion of [cp.version, 'v1.27.16']) {
    const { mutating, validating } = await renderWebhookConfigurations({
      url: webhook.url,
      ca: webhook.certs.caCert,
      extraArgs: ['--kube-version', kubeVersion.replace(/^v/, '')],
    });
    for (const object of [mutating, validating]) {
      const kind = object.kind as WebhookKind;
      const expected = expectedFor(kind, kubeVersion);
      const rendered = (object.webhooks as Record<string, unknown>[])[0]!;
      t.equal(rendered.name, expected.webhookName);
      t.same(rendered.rules, expected.rules, `${kind} rules (${kubeVersion})`);
      t.same(
        rendered.matchConditions ?? [],
        expected.matchConditions,
        `${kind} matchConditions (${kubeVersion})`,
      );
      t.equal(rendered.sideEffects, 'NoneOnDryRun');
      t.equal(rendered.matchPolicy, expected.matchPolicy, `${kind} matchPolicy`);
      t.equal(rendered.failurePolicy, expected.failurePolicy, `${kind} failurePolicy`);
      t.same(rendered.objectSelector ?? {}, expected.objectSelector, `${kind} objectSelector`);
      t.same(
        rendered.namespaceSelector ?? {},
        expected.namespaceSelector,
        `${kind} namespaceSelector`,
      );
      t.ok(
        Number(rendered.timeoutSeconds) >= 1 && Number(rendered.timeoutSeconds) <= 30,
        `${kind} timeoutSeconds ${String(rendered.timeoutSeconds)} within the budget`,
      );
    }
  }
  t.equal(expectedFor('MutatingWebhookConfiguration', cp.version).matchConditions.length, 2);
});

t.test('without a permissions boundary in provision mode: a failure', async (t) => {
  await expectFailure(
    t,
    'aws.permissions-boundary',
    /no permissions boundary/,
    /iam-policy --boundary.*--allow-no-boundary/,
    { PERMISSIONS_BOUNDARY_ARN: '', ALLOW_NO_BOUNDARY: 'false' },
  );
});

t.test('a configured boundary policy that does not exist: a failure', async (t) => {
  const missing = `arn:aws:iam::${MOTO_ACCOUNT_ID}:policy/no-such-boundary`;
  await expectFailure(
    t,
    'aws.permissions-boundary',
    new RegExp(`${missing} does not exist`),
    /aws iam create-policy --policy-name no-such-boundary/,
    { PERMISSIONS_BOUNDARY_ARN: missing },
  );
});

t.test('the OIDC provider missing in IAM', async (t) => {
  await iam.send(new DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: providerArn }));
  t.teardown(() => recreateProvider());
  const report = await expectFailure(
    t,
    'aws.oidc-provider',
    /IAM has no OIDC provider for the issuer https:\/\/kubernetes\.default\.svc\.cluster\.local/,
    /eksctl utils associate-iam-oidc-provider --cluster prod --region us-east-1 --approve[\s\S]*aws iam create-open-id-connect-provider --url https:\/\/kubernetes\.default\.svc\.cluster\.local --client-id-list sts\.amazonaws\.com/,
  );
  t.match(
    checkOf(report, 'aws.account'),
    {
      status: 'warn',
      message: /discovered from the credentials.*holds no OIDC provider/,
      hint: /--account-id/,
    },
    'the discovered account is not confirmed by the provider',
  );
});

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

/** Puts the provider back unless it is there already (a --wait test may have done it). */
async function recreateProvider(): Promise<void> {
  try {
    await createProvider();
  } catch (error) {
    if ((error as Error).name !== 'EntityAlreadyExistsException') throw error;
  }
}

t.test('the OIDC provider without the sts.amazonaws.com client ID', async (t) => {
  // moto has no RemoveClientIDFromOpenIDConnectProvider: the provider is made again without it.
  await iam.send(new DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: providerArn }));
  await createProvider(['other-audience']);
  t.teardown(async () => {
    await iam.send(
      new DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: providerArn }),
    );
    await createProvider();
  });
  await expectFailure(
    t,
    'aws.oidc-provider',
    /does not list the client ID sts\.amazonaws\.com \(it lists: other-audience\)/,
    new RegExp(
      `aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn ${providerArn} --client-id sts.amazonaws.com`,
    ),
  );
});

t.test('credentials rejected', async (t) => {
  // moto checks signatures from now on; it knows no access key "testing", as AWS would not.
  const auth = (count: string) =>
    fetch(`${moto.direct.endpoint}/moto-api/reset-auth`, { method: 'POST', body: count });
  await (await auth('0')).text();
  t.teardown(async () => void (await (await auth('inf')).text()));
  const report = await expectFailure(
    t,
    'aws.credentials',
    /InvalidClientTokenId: The security token included in the request is invalid/,
    /AWS rejected these credentials/,
  );
  t.match(
    checkOf(report, 'aws.oidc-provider').message,
    /^not checked: the AWS credentials do not work/,
  );
  t.match(
    checkOf(report, 'config.account').status,
    'fail',
    'the account cannot be discovered either',
  );
});

t.test('the configured account is not the credentials', async (t) => {
  const report = await expectFailure(
    t,
    'aws.account',
    /configured account 111122223333 is not the credentials' account 123456789012/,
    /AWS_ACCOUNT_ID .* to 123456789012/,
    { AWS_ACCOUNT_ID: '111122223333' },
  );
  t.match(
    checkOf(report, 'aws.permissions'),
    { status: 'fail', hint: 'fix aws.account first' },
    'no simulation for the settings of another account',
  );
});

t.test('the configured issuer is not the API server', async (t) => {
  await expectFailure(
    t,
    'config.issuer',
    /is not the API server's service-account issuer https:\/\/kubernetes\.default\.svc\.cluster\.local/,
    /set the issuer to https:\/\/kubernetes\.default\.svc\.cluster\.local/,
    { OIDC_ISSUER: 'https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE' },
  );
});

/** Reads a configuration, applies `edit`, writes it back; returns how to undo it. */
async function editValidating(
  edit: (
    object: KubernetesObject & { webhooks: { clientConfig: { caBundle?: string } }[] },
  ) => void,
) {
  const object = await admission.readValidatingWebhookConfiguration({ name: NAME });
  const original = structuredClone(object);
  edit(object as unknown as Parameters<typeof edit>[0]);
  await admission.replaceValidatingWebhookConfiguration({ name: NAME, body: object });
  return async () => {
    const current = await admission.readValidatingWebhookConfiguration({ name: NAME });
    original.metadata!.resourceVersion = current.metadata!.resourceVersion!;
    await admission.replaceValidatingWebhookConfiguration({ name: NAME, body: original });
  };
}

t.test('a webhook configuration with the caBundle of another CA', async (t) => {
  const other = await createCa('some other CA');
  const undo = await editValidating((object) => {
    object.webhooks[0]!.clientConfig.caBundle = Buffer.from(other.cert).toString('base64');
  });
  t.teardown(undo);
  await expectFailure(
    t,
    'k8s.serving-certificate',
    /the certificate served at 127\.0\.0\.1:\d+ \(issued by CN=profile-irsa-webhook local CA\) does not verify against its caBundle \(CN=some other CA\) of ValidatingWebhookConfiguration kf-profile-irsa-webhook/,
    /caBundle must be the CA that signed the serving certificate/,
  );
});

t.test('a webhook configuration deleted', async (t) => {
  await admission.deleteValidatingWebhookConfiguration({ name: NAME });
  t.teardown(async () => {
    const { validating } = await renderWebhookConfigurations({
      url: webhook.url,
      ca: webhook.certs.caCert,
      release: RELEASE,
    });
    await createObjects(kc, [validating]);
  });
  const report = await expectFailure(
    t,
    'k8s.validating-webhook',
    /ValidatingWebhookConfiguration kf-profile-irsa-webhook is missing: nothing stops a Profile from naming a role that is not its own/,
    /helm -n profile-irsa-webhook upgrade <release> charts\/profile-irsa-webhook --reuse-values/,
  );
  t.equal(checkOf(report, 'k8s.mutating-webhook').status, 'ok', 'the other one is still fine');
});

t.test("a webhook configuration without the chart's matchConditions", async (t) => {
  // As an old chart, or a hand edit, leaves it: every routine Profile update reaches the webhook.
  const object = await admission.readMutatingWebhookConfiguration({ name: NAME });
  const original = structuredClone(object);
  delete object.webhooks![0]!.matchConditions;
  await admission.replaceMutatingWebhookConfiguration({ name: NAME, body: object });
  t.teardown(async () => {
    const current = await admission.readMutatingWebhookConfiguration({ name: NAME });
    original.metadata!.resourceVersion = current.metadata!.resourceVersion!;
    await admission.replaceMutatingWebhookConfiguration({ name: NAME, body: original });
  });
  await expectFailure(
    t,
    'k8s.mutating-webhook',
    /its matchConditions \(none\) are not the chart's \(create-or-plugins-change, not-being-deleted\)/,
    /helm -n profile-irsa-webhook upgrade kf charts\/profile-irsa-webhook --reuse-values/,
  );
});

t.test('the Profile CRD missing', async (t) => {
  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  const crdName = 'profiles.kubeflow.org';
  await extensions.deleteCustomResourceDefinition({ name: crdName });
  t.teardown(async () => {
    await installProfileCrd(kc);
    await waitUntilMutating(kc);
  });
  await eventually(async () => {
    try {
      await extensions.readCustomResourceDefinition({ name: crdName });
      return false;
    } catch (error) {
      return error instanceof ApiException && error.code === 404;
    }
  });
  const report = await expectFailure(
    t,
    'k8s.crd',
    /the Profile CRD \(profiles\.kubeflow\.org\) is not installed/,
    /kubectl get crd profiles\.kubeflow\.org/,
  );
  t.match(checkOf(report, 'e2e.dry-run-create'), {
    status: 'fail',
    message: /^not checked/,
    hint: 'fix k8s.crd first',
  });
});

t.test('a stale Lease: the leader is gone', async (t) => {
  renewing = false;
  const lease = await coordination.readNamespacedLease({ namespace: NAMESPACE, name: LEASE });
  lease.spec!.renewTime = new V1MicroTime(Date.now() - 60_000);
  await coordination.replaceNamespacedLease({ namespace: NAMESPACE, name: LEASE, body: lease });
  t.teardown(async () => {
    await renewLease();
    renewing = true;
  });
  await expectFailure(
    t,
    'k8s.leader-lease',
    /Lease profile-irsa-webhook\/profile-irsa-webhook held by .* was last renewed 6\ds ago \(duration 15s\)/,
    /kubectl -n profile-irsa-webhook logs deploy\/kf-profile-irsa-webhook/,
  );
});

t.test('-o json is one document; --wait passes once the fault is repaired', async (t) => {
  await iam.send(new DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: providerArn }));
  t.teardown(() => recreateProvider());
  let repaired = false;
  const result = await runDoctor(
    ['-o', 'json', '--wait', '60s'],
    {},
    {
      onStderr: (text) => {
        // The first retry notice means doctor has seen the fault: repair it now.
        if (!repaired && text.includes('aws.oidc-provider')) {
          repaired = true;
          void recreateProvider();
        }
      },
    },
  );
  t.equal(result.code, 0, result.stderr);
  t.ok(repaired, 'doctor saw the fault and retried');
  t.match(result.stderr, /‼ 1 failing \(aws\.oidc-provider\); retrying, (\d+m)?(\d+s)? left/);
  const report = JSON.parse(result.stdout) as Report;
  t.equal(report.success, true);
  t.equal(checkOf(report, 'aws.oidc-provider').status, 'ok');
  t.ok(result.ms < 60_000, `passed before the time was up (${result.ms} ms)`);
});

t.test('--wait gives up when the time is up', async (t) => {
  await iam.send(new DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: providerArn }));
  t.teardown(() => recreateProvider());
  const result = await runDoctor(['--wait', '3s']);
  t.equal(result.code, 1);
  t.ok(result.ms >= 3000, `waited ${result.ms} ms`);
  t.match(result.stdout, /× IAM has no OIDC provider.* \[aws\.oidc-provider\]\n {4}hint: eksctl/);
  t.match(result.stdout, /\n× 1 failed, 13 passed, 2 warnings\n$/);
});

t.test('bad configuration: every problem at once, exit 2', async (t) => {
  const text = await runDoctor([], { CLUSTER_NAME: '', S3_BUCKET: 'Not_A_Bucket' });
  t.equal(text.code, 2);
  t.match(
    text.stdout,
    /× the configuration is not valid: .*--cluster-name \(CLUSTER_NAME\): the cluster name is required.*--s3-bucket \(S3_BUCKET\): must be an S3 bucket name/,
  );
  t.match(text.stdout, /hint: fix these settings/);
  const json = await runJson([], { CLUSTER_NAME: '' });
  t.equal(json.code, 2);
  t.same(
    checksOf(json.report).map((c) => [c.id, c.status]),
    [['config.valid', 'fail']],
  );
  t.equal((await runDoctor(['--wait', 'soon'])).code, 2, 'a --wait that is no duration');
  t.equal((await runDoctor(['-o', 'yaml'])).code, 2, 'an unknown output format');
});

t.test("the chart's NOTES show doctor forms that work with the distroless image", async (t) => {
  const { stdout } = await helm(
    [
      'install',
      'notes',
      chartDir,
      '--namespace',
      NAMESPACE,
      '--dry-run=client',
      ...REQUIRED_VALUES,
      '--set',
      `permissionsBoundary=${boundaryArn}`,
    ],
    { kubeconfig: cp.kubeconfigPath },
  );
  const notes = stdout.slice(stdout.indexOf('NOTES:'));
  // exec: the image has no shell and no npm; its ENTRYPOINT is the node binary and the CLI.
  const dockerfile = await readFile(join(repoRoot, 'Dockerfile'), 'utf8');
  // (V8 flags may stand between: the exec form names the same binary and CLI without them.)
  t.match(
    dockerfile,
    /^ENTRYPOINT \["\/nodejs\/bin\/node", (?:"--[^"]+", )*"dist\/bin\/cli\.js"\]$/m,
  );
  t.match(
    notes,
    `kubectl -n ${NAMESPACE} exec deploy/notes-profile-irsa-webhook -- /nodejs/bin/node dist/bin/cli.js doctor`,
  );
  // run: the API server takes the pod as printed (under the restricted Pod Security level),
  // and doctor takes its arguments.
  const command = /kubectl -n \S+ run (?:[^\n]*\\\n)*[^\n]*/.exec(notes)?.[0];
  t.ok(command, 'a kubectl run command');
  await core.patchNamespace({
    name: NAMESPACE,
    body: [
      {
        op: 'add',
        path: '/metadata/labels/pod-security.kubernetes.io~1enforce',
        value: 'restricted',
      },
    ],
  });
  await core.createNamespacedServiceAccount({
    namespace: NAMESPACE,
    body: { metadata: { name: 'notes-profile-irsa-webhook' } },
  });
  const dryRun = command!.replace(' --rm -i ', ' --dry-run=server -o json ');
  const { stdout: podJson } = await execFileAsync('bash', ['-c', dryRun], {
    env: { ...process.env, KUBECONFIG: cp.kubeconfigPath },
  });
  const pod = JSON.parse(podJson) as {
    spec: { serviceAccountName: string; containers: { image: string; args: string[] }[] };
  };
  t.equal(pod.spec.serviceAccountName, 'notes-profile-irsa-webhook', "the webhook's IAM role");
  const [container] = pod.spec.containers;
  t.equal(container!.image, 'ghcr.io/kubeflow/profile-irsa-webhook:0.1.0');
  t.same(container!.args.slice(0, 1), ['doctor']);
  t.ok(container!.args.includes(`--permissions-boundary=${boundaryArn}`), 'the release settings');
  const { code, report } = await runJson(
    container!.args.slice(1),
    {
      CLUSTER_NAME: '',
      CLUSTER_REGION: '',
      S3_BUCKET: '',
      POD_NAMESPACE: '',
      WEBHOOK_NAME: '',
      PERMISSIONS_BOUNDARY_ARN: '',
    },
    { judgedAs: {} },
  );
  t.equal(checkOf(report, 'config.valid').status, 'ok', 'doctor takes those arguments');
  t.match(
    checkOf(report, 'k8s.mutating-webhook').message,
    /MutatingWebhookConfiguration notes-profile-irsa-webhook is missing/,
    'and looks for the release the NOTES are for',
  );
  t.equal(code, 1);
});

// Last: stops the webhook. The chart's Service mode, with the Service and EndpointSlice the
// chart and the endpoint controller would make for a webhook pod that has stopped.
t.test('Service with no ready endpoints: the webhook stopped', async (t) => {
  await webhook.stop();
  webhookRunning = false;
  const objects = await helmTemplate([
    RELEASE,
    chartDir,
    ...REQUIRED_VALUES,
    '--namespace',
    NAMESPACE,
    '--set-string',
    `webhook.caBundle=${Buffer.from(webhook.certs.caCert).toString('base64')}`,
    '--show-only',
    'templates/mutatingwebhookconfiguration.yaml',
    '--show-only',
    'templates/validatingwebhookconfiguration.yaml',
    '--show-only',
    'templates/service.yaml',
  ]);
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const object of objects) {
    if (object.kind === 'Service') {
      await api.create(object);
    } else {
      const current = await api.read({
        ...object,
        metadata: { name: object.metadata.name },
      });
      await api.replace({
        ...object,
        metadata: { ...object.metadata, resourceVersion: current.metadata!.resourceVersion },
      } as never);
    }
  }
  const endpointSlices = kc.makeApiClient(DiscoveryV1Api);
  const slice = {
    metadata: {
      name: `${NAME}-abcde`,
      namespace: NAMESPACE,
      labels: {
        'kubernetes.io/service-name': NAME,
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      },
    },
    addressType: 'IPv4',
    ports: [{ name: 'https', port: 9443, protocol: 'TCP' }],
    endpoints: [
      {
        addresses: ['127.0.0.1'],
        conditions: { ready: true },
      },
    ],
  };
  // Why the API server cannot be routed to this webhook through the Service here:
  const refused = await endpointSlices
    .createNamespacedEndpointSlice({ namespace: NAMESPACE, body: slice })
    .then(
      () => 'created',
      (error: unknown) => apiErrorMessage(error),
    );
  t.match(refused, /may not be in the loopback range/, 'EndpointSlices may not point at loopback');
  // The stopped pod, as the endpoint controller leaves it while it terminates: not ready.
  slice.endpoints = [
    {
      addresses: ['10.244.1.17'],
      conditions: { ready: false, serving: false, terminating: true } as never,
      targetRef: { kind: 'Pod', name: `${NAME}-5d8f7c9b4-x2k7q`, namespace: NAMESPACE },
    } as never,
  ];
  await endpointSlices.createNamespacedEndpointSlice({
    namespace: NAMESPACE,
    body: slice,
  });

  const report = await expectFailure(
    t,
    'k8s.service-endpoints',
    /Service profile-irsa-webhook\/kf-profile-irsa-webhook has no ready endpoints \(not ready: kf-profile-irsa-webhook-5d8f7c9b4-x2k7q\): the API server cannot call the webhook/,
    /kubectl -n profile-irsa-webhook get pods -l app\.kubernetes\.io\/instance=kf,app\.kubernetes\.io\/name=profile-irsa-webhook/,
  );
  t.match(checkOf(report, 'k8s.mutating-webhook'), {
    status: 'ok',
    message: /calls Service profile-irsa-webhook\/kf-profile-irsa-webhook:443\/mutate/,
  });
  t.match(checkOf(report, 'k8s.serving-certificate'), {
    status: 'fail',
    hint: 'fix k8s.service-endpoints first',
  });
  t.match(checkOf(report, 'e2e.dry-run-create'), {
    status: 'fail',
    hint: 'fix k8s.service-endpoints first',
  });
});

async function eventually(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms`);
    await sleep(200);
  }
}

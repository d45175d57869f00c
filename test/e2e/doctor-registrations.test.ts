import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  AdmissionregistrationV1Api,
  type V1MutatingWebhook,
  type V1ValidatingWebhook,
} from '@kubernetes/client-node';
import type { Report } from '../../src/doctor/runner.js';
import { createCa } from '../../tools/dev/certs.js';
import { registerWebhook } from '../../tools/dev/cluster.js';
import { installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';
import { REQUIRED_ENV } from '../helpers/settings.js';

// The registrations as the chart installs them on the real API server, then edited the way an
// operator (or a GitOps overlay) might: each edit is one doctor must fail. The webhook itself is
// not running; only the registration checks are judged here.

const CLI = fileURLToPath(new URL('../../dist/bin/cli.js', import.meta.url));
const NAME = 'kf-profile-irsa-webhook';

const cp = await startControlPlane();
t.teardown(() => cp.stop());
await installProfileCrd(cp.kubeConfig);
const ca = await createCa();
await registerWebhook(cp.kubeConfig, 'https://127.0.0.1:1/', ca.cert, { release: 'kf' });
const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api);

/** Doctor as a user runs it; AWS points at a closed port, so its checks fail fast and are ignored. */
function runDoctor(
  env: Record<string, string> = {},
): Promise<{ code: number | null; report: Report }> {
  const child = spawn(process.execPath, [CLI, 'doctor', '-o', 'json'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      AWS_ENDPOINT_URL_IAM: 'http://127.0.0.1:9',
      AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
      KUBECONFIG: cp.kubeconfigPath,
      ...REQUIRED_ENV,
      POD_NAMESPACE: 'profile-irsa-webhook',
      WEBHOOK_NAME: NAME,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve, reject) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      try {
        resolve({ code, report: JSON.parse(stdout) as Report });
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

type Kind = 'mutating' | 'validating';
const ID = { mutating: 'k8s.mutating-webhook', validating: 'k8s.validating-webhook' } as const;

/** Edits every webhook of the live configuration (read, change, replace); returns the undo. */
async function edit(
  kind: Kind,
  change: (webhook: V1MutatingWebhook | V1ValidatingWebhook) => void,
) {
  const read = () =>
    kind === 'mutating'
      ? admission.readMutatingWebhookConfiguration({ name: NAME })
      : admission.readValidatingWebhookConfiguration({ name: NAME });
  const replace = (body: Awaited<ReturnType<typeof read>>) =>
    kind === 'mutating'
      ? admission.replaceMutatingWebhookConfiguration({ name: NAME, body })
      : admission.replaceValidatingWebhookConfiguration({ name: NAME, body });
  const object = await read();
  const original = structuredClone(object);
  for (const webhook of object.webhooks ?? []) change(webhook);
  await replace(object);
  return async () => {
    original.metadata!.resourceVersion = (await read()).metadata!.resourceVersion!;
    await replace(original);
  };
}

async function expectRegistrationFailure(
  t: Test,
  kind: Kind,
  change: (webhook: V1MutatingWebhook | V1ValidatingWebhook) => void,
  message: RegExp,
  env: Record<string, string> = {},
): Promise<void> {
  const undo = await edit(kind, change);
  t.teardown(undo);
  const { code, report } = await runDoctor(env);
  t.equal(code, 1, 'exit 1');
  const check = report.sections.flatMap((s) => s.checks).find((c) => c.id === ID[kind])!;
  t.equal(check.status, 'fail', check.message);
  t.match(check.message, message);
}

t.test('the registrations as the chart installs them pass', async (t) => {
  const { report } = await runDoctor();
  const checks = report.sections.flatMap((s) => s.checks);
  for (const id of Object.values(ID)) {
    const check = checks.find((c) => c.id === id)!;
    t.equal(check.status, 'ok', `${id}: ${check.message}`);
  }
});

for (const kind of ['mutating', 'validating'] as const) {
  t.test(`${kind}: matchPolicy Exact`, async (t) => {
    await expectRegistrationFailure(
      t,
      kind,
      (webhook) => (webhook.matchPolicy = 'Exact'),
      /matchPolicy is Exact, not Equivalent: writes through another version/,
    );
  });

  t.test(`${kind}: failurePolicy Ignore`, async (t) => {
    await expectRegistrationFailure(
      t,
      kind,
      (webhook) => (webhook.failurePolicy = 'Ignore'),
      /failurePolicy is Ignore, not Fail/,
    );
  });

  t.test(`${kind}: a namespaceSelector that skips Profiles`, async (t) => {
    await expectRegistrationFailure(
      t,
      kind,
      (webhook) => (webhook.namespaceSelector = { matchLabels: { 'irsa-webhook': 'enabled' } }),
      /its namespaceSelector \{"matchLabels":\{"irsa-webhook":"enabled"\}\} is not the chart's/,
    );
  });

  t.test(`${kind}: an objectSelector that skips Profiles`, async (t) => {
    await expectRegistrationFailure(
      t,
      kind,
      (webhook) =>
        (webhook.objectSelector = {
          matchExpressions: [{ key: 'skip-irsa', operator: 'DoesNotExist' }],
        }),
      /its objectSelector .*skip-irsa.* is not the chart's/,
    );
  });

  t.test(`${kind}: a timeout the webhook's own request timeout does not cover`, async (t) => {
    // The API server refuses more than 30 s itself; beyond that the budget is the webhook's.
    await expectRegistrationFailure(
      t,
      kind,
      (webhook) => (webhook.timeoutSeconds = 30),
      /timeoutSeconds 30 is not below the webhook's --request-timeout-seconds 20/,
      { REQUEST_TIMEOUT_SECONDS: '20' },
    );
  });
}

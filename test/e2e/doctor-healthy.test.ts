import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DeleteOpenIDConnectProviderCommand } from '@aws-sdk/client-iam';
import { expectedFor } from '../../src/doctor/registration.js';
import type { WebhookKind } from '../../src/doctor/facts.js';
import { CHECK_PROFILE_NAME } from '../../src/doctor/judge-e2e.js';
import type { Report } from '../../src/doctor/runner.js';
import { profiles } from '../../tools/dev/cluster.js';
import {
  checkOf,
  checksOf,
  CLUSTER_ISSUER,
  HOLDER,
  IDS,
  NAMESPACE,
  startDoctorRig,
} from '../helpers/doctor-rig.js';
import {
  chartDir,
  helm,
  repoRoot,
  renderWebhookConfigurations,
  REQUIRED_VALUES,
} from '../helpers/helm.js';

// doctor on a healthy install: every check passes, the output is one document in two forms,
// --wait, a bad configuration, and the forms of the command the chart's NOTES print.

const execFileAsync = promisify(execFile);
const rig = await startDoctorRig(t);
const { iam, cp, kc, core, webhook, providerArn, boundaryArn, runDoctor, runJson } = rig;

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

t.test('a healthy install passes every check', async (t) => {
  const rolesBefore = await rig.iamRoleCount();
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

  t.equal(await rig.iamRoleCount(), rolesBefore, 'nothing written to IAM');
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

t.test('-o json is one document; --wait passes once the fault is repaired', async (t) => {
  await iam.send(new DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: providerArn }));
  t.teardown(() => rig.recreateProvider());
  let repaired = false;
  const result = await runDoctor(
    ['-o', 'json', '--wait', '60s'],
    {},
    {
      onStderr: (text) => {
        // The first retry notice means doctor has seen the fault: repair it now.
        if (!repaired && text.includes('aws.oidc-provider')) {
          repaired = true;
          void rig.recreateProvider();
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
  t.teardown(() => rig.recreateProvider());
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

// The chart against a real API server (the local control plane): what users run, helm install
// and helm upgrade, and what the end-to-end suite registers.

import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  type V1MutatingWebhook,
  type V1ValidatingWebhook,
} from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';
import {
  chartDir,
  helm,
  helmTemplate,
  renderWebhookConfigurations,
  REQUIRED_VALUES,
} from '../helpers/helm.js';

const run = promisify(execFile);
const cp = await startControlPlane();
t.teardown(() => cp.stop());
await installProfileCrd(cp.kubeConfig);
const kubeconfig = cp.kubeconfigPath;
const work = await mkdtemp(join(tmpdir(), 'chart-apiserver-'));
t.teardown(() => rm(work, { recursive: true, force: true }));

const core = cp.kubeConfig.makeApiClient(CoreV1Api);
const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api);

t.test('the rendered chart is accepted by server-side apply', async (t) => {
  await core.createNamespace({ body: { metadata: { name: 'ssa' } } });
  for (const values of ['defaults-with-required-values.yaml', 'existing-secret-values.yaml']) {
    const objects = await helmTemplate([
      'ssa',
      chartDir,
      '-n',
      'ssa',
      '-f',
      join(chartDir, 'ci', values),
    ]);
    // kubectl applies with -n only objects of that namespace: the Events Role lives in default.
    const groups = new Map<string, typeof objects>();
    for (const object of objects) {
      const namespace = (object.metadata as { namespace?: string }).namespace ?? 'ssa';
      groups.set(namespace, [...(groups.get(namespace) ?? []), object]);
    }
    t.same([...groups.keys()].sort(), ['default', 'ssa'], `${values}: the namespaces written`);
    for (const [namespace, group] of groups) {
      const file = join(work, `rendered-${namespace}-${values}`);
      await writeFile(file, group.map((o) => `---\n${toYaml(o)}`).join(''));
      const { stdout } = await run('kubectl', [
        '--kubeconfig',
        kubeconfig,
        'apply',
        '--server-side',
        '-n',
        namespace,
        '-f',
        file,
      ]);
      t.match(stdout, /serverside-applied/, values);
      for (const object of group) {
        t.match(
          stdout,
          new RegExp(`${object.metadata.name}`),
          `${values}: ${object.kind} ${object.metadata.name}`,
        );
      }
      await run('kubectl', [
        '--kubeconfig',
        kubeconfig,
        'delete',
        '-n',
        namespace,
        '-f',
        file,
        '--wait=false',
      ]);
    }
  }
});

t.test('helm install and upgrade: the generated CA and Secret survive unchanged', async (t) => {
  const args = ['irsa', chartDir, '-n', 'irsa-system', ...REQUIRED_VALUES];
  await helm(['install', ...args, '--create-namespace'], { kubeconfig });
  const secretName = 'irsa-profile-irsa-webhook-tls';
  const before = await core.readNamespacedSecret({ name: secretName, namespace: 'irsa-system' });
  const caBefore = before.data?.['ca.crt'];
  t.ok(caBefore, 'the Secret holds a CA');
  const mutating = await admission.readMutatingWebhookConfiguration({
    name: 'irsa-profile-irsa-webhook',
  });
  t.equal(mutating.webhooks?.[0]?.clientConfig.caBundle, caBefore, 'caBundle is the Secret CA');

  await helm(['upgrade', ...args, '--set', 'logLevel=debug'], { kubeconfig });
  const after = await core.readNamespacedSecret({ name: secretName, namespace: 'irsa-system' });
  t.same(after.data, before.data, 'CA, certificate and key unchanged by the upgrade');
  const validating = await admission.readValidatingWebhookConfiguration({
    name: 'irsa-profile-irsa-webhook',
  });
  t.equal(validating.webhooks?.[0]?.clientConfig.caBundle, caBefore, 'caBundle unchanged');
  const history = await helm(['history', 'irsa', '-n', 'irsa-system', '-o', 'json'], {
    kubeconfig,
  });
  t.equal((JSON.parse(history.stdout) as unknown[]).length, 2, 'two revisions');
});

t.test(
  'the installed webhook configurations are the ones the end-to-end suite registers',
  async (t) => {
    const installedMutating = (
      await admission.readMutatingWebhookConfiguration({ name: 'irsa-profile-irsa-webhook' })
    ).webhooks!;
    const installedValidating = (
      await admission.readValidatingWebhookConfiguration({ name: 'irsa-profile-irsa-webhook' })
    ).webhooks!;
    const local = await renderWebhookConfigurations({ url: 'https://127.0.0.1:19443', ca: 'Y2E=' });
    const withoutClient = (hooks: (V1MutatingWebhook | V1ValidatingWebhook)[]) =>
      hooks.map(({ clientConfig: _clientConfig, ...rest }) => rest);
    const normalize = (hooks: unknown[]) =>
      (hooks as Record<string, unknown>[]).map((hook) => ({
        name: hook.name,
        rules: hook.rules,
        matchPolicy: hook.matchPolicy,
        sideEffects: hook.sideEffects,
        failurePolicy: hook.failurePolicy,
        timeoutSeconds: hook.timeoutSeconds,
        admissionReviewVersions: hook.admissionReviewVersions,
        objectSelector: hook.objectSelector ?? {},
        matchConditions: hook.matchConditions,
      }));
    const localMutating = (local.mutating as unknown as { webhooks: unknown[] }).webhooks;
    const localValidating = (local.validating as unknown as { webhooks: unknown[] }).webhooks;
    const installedM = normalize(withoutClient(installedMutating));
    t.same(installedM, normalize(localMutating), 'mutating: same rules and policies');
    t.same(
      normalize(withoutClient(installedValidating)),
      normalize(localValidating),
      'validating: same rules and policies',
    );
    t.equal(installedM[0]!.sideEffects, 'NoneOnDryRun');
    t.same(
      installedMutating[0]!.matchConditions?.map((c) => c.name),
      ['create-or-plugins-change', 'not-being-deleted'],
      'the API server kept the matchConditions',
    );
    t.equal(installedM[0]!.matchPolicy, 'Equivalent');
    t.equal(installedMutating[0]!.clientConfig.service?.path, '/mutate');
    t.equal(installedValidating[0]!.clientConfig.service?.path, '/validate');
  },
);

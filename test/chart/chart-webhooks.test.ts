// The chart's webhook configurations, rendered by the real helm binary: rules, timeouts and
// failure policies, the matchConditions that keep routine updates away, and the configurations
// alone for a locally running webhook.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import {
  chartDir,
  helmTemplate,
  renderWebhookConfigurations,
  type K8sObject,
  REQUIRED_VALUES,
} from '../helpers/helm.js';
import {
  NAMESPACE,
  FULLNAME,
  ciFile,
  FAKE_CA_PEM,
  FAKE_CA_B64,
  render,
  renderDefaults,
  type Any,
  webhooks,
  rejects,
} from '../helpers/chart-render.js';

t.test('webhook configurations', async (t) => {
  const objects = await renderDefaults();
  const [mutating] = webhooks(objects, 'MutatingWebhookConfiguration');
  const [validating] = webhooks(objects, 'ValidatingWebhookConfiguration');
  t.equal(webhooks(objects, 'MutatingWebhookConfiguration').length, 1);
  t.equal(webhooks(objects, 'ValidatingWebhookConfiguration').length, 1);
  t.equal(mutating.name, 'mutate.profile-irsa-webhook.kubeflow.org');
  t.equal(validating.name, 'validate.profile-irsa-webhook.kubeflow.org');

  for (const [hook, path] of [
    [mutating, '/mutate'],
    [validating, '/validate'],
  ]) {
    t.same(hook.rules, [
      {
        apiGroups: ['kubeflow.org'],
        apiVersions: ['v1'],
        resources: ['profiles'],
        operations: ['CREATE', 'UPDATE'],
        scope: 'Cluster',
      },
    ]);
    t.equal(hook.matchPolicy, 'Equivalent');
    t.equal(hook.sideEffects, 'NoneOnDryRun');
    t.same(hook.admissionReviewVersions, ['v1']);
    t.equal(hook.failurePolicy, 'Fail');
    t.same(hook.clientConfig.service, {
      name: FULLNAME,
      namespace: NAMESPACE,
      path,
      port: 443,
    });
    t.notOk(hook.clientConfig.url);
    t.notOk(hook.namespaceSelector, 'no namespaceSelector (Profiles are cluster-scoped)');
  }
  t.equal(mutating.timeoutSeconds, 10);
  t.equal(validating.timeoutSeconds, 5);
  t.equal(mutating.reinvocationPolicy, 'IfNeeded');
  t.same(mutating.objectSelector, {
    matchExpressions: [
      {
        key: 'profile-irsa-webhook.kubeflow.org/skip-mutation',
        operator: 'NotIn',
        values: ['true'],
      },
    ],
  });
  t.notOk(validating.objectSelector, 'no opt-out of validation');

  const tuned = await renderDefaults(
    '--set',
    'webhook.mutating.failurePolicy=Ignore',
    '--set',
    'webhook.mutating.timeoutSeconds=15',
    '--set',
    'webhook.validating.timeoutSeconds=7',
  );
  const [m2] = webhooks(tuned, 'MutatingWebhookConfiguration');
  const [v2] = webhooks(tuned, 'ValidatingWebhookConfiguration');
  t.equal(m2.failurePolicy, 'Ignore');
  t.equal(m2.timeoutSeconds, 15);
  t.equal(v2.timeoutSeconds, 7);
  t.equal(v2.failurePolicy, 'Fail', 'validation always fails closed');
  await rejects(
    t,
    [...REQUIRED_VALUES, '--set', 'webhook.validating.failurePolicy=Ignore'],
    /failurePolicy|additional propert/,
    'validation failurePolicy is not configurable',
  );
});

t.test('webhook configurations: matchConditions keep routine updates away', async (t) => {
  const pluginsChanged =
    "request.operation == 'CREATE' ||\n" +
    '(has(object.spec) && has(object.spec.plugins) ? object.spec.plugins : []) !=\n' +
    '(has(oldObject.spec) && has(oldObject.spec.plugins) ? oldObject.spec.plugins : [])';
  const notDeleting =
    '!has(object.metadata.deletionTimestamp) &&\n' +
    '(oldObject == null || !has(oldObject.metadata.deletionTimestamp))';
  const conditionsOf = (objects: K8sObject[]) => ({
    mutating: webhooks(objects, 'MutatingWebhookConfiguration')[0].matchConditions,
    validating: webhooks(objects, 'ValidatingWebhookConfiguration')[0].matchConditions,
  });
  // Folded YAML scalars: the line breaks are spaces in the expression.
  const expected = {
    mutating: [
      { name: 'create-or-plugins-change', expression: pluginsChanged.replaceAll('\n', ' ') },
      { name: 'not-being-deleted', expression: notDeleting.replaceAll('\n', ' ') },
    ],
    validating: [
      { name: 'create-or-plugins-change', expression: pluginsChanged.replaceAll('\n', ' ') },
    ],
  };
  t.same(conditionsOf(await renderDefaults()), expected, 'by default (helm template)');
  for (const version of ['1.28.0', '1.30.4', 'v1.31.2-eks-7f9249a', '1.35.4']) {
    t.same(conditionsOf(await renderDefaults('--kube-version', version)), expected, version);
  }
  for (const version of ['1.25.0', '1.27.16', 'v1.27.9-eks-5e0fdde']) {
    t.same(
      conditionsOf(await renderDefaults('--kube-version', version)),
      { mutating: undefined, validating: undefined },
      `${version}: none (an older API server would drop them)`,
    );
  }
  await rejects(
    t,
    [...REQUIRED_VALUES, '--kube-version', '1.24.17'],
    /chart requires kubeVersion: >=1\.25\.0-0/,
    'Kubernetes older than the minimum',
  );
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8'));
  t.equal(chart.kubeVersion, '>=1.25.0-0', 'Chart.yaml states the minimum');

  // What `npm run dev` and the tests register comes from the same templates.
  const local = await renderWebhookConfigurations({ url: 'https://127.0.0.1:19443', ca: 'Y2E=' });
  t.same(
    conditionsOf([local.mutating, local.validating]),
    expected,
    'renderWebhookConfigurations carries them',
  );
});

t.test('local development: the configurations alone, calling a URL', async (t) => {
  // Exactly what the end-to-end suite runs.
  const exact = await helmTemplate([
    't',
    chartDir,
    '--set',
    `clusterName=c,region=us-east-1,s3Bucket=kf-bucket,allowNoBoundary=true,webhook.url=https://127.0.0.1:19443,webhook.caBundle=${FAKE_CA_B64}`,
    '--show-only',
    'templates/mutatingwebhookconfiguration.yaml',
    '--show-only',
    'templates/validatingwebhookconfiguration.yaml',
  ]);
  t.same(
    exact.map((o) => o.kind),
    ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'],
  );
  t.equal(
    webhooks(exact, 'MutatingWebhookConfiguration')[0].clientConfig.url,
    'https://127.0.0.1:19443/mutate',
  );

  const { mutating, validating } = await renderWebhookConfigurations({
    url: 'https://127.0.0.1:19443/',
    ca: FAKE_CA_PEM,
  });
  for (const [config, path] of [
    [mutating, '/mutate'],
    [validating, '/validate'],
  ] as const) {
    const hook = (config as Any).webhooks[0];
    t.same(hook.clientConfig, { url: `https://127.0.0.1:19443${path}`, caBundle: FAKE_CA_B64 });
    t.notOk(config.metadata.annotations, 'no cert-manager annotation');
  }

  const only = await render('-f', ciFile('local-url-values.yaml'));
  t.same(
    only.map((o) => o.kind).sort(),
    ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'],
    'configurationsOnly renders nothing else',
  );
  t.equal(webhooks(only, 'MutatingWebhookConfiguration')[0].timeoutSeconds, 15);

  await rejects(
    t,
    [...REQUIRED_VALUES, '--set', 'webhook.url=https://127.0.0.1:19443'],
    /caBundle/,
    'a URL without a caBundle',
  );
  await rejects(
    t,
    [...REQUIRED_VALUES, '--set', 'webhook.configurationsOnly=true'],
    /webhook\.caBundle is required with webhook\.configurationsOnly/,
    'configurations alone without a caBundle',
  );
});

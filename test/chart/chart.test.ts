// The Helm chart, rendered by the real helm binary: lint, template, and assertions on the
// rendered objects (no snapshots), plus the values schema refusing bad input.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { SERVE_OPTIONS } from '../../src/config/options.js';
import {
  chartDir,
  expectedRoleRules,
  findObject,
  helm,
  HelmError,
  helmTemplate,
  REQUIRED_VALUES,
  renderWebhookConfigurations,
  type K8sObject,
} from '../helpers/helm.js';

const RELEASE = 't';
const NAMESPACE = 'irsa';
const FULLNAME = 't-profile-irsa-webhook';
const ciDir = join(chartDir, 'ci');
const ciFiles = readdirSync(ciDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const ciFile = (name: string): string => join(ciDir, name);
const values = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<
  string,
  unknown
>;
const FAKE_CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const FAKE_CA_B64 = Buffer.from(FAKE_CA_PEM).toString('base64');

/** `helm template t <chart> -n irsa <args>` */
function render(...args: string[]): Promise<K8sObject[]> {
  return helmTemplate([RELEASE, chartDir, '--namespace', NAMESPACE, ...args]);
}
const renderDefaults = (...args: string[]) => render(...REQUIRED_VALUES, ...args);

// Loose accessors for rendered objects; a wrong shape fails the assertion that reads it.
/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;
const spec = (o: K8sObject): Any => (o as Any).spec;
const podSpec = (objects: K8sObject[]): Any =>
  spec(findObject(objects, 'Deployment')).template.spec;
const container = (objects: K8sObject[]): Any => podSpec(objects).containers[0];
const webhooks = (objects: K8sObject[], kind: string): Any[] =>
  (findObject(objects, kind) as Any).webhooks;
/* eslint-enable @typescript-eslint/no-explicit-any */

function envMap(objects: K8sObject[]): Map<string, unknown> {
  const env = container(objects).env as { name: string; value?: string; valueFrom?: unknown }[];
  return new Map(env.map((e) => [e.name, e.value ?? e.valueFrom]));
}

function containerPort(objects: K8sObject[], name: string): number {
  const port = (container(objects).ports as { name: string; containerPort: number }[]).find(
    (p) => p.name === name,
  );
  if (!port) throw new Error(`no container port named ${name}`);
  return port.containerPort;
}

/** Asserts that `helm template` with `args` fails and helm's message matches `pattern`. */
async function rejects(tt: Test, args: string[], pattern: RegExp, what: string): Promise<void> {
  try {
    await render(...args);
  } catch (err) {
    if (!(err instanceof HelmError)) throw err;
    tt.match(err.stderr, pattern, `${what}: helm names the problem`);
    return;
  }
  tt.fail(`${what}: helm template succeeded but should have failed`);
}

t.test('helm lint --strict', async (t) => {
  t.test('defaults with only the required values', async (t) => {
    const { stdout } = await helm(['lint', '--strict', chartDir, ...REQUIRED_VALUES]);
    t.match(stdout, /0 chart\(s\) failed/);
  });
  t.ok(ciFiles.length >= 5, 'several ci value files');
  for (const file of ciFiles) {
    t.test(`ci/${file}`, async (t) => {
      const { stdout } = await helm(['lint', '--strict', chartDir, '-f', ciFile(file)]);
      t.match(stdout, /0 chart\(s\) failed/);
    });
  }
});

t.test('every ci value file renders, and what it renders is consistent', async (t) => {
  for (const file of ciFiles) {
    t.test(file, async (t) => {
      const objects = await render('-f', ciFile(file));
      t.ok(objects.length >= 2);
      for (const o of objects) {
        t.ok(o.apiVersion && o.kind && o.metadata?.name, `${o.kind} has apiVersion/kind/name`);
        const labels = (o.metadata.labels ?? {}) as Record<string, string>;
        t.equal(labels['app.kubernetes.io/name'], 'profile-irsa-webhook', `${o.kind} name label`);
        t.equal(labels['app.kubernetes.io/instance'], RELEASE, `${o.kind} instance label`);
        t.equal(labels['app.kubernetes.io/managed-by'], 'Helm', `${o.kind} managed-by label`);
      }
      // Each webhook configuration has a caBundle, or cert-manager injects one.
      for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
        const config = findObject(objects, kind);
        const injected = (config.metadata.annotations as Record<string, string> | undefined)?.[
          'cert-manager.io/inject-ca-from'
        ];
        const caBundle = webhooks(objects, kind)[0].clientConfig.caBundle as string | undefined;
        t.ok(Boolean(injected) !== Boolean(caBundle), `${kind}: exactly one CA source`);
      }
    });
  }
});

t.test('deployment: availability, hardening, probes, mounts', async (t) => {
  const objects = await renderDefaults();
  const deployment = findObject(objects, 'Deployment', FULLNAME);
  const pod = podSpec(objects);
  const c = container(objects);

  t.equal(deployment.metadata.namespace, NAMESPACE);
  t.equal(spec(deployment).replicas, 2);
  t.same(spec(deployment).strategy, {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
  });
  t.same(
    pod.topologySpreadConstraints.map((c: { topologyKey: string; whenUnsatisfiable: string }) => [
      c.topologyKey,
      c.whenUnsatisfiable,
    ]),
    [
      ['topology.kubernetes.io/zone', 'ScheduleAnyway'],
      ['kubernetes.io/hostname', 'ScheduleAnyway'],
    ],
  );
  const selector = spec(deployment).selector.matchLabels;
  t.match(spec(deployment).template.metadata.labels, selector, 'pods carry the selector labels');
  for (const tsc of pod.topologySpreadConstraints) t.same(tsc.labelSelector.matchLabels, selector);

  const pdb = findObject(objects, 'PodDisruptionBudget', FULLNAME);
  t.equal(spec(pdb).minAvailable, 1);
  t.same(spec(pdb).selector.matchLabels, selector);

  t.match(pod.securityContext, {
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  });
  t.ok([10001, 65532].includes(pod.securityContext.runAsUser), 'non-root uid');
  t.match(c.securityContext, {
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  t.notOk(c.securityContext.capabilities.add, 'no capability added');
  t.ok(c.resources.requests?.cpu && c.resources.requests?.memory, 'requests set');
  t.ok(c.resources.limits?.memory, 'memory limit set');
  t.same(c.args, ['serve']);
  t.equal(c.image, `ghcr.io/kubeflow/profile-irsa-webhook:0.1.0`, 'tag defaults to appVersion');

  t.equal(containerPort(objects, 'https'), 9443);
  t.equal(containerPort(objects, 'metrics'), 8080);
  for (const [probe, path] of [
    ['livenessProbe', '/healthz'],
    ['readinessProbe', '/readyz'],
  ] as const) {
    t.equal(c[probe].httpGet.path, path, `${probe} path`);
    t.equal(containerPort(objects, c[probe].httpGet.port), 8080, `${probe} on the ops port`);
    t.equal(c[probe].httpGet.scheme, 'HTTP');
  }

  // The certificate Secret is mounted read-only as a directory (no subPath), so kubelet's
  // atomic ..data symlink swap reaches the file watcher.
  const env = envMap(objects);
  const mount = c.volumeMounts.find((m: { name: string }) => m.name === 'tls');
  t.equal(mount.readOnly, true);
  t.notOk(mount.subPath, 'no subPath');
  t.equal(env.get('TLS_CERT_FILE'), `${mount.mountPath}/tls.crt`);
  t.equal(env.get('TLS_KEY_FILE'), `${mount.mountPath}/tls.key`);
  const volume = pod.volumes.find((v: { name: string }) => v.name === 'tls');
  t.equal(volume.secret.secretName, `${FULLNAME}-tls`);
  findObject(objects, 'Secret', volume.secret.secretName);

  // Graceful shutdown: no preStop by default (the image has no shell; the binary delays).
  t.notOk(c.lifecycle, 'no preStop hook by default');
  const delay = Number(env.get('SHUTDOWN_DELAY_SECONDS'));
  t.equal(delay, 5);
  t.ok(pod.terminationGracePeriodSeconds >= delay + 10, 'grace period covers delay + drain');
  t.same(env.get('POD_NAMESPACE'), { fieldRef: { fieldPath: 'metadata.namespace' } });
  t.equal(pod.serviceAccountName, FULLNAME);
  findObject(objects, 'ServiceAccount', FULLNAME);
});

t.test('deployment: preStop sleep handler when asked for', async (t) => {
  const objects = await renderDefaults(
    '--set',
    'shutdown.preStopSleepSeconds=7',
    '--set',
    'shutdown.delaySeconds=3',
  );
  t.same(container(objects).lifecycle, { preStop: { sleep: { seconds: 7 } } });
  t.equal(podSpec(objects).terminationGracePeriodSeconds, 7 + 3 + 10 + 5);
});

t.test('env: every value reaches the binary under its variable', async (t) => {
  const defaults = envMap(await renderDefaults());
  t.match(Object.fromEntries(defaults), {
    CLUSTER_NAME: 'c',
    CLUSTER_REGION: 'us-east-1',
    S3_BUCKET: 'kf-bucket',
    ROLE_NAME_TEMPLATE: '{namespace}-{cluster}-role',
    ROLE_PATH: '/kubeflow-profiles/',
    SERVICE_ACCOUNTS: 'default-editor',
    S3_ACCESS: 'readwrite',
    ROLE_MODE: 'provision',
    REQUIRE_PLUGIN: 'true',
    ROLE_CACHE_TTL_SECONDS: '300',
    ROLE_CREATE_RATE: '1',
    ROLE_CREATE_BURST: '30',
    LOG_LEVEL: 'info',
    PORT: '9443',
    OPS_PORT: '8080',
  });
  for (const unset of [
    'AWS_ACCOUNT_ID',
    'OIDC_ISSUER',
    'PERMISSIONS_BOUNDARY_ARN',
    'ALLOWED_ROLE_ARNS',
    'RESERVED_NAMESPACES',
    'EXTRA_S3_BUCKETS',
    'EXTRA_ROLE_TAGS',
    'MAX_SESSION_DURATION',
    'S3_PREFIXES',
    'S3_SHARED_PREFIXES',
    'S3_SHARED_ACCESS',
    'S3_ALLOW_BUCKET_WRITES',
  ]) {
    t.notOk(defaults.has(unset), `${unset} is left to the binary's default when empty`);
  }

  const lookup = envMap(await renderDefaults('--set', 'mode=lookup'));
  t.equal(lookup.get('ROLE_MODE'), 'lookup', 'mode=lookup gives ROLE_MODE=lookup');

  const all = envMap(await render('-f', ciFile('everything-on-values.yaml')));
  t.match(Object.fromEntries(all), {
    CLUSTER_NAME: 'kubeflow-prod',
    CLUSTER_REGION: 'us-gov-west-1',
    S3_BUCKET: 'kubeflow-prod-pipelines',
    AWS_ACCOUNT_ID: '111122223333',
    OIDC_ISSUER: 'https://oidc.eks.us-gov-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE',
    ROLE_NAME_TEMPLATE: 'kf-{cluster}-{namespace}',
    ROLE_PATH: '/kubeflow/profiles/',
    SERVICE_ACCOUNTS: 'default-editor,default-viewer',
    S3_ACCESS: 'readonly',
    S3_PREFIXES: 'kfp',
    S3_SHARED_PREFIXES: 'shared/',
    S3_SHARED_ACCESS: 'readwrite',
    PERMISSIONS_BOUNDARY_ARN: 'arn:aws-us-gov:iam::111122223333:policy/kubeflow-profile-boundary',
    ROLE_MODE: 'lookup',
    ALLOWED_ROLE_ARNS: 'arn:aws-us-gov:iam::111122223333:role/legacy/*',
    RESERVED_NAMESPACES: 'kube-system,kubeflow,monitoring',
    LOG_LEVEL: 'debug',
    EXTRA_S3_BUCKETS: 'kubeflow-prod-datasets',
    EXTRA_ROLE_TAGS: 'cost-center=4711,team=ml-platform',
    MAX_SESSION_DURATION: '7200',
    REQUIRE_PLUGIN: 'false',
    ROLE_CACHE_TTL_SECONDS: '600',
    ROLE_CREATE_RATE: '0.5',
    ROLE_CREATE_BURST: '10',
    SHUTDOWN_DELAY_SECONDS: '10',
    AWS_STS_REGIONAL_ENDPOINTS: 'regional',
  });
  for (const [name, value] of all) {
    if (typeof value === 'string') t.type(value, 'string', `${name} is a string`);
  }

  // What the chart sets is what the binary reads: every variable is one it knows, and the
  // resulting configuration passes the binary's own validation.
  const known = new Set(SERVE_OPTIONS.flatMap((option) => option.env));
  for (const [label, env] of [
    ['defaults', defaults],
    ['everything on', all],
  ] as const) {
    for (const name of env.keys()) {
      if (!name.startsWith('AWS_'))
        t.ok(known.has(name), `${label}: ${name} is read by the binary`);
    }
    const strings = Object.fromEntries([...env].filter(([, v]) => typeof v === 'string')) as Record<
      string,
      string
    >;
    const loaded = loadConfig({}, strings, { tls: true });
    t.ok(loaded.ok, `${label}: the binary accepts the chart's configuration`);
    if (!loaded.ok) t.comment(loaded.problems.join('\n'));
  }
});

t.test('service, service account and least RBAC', async (t) => {
  const objects = await renderDefaults(
    '--set',
    'serviceAccount.roleArn=arn:aws:iam::111122223333:role/profile-irsa-webhook',
  );
  const service = findObject(objects, 'Service', FULLNAME);
  const ports = spec(service).ports as { name: string; port: number; targetPort: string }[];
  t.same(
    ports.map((p) => [p.name, p.port, containerPort(objects, p.targetPort)]),
    [
      ['https', 443, 9443],
      ['metrics', 8080, 8080],
    ],
  );
  t.same(spec(service).selector, spec(findObject(objects, 'Deployment')).selector.matchLabels);

  const sa = findObject(objects, 'ServiceAccount', FULLNAME);
  t.same(sa.metadata.annotations, {
    'eks.amazonaws.com/role-arn': 'arn:aws:iam::111122223333:role/profile-irsa-webhook',
  });

  const clusterRole = findObject(objects, 'ClusterRole', FULLNAME) as K8sObject & {
    rules: Record<string, string[]>[];
  };
  t.same(clusterRole.rules, [
    {
      apiGroups: ['kubeflow.org'],
      resources: ['profiles'],
      verbs: ['get', 'list', 'watch', 'patch'],
    },
    { nonResourceURLs: ['/.well-known/openid-configuration', '/openid/v1/jwks'], verbs: ['get'] },
    {
      apiGroups: ['admissionregistration.k8s.io'],
      resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'],
      resourceNames: [FULLNAME],
      verbs: ['get'],
    },
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
  ]);
  const role = findObject(objects, 'Role', FULLNAME) as K8sObject & {
    rules: Record<string, string[]>[];
  };
  t.equal(role.metadata.namespace, NAMESPACE);
  t.same(role.rules, expectedRoleRules(FULLNAME, { reconcile: true }));
  for (const [kind, roleKind] of [
    ['ClusterRoleBinding', 'ClusterRole'],
    ['RoleBinding', 'Role'],
  ]) {
    const binding = findObject(objects, kind!, FULLNAME) as K8sObject & {
      roleRef: { kind: string; name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    };
    t.same(binding.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: roleKind,
      name: FULLNAME,
    });
    t.same(binding.subjects, [{ kind: 'ServiceAccount', name: FULLNAME, namespace: NAMESPACE }]);
  }
  const text = JSON.stringify([clusterRole.rules, role.rules]);
  t.notMatch(text, /"\*"/, 'no wildcard in any rule');
});

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
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Any;
  t.equal(chart.kubeVersion, '>=1.25.0-0', 'Chart.yaml states the minimum');

  // What `npm run dev` and the tests register comes from the same templates.
  const local = await renderWebhookConfigurations({ url: 'https://127.0.0.1:19443', ca: 'Y2E=' });
  t.same(
    conditionsOf([local.mutating, local.validating]),
    expected,
    'renderWebhookConfigurations carries them',
  );
});

t.test('accountId: digits survive --set, --set-string and a values file', async (t) => {
  const dir = t.testdir({
    'number.yaml': 'accountId: 123456789012\n',
    'quoted.yaml': 'accountId: "012345678901"\n',
    'single-quoted.yaml': "accountId: '001122334455'\n",
    'leading-zero-number.yaml': 'accountId: 012345678901\n',
    'octal-looking.yaml': 'accountId: 012345670123\n',
  });
  const accountEnv = async (...args: string[]) =>
    envMap(await renderDefaults(...args)).get('AWS_ACCOUNT_ID');
  const ways: [string, string[], string][] = [
    ['--set (a number to Helm)', ['--set', 'accountId=123456789012'], '123456789012'],
    ['--set with a leading zero', ['--set', 'accountId=012345678901'], '012345678901'],
    ['--set-string', ['--set-string', 'accountId=123456789012'], '123456789012'],
    [
      '--set-string with a leading zero',
      ['--set-string', 'accountId=001122334455'],
      '001122334455',
    ],
    ['a values file, unquoted', ['-f', join(dir, 'number.yaml')], '123456789012'],
    ['a values file, quoted', ['-f', join(dir, 'quoted.yaml')], '012345678901'],
    ['a values file, single-quoted', ['-f', join(dir, 'single-quoted.yaml')], '001122334455'],
  ];
  for (const [what, args, value] of ways) {
    t.equal(await accountEnv(...args), value, what);
  }
  t.equal(await accountEnv(), undefined, 'unset: discovered by the binary');
  for (const [what, args] of [
    ['an unquoted leading zero in a values file', ['-f', join(dir, 'leading-zero-number.yaml')]],
    ['an unquoted number YAML reads as octal', ['-f', join(dir, 'octal-looking.yaml')]],
    ['11 digits', ['--set', 'accountId=12345678901']],
  ] as const) {
    await rejects(
      t,
      [...REQUIRED_VALUES, ...args],
      /accountId \d+ is not a 12-digit AWS account ID.*quote it/,
      what,
    );
  }
  for (const [what, args] of [
    ['13 digits', ['--set', 'accountId=1234567890123']],
    ['letters', ['--set', 'accountId=12345678901a']],
    ['a boolean', ['--set', 'accountId=true']],
  ] as const) {
    await rejects(t, [...REQUIRED_VALUES, ...args], /accountId/, what);
  }
  // The binary accepts what the chart passes.
  const loaded = loadConfig(
    {},
    Object.fromEntries(
      [...envMap(await renderDefaults('--set', 'accountId=012345678901'))].filter(
        ([, v]) => typeof v === 'string',
      ),
    ) as Record<string, string>,
    { tls: true },
  );
  t.ok(loaded.ok && loaded.config.accountId === '012345678901', 'the binary reads it as given');
});

t.test('hostNetwork: node network, cluster DNS, ports chosen to avoid clashes', async (t) => {
  const plain = podSpec(await renderDefaults());
  t.notOk(plain.hostNetwork, 'off by default');
  t.notOk(plain.dnsPolicy, 'default DNS policy');

  const objects = await renderDefaults(
    '--set',
    'hostNetwork=true',
    '--set',
    'containerPorts.https=10260',
    '--set',
    'containerPorts.ops=10261',
  );
  const pod = podSpec(objects);
  t.equal(pod.hostNetwork, true);
  t.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet', 'Services still resolve on the node network');
  t.equal(containerPort(objects, 'https'), 10260);
  t.equal(containerPort(objects, 'metrics'), 10261);
  const env = envMap(objects);
  t.equal(env.get('PORT'), '10260', 'the binary listens where the pod says');
  t.equal(env.get('OPS_PORT'), '10261');
  const ports = spec(findObject(objects, 'Service', FULLNAME)).ports as {
    name: string;
    port: number;
    targetPort: string;
  }[];
  t.same(
    ports.map((p) => [p.name, p.port, containerPort(objects, p.targetPort)]),
    [
      ['https', 443, 10260],
      ['metrics', 8080, 10261],
    ],
    'the Service keeps its ports and targets the chosen ones',
  );
  const c = container(objects);
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    t.equal(containerPort(objects, c[probe].httpGet.port), 10261, `${probe} follows`);
  }
  await rejects(
    t,
    [...REQUIRED_VALUES, '--set', 'hostNetwork=yes'],
    /hostNetwork/,
    'not a boolean',
  );
});

t.test('TLS generated by the chart', async (t) => {
  const objects = await renderDefaults();
  const secret = findObject(objects, 'Secret', `${FULLNAME}-tls`) as K8sObject & {
    type: string;
    data: Record<string, string>;
  };
  t.equal(secret.type, 'kubernetes.io/tls');
  for (const key of ['ca.crt', 'tls.crt', 'tls.key']) t.ok(secret.data[key], `Secret has ${key}`);
  for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
    t.equal(
      webhooks(objects, kind)[0].clientConfig.caBundle,
      secret.data['ca.crt'],
      `${kind} caBundle is the Secret's ca.crt`,
    );
  }
  const pem = (key: string) => Buffer.from(secret.data[key]!, 'base64').toString('utf8');
  const ca = new X509Certificate(pem('ca.crt'));
  const leaf = new X509Certificate(pem('tls.crt'));
  t.ok(ca.ca, 'ca.crt is a CA');
  t.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), 'tls.crt is signed by ca.crt');
  t.ok(leaf.checkPrivateKey(createPrivateKey(pem('tls.key'))), 'tls.key matches tls.crt');
  const sans = (leaf.subjectAltName ?? '').split(', ').sort();
  t.same(
    sans,
    [
      `DNS:${FULLNAME}`,
      `DNS:${FULLNAME}.${NAMESPACE}`,
      `DNS:${FULLNAME}.${NAMESPACE}.svc`,
      `DNS:${FULLNAME}.${NAMESPACE}.svc.cluster.local`,
    ].sort(),
  );
  t.ok(new Date(leaf.validTo).getTime() > Date.now() + 365 * 86_400_000, 'valid for years');
  t.notOk(
    objects.some((o) => o.apiVersion.startsWith('cert-manager.io/')),
    'no cert-manager objects',
  );
  // The pods mount only the serving pair, never the CA key.
  const items = podSpec(objects).volumes.find((v: { name: string }) => v.name === 'tls').secret
    .items as { key: string }[];
  t.same(items.map((i) => i.key).sort(), ['tls.crt', 'tls.key']);
});

t.test('TLS from cert-manager', async (t) => {
  const objects = await render('-f', ciFile('cert-manager-values.yaml'));
  const selfSigned = findObject(objects, 'Issuer', `${FULLNAME}-selfsigned`);
  t.same(spec(selfSigned), { selfSigned: {} });
  const caCert = findObject(objects, 'Certificate', `${FULLNAME}-ca`);
  t.equal(spec(caCert).isCA, true);
  t.equal(spec(caCert).issuerRef.name, `${FULLNAME}-selfsigned`);
  const caIssuer = findObject(objects, 'Issuer', `${FULLNAME}-ca`);
  t.equal(spec(caIssuer).ca.secretName, spec(caCert).secretName);
  const serving = findObject(objects, 'Certificate', `${FULLNAME}-serving`);
  t.equal(spec(serving).issuerRef.name, `${FULLNAME}-ca`);
  t.same(spec(serving).dnsNames, [
    FULLNAME,
    `${FULLNAME}.${NAMESPACE}`,
    `${FULLNAME}.${NAMESPACE}.svc`,
    `${FULLNAME}.${NAMESPACE}.svc.cluster.local`,
  ]);
  const volume = podSpec(objects).volumes.find((v: { name: string }) => v.name === 'tls');
  t.equal(volume.secret.secretName, spec(serving).secretName, 'pods mount the serving Secret');
  for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
    const config = findObject(objects, kind);
    t.equal(
      (config.metadata.annotations as Record<string, string>)['cert-manager.io/inject-ca-from'],
      `${NAMESPACE}/${FULLNAME}-serving`,
    );
    t.notOk(webhooks(objects, kind)[0].clientConfig.caBundle, `${kind}: caBundle is injected`);
  }
  t.notOk(
    objects.some((o) => o.kind === 'Secret'),
    'the chart makes no Secret',
  );

  const external = await render(
    '-f',
    ciFile('cert-manager-values.yaml'),
    '--set',
    'tls.certManager.issuerRef.name=corp-ca',
    '--set',
    'tls.certManager.issuerRef.kind=ClusterIssuer',
  );
  t.same(
    external.filter((o) => o.apiVersion.startsWith('cert-manager.io/')).map((o) => o.kind),
    ['Certificate'],
    'with issuerRef only the serving Certificate',
  );
  t.same(spec(findObject(external, 'Certificate')).issuerRef, {
    name: 'corp-ca',
    kind: 'ClusterIssuer',
    group: 'cert-manager.io',
  });
});

t.test('TLS from an existing Secret', async (t) => {
  const objects = await render('-f', ciFile('existing-secret-values.yaml'));
  const volume = podSpec(objects).volumes.find((v: { name: string }) => v.name === 'tls');
  t.equal(volume.secret.secretName, 'profile-irsa-webhook-serving');
  const expected = (parseYaml(readFileSync(ciFile('existing-secret-values.yaml'), 'utf8')) as Any)
    .webhook.caBundle as string;
  for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
    t.equal(webhooks(objects, kind)[0].clientConfig.caBundle, expected);
  }
  t.notOk(objects.some((o) => o.kind === 'Secret' || o.apiVersion.startsWith('cert-manager')));
  await rejects(
    t,
    [...REQUIRED_VALUES, '--set', 'tls.mode=secret', '--set', 'tls.existingSecret=s'],
    /webhook\.caBundle is required with tls\.mode=secret/,
    'secret mode without a caBundle (and no cluster to look it up in)',
  );
  await rejects(
    t,
    [...REQUIRED_VALUES, '--set', 'tls.mode=secret', '--set', `webhook.caBundle=${FAKE_CA_B64}`],
    /existingSecret/,
    'secret mode without a Secret name',
  );
});

t.test('local development: the configurations alone, calling a URL', async (t) => {
  // Exactly what the end-to-end suite runs.
  const exact = await helmTemplate([
    't',
    chartDir,
    '--set',
    `clusterName=c,region=us-east-1,s3Bucket=kf-bucket,webhook.url=https://127.0.0.1:19443,webhook.caBundle=${FAKE_CA_B64}`,
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

t.test('optional: ServiceMonitor, NetworkPolicy, Grafana dashboard', async (t) => {
  const defaults = await renderDefaults();
  for (const kind of ['ServiceMonitor', 'NetworkPolicy', 'ConfigMap']) {
    t.notOk(
      defaults.some((o) => o.kind === kind),
      `no ${kind} by default`,
    );
  }

  const objects = await render('-f', ciFile('everything-on-values.yaml'));
  const monitor = findObject(objects, 'ServiceMonitor');
  t.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
  t.match(monitor.metadata.labels, { release: 'kube-prometheus-stack' });
  t.match(spec(monitor).endpoints, [{ port: 'metrics', path: '/metrics' }]);
  t.same(spec(monitor).selector.matchLabels, spec(findObject(objects, 'Service')).selector);

  const policy = findObject(objects, 'NetworkPolicy');
  t.same(spec(policy).policyTypes, ['Ingress']);
  t.same(spec(policy).ingress, [
    { from: [{ ipBlock: { cidr: '10.0.0.0/16' } }], ports: [{ port: 'https', protocol: 'TCP' }] },
    {
      from: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
        },
      ],
      ports: [{ port: 'metrics', protocol: 'TCP' }],
    },
  ]);
  await rejects(
    t,
    [...REQUIRED_VALUES, '--set', 'networkPolicy.enabled=true'],
    /networkPolicy\.apiServerCidrs is required/,
    'a NetworkPolicy without API server CIDRs',
  );

  const dashboard = findObject(objects, 'ConfigMap', `${FULLNAME}-dashboard`) as K8sObject & {
    data: Record<string, string>;
  };
  t.equal((dashboard.metadata.labels as Record<string, string>).grafana_dashboard, '1');
  const json = JSON.parse(dashboard.data['profile-irsa-webhook.json']!) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const exprs = json.panels.flatMap((p) => p.targets.map((x) => x.expr)).join('\n');
  for (const metric of [
    'profile_irsa_admission_requests_total',
    'profile_irsa_admission_duration_seconds_bucket',
    'profile_irsa_iam_calls_total',
    'profile_irsa_role_cache_hits_total',
    'profile_irsa_role_cache_misses_total',
    'profile_irsa_certificate_expiry_timestamp_seconds',
    'profile_irsa_reconcile_results_total',
  ]) {
    t.ok(exprs.includes(metric), `dashboard queries ${metric}`);
  }
  t.match(exprs, /histogram_quantile\(0\.5,/);
  t.match(exprs, /histogram_quantile\(0\.99,/);

  // The everything-on file also turns on the scheduling knobs.
  const pod = podSpec(objects);
  t.equal(spec(findObject(objects, 'Deployment')).replicas, 3);
  t.equal(pod.priorityClassName, 'system-cluster-critical');
  t.same(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
  t.same(pod.tolerations, [{ key: 'CriticalAddonsOnly', operator: 'Exists' }]);
  t.ok(pod.affinity.nodeAffinity);
  t.same(pod.imagePullSecrets, [{ name: 'regcred' }]);
  t.match(spec(findObject(objects, 'Deployment')).template.metadata.annotations, {
    'example.com/scrape': 'false',
  });
  t.same(container(objects).lifecycle, { preStop: { sleep: { seconds: 5 } } });
  t.equal(spec(findObject(objects, 'PodDisruptionBudget')).minAvailable, 2);
});

t.test('the schema and the templates refuse bad values, naming the problem', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['unknown top-level key', ['--set', 'bogus=1'], /additional propert.*'bogus'/],
    ['unknown nested key', ['--set', 'webhook.bogus=1'], /\/webhook.*additional propert.*'bogus'/s],
    ['s3Access=bogus', ['--set', 's3Access=bogus'], /\/s3Access.*one of/s],
    ['mode=bogus', ['--set', 'mode=bogus'], /\/mode.*one of/s],
    ['logLevel=loud', ['--set', 'logLevel=loud'], /\/logLevel.*one of/s],
    ['rolePath without trailing slash', ['--set', 'rolePath=/kubeflow'], /\/rolePath/],
    ['rolePath without leading slash', ['--set', 'rolePath=kubeflow/'], /\/rolePath/],
    [
      'permissionsBoundary not an ARN',
      ['--set', 'permissionsBoundary=boundary'],
      /\/permissionsBoundary/,
    ],
    ['allowedRoleArns not ARNs', ['--set', 'allowedRoleArns={role/x}'], /\/allowedRoleArns/],
    [
      'serviceAccount.roleArn not an ARN',
      ['--set', 'serviceAccount.roleArn=x'],
      /\/serviceAccount\/roleArn/,
    ],
    ['accountId not 12 digits', ['--set', 'accountId=123'], /accountId/],
    ['maxSessionDuration out of range', ['--set', 'maxSessionDuration=60'], /\/maxSessionDuration/],
    [
      'reserved role tag',
      ['--set', 'extraRoleTags.kubeflow\\.org/profile=x'],
      /\/extraRoleTags\/kubeflow\.org~1profile/,
    ],
    ['failurePolicy=Maybe', ['--set', 'webhook.mutating.failurePolicy=Maybe'], /failurePolicy/],
    ['timeout above 30s', ['--set', 'webhook.mutating.timeoutSeconds=31'], /timeoutSeconds/],
    ['tls.mode=bogus', ['--set', 'tls.mode=bogus'], /\/tls\/mode/],
  ];
  for (const [what, args, pattern] of cases) {
    await rejects(t, [...REQUIRED_VALUES, ...args], pattern, what);
  }
  await rejects(
    t,
    ['--set', 'region=us-east-1', '--set', 's3Bucket=kf-bucket'],
    /clusterName/,
    'missing clusterName',
  );
  await rejects(
    t,
    ['--set', 'clusterName=c', '--set', 's3Bucket=kf-bucket'],
    /region/,
    'missing region',
  );
  await rejects(
    t,
    ['--set', 'clusterName=c', '--set', 'region=us-east-1'],
    /s3Bucket/,
    'missing s3Bucket',
  );
  // Without the schema the templates still refuse, with the `required` message.
  await rejects(
    t,
    ['--skip-schema-validation', '--set', 'region=us-east-1', '--set', 's3Bucket=kf-bucket'],
    /clusterName is required/,
    'missing clusterName without schema validation',
  );
});

t.test('values.yaml, the schema and the README agree', async (t) => {
  const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Schema;
  const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<
    string,
    string
  >;
  const pkg = JSON.parse(readFileSync(join(chartDir, '../../package.json'), 'utf8')) as {
    version: string;
  };
  t.equal(chart.apiVersion, 'v2');
  t.equal(chart.appVersion, pkg.version, "appVersion is the package's version");

  t.equal(schema.additionalProperties, false, 'the top level is closed');
  for (const path of leafPaths(values, schema)) {
    t.ok(readme.includes(`\`${path}\``), `README documents \`${path}\``);
  }
  // Every object the chart defines itself is closed too.
  const open: string[] = [];
  walkSchema(schema, '', (path, node) => {
    // Maps (extraRoleTags) declare their value type instead of closing.
    const closed =
      node.additionalProperties === false || typeof node.additionalProperties === 'object';
    if (node.properties && !closed) open.push(path);
  });
  t.same(open, [], 'every object with declared properties is closed (or a typed map)');
  // values.yaml documents every key the chart defines with a comment right above it.
  const declared = new Set<string>();
  walkSchema(schema, '', (path) => declared.add(path));
  const stack: { indent: number; key: string }[] = [];
  const lines = readFileSync(join(chartDir, 'values.yaml'), 'utf8').split('\n');
  lines.forEach((line, i) => {
    const match = /^( *)([A-Za-z]\w*):/.exec(line);
    if (!match) return;
    const indent = match[1]!.length;
    while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
    stack.push({ indent, key: match[2]! });
    const path = stack.map((s) => s.key).join('.');
    if (!declared.has(path)) return;
    const previous = lines[i - 1]?.trim() ?? '';
    t.ok(previous.startsWith('#'), `values.yaml documents ${path} (line ${i + 1})`);
  });
});

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
}

function walkSchema(node: Schema, path: string, visit: (path: string, node: Schema) => void) {
  visit(path, node);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    walkSchema(child, path ? `${path}.${key}` : key, visit);
  }
}

/** Dotted paths of the values, descending into objects the schema declares property by property. */
function leafPaths(value: Record<string, unknown>, schema: Schema, prefix = ''): string[] {
  const paths: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const childSchema = schema.properties?.[key];
    if (childSchema?.properties && child && typeof child === 'object' && !Array.isArray(child)) {
      paths.push(...leafPaths(child as Record<string, unknown>, childSchema, path));
    } else {
      paths.push(path);
    }
  }
  return paths;
}

// The Helm chart's workload, rendered by the real helm binary: lint, every ci value file, the
// Deployment, the environment the binary reads, the Service and RBAC (no snapshots).

import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { SERVE_OPTIONS } from '../../src/config/options.js';
import {
  chartDir,
  expectedRoleRules,
  findObject,
  helm,
  REQUIRED_VALUES,
  type K8sObject,
} from '../helpers/helm.js';
import {
  RELEASE,
  NAMESPACE,
  FULLNAME,
  ciFiles,
  ciFile,
  render,
  renderDefaults,
  spec,
  podSpec,
  container,
  webhooks,
  envMap,
  containerPort,
  rejects,
} from '../helpers/chart-render.js';

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
    // REQUIRED_VALUES waives the boundary explicitly.
    ALLOW_NO_BOUNDARY: 'true',
    LOG_LEVEL: 'info',
    PORT: '9443',
    OPS_PORT: '8080',
  });
  for (const unset of [
    'AWS_ACCOUNT_ID',
    'OIDC_ISSUER',
    'PERMISSIONS_BOUNDARY_ARN',
    'ALLOWED_ROLE_ARNS',
    'ROLE_ADMIN_GROUPS',
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
    ROLE_ADMIN_GROUPS: 'platform-admins,oidc:kubeflow-admins',
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
    const loaded = loadConfig({}, strings, { tls: true, boundary: true });
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
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list'] },
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

// The chart's values, rendered by the real helm binary: the account ID as written, the optional
// objects, the schema and templates refusing bad values, and values.yaml, the schema and the
// README agreeing.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { chartDir, findObject, type K8sObject, REQUIRED_VALUES } from '../helpers/helm.js';
import {
  FULLNAME,
  ciFile,
  values,
  render,
  renderDefaults,
  spec,
  podSpec,
  container,
  envMap,
  rejects,
  FAKE_CA_B64,
} from '../helpers/chart-render.js';

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

t.test('provision mode needs a permissions boundary or the explicit waiver', async (t) => {
  const required = ['--set', 'clusterName=c', '--set', 'region=us-east-1', '--set', 's3Bucket=b-1'];
  await rejects(
    t,
    required,
    /permissionsBoundary is required in provision mode: .*iam-policy --boundary.*--set allowNoBoundary=true/,
    'neither a boundary nor the waiver',
  );
  await rejects(
    t,
    [...required, '--set', 'allowNoBoundary=false'],
    /permissionsBoundary is required in provision mode/,
    'the waiver set to false',
  );
  await rejects(
    t,
    [...required, '--set', 'allowNoBoundary=yes'],
    /allowNoBoundary/,
    'a waiver that is not a boolean',
  );

  const boundary = 'arn:aws:iam::111122223333:policy/profile-irsa-webhook-boundary-c';
  const bounded = envMap(await render(...required, '--set', `permissionsBoundary=${boundary}`));
  t.equal(bounded.get('PERMISSIONS_BOUNDARY_ARN'), boundary);
  t.notOk(bounded.has('ALLOW_NO_BOUNDARY'), 'no waiver with a boundary');

  const waived = envMap(await render(...required, '--set', 'allowNoBoundary=true'));
  t.equal(waived.get('ALLOW_NO_BOUNDARY'), 'true', 'the waiver reaches the binary');
  t.notOk(waived.has('PERMISSIONS_BOUNDARY_ARN'));

  const lookup = envMap(await render(...required, '--set', 'mode=lookup'));
  t.equal(lookup.get('ROLE_MODE'), 'lookup', 'lookup mode creates no role and needs no boundary');

  const alone = await render(
    ...required,
    '--set',
    `webhook.configurationsOnly=true,webhook.url=https://127.0.0.1:19443,webhook.caBundle=${FAKE_CA_B64}`,
  );
  t.same(
    alone.map((o) => o.kind).sort(),
    ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'],
    'the configurations alone run no pod that creates roles',
  );
});

t.test('roleAdminGroups reach the binary as one list', async (t) => {
  const env = envMap(
    await renderDefaults('--set', 'roleAdminGroups={platform-admins,oidc:kubeflow-admins}'),
  );
  t.equal(env.get('ROLE_ADMIN_GROUPS'), 'platform-admins,oidc:kubeflow-admins');
  await rejects(
    t,
    [...REQUIRED_VALUES, '--set', 'roleAdminGroups={a\\,b}'],
    /roleAdminGroups/,
    'a group with a comma cannot be passed on',
  );
});

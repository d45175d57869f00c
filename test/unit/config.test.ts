import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { DEFAULT_RESERVED_NAMESPACES } from '../../src/core/namespace.js';
import { BOUNDARY_ENV, REQUIRED_ENV } from '../helpers/settings.js';

t.test('the documented defaults', async (t) => {
  const result = loadConfig({}, REQUIRED_ENV);
  t.ok(result.ok);
  if (!result.ok) return;
  const c = result.config;
  t.equal(c.roleNameTemplate, '{namespace}-{cluster}-role');
  t.equal(c.rolePath, '/kubeflow-profiles/');
  t.same(c.serviceAccounts, ['default-editor']);
  t.equal(c.s3Access, 'readwrite');
  t.equal(c.mode, 'provision');
  t.same(c.allowedRoleArns, []);
  t.same(c.reservedNamespaces, DEFAULT_RESERVED_NAMESPACES);
  t.equal(c.port, 9443);
  t.equal(c.opsPort, 8080);
  t.equal(c.logLevel, 'info');
  t.equal(c.requirePlugin, true);
  t.equal(c.accountId, undefined, 'discovered from STS when unset');
  t.equal(c.oidcIssuer, undefined, 'discovered from the API server when unset');
});

t.test('flags win over the environment, which wins over defaults', async (t) => {
  const env = {
    ...REQUIRED_ENV,
    AWS_REGION: 'eu-west-1',
    S3_ACCESS: 'readonly',
    ROLE_MODE: 'lookup',
  };
  const result = loadConfig({ s3Access: 'full' }, env);
  t.ok(result.ok);
  if (!result.ok) return;
  t.equal(result.config.region, 'us-east-1', 'CLUSTER_REGION before AWS_REGION');
  t.equal(result.config.s3Access, 'full', 'flag over env');
  t.equal(result.config.mode, 'lookup', 'env over default');
  const fallback = loadConfig(
    {},
    { CLUSTER_NAME: 'prod', AWS_REGION: 'eu-west-1', S3_BUCKET: 'b-1', ALLOW_NO_BOUNDARY: 'true' },
  );
  t.equal(
    fallback.ok && fallback.config.region,
    'eu-west-1',
    'AWS_REGION when CLUSTER_REGION is unset',
  );
});

t.test('lists, tags and the own namespace', async (t) => {
  const result = loadConfig(
    {},
    {
      ...REQUIRED_ENV,
      SERVICE_ACCOUNTS: 'default-editor, pipeline-runner',
      ALLOWED_ROLE_ARNS: 'arn:aws:iam::111122223333:role/shared/*',
      RESERVED_NAMESPACES: 'kube-system,ops',
      POD_NAMESPACE: 'irsa-system',
      EXTRA_ROLE_TAGS: 'team=ml,cost-center=42',
      EXTRA_S3_BUCKETS: 'shared-data',
    },
  );
  t.ok(result.ok);
  if (!result.ok) return;
  t.same(result.config.serviceAccounts, ['default-editor', 'pipeline-runner']);
  t.same(result.config.allowedRoleArns, ['arn:aws:iam::111122223333:role/shared/*']);
  t.same(result.config.reservedNamespaces, ['kube-system', 'ops', 'irsa-system']);
  t.same(result.config.extraRoleTags, { team: 'ml', 'cost-center': '42' });
  t.same(result.config.extraS3Buckets, ['shared-data']);
});

t.test('every problem is reported at once', async (t) => {
  const result = loadConfig(
    {},
    {
      CLUSTER_REGION: 'nowhere',
      S3_BUCKET: 'Not_A_Bucket',
      ROLE_PATH: 'kubeflow',
      ROLE_NAME_TEMPLATE: '{cluster}-role',
      S3_ACCESS: 'admin',
      ROLE_MODE: 'create',
      ACCOUNT_ID_IGNORED: 'x',
      AWS_ACCOUNT_ID: '123',
      PERMISSIONS_BOUNDARY_ARN: 'boundary',
      EXTRA_ROLE_TAGS: 'app.kubernetes.io/managed-by=me',
      PORT: '70000',
      LOG_LEVEL: 'loud',
    },
    { tls: true },
  );
  t.notOk(result.ok);
  if (result.ok) return;
  const text = result.problems.join('\n');
  for (const flag of [
    '--cluster-name',
    '--region',
    '--s3-bucket',
    '--role-path',
    '--role-name-template',
    '--s3-access',
    '--mode',
    '--account-id',
    '--permissions-boundary',
    '--extra-role-tags',
    '--port',
    '--log-level',
    '--tls-cert-file',
    '--tls-key-file',
  ]) {
    t.match(text, flag, `names ${flag}`);
  }
  t.match(text, 'must contain {namespace}');
});

t.test('a template that yields characters IAM refuses is rejected', async (t) => {
  const result = loadConfig({}, { ...REQUIRED_ENV, ROLE_NAME_TEMPLATE: '{namespace}/{cluster}' });
  t.notOk(result.ok);
  t.match(!result.ok && result.problems.join(), 'characters IAM does not allow');
  const unknown = loadConfig({}, { ...REQUIRED_ENV, ROLE_NAME_TEMPLATE: '{namespace}-{account}' });
  t.match(!unknown.ok && unknown.problems.join(), 'only {namespace}, {cluster} and {region}');
});

t.test('provision mode needs a permissions boundary or an explicit waiver', async (t) => {
  // What serve and reconcile ask for: they create roles.
  const serving = { boundary: true };
  const noWaiver: Record<string, string> = { ...REQUIRED_ENV };
  delete noWaiver['ALLOW_NO_BOUNDARY'];
  const refused = loadConfig({}, noWaiver, serving);
  t.notOk(refused.ok, 'neither a boundary nor the waiver');
  if (!refused.ok) {
    t.match(refused.problems, [
      /^--permissions-boundary \(PERMISSIONS_BOUNDARY_ARN\): is required in provision mode: .*iam-policy --boundary.*--allow-no-boundary=true/,
    ]);
  }
  const explicitFalse = loadConfig({}, { ...noWaiver, ALLOW_NO_BOUNDARY: 'false' }, serving);
  t.notOk(explicitFalse.ok, 'the waiver set to false is no waiver');

  const waived = loadConfig({}, REQUIRED_ENV, serving);
  t.ok(waived.ok && waived.config.allowNoBoundary, 'the waiver is on the settings object');
  const flagWaived = loadConfig({ allowNoBoundary: 'true' }, noWaiver, serving);
  t.ok(flagWaived.ok, 'the flag waives it too');

  const bounded = loadConfig({}, BOUNDARY_ENV, serving);
  t.ok(bounded.ok, 'a boundary needs no waiver');
  if (bounded.ok) {
    t.equal(bounded.config.allowNoBoundary, false, 'not waived by default');
    t.equal(bounded.config.permissionsBoundary, BOUNDARY_ENV.PERMISSIONS_BOUNDARY_ARN);
  }
  t.ok(
    loadConfig({}, { ...noWaiver, ROLE_MODE: 'lookup' }, serving).ok,
    'lookup mode creates no role',
  );

  const withOthers = loadConfig({}, { ...noWaiver, S3_BUCKET: 'Not_A_Bucket' }, serving);
  t.notOk(withOthers.ok);
  if (!withOthers.ok) {
    t.equal(withOthers.problems.length, 2, 'listed with the other problems');
    t.match(withOthers.problems.join('\n'), /--s3-bucket[\s\S]*--permissions-boundary/);
  }
  t.ok(loadConfig({}, noWaiver).ok, 'commands that create no role (iam-policy --boundary) do not');
});

t.test('role admin groups: a list, none by default', async (t) => {
  const none = loadConfig({}, REQUIRED_ENV);
  t.ok(none.ok && none.config.roleAdminGroups.length === 0, 'no admin group by default');
  const some = loadConfig(
    {},
    { ...REQUIRED_ENV, ROLE_ADMIN_GROUPS: ' platform-admins, oidc:iam ,' },
  );
  t.same(some.ok && some.config.roleAdminGroups, ['platform-admins', 'oidc:iam']);
  const flag = loadConfig({ roleAdminGroups: 'a' }, REQUIRED_ENV);
  t.same(flag.ok && flag.config.roleAdminGroups, ['a']);
});

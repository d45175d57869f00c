import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { boundaryPolicy, webhookIamPolicy } from '../../src/core/iam-policy.js';
import { FAKE_CREDENTIALS, MOTO_ACCOUNT_ID, startMoto } from '../helpers/moto.js';
import { ISSUER } from '../helpers/settings.js';

// `profile-irsa-webhook iam-policy` (dist/, as operators run it): the policy for the serve
// configuration, `--boundary` for the boundary, and docs/ holding its output for the defaults.

const CLI = fileURLToPath(new URL('../../dist/bin/cli.js', import.meta.url));
const doc = (name: string) => new URL(`../../docs/${name}`, import.meta.url);
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, 'iam-policy', ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });

/** For a CLI that calls moto: the recorder in front of it runs in this process, so no spawnSync. */
function runAsync(args: string[], env: Record<string, string>) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'iam-policy', ...args],
      {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
        timeout: 30_000,
      },
      (error, stdout, stderr) =>
        resolve({ status: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

/** The example configuration docs/ is printed for (docs/iam-policy.md shows this command). */
const DOCS_ARGS = [
  '--cluster-name',
  'kubeflow',
  '--region',
  'us-east-1',
  '--s3-bucket',
  'kubeflow-pipelines',
  '--account-id',
  '111122223333',
  '--oidc-issuer',
  'https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE',
];
const DOCS_BOUNDARY = 'arn:aws:iam::111122223333:policy/profile-irsa-webhook-boundary';

t.test('docs/ holds the output for the documented configuration', async (t) => {
  const cases: [string, string[]][] = [
    ['iam-policy.json', [...DOCS_ARGS, '--permissions-boundary', DOCS_BOUNDARY]],
    ['iam-policy-no-boundary.json', DOCS_ARGS],
    ['boundary-policy.json', [...DOCS_ARGS, '--boundary']],
  ];
  for (const [file, args] of cases) {
    const result = run(args);
    t.equal(result.status, 0, result.stderr);
    t.equal(
      await readFile(doc(file), 'utf8'),
      result.stdout,
      `docs/${file} is the output of iam-policy ${args.join(' ')}; regenerate it when this fails`,
    );
  }
  const markdown = await readFile(doc('iam-policy.md'), 'utf8');
  t.match(markdown, DOCS_ARGS.join(' '), 'the markdown shows the command');
});

t.test('the printed policy is the one the code and the tests use', async (t) => {
  const env = {
    CLUSTER_NAME: 'prod',
    CLUSTER_REGION: 'us-gov-west-1',
    S3_BUCKET: 'kf-artifacts',
    EXTRA_S3_BUCKETS: 'shared-data',
    AWS_ACCOUNT_ID: '111122223333',
    OIDC_ISSUER: ISSUER,
    ROLE_PATH: '/platform/kubeflow/',
    EXTRA_ROLE_TAGS: 'team=ml',
    PERMISSIONS_BOUNDARY_ARN: 'arn:aws-us-gov:iam::111122223333:policy/b',
  };
  const settings = {
    accountId: '111122223333',
    region: 'us-gov-west-1',
    clusterName: 'prod',
    oidcIssuer: ISSUER,
    rolePath: '/platform/kubeflow/',
    extraTags: { team: 'ml' },
    permissionsBoundary: 'arn:aws-us-gov:iam::111122223333:policy/b',
    s3Buckets: ['kf-artifacts', 'shared-data'],
  };
  const policy = run([], env);
  t.equal(policy.status, 0, policy.stderr);
  t.same(JSON.parse(policy.stdout), webhookIamPolicy({ ...settings, mode: 'provision' }));
  const lookup = run([], { ...env, ROLE_MODE: 'lookup' });
  t.same(JSON.parse(lookup.stdout), webhookIamPolicy({ ...settings, mode: 'lookup' }));
  const boundary = run(['--boundary'], env);
  t.same(JSON.parse(boundary.stdout), boundaryPolicy(settings));
  t.match(JSON.parse(boundary.stdout).Statement[0].Resource, [
    'arn:aws-us-gov:s3:::kf-artifacts',
    'arn:aws-us-gov:s3:::kf-artifacts/*',
    'arn:aws-us-gov:s3:::shared-data',
    'arn:aws-us-gov:s3:::shared-data/*',
  ]);
});

t.test('--boundary needs neither the account nor the issuer', async (t) => {
  const result = run([
    '--cluster-name',
    'prod',
    '--region',
    'us-east-1',
    '--s3-bucket',
    'kf-artifacts',
    '--boundary',
  ]);
  t.equal(result.status, 0, result.stderr);
  t.equal(JSON.parse(result.stdout).Statement.length, 1);
});

t.test('the account is found with STS when it is not given', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const result = await runAsync(
    [
      '--cluster-name',
      'prod',
      '--region',
      'us-east-1',
      '--s3-bucket',
      'kf-artifacts',
      '--oidc-issuer',
      ISSUER,
    ],
    {
      AWS_ENDPOINT_URL_STS: moto.endpoint,
      AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    },
  );
  t.equal(result.status, 0, result.stderr);
  t.match(
    JSON.parse(result.stdout).Statement[0].Resource,
    `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/kubeflow-profiles/*`,
  );
});

t.test('bad configuration: every problem at once, exit code 2', async (t) => {
  const result = run(['--region', 'nowhere', '--oidc-issuer', 'https://issuer.example.com/a?b']);
  t.equal(result.status, 2);
  for (const text of [
    '--cluster-name',
    '--region',
    '--s3-bucket',
    '--oidc-issuer',
    'cannot be an IAM tag value',
  ]) {
    t.match(result.stderr, text);
  }
  t.equal(result.stdout, '');
  t.match(run(['--help']).stdout, '--boundary');
});

t.test('a policy past the managed-policy quota is printed with a warning', async (t) => {
  const tags = Array.from({ length: 30 }, (_, i) => `tag-${i}=value-of-tag-${i}`).join(',');
  const result = run([
    ...DOCS_ARGS,
    '--permissions-boundary',
    DOCS_BOUNDARY,
    '--extra-role-tags',
    tags,
  ]);
  t.equal(result.status, 0);
  t.ok(JSON.parse(result.stdout).Statement.length > 0);
  t.match(
    result.stderr,
    /more than the 6144 of a managed policy; put it on the role as an inline policy/,
  );
});

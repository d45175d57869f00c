import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { writeLocalCerts } from '../../tools/dev/certs.js';
import { httpsRequest } from '../helpers/https.js';
import { FAKE_CREDENTIALS, startMoto } from '../helpers/moto.js';
import { createReview, decodePatch } from '../helpers/reviews.js';
import { servingAddresses } from '../helpers/served-webhook.js';
import { ISSUER, REQUIRED_ENV } from '../helpers/settings.js';
import { startSlowProxy } from '../helpers/tcp-faults.js';
import { localServeEnv } from '../helpers/webhook.js';

const CLI = fileURLToPath(new URL('../../dist/bin/cli.js', import.meta.url));
const BASE_ENV = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '/tmp',
  ...REQUIRED_ENV,
};
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, ...args], {
    env: { ...BASE_ENV, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });

t.test('--help on every command', async (t) => {
  for (const args of [['--help'], ['serve', '--help'], ['plan', '--help']]) {
    const result = run(args);
    t.equal(result.status, 0, args.join(' '));
    t.match(result.stdout, 'Usage: profile-irsa-webhook');
  }
  t.match(run(['serve', '--help']).stdout, '--cluster-name');
});

t.test('plan prints the role, documents and patch with no AWS call', async (t) => {
  const result = run(
    ['plan', '--namespace', 'team-a', '--account-id', '111122223333', '--oidc-issuer', ISSUER],
    {
      // Any AWS call would fail: no credentials and an endpoint nothing listens on.
      AWS_ENDPOINT_URL_IAM: 'http://127.0.0.1:9',
      AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9',
    },
  );
  t.equal(result.status, 0, result.stderr);
  const plan = JSON.parse(result.stdout);
  t.equal(plan.roleName, 'team-a-prod-role');
  t.equal(plan.roleArn, 'arn:aws:iam::111122223333:role/kubeflow-profiles/team-a-prod-role');
  t.equal(plan.s3Policy.name, 'kf-team-a-pipeline-s3');
  t.equal(plan.trustPolicy.Statement[0].Action, 'sts:AssumeRoleWithWebIdentity');
  t.equal(plan.tags['kubeflow.org/profile'], 'team-a');
  t.same(plan.patch, [
    {
      op: 'add',
      path: '/spec',
      value: {
        plugins: [
          {
            kind: 'AwsIamForServiceAccount',
            spec: { awsIamRole: plan.roleArn, annotateOnly: true },
          },
        ],
      },
    },
  ]);
});

t.test('plan reads a Profile file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'plan-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'profile.yaml');
  await writeFile(
    file,
    'apiVersion: kubeflow.org/v1\nkind: Profile\nmetadata:\n  name: team-b\nspec:\n  owner:\n    kind: User\n    name: b@example.com\n',
  );
  const result = run([
    'plan',
    '--profile',
    file,
    '--account-id',
    '111122223333',
    '--oidc-issuer',
    ISSUER,
  ]);
  t.equal(result.status, 0, result.stderr);
  t.equal(JSON.parse(result.stdout).patch[0].path, '/spec/plugins');
  const reserved = run([
    'plan',
    '--namespace',
    'kube-system',
    '--account-id',
    '111122223333',
    '--oidc-issuer',
    ISSUER,
  ]);
  t.equal(reserved.status, 2);
  t.match(reserved.stderr, 'reserved namespace');
});

t.test('plan finds the account with STS when it is not given', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const result = run(['plan', '--namespace', 'team-a', '--oidc-issuer', ISSUER], {
    // moto itself: spawnSync blocks this process, where the IAM recorder in front of moto runs.
    AWS_ENDPOINT_URL_STS: moto.direct.endpoint,
    AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
  });
  t.equal(result.status, 0, result.stderr);
  t.match(JSON.parse(result.stdout).roleArn, 'arn:aws:iam::123456789012:role/');
});

t.test('bad configuration: every problem at once, exit code 2', async (t) => {
  const result = spawnSync(
    process.execPath,
    [CLI, 'serve', '--s3-access', 'admin', '--port', 'x'],
    {
      env: { PATH: BASE_ENV.PATH },
      encoding: 'utf8',
    },
  );
  t.equal(result.status, 2);
  for (const text of [
    '--cluster-name',
    '--region',
    '--s3-bucket',
    '--s3-access',
    '--port',
    '--tls-cert-file',
  ]) {
    t.match(result.stderr, text);
  }
  const unknown = run(['serve', '--no-such-flag']);
  t.equal(unknown.status, 2, 'an unknown flag is bad configuration too');
});

t.test(
  'serve: SIGTERM makes it unready, lets in-flight requests finish, then exits 0',
  async (t) => {
    const moto = await startMoto();
    t.teardown(() => moto.stop());
    // IAM answers, but only after a pause: a provisioning request is still in flight at SIGTERM.
    const slowIam = await startSlowProxy(moto.port, 1500);
    t.teardown(() => slowIam.close());
    const dir = await mkdtemp(join(tmpdir(), 'serve-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const certs = await writeLocalCerts(dir);
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: {
        ...BASE_ENV,
        AWS_ENDPOINT_URL_IAM: slowIam.endpoint,
        AWS_ENDPOINT_URL_STS: moto.endpoint,
        AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
        // Its ports are read back from the "serving" log line.
        ...localServeEnv(certs),
        SHUTDOWN_DELAY_SECONDS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = once(child, 'exit');
    let logs = '';
    child.stdout.on('data', (chunk: Buffer) => (logs += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (logs += chunk.toString()));
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });

    const serving = await servingAddresses(child, () => logs);
    const ops = serving.ops;
    t.equal((await fetch(`${ops}/readyz`)).status, 200, 'ready');

    const inFlight = httpsRequest(`${serving.admission}/mutate?timeout=10s`, {
      ca: certs.caCert,
      body: JSON.stringify(createReview('team-drain')),
      headers: { 'content-type': 'application/json' },
    });
    await sleep(300);
    child.kill('SIGTERM');
    await sleep(300);
    t.equal((await fetch(`${ops}/readyz`)).status, 503, 'unready while draining');
    const answer = await inFlight;
    t.equal(answer.status, 200, 'the in-flight request was answered');
    t.equal(answer.json().response.allowed, true);
    t.equal(decodePatch(answer.json().response.patch)[0]?.path, '/spec');
    const [code, signal] = await exited;
    t.equal(code, 0, 'exit code 0');
    t.equal(signal, null);
    t.notMatch(logs, /testing/, 'credentials never logged');
  },
);

t.test('boolean flags: alone mean true, =false means false, and take no next flag', async (t) => {
  const plan = (...args: string[]) => {
    const result = run([
      'plan',
      '--namespace',
      'team-a',
      '--account-id',
      '111122223333',
      '--oidc-issuer',
      ISSUER,
      '--s3-access',
      'full',
      ...args,
    ]);
    t.equal(result.status, 0, `plan ${args.join(' ')}: ${result.stderr}`);
    const { s3Policy } = JSON.parse(result.stdout) as {
      s3Policy: { document: { Statement: { Action: string[]; Resource: string[] }[] } };
    };
    // The resources s3:* is allowed on: the bucket itself only with bucket writes.
    return s3Policy.document.Statement.filter((s) => s.Action.includes('s3:*')).flatMap(
      (s) => s.Resource,
    );
  };
  const bucket = 'arn:aws:s3:::kf-artifacts';
  t.ok(plan('--s3-allow-bucket-writes').includes(bucket), '--flag alone: true');
  t.ok(plan('--s3-allow-bucket-writes=true').includes(bucket), '--flag=true');
  t.notOk(plan('--s3-allow-bucket-writes=false').includes(bucket), '--flag=false');
  t.notOk(
    plan('--s3-allow-bucket-writes=false', '--reconcile').includes(bucket),
    'last on the line, alone',
  );
  // Before, `--reconcile` took the next flag as its value and ended in "too many arguments".
  t.ok(
    plan('--reconcile', '--s3-allow-bucket-writes', '--require-plugin=false').includes(bucket),
    'a boolean flag alone does not swallow the next one',
  );
  const refused = run(['plan', '--namespace', 'team-a', '--reconcile=maybe']);
  t.equal(refused.status, 2, 'anything but true or false is bad configuration');
  t.match(refused.stderr, /--reconcile \[bool\].*'maybe' is invalid.*give true or false/);
  for (const flag of ['--reconcile', '--require-plugin', '--s3-allow-bucket-writes']) {
    t.match(run(['serve', '--help']).stdout, `${flag} [bool]`, `${flag} is documented as boolean`);
  }

  const boundary = (...args: string[]) => {
    const result = run([
      'iam-policy',
      '--account-id',
      '111122223333',
      '--oidc-issuer',
      ISSUER,
      ...args,
    ]);
    t.equal(result.status, 0, result.stderr);
    return (JSON.parse(result.stdout) as { Statement: { Sid: string }[] }).Statement[0]!.Sid;
  };
  t.equal(boundary('--boundary'), boundary('--boundary=true'), 'iam-policy --boundary alone');
  t.not(boundary('--boundary=false'), boundary('--boundary'), 'iam-policy --boundary=false');
  t.equal(boundary('--boundary=false'), boundary(), 'is the default');
});

t.test('serve and reconcile refuse provision mode without a boundary or the waiver', async (t) => {
  const env = {
    PATH: BASE_ENV.PATH,
    HOME: BASE_ENV.HOME,
    CLUSTER_NAME: 'prod',
    CLUSTER_REGION: 'us-east-1',
  };
  for (const command of ['serve', 'reconcile']) {
    const result = spawnSync(process.execPath, [CLI, command, '--s3-bucket', 'Not_A_Bucket'], {
      env,
      encoding: 'utf8',
      timeout: 30_000,
    });
    t.equal(result.status, 2, `${command}: exit 2`);
    t.match(result.stderr, /--s3-bucket \(S3_BUCKET\): must be an S3 bucket name/, command);
    t.match(
      result.stderr,
      /--permissions-boundary \(PERMISSIONS_BOUNDARY_ARN\): is required in provision mode: .*iam-policy --boundary.*--allow-no-boundary=true/,
      `${command}: listed with the other problems`,
    );
  }
  // The boundary document is printed before the boundary exists.
  const boundary = spawnSync(
    process.execPath,
    [CLI, 'iam-policy', '--boundary', '--s3-bucket', 'kf-artifacts'],
    { env, encoding: 'utf8', timeout: 30_000 },
  );
  t.equal(boundary.status, 0, boundary.stderr);
});

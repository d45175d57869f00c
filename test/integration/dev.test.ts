import t from 'tap';
import { GetPolicyCommand, GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { BUILD_HINT } from '../../tools/dev/controlplane.js';
import { isAlive } from '../helpers/processes.js';

/*
 * `npm run dev` as a newcomer uses it: `node .build/tools/dev/main.js` (dist/ must be built, as `npm test`
 * does first) starts moto, the webhook and the local control plane; the kubectl commands it
 * prints store a Profile with the plugin; Ctrl-C stops everything and exits 0.
 */
const DEV = fileURLToPath(new URL('../../.build/tools/dev/main.js', import.meta.url));
const run = promisify(execFile);

t.setTimeout(240_000);

/** The machine-readable line main.ts prints on stdout once everything is up. */
interface ReadyLine {
  dev: 'ready';
  admissionUrl: string;
  kubeconfig: string | null;
  sampleProfile: string;
  iamEndpoint: string;
  permissionsBoundary: string | null;
  pids: { self: number; moto: number; controlPlane: number | null };
}

/** Direct children of `pid` (procps `ps`). */
async function childrenOf(pid: number): Promise<number[]> {
  const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', String(pid)]).catch(
    (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }),
  );
  return stdout
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((n) => n > 0);
}

t.test('npm run dev: the printed kubectl commands store a Profile with the plugin', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dev-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  // cwd is the temporary directory, so the printed paths (relative to it) are used as printed.
  const child = spawn(process.execPath, [DEV], {
    cwd: dir,
    env: {
      ...process.env,
      DEV_DIR: join(dir, '.dev'),
      // Free ports picked by the webhook itself (a port probed here could be taken before dev
      // binds it); the printed URLs must then name the ports actually bound.
      PORT: '0',
      OPS_PORT: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  // If this test is cut short, dev goes too (it stops everything it started on SIGTERM).
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });

  const deadline = Date.now() + 180_000;
  while (!stderr.includes('Ctrl-C stops everything.')) {
    if (child.exitCode !== null || child.signalCode !== null) {
      t.fail(`dev exited during startup (${child.exitCode ?? child.signalCode})\n${stderr}`);
      return;
    }
    if (Date.now() > deadline) {
      t.fail(`no "Ctrl-C stops everything." within 180 s\n${stderr}`);
      return;
    }
    await sleep(100);
  }
  await sleep(100); // the ready line follows the message on stdout
  const ready = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Partial<ReadyLine>)
    .find((value) => value.dev === 'ready') as ReadyLine | undefined;
  if (!ready) throw new Error(`no ready line on stdout:\n${stdout}`);
  t.match(ready.admissionUrl, /^https:\/\/127\.0\.0\.1:[1-9]\d*$/, 'the bound port, not 0');
  // Never a skip: without the control plane this test fails and says how to build it.
  if (ready.kubeconfig === null) {
    throw new Error(`dev started no control plane; ${BUILD_HINT}\n${stderr}`);
  }

  // The commands exactly as printed.
  const printed = (verb: string) => {
    const line = stderr
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.startsWith('kubectl ') && l.includes(` ${verb} `));
    if (!line) throw new Error(`no printed kubectl ${verb} command in:\n${stderr}`);
    return line.split(/\s+/).slice(1);
  };
  const apply = printed('apply');
  const get = printed('get');
  t.same(apply, ['--kubeconfig', ready.kubeconfig, 'apply', '-f', '.dev/sample-profile.yaml']);
  t.same(get, ['--kubeconfig', ready.kubeconfig, 'get', 'profile', 'team-a', '-o', 'yaml']);

  const applied = await run('kubectl', apply, { cwd: dir });
  t.match(applied.stdout, 'profile.kubeflow.org/team-a created');
  const stored = parseYaml((await run('kubectl', get, { cwd: dir })).stdout) as {
    spec?: { plugins?: { kind: string; spec?: Record<string, unknown> }[] };
  };
  t.same(
    stored.spec?.plugins,
    [
      {
        kind: 'AwsIamForServiceAccount',
        spec: {
          annotateOnly: true,
          awsIamRole: 'arn:aws:iam::123456789012:role/kubeflow-profiles/team-a-dev-role',
        },
      },
    ],
    'stored with the plugin the webhook patched in',
  );
  // The recommended install on embedded defaults: the role carries the boundary dev made.
  t.match(
    ready.permissionsBoundary,
    /^arn:aws:iam::123456789012:policy\/profile-irsa-webhook-boundary-dev$/,
  );
  const iam = new IAMClient({
    endpoint: ready.iamEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  t.teardown(() => iam.destroy());
  const role = await iam.send(new GetRoleCommand({ RoleName: 'team-a-dev-role' }));
  t.equal(
    role.Role?.PermissionsBoundary?.PermissionsBoundaryArn,
    ready.permissionsBoundary,
    'the created role has the permissions boundary',
  );
  const boundary = await iam.send(new GetPolicyCommand({ PolicyArn: ready.permissionsBoundary! }));
  t.equal(boundary.Policy?.Arn, ready.permissionsBoundary, 'the boundary policy exists in moto');

  // The reconciler runs in dev too: the printed describe shows the Profile's Events.
  const describe = printed('describe');
  t.same(describe, ['--kubeconfig', ready.kubeconfig, 'describe', 'profile', 'team-a']);
  let described = '';
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(1000)) {
    described = (await run('kubectl', describe, { cwd: dir })).stdout;
    if (described.includes('RoleInPlace')) break;
  }
  t.match(
    described,
    /Events:[\s\S]*Normal\s+RoleInPlace[\s\S]*arn:aws:iam::123456789012:role\/kubeflow-profiles\/team-a-dev-role/,
    'kubectl describe profile shows the role in place',
  );

  // Everything it started: moto, the control plane, and whatever else is a child of it.
  const pids = [
    ...new Set([
      ready.pids.moto,
      ...(ready.pids.controlPlane === null ? [] : [ready.pids.controlPlane]),
      ...(await childrenOf(child.pid!)),
    ]),
  ];
  t.ok(pids.length >= 2, `children: ${pids.join(', ')}`);
  t.ok(
    pids.every((pid) => isAlive(pid)),
    'all running before Ctrl-C',
  );

  child.kill('SIGINT');
  const [code, signal] = await exited;
  t.equal(signal, null, 'not killed by the signal');
  t.equal(code, 0, 'exits 0 on SIGINT', code === 0 ? {} : { stderr: stderr.slice(-4000) });
  t.notMatch(stderr, 'while stopping', 'everything stopped cleanly');
  // Stopping waits for each process to exit; allow a moment for the kernel to reap them.
  for (let i = 0; i < 50 && pids.some((pid) => isAlive(pid)); i++) await sleep(100);
  t.same(
    pids.filter((pid) => isAlive(pid)),
    [],
    'no process left behind',
  );
  t.notOk(existsSync(dirname(ready.kubeconfig)), "the control plane's data directory is gone");
});

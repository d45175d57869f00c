import t from 'tap';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { once } from 'node:events';
import {
  chmod,
  chown,
  copyFile,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { writeLocalCerts } from '../../tools/dev/certs.js';
import { repoRoot } from '../../tools/repo-root.js';
import {
  copiesOf,
  execForm,
  last,
  repoStages,
  runCommands,
  type Stage,
} from '../helpers/dockerfile.js';
import { httpsRequest } from '../helpers/https.js';
import { roleExists } from '../helpers/iam-roles.js';
import { FAKE_CREDENTIALS, iamClientFor, MOTO_REGION, startMoto } from '../helpers/moto.js';
import { createReview, decodePatch } from '../helpers/reviews.js';
import { servingAddresses } from '../helpers/served-webhook.js';
import { localServeEnv } from '../helpers/webhook.js';

/*
 * The image's tree, proven without a container engine. The Dockerfile's stages are replayed on
 * this machine (their COPY and RUN lines, read from the Dockerfile itself), the runtime stage's
 * tree is assembled in a temporary directory with Node.js where the image has it, made read-only
 * and root-owned, and `serve` is run from it as the image's non-root user against moto. That shows
 * nothing at run time needs a devDependency, nothing writes into the tree, and the AWS SDK has no
 * complaint about the Node.js version.
 */

t.setTimeout(280_000);

/** What the AWS SDK prints when it runs on a Node.js it is dropping (NodeVersionSupportWarning). */
const SDK_NODE_WARNING =
  /NodeVersionSupportWarning|NodeDeprecationWarning|no longer support Node\.js|will require node >=/i;

const stages = repoStages();
const runtime = stages.at(-1)!;
const stageByName = (name: string) => stages.find((s) => s.name === name);
const workdirOf = (stage: Stage) => last(stage, 'WORKDIR')?.args ?? '/';

/*
 * The test runner adds its own preload to every child's NODE_OPTIONS. Children that stand in for
 * the image must not load it (it is a devDependency, and it writes files), so they are started
 * through env(1), which drops it.
 */
function run(command: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const result = spawnSync('env', ['-u', 'NODE_OPTIONS', command, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, CI: 'true' },
  });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} (in ${cwd}) failed: ${result.error?.message ?? result.status}\n` +
        `${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}

/**
 * Replays one build stage into `dir` (its WORKDIR): its COPY lines from the repository, then its
 * RUN commands. A command this test does not know how to replay fails it, so a change to the
 * Dockerfile cannot go unproven here.
 */
async function replayStage(stage: Stage, dir: string, notes: string[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const ins of stage.instructions) {
    if (ins.keyword === 'COPY') {
      const [copy] = copiesOf({ ...stage, instructions: [ins] });
      if (copy!.from !== undefined)
        throw new Error(`line ${ins.line}: COPY --from in a build stage`);
      for (const source of copy!.sources) {
        const target = copy!.destination.endsWith('/')
          ? join(dir, copy!.destination, posix.basename(source))
          : join(dir, copy!.destination);
        await cp(join(repoRoot, source), target, { recursive: true });
      }
    } else if (ins.keyword === 'RUN') {
      for (const command of runCommands({ ...stage, instructions: [ins] })) {
        const words = command.split(' ');
        if (words[0] === 'npm' && words[1] === 'ci' && words.includes('--omit=dev')) {
          // Exactly the stage's install, from the machine's npm cache where it can.
          run('npm', [...words.slice(1), '--prefer-offline'], dir);
          notes.push(command);
        } else if (words[0] === 'npm' && words[1] === 'ci') {
          // The full tree of the same lockfile is the repository's own: use it rather than
          // install it a second time.
          await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
          notes.push(`${command} (the repository's node_modules, same lockfile)`);
        } else if (command === 'npm run build') {
          run('npm', ['run', 'build'], dir);
          notes.push(command);
        } else if (command === 'npm cache clean --force') {
          // The machine's npm cache is shared; the image's goes away with the stage.
          notes.push(`${command} (skipped: nothing of the cache reaches the runtime stage)`);
        } else {
          throw new Error(`line ${ins.line}: this test cannot replay \`${command}\`; teach it`);
        }
      }
    } else if (!['WORKDIR', 'ENV', 'ARG', 'LABEL'].includes(ins.keyword)) {
      throw new Error(`line ${ins.line}: this test cannot replay ${ins.keyword}; teach it`);
    }
  }
}

interface Entry {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  mtimeMs: number;
}

/** Every path under `dir` with what a write would change. */
async function snapshot(dir: string): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();
  const walk = async (path: string) => {
    const stat = await lstat(path);
    const type = stat.isSymbolicLink() ? 'symlink' : stat.isDirectory() ? 'dir' : 'file';
    entries.set(relative(dir, path) || '.', {
      type,
      mode: stat.mode,
      size: stat.size,
      mtimeMs: stat.mtimeMs,
    });
    if (type === 'dir') for (const name of await readdir(path)) await walk(join(path, name));
  };
  await walk(dir);
  return entries;
}

/** Packages installed under a node_modules tree, as lockfile keys (`node_modules/a/node_modules/b`). */
async function installedPackages(app: string): Promise<string[]> {
  const found: string[] = [];
  const scan = async (modules: string) => {
    let names: string[];
    try {
      names = await readdir(join(app, modules));
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      if (name.startsWith('@')) {
        for (const scoped of await readdir(join(app, modules, name))) {
          found.push(`${modules}/${name}/${scoped}`);
          await scan(`${modules}/${name}/${scoped}/node_modules`);
        }
      } else {
        found.push(`${modules}/${name}`);
        await scan(`${modules}/${name}/node_modules`);
      }
    }
  };
  await scan('node_modules');
  return found;
}

const isRoot = process.getuid?.() === 0;

t.test('the runtime stage copies what this test assembles', async (t) => {
  const copies = copiesOf(runtime);
  const fromContext = copies.filter((c) => c.from === undefined);
  const fromStages = copies.filter((c) => c.from !== undefined);
  t.same(
    fromContext.flatMap((c) => c.sources),
    ['package.json'],
    'only package.json from the context',
  );
  t.same(
    fromStages.map((c) => posix.basename(c.sources.join(' '))).sort(),
    ['dist', 'node_modules'],
    'dist/ and node_modules/ from build stages',
  );
  for (const copy of fromStages) {
    t.ok(stageByName(copy.from!), `COPY --from=${copy.from} names a stage of this Dockerfile`);
  }
});

t.test(
  'serve from the production tree: read-only, root-owned, non-root, against moto',
  async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'irsa-image-'));
    // mkdtemp makes 0700; the image's user must be able to reach /app and /nodejs below it.
    await chmod(root, 0o755);
    t.teardown(async () => {
      // Root may delete read-only trees; anyone else makes them writable first.
      if (!isRoot) spawnSync('chmod', ['-R', 'u+w', root]);
      await rm(root, { recursive: true, force: true });
    });

    // 1. The build stages, replayed.
    const notes: string[] = [];
    const stageDirs = new Map<string, string>();
    for (const copy of copiesOf(runtime).filter((c) => c.from !== undefined)) {
      if (stageDirs.has(copy.from!)) continue;
      const stage = stageByName(copy.from!)!;
      const dir = join(root, 'stages', copy.from!, workdirOf(stage));
      await replayStage(stage, dir, notes);
      stageDirs.set(copy.from!, dir);
    }
    t.comment(`replayed: ${notes.join('; ')}`);

    // 2. The runtime stage's tree: its COPY lines into its WORKDIR.
    const workdir = workdirOf(runtime);
    const app = join(root, workdir);
    await mkdir(app, { recursive: true });
    for (const copy of copiesOf(runtime)) {
      for (const source of copy.sources) {
        const from =
          copy.from === undefined
            ? join(repoRoot, source)
            : join(
                stageDirs.get(copy.from)!,
                posix.relative(workdirOf(stageByName(copy.from)!), source),
              );
        const to = copy.destination.endsWith('/')
          ? join(app, copy.destination, posix.basename(source))
          : join(app, copy.destination);
        // A stage's output is moved rather than copied (the stage is thrown away next): the same
        // tree, in a fraction of the time.
        if (copy.from === undefined) await cp(from, to, { recursive: true });
        else await rename(from, to);
      }
    }
    await rm(join(root, 'stages'), { recursive: true, force: true });

    // 3. What is in it: the product only.
    const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const installed = await installedPackages(app);
    t.ok(installed.length > 0, `${installed.length} packages installed`);
    const devInstalled = installed.filter((p) => lock.packages[p]?.dev === true);
    t.same(devInstalled, [], 'no package the lockfile marks dev-only');
    t.same(
      installed.filter((p) => lock.packages[p] === undefined),
      [],
      'every package is one the lockfile holds',
    );
    for (const name of Object.keys(pkg.devDependencies)) {
      if (lock.packages[`node_modules/${name}`]?.dev === true) {
        t.notOk(installed.includes(`node_modules/${name}`), `devDependency ${name} is absent`);
      } else {
        t.comment(`${name} is a devDependency and also a dependency of a dependency`);
      }
    }
    for (const name of Object.keys(pkg.dependencies)) {
      t.ok(installed.includes(`node_modules/${name}`), `dependency ${name} is present`);
    }
    const before = await snapshot(app);
    const paths = [...before.keys()];
    t.same(
      paths.filter((p) => /(^|\/)(\.build|tools)(\/|$)/.test(p) && !p.startsWith('node_modules/')),
      [],
      'no tools/ or .build/ outside node_modules',
    );
    t.same(
      [...new Set(paths.filter((p) => !p.includes('/')).sort())],
      ['.', 'dist', 'node_modules', 'package.json'],
      'the top level is dist/, node_modules/ and package.json',
    );
    const sources = [...(await snapshot(join(repoRoot, 'src')))]
      .filter(([p, e]) => e.type === 'file' && p.endsWith('.ts'))
      .map(([p]) => p.replace(/\.ts$/, '.js'))
      .sort();
    const compiled = paths
      .filter((p) => p.startsWith('dist/') && p.endsWith('.js'))
      .map((p) => p.slice('dist/'.length))
      .sort();
    t.same(compiled, sources, 'dist/ holds exactly the compiled src/ (no dev, no bench)');
    for (const file of compiled) {
      const text = await readFile(join(app, 'dist', file), 'utf8');
      if (/from\s+['"][^'"]*\/(tools|\.build)\//.test(text))
        t.fail(`dist/${file} imports tools code`);
    }

    // 4. As the image has it: root-owned and read-only, Node.js at the ENTRYPOINT's path.
    const [nodePath, ...entryArgs] = execForm(last(runtime, 'ENTRYPOINT')!);
    const cmd = execForm(last(runtime, 'CMD')!);
    const node = join(root, nodePath!);
    await mkdir(dirname(node), { recursive: true });
    // The checkout can sit below a home directory the image's user cannot enter (CI's is 0700).
    await copyFile(process.execPath, node);
    const lockDown = async (path: string) => {
      const stat = await lstat(path);
      if (stat.isSymbolicLink()) return;
      if (isRoot) await chown(path, 0, 0);
      await chmod(path, stat.mode & 0o7555);
      if (stat.isDirectory())
        for (const name of await readdir(path)) await lockDown(join(path, name));
    };
    await lockDown(app);
    await lockDown(join(root, nodePath!.split('/').filter(Boolean)[0]!));
    const locked = await snapshot(app);

    // The image's user; CI runs as root and switches to it, anyone else already is not root.
    const [uid, gid] = last(runtime, 'USER')!.args.split(':').map(Number) as [number, number];
    t.not(uid, 0, 'the image runs as non-root');
    const certDir = join(root, 'certs');
    const certs = await writeLocalCerts(certDir);
    if (isRoot) {
      for (const path of [certDir, certs.certFile, certs.keyFile, certs.caFile]) {
        await chown(path, uid, gid);
      }
    } else {
      t.comment(`not root: serving as uid ${process.getuid?.()} instead of ${uid}`);
    }
    await chmod(certDir, 0o500);

    const moto = await startMoto();
    t.teardown(() => moto.stop());
    const imageEnv = Object.fromEntries(
      runtime.instructions
        .filter((i) => i.keyword === 'ENV')
        .map((i) => i.args.split('=', 2) as [string, string]),
    );
    t.equal(imageEnv.NODE_ENV, 'production');
    const env = {
      // distroless's PATH and HOME; nothing of the test's environment.
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/home/nonroot',
      ...imageEnv,
      ...localServeEnv(certs),
      SHUTDOWN_DELAY_SECONDS: '0',
      AWS_ENDPOINT_URL_IAM: moto.endpoint,
      AWS_ENDPOINT_URL_STS: moto.endpoint,
      AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
      AWS_REGION: MOTO_REGION,
    };
    // Exactly the image's environment: env -i starts from nothing.
    const envArgs = ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
    const child = spawn('env', [...envArgs, node, ...entryArgs, ...cmd], {
      cwd: app,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(isRoot ? { uid, gid } : {}),
    });
    const exited = once(child, 'exit');
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });

    const serving = await servingAddresses(child, () => `${stdout}\n${stderr}`);
    const running = spawnSync('ps', ['-o', 'uid=', '-p', String(child.pid)], { encoding: 'utf8' });
    if (isRoot) t.equal(Number(running.stdout.trim()), uid, `serve runs as uid ${uid}`);

    t.equal((await fetch(`${serving.ops}/readyz`)).status, 200, 'ready');
    const answer = await httpsRequest(`${serving.admission}/mutate?timeout=10s`, {
      ca: certs.caCert,
      body: JSON.stringify(createReview('team-image')),
      headers: { 'content-type': 'application/json' },
    });
    t.equal(answer.status, 200, answer.text);
    t.equal(answer.json().response.allowed, true, 'a plain Profile CREATE is admitted');
    const patch = decodePatch(answer.json().response.patch);
    t.match(patch, [
      {
        op: 'add',
        path: '/spec',
        value: {
          plugins: [
            { kind: 'AwsIamForServiceAccount', spec: { awsIamRole: /team-image-prod-role$/ } },
          ],
        },
      },
    ]);
    const iam = iamClientFor(moto.endpoint);
    t.teardown(() => iam.destroy());
    t.ok(await roleExists(iam, 'team-image-prod-role'), 'the role is in IAM (moto)');
    const metrics = await fetch(`${serving.ops}/metrics`);
    t.match(await metrics.text(), /profile_irsa_admission_requests_total\{[^}]*webhook="mutate"/);

    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    t.equal(code, 0, 'SIGTERM: drains and exits 0');

    t.notMatch(stderr, SDK_NODE_WARNING, 'no Node.js version warning from the AWS SDK');
    t.notMatch(stderr, /Warning/, `nothing on stderr warns:\n${stderr}`);
    t.notMatch(stdout, /"level":(50|60)/, 'no error logged');
    const after = await snapshot(app);
    t.same(
      [...after].filter(([p, e]) => JSON.stringify(locked.get(p)) !== JSON.stringify(e)),
      [],
      'nothing in the tree was written, added or changed',
    );
    t.same(
      [...locked.keys()].filter((p) => !after.has(p)),
      [],
      'nothing in the tree was removed',
    );

    // The warning check above can see the SDK's warning: told it runs on Node.js 20, the same
    // SDK in the same tree prints it.
    const control = spawnSync(
      'env',
      [
        ...envArgs,
        node,
        '--input-type=module',
        '-e',
        "Object.defineProperty(process, 'version', { value: 'v20.20.2' });" +
          "const { IAMClient } = await import('@aws-sdk/client-iam');" +
          "new IAMClient({ region: 'us-east-1' }).destroy();",
      ],
      { cwd: app, encoding: 'utf8', timeout: 30_000, ...(isRoot ? { uid, gid } : {}) },
    );
    t.equal(control.status, 0, control.stderr);
    t.match(control.stderr, SDK_NODE_WARNING, 'on Node.js 20 the SDK warns, and the check sees it');
  },
);

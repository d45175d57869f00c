// The Dockerfile agrees with package.json, the TypeScript build and the chart: the entrypoint
// runs the package's bin, the build emits it, every Node base image satisfies `engines` and the
// build stages run the Node release the tests run on, the runtime is distroless Node.js of that
// major and non-root, the exposed ports are the defaults, .dockerignore keeps what the build needs,
// and nothing of tools/ (dev and benchmark code) or its output .build/ reaches the image.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { SERVE_OPTIONS } from '../../src/config/options.js';
import {
  contextSources,
  copiesOf,
  dockerignorePatterns,
  execForm,
  isIgnored,
  last,
  patternToRegExp,
  repoStages,
  runCommands,
} from '../helpers/dockerfile.js';
import { chartDir, repoRoot } from '../helpers/helm.js';

// --- tiny semver range check for `engines.node` (>=, >, <=, <, =, ^, ~, x; `||` of ANDs) -----
type Version = [number, number, number];
function parseVersion(text: string): Version {
  const parts = text.replace(/^v/, '').split('.');
  const n = (i: number) => {
    const p = parts[i];
    return p === undefined || p === 'x' || p === '*' ? 0 : Number(p);
  };
  return [n(0), n(1), n(2)];
}
function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
function satisfies(version: Version, range: string): boolean {
  return range.split('||').some((alternative) =>
    alternative
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .every((comparator) => {
        const m = /^(>=|<=|>|<|=|\^|~)?(.+)$/.exec(comparator);
        if (!m) return false;
        const [, op = '=', rest] = m;
        const bound = parseVersion(rest!);
        const c = compare(version, bound);
        switch (op) {
          case '>=':
            return c >= 0;
          case '>':
            return c > 0;
          case '<=':
            return c <= 0;
          case '<':
            return c < 0;
          case '^':
            return c >= 0 && version[0] === bound[0];
          case '~':
            return c >= 0 && version[0] === bound[0] && version[1] === bound[1];
          default:
            return rest!.includes('x') || rest!.split('.').length < 3
              ? version[0] === bound[0]
              : c === 0;
        }
      }),
  );
}

/** The Node version a base image ships: `node:20.20.2-…` exactly, distroless `nodejs20` as 20.latest. */
function nodeVersionOf(image: string): Version | undefined {
  const official = /^(?:docker\.io\/(?:library\/)?)?node:(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(image);
  if (official) {
    const [, major, minor, patch] = official;
    // A major-only tag floats to the newest release of that major.
    return [
      Number(major),
      minor === undefined ? 999 : Number(minor),
      patch === undefined ? 999 : Number(patch),
    ];
  }
  const distroless = /distroless\/nodejs(\d+)/.exec(image);
  if (distroless) return [Number(distroless[1]), 999, 999];
  return undefined;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = join(dir, entry);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

// --- tsconfig with `extends` ---------------------------------------------------------------
interface TsConfig {
  extends?: string;
  compilerOptions?: { outDir?: string; rootDir?: string };
  include?: string[];
}
interface ResolvedTsConfig {
  outDir?: string | undefined;
  rootDir?: string | undefined;
  include?: string[] | undefined;
  /** This file and every file it extends, relative to the repository. */
  files: string[];
}
function readTsConfig(file: string): ResolvedTsConfig {
  // tsconfig allows line comments; drop them (the project's files use none of JSON's other extensions).
  const text = readFileSync(file, 'utf8').replace(/^\s*\/\/.*$/gm, '');
  const config = JSON.parse(text) as TsConfig;
  const base: ResolvedTsConfig = config.extends
    ? readTsConfig(join(dirname(file), config.extends))
    : { files: [] };
  const resolve = (p?: string) =>
    p === undefined ? undefined : relative(repoRoot, join(dirname(file), p));
  return {
    outDir: resolve(config.compilerOptions?.outDir) ?? base.outDir,
    rootDir: resolve(config.compilerOptions?.rootDir) ?? base.rootDir,
    include: config.include?.map((p) => resolve(p)!) ?? base.include,
    files: [relative(repoRoot, file), ...base.files],
  };
}

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  name: string;
  bin: Record<string, string> | string;
  scripts: Record<string, string>;
  engines: { node: string };
  devDependencies: Record<string, string>;
};
const stages = repoStages();
const runtime = stages.at(-1)!;
const dockerignore = dockerignorePatterns();
/** The TypeScript project `npm run build` compiles. */
const buildProject =
  /\btsc\b.*?(?:-p|--project)\s+(\S+)/.exec(pkg.scripts.build ?? '')?.[1] ?? 'tsconfig.json';
const binTarget = posix.normalize(
  typeof pkg.bin === 'string' ? pkg.bin : (pkg.bin[pkg.name] ?? Object.values(pkg.bin)[0]!),
);

t.test('multi-stage: a build stage and a separate runtime stage', async (t) => {
  t.ok(stages.length >= 2, 'at least two stages');
  t.ok(runtime.name === undefined || !/build/i.test(runtime.name), 'the last stage is the runtime');
});

t.test("ENTRYPOINT runs package.json's bin, CMD is serve", async (t) => {
  const entrypoint = last(runtime, 'ENTRYPOINT');
  t.ok(entrypoint, 'runtime has an ENTRYPOINT');
  const argv = execForm(entrypoint!);
  t.equal(posix.basename(argv[0]!), 'node', 'runs node');
  if (/distroless\/nodejs/.test(runtime.image)) {
    t.equal(argv[0], '/nodejs/bin/node', 'distroless node lives at /nodejs/bin/node');
  }
  // Node flags may come between node and the script.
  const scriptAt = argv.findIndex((arg, i) => i > 0 && !arg.startsWith('--'));
  const flags = argv.slice(1, scriptAt);
  for (const flag of flags) {
    t.match(flag, /^--[a-z][a-z0-9-]*(=\S+)?$/, `node flag ${flag}`);
  }
  const script = argv[scriptAt]!;
  t.equal(posix.normalize(script), binTarget, `the script is package.json's bin (${binTarget})`);
  const cmd = last(runtime, 'CMD');
  t.same(cmd && execForm(cmd), ['serve']);
});

t.test("the build runs package.json's build script, whose outDir holds the bin", async (t) => {
  const buildStage = stages.find((s) =>
    s.instructions.some((i) => i.keyword === 'RUN' && /\bnpm run build\b/.test(i.args)),
  );
  t.ok(buildStage, 'a stage runs `npm run build`');
  const ci = buildStage!.instructions.findIndex(
    (i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args),
  );
  const build = buildStage!.instructions.findIndex(
    (i) => i.keyword === 'RUN' && /\bnpm run build\b/.test(i.args),
  );
  t.ok(ci >= 0 && ci < build, '`npm ci` runs before the build');

  t.ok(pkg.scripts.build, 'package.json has a build script');
  const project = buildProject;
  const projectFile = join(repoRoot, project);
  t.ok(existsSync(projectFile), `${project} (the build's tsconfig) exists`);
  if (!existsSync(projectFile)) return;
  const { outDir, rootDir } = readTsConfig(projectFile);
  t.ok(outDir, `${project} sets outDir`);
  t.ok(binTarget.startsWith(`${outDir}/`), `${binTarget} is under outDir ${outDir}`);
  if (rootDir && outDir) {
    const source = join(rootDir, relative(outDir, binTarget)).replace(/\.js$/, '.ts');
    t.ok(existsSync(join(repoRoot, source)), `the bin is compiled from ${source}`);
  }
  // The runtime gets the compiled output and production node_modules from earlier stages.
  const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
  t.ok(
    copies.some((c) => /--from=/.test(c) && new RegExp(`/${outDir}\\b`).test(c)),
    `runtime copies ${outDir} from a build stage`,
  );
  t.ok(
    copies.some((c) => /--from=/.test(c) && /node_modules/.test(c)),
    'runtime copies node_modules from a stage',
  );
  t.ok(
    stages.some((s) =>
      s.instructions.some(
        (i) => i.keyword === 'RUN' && /npm (ci|prune|install)\b.*--omit=dev/.test(i.args),
      ),
    ),
    'production dependencies only (--omit=dev)',
  );
  t.ok(
    copies.some((c) => /\bpackage\.json\b/.test(c)),
    'runtime has package.json ("type": "module" for dist)',
  );
});

t.test('every Node base image satisfies package.json engines', async (t) => {
  const nodeImages = stages.filter((s) => nodeVersionOf(s.image));
  t.ok(nodeImages.length >= 2, 'build and runtime stages are Node images');
  for (const stage of nodeImages) {
    const version = nodeVersionOf(stage.image)!;
    t.ok(satisfies(version, pkg.engines.node), `${stage.image} satisfies ${pkg.engines.node}`);
    t.notMatch(stage.image, /:latest$|^node$|:lts/, `${stage.image} is pinned`);
  }
  const majors = new Set(nodeImages.map((s) => nodeVersionOf(s.image)![0]));
  t.equal(majors.size, 1, 'one Node major across stages');
});

t.test('the build stages run the Node release the tests run on', async (t) => {
  // The `node` devDependency is the Node.js every npm script (tests included) runs on.
  const tested = pkg.devDependencies.node ?? '';
  t.match(tested, /^\d+\.\d+\.\d+$/, 'the node devDependency is an exact version');
  t.equal(process.version, `v${tested}`, 'these tests run on it');
  const official = stages.filter((s) => /^(?:docker\.io\/(?:library\/)?)?node:/.test(s.image));
  t.ok(official.length >= 1, 'the build uses the official node image');
  for (const stage of official) {
    t.match(
      stage.image,
      new RegExp(
        `^(?:docker\\.io/(?:library/)?)?node:${tested.replaceAll('.', '\\.')}-bookworm-slim$`,
      ),
      `${stage.name ?? stage.image} is node:${tested}-bookworm-slim`,
    );
  }
});

t.test("the runtime is distroless Node.js of engines' major, as non-root", async (t) => {
  const match = /^gcr\.io\/distroless\/nodejs(\d+)-debian(\d+):nonroot$/.exec(runtime.image);
  t.ok(match, `${runtime.image} is gcr.io/distroless/nodejs<major>-debian<n>:nonroot`);
  // Distroless follows the major's patch releases: engines must admit every one of them.
  t.ok(
    satisfies([Number(match?.[1]), 999, 999], pkg.engines.node),
    `engines ${pkg.engines.node} admits Node.js ${match?.[1]}.x`,
  );
  t.equal(
    Number(match?.[1]),
    Number(pkg.devDependencies.node?.split('.')[0]),
    'the same major as the build stages and the tests',
  );
});

t.test('nothing of tools/ or .build/ reaches the image', async (t) => {
  const toolish = /(^|\/)(tools|\.build)(\/|$)|tsconfig\.tools\.json/;
  for (const stage of stages) {
    for (const copy of copiesOf(stage)) {
      for (const source of copy.sources) {
        t.notMatch(source, toolish, `line ${copy.line}: COPY ${source} is not tools code`);
        t.notOk(
          patternToRegExp(source).test('tools/bench/main.ts') ||
            patternToRegExp(source).test('.build/tools/bench/main.js'),
          `line ${copy.line}: COPY ${source} takes no tools file`,
        );
      }
    }
    for (const command of runCommands(stage)) {
      t.notMatch(command, /build:tools|tools\/|\.build\b/, `RUN ${command} builds no tools`);
    }
  }
  for (const file of [
    'tools/bench/main.ts',
    'tools/dev/main.ts',
    'tools/repo-root.ts',
    '.build/tools/bench/main.js',
    '.build/src/bin/cli.js',
    'tsconfig.tools.json',
    'tsconfig.test.json',
  ]) {
    t.ok(isIgnored(file, dockerignore), `${file} never enters the build context`);
  }
  // What the image compiles is src/ alone: tools have their own project (npm run build:tools).
  const build = readTsConfig(join(repoRoot, buildProject));
  t.ok(build.include && build.include.length > 0, `${buildProject} lists what it compiles`);
  for (const pattern of build.include ?? []) {
    t.match(pattern, /^src\//, `${buildProject} compiles ${pattern}, inside src/`);
  }
  t.equal(build.outDir, 'dist', 'into dist/');
  t.match(pkg.scripts['build:tools'] ?? '', /tsconfig\.tools\.json/, 'tools build on their own');
  const tools = readTsConfig(join(repoRoot, 'tsconfig.tools.json'));
  t.not(tools.outDir, build.outDir, 'into another directory than dist/');
});

t.test('the runtime stage runs as a non-root user', async (t) => {
  const user = last(runtime, 'USER');
  t.ok(user, 'runtime sets USER');
  const name = user!.args.split(':')[0]!;
  t.notOk(['root', '0', ''].includes(name), `USER ${user!.args} is not root`);
  // The chart's runAsUser must be able to run it (runAsNonRoot needs a numeric USER).
  t.match(name, /^\d+$/, 'USER is numeric, so runAsNonRoot can verify it');
  const values = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as {
    securityContext: { runAsUser: number };
  };
  t.equal(Number(name), values.securityContext.runAsUser, 'the chart runs the same uid');
});

t.test('EXPOSE matches the default ports', async (t) => {
  const exposed = runtime.instructions
    .filter((i) => i.keyword === 'EXPOSE')
    .flatMap((i) => i.args.split(/\s+/))
    .map((p) => Number(p.split('/')[0]))
    .sort();
  const option = (key: string) => Number(SERVE_OPTIONS.find((o) => o.key === key)?.default);
  t.same(exposed, [option('opsPort'), option('port')].sort(), 'the binary defaults');
  t.same(exposed, [8080, 9443]);
  const values = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as {
    containerPorts: { https: number; ops: number };
  };
  t.same(exposed, [values.containerPorts.ops, values.containerPorts.https].sort(), "the chart's");
});

t.test('.dockerignore keeps what the build needs and drops the rest', async (t) => {
  const needed = [
    'package.json',
    'package-lock.json',
    ...readTsConfig(join(repoRoot, buildProject)).files,
    ...filesUnder(join(repoRoot, 'src')).map((f) => relative(repoRoot, f)),
  ];
  for (const stage of stages) {
    for (const source of contextSources(stage)) {
      for (const file of needed.filter((f) => patternToRegExp(source).test(f))) {
        t.notOk(isIgnored(file, dockerignore), `${file} (COPY ${source}) reaches the build`);
      }
      t.ok(
        needed.some((f) => patternToRegExp(source).test(f)) || /\*/.test(source),
        `COPY ${source} names something the build needs`,
      );
    }
  }
  for (const file of needed) t.notOk(isIgnored(file, dockerignore), `${file} is not ignored`);
  for (const junk of [
    'node_modules/x/index.js',
    'dist/bin/cli.js',
    '.git/HEAD',
    'test/a.ts',
    'charts/c/Chart.yaml',
    '.tap/x',
  ]) {
    t.ok(isIgnored(junk, dockerignore), `${junk} is ignored`);
  }
});

// The Dockerfile agrees with package.json, the TypeScript build and the chart: the entrypoint
// runs the package's bin, the build emits it, the Node version satisfies `engines`, the runtime is
// non-root, the exposed ports are the defaults, and .dockerignore keeps what the build needs.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { SERVE_OPTIONS } from '../../src/config/options.js';
import { chartDir, repoRoot } from '../helpers/helm.js';

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into instructions (joining `\` continuations, dropping comments). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (current === '' && (line.trim() === '' || line.trim().startsWith('#'))) return;
    if (current !== '' && line.trim().startsWith('#')) return;
    if (current === '') start = i + 1;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      return;
    }
    current += line;
    const match = /^\s*(\w+)\s+(.*)$/s.exec(current);
    if (!match)
      throw new Error(`Dockerfile line ${start}: cannot parse ${JSON.stringify(current)}`);
    out.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start });
    current = '';
  });
  return out;
}

function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const as = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({
        image: words[0]!,
        ...(as >= 0 ? { name: words[as + 1]! } : {}),
        instructions: [],
      });
    } else {
      stages.at(-1)?.instructions.push(ins);
    }
  }
  return stages;
}

const execForm = (ins: Instruction): string[] => {
  const parsed: unknown = JSON.parse(ins.args);
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
    throw new Error(`line ${ins.line}: ${ins.keyword} is not in exec (JSON array) form`);
  }
  return parsed as string[];
};

const last = (stage: Stage, keyword: string): Instruction | undefined =>
  stage.instructions.filter((i) => i.keyword === keyword).at(-1);

/** COPY/ADD sources taken from the build context (not `--from=`). */
function contextSources(stage: Stage): string[] {
  return stage.instructions
    .filter((i) => (i.keyword === 'COPY' || i.keyword === 'ADD') && !/--from=/.test(i.args))
    .flatMap((i) => {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      return words.slice(0, -1);
    });
}

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

// --- .dockerignore matching (Docker's rules: filepath.Match per segment, `**`, `!`, last wins) --
function patternToRegExp(pattern: string): RegExp {
  let re = '';
  const p = posix.normalize(pattern.replace(/^\/+/, '')).replace(/\/+$/, '');
  for (let i = 0; i < p.length; i++) {
    const ch = p[i]!;
    if (ch === '*' && p[i + 1] === '*') {
      re += '.*';
      i++;
      if (p[i + 1] === '/') i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A pattern also excludes everything below a matching directory.
  return new RegExp(`^${re}(/.*)?$`);
}

function isIgnored(path: string, patterns: string[]): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = negate ? raw.slice(1).trim() : raw;
    if (patternToRegExp(pattern).test(path)) ignored = !negate;
  }
  return ignored;
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
function readTsConfig(file: string): { outDir?: string; rootDir?: string } {
  // tsconfig allows line comments; drop them (the project's files use none of JSON's other extensions).
  const text = readFileSync(file, 'utf8').replace(/^\s*\/\/.*$/gm, '');
  const config = JSON.parse(text) as TsConfig;
  const base: { outDir?: string; rootDir?: string } = config.extends
    ? readTsConfig(join(dirname(file), config.extends))
    : {};
  const resolve = (p?: string) =>
    p === undefined ? undefined : relative(repoRoot, join(dirname(file), p));
  return {
    outDir: resolve(config.compilerOptions?.outDir) ?? base.outDir,
    rootDir: resolve(config.compilerOptions?.rootDir) ?? base.rootDir,
  };
}

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  name: string;
  bin: Record<string, string> | string;
  scripts: Record<string, string>;
  engines: { node: string };
};
const stages = stagesOf(parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')));
const runtime = stages.at(-1)!;
const dockerignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
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
  t.equal(posix.normalize(argv[1]!), binTarget, `the script is package.json's bin (${binTarget})`);
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

  const script = pkg.scripts.build;
  t.ok(script, 'package.json has a build script');
  const project = /\btsc\b.*?(?:-p|--project)\s+(\S+)/.exec(script ?? '')?.[1] ?? 'tsconfig.json';
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
    ...readdirSync(repoRoot).filter((f) => /^tsconfig.*\.json$/.test(f)),
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

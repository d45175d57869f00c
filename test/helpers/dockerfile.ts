// The Dockerfile and .dockerignore as data, for the tests that hold them to package.json and
// rebuild the image's tree without a container engine.

import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { repoRoot } from '../../tools/repo-root.js';

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
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

/** The repository's Dockerfile, stage by stage; the last one is the runtime. */
export function repoStages(): Stage[] {
  return stagesOf(parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')));
}

export const execForm = (ins: Instruction): string[] => {
  const parsed: unknown = JSON.parse(ins.args);
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
    throw new Error(`line ${ins.line}: ${ins.keyword} is not in exec (JSON array) form`);
  }
  return parsed;
};

export const last = (stage: Stage, keyword: string): Instruction | undefined =>
  stage.instructions.filter((i) => i.keyword === keyword).at(-1);

export interface Copy {
  /** The stage copied from (`--from=`), or undefined for the build context. */
  from: string | undefined;
  sources: string[];
  destination: string;
  line: number;
}

/** A stage's COPY and ADD instructions, with their flags read. */
export function copiesOf(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, sources: paths.slice(0, -1), destination: paths.at(-1)!, line: i.line };
    });
}

/** COPY/ADD sources taken from the build context (not `--from=`). */
export function contextSources(stage: Stage): string[] {
  return copiesOf(stage)
    .filter((c) => c.from === undefined)
    .flatMap((c) => c.sources);
}

/** The shell commands of a stage's RUN instructions, `&&` chains split apart. */
export function runCommands(stage: Stage): string[] {
  return stage.instructions
    .filter((i) => i.keyword === 'RUN')
    .flatMap((i) => i.args.split('&&').map((c) => c.trim().replace(/\s+/g, ' ')));
}

// --- .dockerignore matching (Docker's rules: filepath.Match per segment, `**`, `!`, last wins) --
export function patternToRegExp(pattern: string): RegExp {
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

export function isIgnored(path: string, patterns: string[]): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = negate ? raw.slice(1).trim() : raw;
    if (patternToRegExp(pattern).test(path)) ignored = !negate;
  }
  return ignored;
}

export function dockerignorePatterns(): string[] {
  return readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

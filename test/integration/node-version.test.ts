// On a Node.js older than the product needs, every command says which Node.js it needs and exits
// 2, instead of dying in a dependency's stack trace at import time. Run with the machine's own
// older Node.js, the one `which -a node` finds outside npm's PATH.

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const CLI = fileURLToPath(new URL('../../dist/bin/cli.js', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  engines: { node: string };
};

/** Every `node` on the PATH without npm's own entries (node_modules/.bin holds the pinned one). */
function systemNodes(): string[] {
  const path = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => !dir.includes('node_modules'))
    .join(delimiter);
  const found = spawnSync('which', ['-a', 'node'], { env: { PATH: path }, encoding: 'utf8' });
  return [...new Set(found.stdout.split('\n').filter(Boolean))];
}

const major = (node: string) =>
  Number(
    execFileSync(node, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '').split('.')[0],
  );

const old = systemNodes().find((node) => major(node) < 24);

t.test('an older Node.js gets a clear word and exit 2', async (t) => {
  t.ok(old, `an older Node.js outside npm's PATH (found: ${systemNodes().join(', ') || 'none'})`);
  if (!old) return;
  const version = execFileSync(old, ['--version'], { encoding: 'utf8' }).trim();
  const [, minimum] = /^>=(\d+\.\d+)/.exec(pkg.engines.node) ?? [];
  for (const args of [['serve'], ['doctor'], ['--help'], []]) {
    const result = spawnSync(old, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
    t.equal(result.status, 2, `${version} ${args.join(' ')}: exit 2`);
    t.equal(result.stdout, '', 'nothing else runs');
    t.match(
      result.stderr,
      `profile-irsa-webhook needs Node.js 24 (${minimum} or a later 24.x); this is Node.js ${version.slice(1)} (${old})`,
    );
    t.notMatch(result.stderr, /at |undici|Error/, 'no stack trace');
  }
});

t.test('the supported Node.js runs the CLI', async (t) => {
  const result = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  t.equal(result.status, 0, result.stderr);
  t.match(result.stdout, 'Usage: profile-irsa-webhook');
});

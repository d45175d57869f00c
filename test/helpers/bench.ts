import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

const BENCH = fileURLToPath(new URL('../../.build/tools/bench/main.js', import.meta.url));

/**
 * Runs the built benchmark (`npm run bench` without its builds) with `--json`, to its exit: its
 * exit code, its stdout, the end of its stderr and the file it wrote its JSON summary to. If the
 * test is cut short, the benchmark goes too: it stops everything it started on SIGTERM.
 */
export async function runBench(
  t: Test,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; jsonFile: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const jsonFile = join(dir, 'summary.json');
  const child = spawn(process.execPath, [BENCH, ...args, '--json', jsonFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr
    .setEncoding('utf8')
    .on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-8000)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr, jsonFile };
}

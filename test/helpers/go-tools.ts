// Go binaries the tests run for real, each pinned and installed by its script in scripts/ with
// `go install` into a cache outside the clone (the script prints the path once it is there).
// Tests never skip: a binary that cannot be installed fails the test with the script's output.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../tools/repo-root.js';

const execFileAsync = promisify(execFile);

/** A cold `go install` takes minutes on a shared 2-core machine. */
const INSTALL_TIMEOUT_MS = 30 * 60_000;

async function ensureGoTool(script: string, what: string): Promise<string> {
  const path = join(repoRoot, 'scripts', script);
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('bash', [path], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: INSTALL_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    }));
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(
      `could not install ${what} with ${path} (needs Go and the Go module proxy):\n` +
        stderr.slice(-4000),
      { cause: err },
    );
  }
  const binary = stdout.trim().split('\n').pop();
  if (!binary || !existsSync(binary)) {
    throw new Error(`${path} printed no usable path (got ${JSON.stringify(binary)})`);
  }
  return binary;
}

/** promtool (Prometheus's rule checker and unit-test runner), pinned in install-promtool.sh. */
export const ensurePromtool = () => ensureGoTool('install-promtool.sh', 'promtool');

/** amazon-eks-pod-identity-webhook, pinned in install-pod-identity-webhook.sh. */
export const ensurePodIdentityWebhook = () =>
  ensureGoTool('install-pod-identity-webhook.sh', 'amazon-eks-pod-identity-webhook');

// The real `helm` binary: `helm template` of the chart, and the chart's webhook configurations
// rendered for a locally running webhook. Used by `npm run dev`, `npm run bench` and the tests
// (test/helpers/helm.ts re-exports this module).
//
// scripts/install-helm.sh is the one place that knows the pinned version and where the binary
// lives (a cache outside the clone); it installs it with `go install` when it is missing
// (ensureHelm), or only says where it is (`--print-path`, isHelmInstalled). This module only
// calls that script, so `.ci/run` can pre-install helm with the same script.

import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../repo-root.js';

export { repoRoot };

const execFileAsync = promisify(execFile);

export const chartDir = join(repoRoot, 'charts/profile-irsa-webhook');
const installScript = join(repoRoot, 'scripts/install-helm.sh');

/** A cold `go install` of helm takes minutes on a shared 2-core machine. */
const INSTALL_TIMEOUT_MS = 20 * 60_000;
const HELM_TIMEOUT_MS = 120_000;
const MAX_BUFFER = 64 * 1024 * 1024;

/** A rendered Kubernetes object; callers read fields through it without a schema. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface HelmRunOptions {
  /** Extra environment, e.g. `{ KUBECONFIG: controlPlane.kubeconfigPath }`. */
  env?: NodeJS.ProcessEnv;
  /** Path to a kubeconfig; shorthand for `env.KUBECONFIG`. */
  kubeconfig?: string;
  cwd?: string;
  timeoutMs?: number;
}

export interface HelmResult {
  stdout: string;
  stderr: string;
}

/** Raised when helm exits non-zero; `message` carries helm's stderr (its error text). */
export class HelmError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | string | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(
      `helm ${args.join(' ')} failed (${String(exitCode)}):\n${stderr.trim() || stdout.trim()}`,
    );
    this.name = 'HelmError';
  }
}

/**
 * Whether the pinned helm is installed already (`install-helm.sh --print-path`, nothing is
 * installed), for callers that can do without it (`npm run dev`, `npm run bench`).
 */
export function isHelmInstalled(): boolean {
  try {
    const out = execFileSync('bash', [installScript, '--print-path'], {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const path = out.trim().split('\n').pop();
    return path !== undefined && path !== '' && existsSync(path);
  } catch {
    return false;
  }
}

/**
 * The path of the pinned helm binary, installed when missing (`go install` via
 * scripts/install-helm.sh, which only prints the path once it is there). Fails loudly when it
 * cannot be installed; tests never skip.
 */
async function ensureHelm(): Promise<string> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('bash', [installScript], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: INSTALL_TIMEOUT_MS,
      maxBuffer: MAX_BUFFER,
    }));
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(
      `could not install helm with ${installScript} (needs Go and the Go module proxy):\n` +
        stderr.slice(-4000),
      { cause: err },
    );
  }
  const path = stdout.trim().split('\n').pop();
  if (!path || !existsSync(path)) {
    throw new Error(`${installScript} printed no usable helm path (got ${JSON.stringify(path)})`);
  }
  return path;
}

/** Runs helm with `args`; rejects with a HelmError (stderr in the message) on failure. */
export async function helm(
  args: readonly string[],
  options: HelmRunOptions = {},
): Promise<HelmResult> {
  const binary = await ensureHelm();
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  if (options.kubeconfig) env.KUBECONFIG = options.kubeconfig;
  // Keep helm's own state (repositories, plugins, cache) out of the user's home and the clone.
  const stateDir = join(dirname(dirname(binary)), 'state');
  env.HELM_CACHE_HOME ??= join(stateDir, 'cache');
  env.HELM_CONFIG_HOME ??= join(stateDir, 'config');
  env.HELM_DATA_HOME ??= join(stateDir, 'data');
  try {
    const { stdout, stderr } = await execFileAsync(binary, [...args], {
      cwd: options.cwd ?? repoRoot,
      env,
      encoding: 'utf8',
      timeout: options.timeoutMs ?? HELM_TIMEOUT_MS,
      maxBuffer: MAX_BUFFER,
    });
    return { stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    throw new HelmError(args, e.code ?? null, e.stdout ?? '', e.stderr ?? String(err));
  }
}

/** Parses a multi-document YAML stream into its non-empty documents. */
function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new Error(`helm rendered invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    objects.push(value as K8sObject);
  }
  return objects;
}

/**
 * `helm template <args>` parsed into objects. `args` are passed as they are, so callers give the
 * release name and chart, e.g. `['t', chartDir, '--set', 'clusterName=c', ...]`; with a
 * kubeconfig (`options.kubeconfig`) `lookup` and `--validate` see that cluster.
 */
export async function helmTemplate(
  args: readonly string[],
  options: HelmRunOptions = {},
): Promise<K8sObject[]> {
  const { stdout } = await helm(['template', ...args], options);
  return parseManifests(stdout);
}

/**
 * `--set` arguments for the chart's required values, for callers that do not care about them:
 * the permissions boundary that provision mode requires is waived explicitly.
 */
export const REQUIRED_VALUES: readonly string[] = [
  '--set',
  'clusterName=c',
  '--set',
  'region=us-east-1',
  '--set',
  's3Bucket=kf-bucket',
  '--set',
  'allowNoBoundary=true',
];

export interface WebhookConfigurationsOptions extends HelmRunOptions {
  /** Base URL of the running webhook, e.g. `https://127.0.0.1:19443`. */
  url: string;
  /** The PEM CA that signed the webhook's serving certificate (PEM text, or base64 of it). */
  ca: string;
  /** Release name; the configurations are named after it. Default `t`. */
  release?: string;
  /** More helm arguments, e.g. `['--set', 'webhook.mutating.timeoutSeconds=15']`. */
  extraArgs?: readonly string[];
}

/**
 * Renders only the chart's MutatingWebhookConfiguration and ValidatingWebhookConfiguration,
 * pointing at a locally running webhook (`clientConfig.url` + `caBundle`), ready to apply to a
 * bare API server. Equivalent to:
 *
 *   helm template t charts/profile-irsa-webhook \
 *     --set clusterName=c,region=us-east-1,s3Bucket=kf-bucket,allowNoBoundary=true \
 *     --set webhook.url=URL,webhook.caBundle=BASE64 \
 *     --show-only templates/mutatingwebhookconfiguration.yaml \
 *     --show-only templates/validatingwebhookconfiguration.yaml
 */
export async function renderWebhookConfigurations(
  options: WebhookConfigurationsOptions,
): Promise<{ mutating: K8sObject; validating: K8sObject }> {
  const caBundle = options.ca.includes('-----BEGIN')
    ? Buffer.from(options.ca, 'utf8').toString('base64')
    : options.ca;
  const objects = await helmTemplate(
    [
      options.release ?? 't',
      chartDir,
      ...REQUIRED_VALUES,
      '--set-string',
      `webhook.url=${options.url}`,
      '--set-string',
      `webhook.caBundle=${caBundle}`,
      ...(options.extraArgs ?? []),
      '--show-only',
      'templates/mutatingwebhookconfiguration.yaml',
      '--show-only',
      'templates/validatingwebhookconfiguration.yaml',
    ],
    options,
  );
  const mutating = objects.find((o) => o.kind === 'MutatingWebhookConfiguration');
  const validating = objects.find((o) => o.kind === 'ValidatingWebhookConfiguration');
  if (!mutating || !validating || objects.length !== 2) {
    throw new Error(
      `expected exactly the two webhook configurations, got ${objects.map((o) => o.kind).join(', ')}`,
    );
  }
  return { mutating, validating };
}

// A real Kubernetes control plane on 127.0.0.1: the kube-controlplane binary built from
// test/controlplane (embedded etcd + upstream kube-apiserver, one process). Used by the tests
// (test/helpers/controlplane.ts re-exports this module), by `npm run dev` and by `npm run bench`.
//
// The binary is built once, outside the clone, by scripts/build-controlplane.sh; that script is
// also the one place that knows where it lives (`--print-path`). Nothing here builds it (a cold
// build takes many minutes): startControlPlane() fails and says how to build it when it is
// missing, so tests fail rather than skip; dev and bench ask isControlPlaneBuilt() first and
// carry on without it.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiException,
  ApiextensionsV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../repo-root.js';
import { supervise } from './child.js';

const buildScript = join(repoRoot, 'scripts/build-controlplane.sh');
/** The real Kubeflow Profile CRD (kept with the test fixtures; see test/fixtures/SOURCES.md). */
const profileCrdFile = join(repoRoot, 'test/fixtures/kubeflow.org_profiles.yaml');

/** How to get the binary when it is missing. */
export const BUILD_HINT =
  'build it once with `bash scripts/test-prereqs.sh` (or scripts/build-controlplane.sh; ' +
  'a cold build takes about 13 minutes)';

export interface ControlPlane {
  /** Admin kubeconfig (client certificate in group system:masters); removed on stop. */
  kubeconfigPath: string;
  /** `https://127.0.0.1:<port>` */
  server: string;
  /** Loaded from kubeconfigPath. */
  kubeConfig: KubeConfig;
  /** The process's temporary directory (etcd data, certificates); removed on stop. */
  dataDir: string;
  /** What the apiserver reports as gitVersion, e.g. `v1.35.4`. */
  version: string;
  pid: number;
  /**
   * SIGTERM, wait for the process to exit (SIGKILL after 30 s); rejects unless it exited 0,
   * i.e. stopped cleanly. Safe to call more than once.
   */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** How long to wait for the ready line. Default 120 s: startup is slow on a shared 2-core box. */
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags, e.g. `['--enable-admission-plugins=...']`. */
  apiserverArgs?: string[];
  /** Copy the control plane's stderr (etcd and apiserver logs) to this process's stderr. */
  logs?: boolean;
}

/** The ready line kube-controlplane prints on stdout. */
interface ReadyLine {
  ready: true;
  kubeconfig: string;
  server: string;
  dataDir: string;
  version: string;
  pid: number;
}

/** Where scripts/build-controlplane.sh puts (or has put) the binary for the current sources. */
function controlPlaneBinary(): string {
  const out = execFileSync('bash', [buildScript, '--print-path'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  const path = out.trim().split('\n').pop();
  if (!path) throw new Error(`${buildScript} --print-path printed nothing`);
  return path;
}

/**
 * Whether the binary for the current sources is built, for callers that can do without it
 * (`npm run dev`, `npm run bench`). Tests call startControlPlane() directly and fail instead.
 */
export function isControlPlaneBuilt(): boolean {
  try {
    return existsSync(controlPlaneBinary());
  } catch {
    return false;
  }
}

export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  const binary = controlPlaneBinary();
  if (!existsSync(binary)) {
    throw new Error(
      `kube-controlplane is not built for the current sources (expected ${binary}).\n` +
        `Not starting it: ${BUILD_HINT}.`,
    );
  }
  // kube-apiserver only takes a port number, so the control plane probes for a free one; another
  // socket can take it before kube-apiserver binds it. That fails fast and a new port fixes it.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binary, options);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof PortLostError)) throw err;
    }
  }
}

class PortLostError extends Error {}

async function startOnce(binary: string, options: StartOptions): Promise<ControlPlane> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const args = [
    '-stop-on-stdin-eof',
    // A little shorter than ours, so that its own diagnosis lands in stderr before we give up.
    `-ready-timeout=${Math.max(10, Math.ceil(readyTimeoutMs / 1000) - 5)}s`,
    '--',
    ...(options.apiserverArgs ?? []),
  ];
  // stdin stays an open pipe: if this process dies without calling stop(), the pipe closes
  // and the control plane shuts itself down and cleans up.
  // Its own process group: a Ctrl-C in the terminal (SIGINT to the whole foreground group) must
  // reach only this process, which then stops it with one SIGTERM. Were the SIGINT to reach the
  // control plane too, that SIGTERM would be a second signal, and kube-apiserver exits at once on
  // a second signal, without cleaning up.
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });

  // Keep the end of stderr for error messages; the full log is only wanted when debugging.
  const proc = supervise(child, {
    tailChars: 8000,
    onStderr: options.logs ? (chunk) => process.stderr.write(chunk) : undefined,
  });

  // If the test process exits without stop(), ask the control plane to stop; it cleans up after
  // itself (a SIGKILL would leave its data directory behind). Closing stdin does the same when
  // this process cannot run handlers at all.
  const stopOnExit = (): void => {
    child.kill('SIGTERM');
  };
  process.once('exit', stopOnExit);

  let ready: ReadyLine;
  try {
    ready = await waitForReadyLine(child, readyTimeoutMs);
  } catch (err) {
    await proc.terminate(10_000);
    process.removeListener('exit', stopOnExit);
    const stderrTail = proc.stderrTail();
    const ErrorType = /address already in use/.test(stderrTail) ? PortLostError : Error;
    throw new ErrorType(
      `kube-controlplane did not become ready: ${(err as Error).message}\n--- stderr (tail) ---\n${stderrTail}`,
      { cause: err },
    );
  }

  // A test that forgets stop() should still end rather than hang: let this process exit with
  // the child running, and the 'exit' handler (or the closed stdin) stops it.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as Partial<Socket> | null)?.unref?.();
  }

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(ready.kubeconfig);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await proc.terminate(30_000);
      process.removeListener('exit', stopOnExit);
      // Normally the process has removed it already; after a SIGKILL it could not.
      rmSync(ready.dataDir, { recursive: true, force: true });
      if (child.exitCode !== 0) {
        const how = child.signalCode ?? `code ${child.exitCode}`;
        throw new Error(
          `kube-controlplane did not stop cleanly (${how})\n--- stderr (tail) ---\n${proc.stderrTail()}`,
        );
      }
    })();
    return stopping;
  };

  return {
    kubeconfigPath: ready.kubeconfig,
    server: ready.server,
    kubeConfig,
    dataDir: ready.dataDir,
    version: ready.version,
    pid: ready.pid,
    stop,
  };
}

function waitForReadyLine(child: ChildProcess, timeoutMs: number): Promise<ReadyLine> {
  return new Promise<ReadyLine>((resolve, reject) => {
    if (!child.stdout) throw new Error('no stdout pipe');
    const stdout = child.stdout;
    const lines = createInterface({ input: stdout });
    const finish = (err: Error | undefined, ready?: ReadyLine): void => {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('error', onError);
      lines.off('line', onLine);
      lines.close();
      // Nothing more is expected on stdout, but it must keep draining so the child never blocks.
      stdout.resume();
      if (ready) resolve(ready);
      else reject(err ?? new Error('unknown'));
    };
    const onLine = (line: string): void => {
      const ready = parseReadyLine(line);
      if (ready) finish(undefined, ready);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      finish(new Error(`exited (${signal ?? `code ${code}`}) before the ready line`));
    const onError = (err: Error): void => finish(err);
    const timer = setTimeout(
      () => finish(new Error(`no ready line after ${timeoutMs} ms`)),
      timeoutMs,
    );
    lines.on('line', onLine);
    child.on('exit', onExit);
    child.on('error', onError);
  });
}

function parseReadyLine(line: string): ReadyLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Partial<ReadyLine>;
  if (
    v.ready === true &&
    typeof v.kubeconfig === 'string' &&
    typeof v.server === 'string' &&
    typeof v.dataDir === 'string' &&
    typeof v.version === 'string' &&
    typeof v.pid === 'number'
  ) {
    return v as ReadyLine;
  }
  return undefined;
}

/**
 * Installs the real Kubeflow Profile CRD (test/fixtures/kubeflow.org_profiles.yaml) and waits
 * until it is Established and `kubeflow.org/v1` profiles can be listed (the discovery and
 * storage for a new CRD lag behind its Established condition a little).
 */
export async function installProfileCrd(kc: KubeConfig, timeoutMs = 60_000): Promise<void> {
  const crd = parseYaml(readFileSync(profileCrdFile, 'utf8')) as V1CustomResourceDefinition;
  const name = crd.metadata?.name;
  if (!name) throw new Error(`${profileCrdFile}: no metadata.name`);

  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  try {
    await extensions.createCustomResourceDefinition({ body: crd });
  } catch (err) {
    // Already installed on this control plane (another test in the same process): fine.
    if (!(err instanceof ApiException && err.code === 409)) throw err;
  }

  const deadline = Date.now() + timeoutMs;
  const objects = kc.makeApiClient(CustomObjectsApi);
  let last: unknown;
  for (;;) {
    try {
      const current = await extensions.readCustomResourceDefinition({ name });
      const established = current.status?.conditions?.some(
        (c) => c.type === 'Established' && c.status === 'True',
      );
      if (established) {
        await objects.listClusterCustomObject({
          group: 'kubeflow.org',
          version: 'v1',
          plural: 'profiles',
        });
        return;
      }
      last = new Error(`CRD ${name} not Established yet`);
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`CRD ${name} not usable after ${timeoutMs} ms`, { cause: last });
    }
    await sleep(200);
  }
}

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { supervise, type Supervised } from '../dev/child.js';
import { freePort } from '../dev/loopback.js';
import { repoRoot } from '../repo-root.js';

/** The product as built by `npm run build`, exactly what the image runs. */
const cliFile = join(repoRoot, 'dist/bin/cli.js');
const baselineFile = fileURLToPath(new URL('./baseline-server.js', import.meta.url));
const preloadUrl = new URL('./exit-with-parent.js', import.meta.url).href;

/**
 * The Node.js flags the image's ENTRYPOINT gives the webhook (those before the script), so the
 * benchmark measures the runtime as shipped.
 */
export function imageNodeFlags(): string[] {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const line = dockerfile
    .split('\n')
    .filter((l) => /^ENTRYPOINT\s+\[/.test(l))
    .at(-1);
  if (line === undefined) return [];
  const argv = JSON.parse(line.replace(/^ENTRYPOINT\s+/, '')) as string[];
  const script = argv.findIndex((arg, i) => i > 0 && !arg.startsWith('--'));
  return argv.slice(1, script < 0 ? undefined : script);
}

/** A Node child process started by the benchmark. */
interface NodeChild {
  pid: number;
  /** The end of its stderr, for error messages. */
  stderrTail: () => string;
  /** SIGTERM, SIGKILL after `graceMs`; waits for the exit. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

function startNode(args: string[], env: NodeJS.ProcessEnv, nodeArgs: string[] = []) {
  const child = spawn(process.execPath, [...nodeArgs, '--import', preloadUrl, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env,
  });
  const proc = supervise(child, { tailChars: 6000 });
  let stopping: Promise<void> | undefined;
  const handle: NodeChild = {
    pid: child.pid ?? -1,
    stderrTail: proc.stderrTail,
    stop(graceMs = 15_000) {
      stopping ??= proc.terminate(graceMs).then(() => {
        child.stdin.destroy();
      });
      return stopping;
    },
  };
  return { child, proc, handle };
}

export interface WebhookProcess extends NodeChild {
  admissionUrl: string;
  opsUrl: string;
  /** Prometheus text from the ops port. */
  metrics(): Promise<string>;
}

/**
 * `node dist/bin/cli.js serve`, configured through environment variables as the chart does.
 * Ports are picked beforehand (the webhook logs them only at level info); a port lost to another
 * process in between shows up as an early exit and is retried with fresh ones.
 */
export async function startWebhookProcess(
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<WebhookProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const opsPort = await freePort();
    const { child, proc, handle } = startNode(
      [cliFile, 'serve'],
      // The benchmark measures admission: no reconciler unless a phase asks for it.
      {
        RECONCILE: 'false',
        ...process.env,
        ...env,
        HOST: '127.0.0.1',
        PORT: String(port),
        OPS_PORT: String(opsPort),
      },
      [...imageNodeFlags(), ...nodeArgs],
    );
    child.stdout.resume();
    const opsUrl = `http://127.0.0.1:${opsPort}`;
    try {
      await waitReady(`${opsUrl}/readyz`, proc);
      return {
        ...handle,
        admissionUrl: `https://127.0.0.1:${port}`,
        opsUrl,
        async metrics() {
          const res = await fetch(`${opsUrl}/metrics`);
          const text = await res.text();
          if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
          return text;
        },
      };
    } catch (err) {
      lastError = err;
      await handle.stop(2000);
    }
  }
  throw new Error('the webhook did not start', { cause: lastError });
}

async function waitReady(url: string, proc: Supervised): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (!proc.running()) {
      throw new Error(`webhook exited during startup:\n${proc.stderrTail()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`webhook not ready within 30 s:\n${proc.stderrTail()}`);
}

export interface BaselineProcess extends NodeChild {
  url: string;
}

/** The baseline fastify HTTPS server (baseline-server.ts) in its own process, like the webhook. */
export async function startBaselineProcess(
  certFile: string,
  keyFile: string,
): Promise<BaselineProcess> {
  const { child, handle } = startNode([baselineFile], {
    ...process.env,
    TLS_CERT_FILE: certFile,
    TLS_KEY_FILE: keyFile,
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      const timer = setTimeout(() => reject(new Error('baseline server: no ready line')), 30_000);
      lines.once('line', (line) => {
        clearTimeout(timer);
        lines.close();
        child.stdout.resume();
        try {
          resolve((JSON.parse(line) as { url: string }).url);
        } catch (err) {
          reject(err);
        }
      });
      child.once('exit', () => reject(new Error(`baseline exited:\n${handle.stderrTail()}`)));
    });
    return { ...handle, url };
  } catch (err) {
    await handle.stop(2000);
    throw err;
  }
}

/**
 * CPU time (user + system) a process has used so far, in milliseconds (Linux /proc, whose clock
 * ticks are always 1/100 s); undefined elsewhere.
 */
export async function cpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process (Linux /proc), in bytes; undefined elsewhere. */
export async function rssBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Samples of the Prometheus text format (comments skipped). */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of a metric's samples whose labels include `where`. */
export function metricSum(
  samples: Sample[],
  name: string,
  where: Record<string, string> = {},
): number {
  return samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { writeLocalCerts, type LocalCerts } from '../../tools/dev/certs.js';
import { FAKE_CREDENTIALS, type Moto } from './moto.js';
import { localServeEnv } from './webhook.js';

const CLI = fileURLToPath(new URL('../../dist/bin/cli.js', import.meta.url));

/** The built webhook (dist/) in its own process, so that its memory and CPU are its own. */
export interface ServedWebhook {
  pid: number;
  port: number;
  admissionUrl: string;
  opsUrl: string;
  certs: LocalCerts;
  stop(): Promise<void>;
}

/** Starts `serve` on 127.0.0.1 with `env` over the local defaults; stopped at `t`'s teardown. */
export async function startServedWebhook(
  t: Test,
  moto: Moto,
  env: Record<string, string>,
): Promise<ServedWebhook> {
  const dir = await mkdtemp(join(tmpdir(), 'served-webhook-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certs = await writeLocalCerts(dir);
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      ...localServeEnv(certs),
      SHUTDOWN_DELAY_SECONDS: '0',
      AWS_ENDPOINT_URL_IAM: moto.endpoint,
      AWS_ENDPOINT_URL_STS: moto.endpoint,
      AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  let logs = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (logs += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (logs += chunk));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  t.teardown(stop);
  const serving = await servingAddresses(child, () => logs);
  return {
    pid: child.pid!,
    port: Number(new URL(serving.admission).port),
    admissionUrl: serving.admission,
    opsUrl: serving.ops,
    certs,
    stop,
  };
}

/**
 * The addresses `serve` logs once it listens, from its JSON log as `output` has it so far; throws
 * when the process exits first or 30 s pass without the line.
 */
export async function servingAddresses(
  child: ChildProcess,
  output: () => string,
): Promise<{ admission: string; ops: string }> {
  for (let i = 0; i < 300 && child.exitCode === null; i++) {
    await sleep(100);
    const serving = output()
      .split('\n')
      .filter((line) => line.includes('"msg":"serving"') && line.endsWith('}'))
      .map((line) => JSON.parse(line) as { admission: string; ops: string })[0];
    if (serving) return serving;
  }
  throw new Error(`no "serving" log line:\n${output()}`);
}

/** The value of one sample of the webhook's metrics, 0 when absent. */
export async function metricValue(
  served: Pick<ServedWebhook, 'opsUrl'>,
  name: string,
  labels: string,
): Promise<number> {
  const text = await (
    await fetch(`${served.opsUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })
  ).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { IAMClient } from '@aws-sdk/client-iam';
import { STSClient } from '@aws-sdk/client-sts';

/** A running moto server (real IAM/STS API over HTTP) owned by one test file. */
export interface Moto {
  endpoint: string;
  port: number;
  /** Kills the server and waits until the process has exited. Safe to call twice. */
  stop(): Promise<void>;
  /** Drops every resource moto holds (roles, policies, ...), keeping the process. */
  reset(): Promise<void>;
}

/** The account moto answers for; ARNs it returns carry this id. */
export const MOTO_ACCOUNT_ID = '123456789012';
export const MOTO_REGION = 'us-east-1';
export const FAKE_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

const STARTUP_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 5;

/*
 * moto.server is started through a tiny wrapper that exits when its stdin closes. stdin is a pipe
 * from this Node process, so the server dies with the test process even when that process is
 * killed by a signal or a tap timeout and no teardown ever runs: no leftover servers.
 */
const WRAPPER = [
  'import os, sys, threading',
  'def _watch():',
  '    sys.stdin.buffer.read()',
  '    os._exit(0)',
  'threading.Thread(target=_watch, daemon=True).start()',
  'from moto.server import main',
  'main(sys.argv[1:])',
].join('\n');

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port assigned');
  return address.port;
}

export async function startMoto(): Promise<Moto> {
  let lastError: unknown;
  // Another process can take the free port between our probe and moto's bind; try a fresh one.
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    try {
      return await startOn(port);
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`moto did not start after ${PORT_ATTEMPTS} attempts`, { cause: lastError });
}

async function startOn(port: number): Promise<Moto> {
  const child = spawn('python3', ['-c', WRAPPER, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  const exited = once(child, 'exit').then(() => undefined);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    // Keep only the tail; werkzeug logs every request here.
    stderr = (stderr + chunk).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    child.stdin?.destroy();
  };

  try {
    await waitUntilAnswering(endpoint, child, () => stderr);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    endpoint,
    port,
    stop,
    reset: async () => {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
      await res.arrayBuffer();
    },
  };
}

async function waitUntilAnswering(
  endpoint: string,
  child: ChildProcess,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `moto exited during startup (${child.exitCode ?? child.signalCode}):\n${stderr()}`,
      );
    }
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(
    `moto did not answer on ${endpoint} within ${STARTUP_TIMEOUT_MS} ms:\n${stderr()}`,
  );
}

export function iamClientFor(endpoint: string): IAMClient {
  return new IAMClient({ region: MOTO_REGION, endpoint, credentials: FAKE_CREDENTIALS });
}

export function stsClientFor(endpoint: string): STSClient {
  return new STSClient({ region: MOTO_REGION, endpoint, credentials: FAKE_CREDENTIALS });
}

import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { supervise } from './child.js';
import { freePort } from './loopback.js';

/**
 * moto's server (the real IAM/STS API over HTTP) for local runs and benchmarks: `npm run dev`
 * uses it as the embedded IAM emulator. Needs `python3` with `moto[server]` installed.
 */
export interface Moto {
  endpoint: string;
  port: number;
  pid: number;
  /** Kills the server and waits until the process has exited. Safe to call twice. */
  stop(): Promise<void>;
  /** Drops every resource moto holds (roles, policies, ...), keeping the process. */
  reset(): Promise<void>;
}

/** The account moto answers for; ARNs it returns carry this id. */
export const MOTO_ACCOUNT_ID = '123456789012';
export const MOTO_REGION = 'us-east-1';
/** moto accepts any credentials; these keep the SDK from looking for real ones. */
export const FAKE_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export interface StartMotoOptions {
  /** A fixed port; by default a free one is picked (and re-picked if another process wins it). */
  port?: number;
  startupTimeoutMs?: number;
}

const PORT_ATTEMPTS = 5;

/*
 * moto.server runs under a tiny wrapper that exits when its stdin closes. stdin is a pipe from
 * this Node process, so the server dies with it even when this process is killed by a signal
 * and no cleanup code runs: no servers are left behind.
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

export async function startMoto(options: StartMotoOptions = {}): Promise<Moto> {
  const timeoutMs = options.startupTimeoutMs ?? 30_000;
  if (options.port !== undefined) return startOn(options.port, timeoutMs);
  let lastError: unknown;
  // Another process can take the free port between our probe and moto's bind; try a fresh one.
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    try {
      return await startOn(await freePort(), timeoutMs);
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`moto did not start after ${PORT_ATTEMPTS} attempts`, { cause: lastError });
}

async function startOn(port: number, timeoutMs: number): Promise<Moto> {
  const child = spawn('python3', ['-c', WRAPPER, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  // Only the tail of stderr is kept: werkzeug logs every request there.
  const proc = supervise(child, { tailChars: 4000 });
  const endpoint = `http://127.0.0.1:${port}`;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Nothing to shut down cleanly: all state is in memory.
      await proc.terminate(0);
      child.stdin?.destroy();
      child.stderr?.destroy();
    })();
    return stopping;
  };

  try {
    await waitUntilAnswering(endpoint, child, timeoutMs, proc.stderrTail);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    endpoint,
    port,
    pid: child.pid ?? -1,
    stop,
    reset: async () => {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
    },
  };
}

async function waitUntilAnswering(
  endpoint: string,
  child: ChildProcess,
  timeoutMs: number,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  while (Date.now() < deadline) {
    if (spawnError) throw new Error(`cannot run python3 for moto: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `moto exited during startup (${child.exitCode ?? child.signalCode}); is moto[server] ` +
          `installed for python3?\n${stderr()}`,
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
  throw new Error(`moto did not answer on ${endpoint} within ${timeoutMs} ms:\n${stderr()}`);
}

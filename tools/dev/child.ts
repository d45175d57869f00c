import type { ChildProcess } from 'node:child_process';

/** A helper process (moto, the control plane, a benchmarked webhook) that must never outlive its use. */
export interface Supervised {
  /** Settles once the process has exited, or was never there (a failed spawn emits no 'exit'). */
  exited: Promise<void>;
  running(): boolean;
  /** The end of its stderr, for error messages. */
  stderrTail: () => string;
  /** SIGTERM, then SIGKILL if it still runs after `graceMs` (SIGKILL at once for 0); waits for the exit. */
  terminate(graceMs: number): Promise<void>;
}

export function supervise(
  child: ChildProcess,
  options: { tailChars: number; onStderr?: ((chunk: string) => void) | undefined },
): Supervised {
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => {
      if (child.pid === undefined) resolve();
    });
  });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    options.onStderr?.(chunk);
    tail = (tail + chunk).slice(-options.tailChars);
  });
  const running = () =>
    child.pid !== undefined && child.exitCode === null && child.signalCode === null;
  return {
    exited,
    running,
    stderrTail: () => tail,
    async terminate(graceMs) {
      if (running() && graceMs > 0) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      } else if (running()) {
        child.kill('SIGKILL');
      }
      await exited;
    },
  };
}

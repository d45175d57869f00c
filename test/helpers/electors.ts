// Leader-election candidates for tests: in this process (with a record of every term of leading)
// or in a child process of their own (elector-child.ts) that a test can SIGKILL.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { LeaderElector, type LeaderElectionOptions } from '../../src/k8s/leader-election.js';
import { supervise } from '../../tools/dev/child.js';
import type { ChildElectorOptions, ChildEvent } from './elector-child.js';

/** Short timings for tests, in client-go's proportions (lease > renew deadline > 1.2 × retry). */
export const FAST = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 } as const;
/** The longest a candidate waits between attempts: retry × (1 + client-go's 1.2 jitter). */
export const MAX_CANDIDATE_WAIT_MS = FAST.retryPeriodMs * 2.2;

export interface LogCapture {
  logger: Logger;
  entries: { msg?: string; level: number; [key: string]: unknown }[];
}

/** A pino logger whose entries are kept for the test to read. */
export function captureLogger(level = 'debug'): LogCapture {
  const entries: LogCapture['entries'] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') entries.push(JSON.parse(line) as LogCapture['entries'][number]);
      }
      callback();
    },
  });
  return { logger: pino({ level }, sink), entries };
}

/** One call of lead(): when it started, when its signal aborted (and why), when it settled. */
export interface Term {
  identity: string;
  startedAt: number;
  abortedAt?: number;
  reason?: unknown;
  settledAt?: number;
}

export interface Candidate {
  identity: string;
  elector: LeaderElector;
  terms: Term[];
  /** Settles when run() does. */
  run: Promise<void>;
  /** Aborts run()'s signal and waits for it to resolve; returns when that was (Date.now()). */
  stop(): Promise<number>;
  leadingChanges: boolean[];
}

export interface CandidateOptions extends Partial<LeaderElectionOptions> {
  kubeConfig: KubeConfig;
  name: string;
  identity: string;
  /** How long lead() takes to settle once its signal aborts. */
  settleMs?: number;
  /** lead() returns on its own after this long, in its first term only. */
  firstTermMs?: number;
}

export function startCandidate(options: CandidateOptions): Candidate {
  const { settleMs = 0, firstTermMs, ...electorOptions } = options;
  const terms: Term[] = [];
  const leadingChanges: boolean[] = [];
  const elector = new LeaderElector({
    namespace: 'default',
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    ...FAST,
    ...electorOptions,
    onLeadingChange: (leading) => leadingChanges.push(leading),
  });
  const controller = new AbortController();
  const run = elector.run(async (leadSignal) => {
    const term: Term = { identity: options.identity, startedAt: Date.now() };
    terms.push(term);
    const aborted = new Promise<void>((resolve) =>
      leadSignal.addEventListener('abort', () => resolve(), { once: true }),
    );
    const ownEnd = terms.length === 1 && firstTermMs !== undefined ? sleep(firstTermMs) : undefined;
    await Promise.race(ownEnd ? [aborted, ownEnd] : [aborted]);
    if (leadSignal.aborted) {
      term.abortedAt = Date.now();
      term.reason = leadSignal.reason;
      await sleep(settleMs);
    }
    term.settledAt = Date.now();
  }, controller.signal);
  return {
    identity: options.identity,
    elector,
    terms,
    run,
    leadingChanges,
    async stop() {
      controller.abort();
      await run;
      return Date.now();
    },
  };
}

/** Polls `check` every 10 ms until it returns a value other than undefined/false. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** The candidate whose lead() is running (started, not settled), if any. */
export function activeLeader(candidates: Candidate[]): Candidate | undefined {
  return candidates.find((c) => c.terms.some((term) => term.settledAt === undefined));
}

export interface LeaderSampler {
  /** Stops sampling and reports the most candidates seen leading (isLeader()) at once. */
  stop(): { samples: number; mostLeaders: number; mostActive: number };
}

/** Samples every candidate's isLeader() and running lead() every 5 ms. */
export function sampleLeaders(candidates: () => Candidate[]): LeaderSampler {
  let samples = 0;
  let mostLeaders = 0;
  let mostActive = 0;
  const timer = setInterval(() => {
    const all = candidates();
    samples++;
    mostLeaders = Math.max(mostLeaders, all.filter((c) => c.elector.isLeader()).length);
    mostActive = Math.max(
      mostActive,
      all.filter((c) => c.terms.some((term) => term.settledAt === undefined)).length,
    );
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      return { samples, mostLeaders, mostActive };
    },
  };
}

/** Pairs of terms that overlapped in time (a term still running counts as running until now). */
export function overlappingTerms(terms: Pick<Term, 'identity' | 'startedAt' | 'settledAt'>[]) {
  const sorted = [...terms].sort((a, b) => a.startedAt - b.startedAt);
  const overlaps: string[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const before = sorted[i - 1]!;
    const after = sorted[i]!;
    if (after.startedAt < (before.settledAt ?? Date.now())) {
      overlaps.push(
        `${before.identity} [${before.startedAt}, ${before.settledAt}] and ${after.identity} from ${after.startedAt}`,
      );
    }
  }
  return overlaps;
}

export async function readLease(kubeConfig: KubeConfig, name: string): Promise<V1Lease> {
  return kubeConfig
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ namespace: 'default', name });
}

/** The same credentials, another server address (e.g. a proxy in front of the API server). */
export function kubeConfigVia(kubeConfig: KubeConfig, server: string): KubeConfig {
  const via = new KubeConfig();
  via.loadFromOptions({
    clusters: kubeConfig.clusters.map((cluster) => ({ ...cluster, server })),
    users: kubeConfig.users,
    contexts: kubeConfig.contexts,
    currentContext: kubeConfig.currentContext,
  });
  return via;
}

const childScript = fileURLToPath(new URL('./elector-child.ts', import.meta.url));

export interface ChildCandidate {
  identity: string;
  pid: number;
  events: ChildEvent[];
  waitForEvent(event: ChildEvent['event'], timeoutMs: number): Promise<ChildEvent>;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<void>;
  /** SIGTERM (SIGKILL after 10 s), waits for the exit. */
  terminate(): Promise<void>;
}

/** A candidate in a child process, run with this process's loader (the test runner's). */
export function spawnElector(
  options: Omit<ChildElectorOptions, keyof typeof FAST> & Partial<typeof FAST>,
): ChildCandidate {
  const child = spawn(process.execPath, [...process.execArgv, childScript], {
    env: { ...process.env, ELECTOR_OPTIONS: JSON.stringify({ ...FAST, ...options }) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const proc = supervise(child, {
    tailChars: 8000,
    onStderr: process.env.TEST_LOG_LEVEL ? (chunk) => process.stderr.write(chunk) : undefined,
  });
  if (child.pid === undefined) throw new Error('could not spawn the elector process');
  const events: ChildEvent[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    events.push(JSON.parse(line) as ChildEvent);
  });
  return {
    identity: options.identity,
    pid: child.pid,
    events,
    async waitForEvent(event, timeoutMs) {
      try {
        return await waitFor(
          `${options.identity} to report ${event}`,
          () => {
            const found = events.find((e) => e.event === event);
            if (found === undefined && !proc.running()) throw new Error('the process exited');
            return found;
          },
          timeoutMs,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- stderr ---\n${proc.stderrTail()}`, {
          cause: err,
        });
      }
    },
    kill: (signal) => child.kill(signal),
    exited: proc.exited,
    terminate: () => proc.terminate(10_000),
  };
}

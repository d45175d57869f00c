// A leader-election candidate in a process of its own, so that a test can kill it with SIGKILL: a
// leader that stops renewing without releasing. Started by spawnElector() (electors.ts) with its
// options in ELECTOR_OPTIONS; reports on stdout, one JSON line per event; SIGTERM stops it cleanly.

import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { LeaderElector } from '../../src/k8s/leader-election.js';

export interface ChildElectorOptions {
  kubeconfigPath: string;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface ChildEvent {
  event: 'started' | 'leading' | 'lead-aborted' | 'settled' | 'stopped';
  /** Date.now() in the child. */
  at: number;
}

const options = JSON.parse(process.env.ELECTOR_OPTIONS ?? '') as ChildElectorOptions;
const report = (event: ChildEvent['event']): void => {
  process.stdout.write(`${JSON.stringify({ event, at: Date.now() })}\n`);
};

const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(options.kubeconfigPath);
const elector = new LeaderElector({
  ...options,
  kubeConfig,
  logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }, pino.destination(2)),
});
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
// The test process going away (its end of stdin closing) stops this one too.
process.stdin.on('end', () => stop.abort());
process.stdin.resume();

report('started');
await elector.run(async (leadSignal) => {
  report('leading');
  await new Promise((resolve) => leadSignal.addEventListener('abort', resolve, { once: true }));
  report('lead-aborted');
  report('settled');
}, stop.signal);
report('stopped');
process.exit(0);

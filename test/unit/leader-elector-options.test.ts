import t from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { electionIdentity, LeaderElector } from '../../src/k8s/leader-election.js';

const base = {
  kubeConfig: new KubeConfig(),
  namespace: 'irsa',
  name: 'profile-irsa-webhook-reconciler',
  identity: 'pod-a',
  logger: pino({ level: 'silent' }),
};

t.test('unusable settings are refused before anything runs', async (t) => {
  const cases: [string, Partial<typeof base> & Record<string, unknown>, RegExp][] = [
    [
      'lease not longer than the renew deadline',
      { leaseDurationMs: 10_000 },
      /must exceed the renew deadline/,
    ],
    ['retry too long for the deadline', { retryPeriodMs: 9_000 }, /1\.2 × retry period/],
    ['fractional lease', { leaseDurationMs: 15_500 }, /whole number of seconds/],
    ['no identity', { identity: '' }, /identity must not be empty/],
    ['no namespace', { namespace: '' }, /namespace must not be empty/],
  ];
  for (const [what, overrides, message] of cases) {
    t.throws(
      () => new LeaderElector({ ...base, ...overrides }),
      { name: 'RangeError', message },
      what,
    );
  }
});

t.test('identities: the host name and a random suffix, unique per call', async (t) => {
  const a = electionIdentity('webhook-7d9f');
  const b = electionIdentity('webhook-7d9f');
  t.match(a, /^webhook-7d9f_[0-9a-f-]{36}$/);
  t.not(a, b);
  t.match(electionIdentity(), /_[0-9a-f-]{36}$/);
});

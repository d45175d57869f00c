// Leader election against the real kube-apiserver: one leader at a time, hand-over on stop only
// after the guarded work has settled, a killed leader replaced once its Lease expires by the
// candidates' own clocks, 409s on racing writes, leaseTransitions, the MicroTime wire format, and
// leadership given up within the renew deadline when renewals cannot get through.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { ApiException, CoordinationV1Api } from '@kubernetes/client-node';
import { LeadershipLostError } from '../../src/k8s/leader-election.js';
import { LeaseClient, type LeaseSnapshot } from '../../src/k8s/lease-client.js';
import { MICRO_TIME_PATTERN } from '../../src/core/micro-time.js';
import { startControlPlane } from '../../tools/dev/controlplane.js';
import {
  activeLeader,
  captureLogger,
  FAST,
  kubeConfigVia,
  MAX_CANDIDATE_WAIT_MS,
  overlappingTerms,
  readLease,
  sampleLeaders,
  spawnElector,
  startCandidate,
  waitFor,
  type Candidate,
} from '../helpers/electors.js';
import { startSwitchableProxy } from '../helpers/switchable-proxy.js';

const execFileP = promisify(execFile);

/** Room for a loaded, shared machine on top of the bounds the election itself promises. */
const SLACK_MS = 1500;

const cp = await startControlPlane();
t.teardown(() => cp.stop());
const kc = cp.kubeConfig;

function stopAll(candidates: Candidate[]): Promise<number[]> {
  return Promise.all(candidates.map((c) => c.stop()));
}

async function kubectlLease(name: string) {
  const { stdout } = await execFileP('kubectl', [
    '--kubeconfig',
    cp.kubeconfigPath,
    'get',
    'lease',
    '--namespace',
    'default',
    name,
    '--output',
    'json',
  ]);
  return JSON.parse(stdout) as { spec: Record<string, unknown> };
}

t.test(
  'three candidates: one leader at a time, hand-over only after the work settled',
  async (t) => {
    const name = 'handover';
    const logs = new Map<string, ReturnType<typeof captureLogger>>();
    const candidates = ['a', 'b', 'c'].map((id) => {
      const capture = captureLogger();
      logs.set(`${name}-${id}`, capture);
      return startCandidate({
        kubeConfig: kc,
        name,
        identity: `${name}-${id}`,
        logger: capture.logger,
        settleMs: 1200,
      });
    });
    t.teardown(() => stopAll(candidates));
    const sampler = sampleLeaders(() => candidates);

    const first = await waitFor('a leader', () => activeLeader(candidates), 20_000);
    let lease = await readLease(kc, name);
    t.equal(lease.spec?.holderIdentity, first.identity, 'the Lease names the leader');
    t.equal(lease.spec?.leaseTransitions, 0, 'created with no transitions');
    t.equal(lease.spec?.leaseDurationSeconds, FAST.leaseDurationMs / 1000);
    t.ok(first.elector.isLeader(), 'isLeader() on the leader');

    // Stopped, the leader's work takes 1.2 s to settle: the Lease stays its own and is renewed.
    const stopping = first.stop();
    const term = first.terms[0]!;
    const renewTimes = new Set<unknown>();
    await waitFor('the stop to reach the lead signal', () => term.abortedAt, 1000);
    t.notOk(first.elector.isLeader(), 'no longer leading once the lead signal aborted');
    while (term.settledAt === undefined) {
      lease = await readLease(kc, name);
      if (term.settledAt !== undefined) break;
      t.equal(lease.spec?.holderIdentity, first.identity, 'held while the work settles');
      renewTimes.add(lease.spec?.renewTime);
      await sleep(100);
    }
    t.ok(renewTimes.size >= 2, `renewed while the work settled (${renewTimes.size} renewTimes)`);
    await stopping;
    t.ok(
      logs.get(first.identity)!.entries.some((e) => e.msg === 'released the Lease'),
      'released on stop',
    );
    t.same(first.leadingChanges, [true, false], 'onLeadingChange: true, then false');

    const rest = candidates.filter((c) => c !== first);
    const second = await waitFor('a second leader', () => activeLeader(rest), 10_000);
    const handover = second.terms[0]!.startedAt - term.settledAt;
    t.ok(handover >= 0, 'the next leader starts after the previous work settled');
    t.ok(
      handover <= MAX_CANDIDATE_WAIT_MS + SLACK_MS,
      `taken over ${handover} ms after the previous work settled, within one candidate wait`,
    );
    lease = await readLease(kc, name);
    t.equal(lease.spec?.holderIdentity, second.identity);
    t.equal(lease.spec?.leaseTransitions, 1, 'one transition');

    await second.stop();
    const third = rest.find((c) => c !== second)!;
    await waitFor('the third leader', () => activeLeader([third]), 10_000);
    t.equal((await readLease(kc, name)).spec?.leaseTransitions, 2, 'two transitions');

    await third.stop();
    const released = await readLease(kc, name);
    t.equal(released.spec?.holderIdentity, undefined, 'no holder once all stopped');
    t.equal(released.spec?.leaseDurationSeconds, 1, 'released with a one-second duration');
    t.equal(released.spec?.leaseTransitions, 2, 'transitions kept on release');

    const seen = sampler.stop();
    t.ok(seen.samples > 100, `${seen.samples} samples`);
    t.equal(seen.mostLeaders, 1, 'never two candidates with isLeader() at once');
    t.equal(seen.mostActive, 1, 'never two lead() calls running at once');
    t.same(overlappingTerms(candidates.flatMap((c) => c.terms)), [], 'no overlapping terms');
  },
);

t.test('a frozen leader (SIGKILL) is replaced once its Lease expires', async (t) => {
  const name = 'frozen';
  const child = spawnElector({
    kubeconfigPath: cp.kubeconfigPath,
    namespace: 'default',
    name,
    identity: 'frozen-child',
  });
  t.teardown(() => child.terminate());
  const childLeading = await child.waitForEvent('leading', 60_000);

  const parent = startCandidate({ kubeConfig: kc, name, identity: 'frozen-parent' });
  t.teardown(() => parent.stop());
  const sampler = sampleLeaders(() => [parent]);
  await sleep(FAST.leaseDurationMs + 500);
  t.equal(parent.terms.length, 0, 'no take-over from a leader that renews');

  child.kill('SIGKILL');
  const killedAt = Date.now();
  await child.exited;
  const term = await waitFor('the parent to lead', () => parent.terms[0], 20_000);
  const after = term.startedAt - killedAt;
  // Its last renewal was at most a retry period before the kill; the parent saw it at most one
  // candidate wait later and takes over at its first attempt after a lease duration.
  t.ok(
    after >= FAST.leaseDurationMs - FAST.retryPeriodMs - 300,
    `not before the Lease expired (${after} ms after the kill)`,
  );
  t.ok(
    after <= FAST.leaseDurationMs + 2 * MAX_CANDIDATE_WAIT_MS + SLACK_MS,
    `replaced ${after} ms after the kill, within the lease duration and two candidate waits`,
  );
  const lease = await readLease(kc, name);
  t.equal(lease.spec?.holderIdentity, 'frozen-parent');
  t.equal(lease.spec?.leaseTransitions, 1, 'the take-over counts as a transition');
  t.same(
    overlappingTerms([
      { identity: 'frozen-child', startedAt: childLeading.at, settledAt: killedAt },
      ...parent.terms,
    ]),
    [],
  );
  t.equal(sampler.stop().mostLeaders, 1);
});

t.test('remote timestamps do not fool expiry: only a change of the record counts', async (t) => {
  const ghost = (renewTime: string) => ({
    holderIdentity: 'ghost',
    leaseDurationSeconds: FAST.leaseDurationMs / 1000,
    acquireTime: renewTime,
    renewTime,
    leaseTransitions: 7,
  });
  const signal = () => AbortSignal.timeout(10_000);
  const names = {
    'ghost-past': '2000-01-01T00:00:00.000000Z',
    'ghost-future': '2100-01-01T00:00:00.000000Z',
    'ghost-renewing': '1990-01-01T00:00:10.000000Z',
  };
  const leases = new Map<string, LeaseSnapshot>();
  for (const [name, renewTime] of Object.entries(names)) {
    leases.set(name, await new LeaseClient(kc, 'default', name).create(ghost(renewTime), signal()));
  }

  const startedAt = Date.now();
  const candidates = Object.keys(names).map((name) =>
    startCandidate({ kubeConfig: kc, name, identity: `${name}-candidate` }),
  );
  t.teardown(() => stopAll(candidates));
  const [past, future, renewing] = candidates as [Candidate, Candidate, Candidate];

  // The ghost "renews" every 700 ms for 5 s, each time with a renewTime further in the past.
  const client = new LeaseClient(kc, 'default', 'ghost-renewing');
  let snapshot = leases.get('ghost-renewing')!;
  let lastRenewalSentAt = startedAt;
  for (let second = 9; Date.now() - startedAt < 5000; second--) {
    await sleep(700);
    lastRenewalSentAt = Date.now();
    snapshot = await client.replace(
      snapshot,
      ghost(`1990-01-01T00:00:0${second}.000000Z`),
      signal(),
    );
  }
  t.equal(renewing.terms.length, 0, 'a Lease that keeps changing is never taken');

  for (const [candidate, what] of [
    [past, 'a renewTime in the past'],
    [future, 'a renewTime far in the future'],
  ] as const) {
    const term = await waitFor(what, () => candidate.terms[0], 10_000);
    const after = term.startedAt - startedAt;
    t.ok(after >= FAST.leaseDurationMs, `${what}: not taken early (${after} ms)`);
    t.ok(
      after <= FAST.leaseDurationMs + MAX_CANDIDATE_WAIT_MS + SLACK_MS,
      `${what}: taken once it had not changed for a lease duration (${after} ms)`,
    );
  }
  const term = await waitFor('the renewed ghost Lease', () => renewing.terms[0], 10_000);
  const after = term.startedAt - lastRenewalSentAt;
  t.ok(after >= FAST.leaseDurationMs, `taken ${after} ms after the ghost's last change`);
  t.ok(after <= FAST.leaseDurationMs + 2 * MAX_CANDIDATE_WAIT_MS + SLACK_MS);

  for (const name of Object.keys(names)) {
    const lease = await readLease(kc, name);
    t.equal(lease.spec?.holderIdentity, `${name}-candidate`);
    t.equal(lease.spec?.leaseTransitions, 8, `${name}: transitions counted on from the ghost's`);
  }
});

t.test('candidates racing for a fresh Lease: one create wins, the rest get 409', async (t) => {
  let conflicts = 0;
  for (let round = 0; round < 4; round++) {
    const name = `race-${round}`;
    const captures = [0, 1, 2].map(() => captureLogger());
    const candidates = captures.map((capture, i) =>
      startCandidate({ kubeConfig: kc, name, identity: `${name}-${i}`, logger: capture.logger }),
    );
    const sampler = sampleLeaders(() => candidates);
    const leader = await waitFor('a leader', () => activeLeader(candidates), 20_000);
    await sleep(3 * FAST.retryPeriodMs);
    t.same(
      candidates.map((c) => c.terms.length),
      candidates.map((c) => (c === leader ? 1 : 0)),
      `round ${round}: one leader`,
    );
    const lease = await readLease(kc, name);
    t.equal(lease.spec?.holderIdentity, leader.identity);
    t.equal(lease.spec?.leaseTransitions, 0, 'created once');
    t.equal(sampler.stop().mostLeaders, 1);
    await stopAll(candidates);
    // A write cut short on a loaded machine is logged, rightly; a lost race (409) must not be.
    const errors = captures.flatMap((c) =>
      c.entries.filter((e) => e.level >= 40 && e['error'] !== 'timed out'),
    );
    t.same(errors, [], 'a lost race is not a failure');
    conflicts += captures
      .flatMap((c) => c.entries)
      .filter((e) => e.msg === 'another candidate wrote the Lease first (409)').length;
  }
  t.ok(conflicts >= 1, `${conflicts} conflicts (409) seen and handled over 4 rounds`);
});

t.test('MicroTime fields go on the wire with six fractional digits', async (t) => {
  const api = kc.makeApiClient(CoordinationV1Api);
  // Why the adapter writes its own text: client-node sends a Date with three digits, refused.
  const refused = await api
    .createNamespacedLease({
      namespace: 'default',
      body: { metadata: { name: 'plain-date' }, spec: { renewTime: new Date() } },
    })
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  t.ok(refused instanceof ApiException && refused.code === 400, 'a plain Date is refused');
  t.match(String((refused as ApiException<string>).body), /cannot parse .* as .*\.000000/);

  const name = 'wire';
  const candidate = startCandidate({ kubeConfig: kc, name, identity: 'wire-candidate' });
  t.teardown(() => candidate.stop());
  await waitFor('leading', () => activeLeader([candidate]), 20_000);
  const renewTimes = new Set<string>();
  let acquireTime: unknown;
  for (let i = 0; i < 6; i++) {
    const { spec } = await kubectlLease(name);
    t.match(spec.acquireTime, MICRO_TIME_PATTERN, 'acquireTime as kubectl reads it');
    t.match(spec.renewTime, MICRO_TIME_PATTERN, 'renewTime as kubectl reads it');
    acquireTime ??= spec.acquireTime;
    t.equal(spec.acquireTime, acquireTime, 'acquireTime kept across renewals');
    renewTimes.add(String(spec.renewTime));
    await sleep(FAST.retryPeriodMs + 100);
  }
  t.ok(renewTimes.size >= 3, `renewTime advances (${renewTimes.size} values)`);
  t.ok(
    [...renewTimes].some((time) => !time.endsWith('000Z')),
    `real microseconds, not padded milliseconds: ${[...renewTimes].join(', ')}`,
  );

  await candidate.stop();
  const { spec } = await kubectlLease(name);
  t.match(spec, { leaseDurationSeconds: 1, leaseTransitions: 0 }, 'released');
  t.notOk('holderIdentity' in spec, 'no holder');
  t.match(spec.renewTime, MICRO_TIME_PATTERN, 'the release is written as a MicroTime too');
});

t.test('lead() ending on its own: the Lease is released and campaigned for again', async (t) => {
  const name = 'second-term';
  const capture = captureLogger();
  const candidate = startCandidate({
    kubeConfig: kc,
    name,
    identity: 'second-term',
    logger: capture.logger,
    firstTermMs: 300,
  });
  t.teardown(() => candidate.stop());
  const second = await waitFor('a second term', () => candidate.terms[1], 20_000);
  const first = candidate.terms[0]!;
  t.equal(first.abortedAt, undefined, 'the first term ended by itself');
  t.ok(second.startedAt >= first.settledAt!, 'the second term starts after the first settled');
  t.ok(
    capture.entries.some((e) => e.msg === 'released the Lease'),
    'released between the terms',
  );
  t.equal((await readLease(kc, name)).spec?.leaseTransitions, 1, 'taken again: a transition');
  t.same(candidate.leadingChanges, [true, false, true]);
});

t.test('a leader whose work is stuck stops renewing and another takes over', async (t) => {
  const name = 'stuck-work';
  let progressing = true;
  const stuck = startCandidate({
    kubeConfig: kc,
    name,
    identity: 'stuck',
    logger: captureLogger('silent').logger,
    isProgressing: () => progressing,
    ...FAST,
  });
  t.teardown(() => stuck.stop());
  const term = (await waitFor('leading', () => activeLeader([stuck]), 20_000)).terms[0]!;
  const standby = startCandidate({
    kubeConfig: kc,
    name,
    identity: 'standby',
    logger: captureLogger('silent').logger,
    ...FAST,
  });
  t.teardown(() => standby.stop());
  await sleep(2 * FAST.leaseDurationMs);
  t.equal(term.abortedAt, undefined, 'renewed while the work progresses');

  progressing = false;
  const stuckAt = Date.now();
  await waitFor('the stuck leader to give up', () => term.abortedAt, 20_000);
  t.ok(
    term.abortedAt! - stuckAt <= FAST.renewDeadlineMs + FAST.retryPeriodMs + 2000,
    'lost at the renew deadline',
  );
  await waitFor('the standby to lead', () => activeLeader([standby]), 20_000);
  t.equal((await readLease(kc, name)).spec?.holderIdentity, 'standby', 'the standby holds it');
});

t.test('an outage shorter than the renew deadline does not cost leadership', async (t) => {
  const name = 'brief-outage';
  // A stuck attempt is cut short at 1250 ms, so the next one still fits in the 3 s deadline.
  const timings = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 };
  const proxy = await startSwitchableProxy(Number(new URL(cp.server).port));
  t.teardown(() => proxy.close());
  const capture = captureLogger();
  const candidate = startCandidate({
    kubeConfig: kubeConfigVia(kc, `https://127.0.0.1:${proxy.port}`),
    name,
    identity: 'brief-outage',
    logger: capture.logger,
    ...timings,
  });
  t.teardown(() => candidate.stop());
  const term = (await waitFor('leading', () => activeLeader([candidate]), 20_000)).terms[0]!;
  await sleep(1000);

  // Longer than a retry period, so at least one renewal hangs on a dead connection.
  proxy.blackhole();
  await sleep(1000);
  proxy.restore();
  const before = (await readLease(kc, name)).spec?.renewTime;
  await sleep(2 * timings.renewDeadlineMs);
  t.equal(term.abortedAt, undefined, 'still leading');
  t.ok(candidate.elector.isLeader());
  t.ok(
    capture.entries.some((e) => e.msg === 'Lease renew failed' && e.error === 'timed out'),
    'a renewal timed out meanwhile',
  );
  const lease = await readLease(kc, name);
  t.equal(lease.spec?.holderIdentity, 'brief-outage');
  t.not(lease.spec?.renewTime, before, 'renewed since the outage');
});

t.test(
  'renewals lost to a black hole: the lead signal aborts within the renew deadline',
  async (t) => {
    const name = 'blackhole';
    const proxy = await startSwitchableProxy(Number(new URL(cp.server).port));
    t.teardown(() => proxy.close());
    const cut = startCandidate({
      kubeConfig: kubeConfigVia(kc, `https://127.0.0.1:${proxy.port}`),
      name,
      identity: 'blackhole-cut',
    });
    t.teardown(() => cut.stop());
    const term = (await waitFor('leading', () => activeLeader([cut]), 20_000)).terms[0]!;
    const other = startCandidate({ kubeConfig: kc, name, identity: 'blackhole-other' });
    t.teardown(() => other.stop());
    const sampler = sampleLeaders(() => [cut, other]);
    await sleep(1000);

    proxy.blackhole();
    const cutAt = Date.now();
    await waitFor('the lead signal to abort', () => term.abortedAt, FAST.renewDeadlineMs + 3000);
    const lostAfter = term.abortedAt! - cutAt;
    // The last renewal that got through was sent at most a retry period (and a round trip) before
    // the cut; leadership ends a renew deadline after it, by the local timer.
    t.ok(
      lostAfter <= FAST.renewDeadlineMs + 500,
      `lead signal aborted ${lostAfter} ms after the cut`,
    );
    t.ok(lostAfter >= FAST.renewDeadlineMs - FAST.retryPeriodMs - 500, 'not before the deadline');
    t.ok(term.reason instanceof LeadershipLostError, 'aborted with LeadershipLostError');
    t.notOk(cut.elector.isLeader());
    t.same(cut.leadingChanges, [true, false]);

    const next = await waitFor('the other to lead', () => other.terms[0], 10_000);
    t.ok(
      next.startedAt - term.abortedAt! >= FAST.leaseDurationMs - FAST.renewDeadlineMs - 200,
      `the other leads ${next.startedAt - term.abortedAt!} ms after the cut-off leader gave up`,
    );
    const stopCalled = Date.now();
    await cut.stop();
    t.ok(
      Date.now() - stopCalled <= FAST.renewDeadlineMs + 500,
      `a cut-off candidate still stops in bounded time (${Date.now() - stopCalled} ms)`,
    );
    const lease = await readLease(kc, name);
    t.equal(lease.spec?.holderIdentity, 'blackhole-other');
    t.equal(lease.spec?.leaseTransitions, 1);
    t.equal(sampler.stop().mostLeaders, 1);
    t.same(overlappingTerms([...cut.terms, ...other.terms]), []);
  },
);

// Last: it stops the control plane.
t.test('the API server stopped: the lead signal aborts within the renew deadline', async (t) => {
  const candidate = startCandidate({ kubeConfig: kc, name: 'apiserver-down', identity: 'down' });
  t.teardown(() => candidate.stop());
  const term = (await waitFor('leading', () => activeLeader([candidate]), 20_000)).terms[0]!;
  await sleep(1000);
  const stopCalledAt = Date.now();
  await cp.stop();
  const exitedAt = Date.now();
  await waitFor('the lead signal to abort', () => term.abortedAt, FAST.renewDeadlineMs + 3000);
  t.ok(term.abortedAt! >= stopCalledAt, 'led until the API server went away');
  t.ok(
    term.abortedAt! - exitedAt <= FAST.renewDeadlineMs + 300,
    `aborted ${term.abortedAt! - exitedAt} ms after the API server exited`,
  );
  t.ok(term.reason instanceof LeadershipLostError);
  const stopCalled = Date.now();
  await candidate.stop();
  t.ok(Date.now() - stopCalled <= FAST.renewDeadlineMs + 500, 'stops in bounded time');
});

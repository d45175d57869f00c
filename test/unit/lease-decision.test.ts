import t from 'tap';
import fc from 'fast-check';
import {
  decideLease,
  electionTimingProblems,
  observe,
  recordKey,
  releasedRecord,
  renewedRecord,
  type CampaignInput,
  type LeaseRecord,
  type Observation,
} from '../../src/core/lease-decision.js';

const NOW = '2026-12-01T21:45:21.123456Z';
const EARLIER = '2026-12-01T21:40:00.000001Z';

const heldBy = (holder: string, overrides: Partial<LeaseRecord> = {}): LeaseRecord => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: EARLIER,
  renewTime: EARLIER,
  leaseTransitions: 4,
  ...overrides,
});

const input = (overrides: Partial<CampaignInput>): CampaignInput => ({
  identity: 'me',
  leaseDurationSeconds: 15,
  state: { kind: 'absent' },
  previous: undefined,
  nowMs: 100_000,
  now: NOW,
  ...overrides,
});

const present = (record: LeaseRecord, resourceVersion = '41') =>
  ({ kind: 'present', record, resourceVersion }) as const;

const seenAt = (record: LeaseRecord, sinceMs: number): Observation => ({
  record,
  key: recordKey(record),
  sinceMs,
});

t.test('no Lease: create it, held by us, no transitions yet', async (t) => {
  const step = decideLease(input({}));
  t.same(step.decision, {
    kind: 'create',
    record: {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: NOW,
      renewTime: NOW,
      leaseTransitions: 0,
    },
  });
  t.equal(step.observation, undefined, 'nothing observed');
});

t.test('held by another, first seen now: wait the whole lease duration', async (t) => {
  const record = heldBy('other');
  const step = decideLease(input({ state: present(record) }));
  t.same(step.decision, { kind: 'wait', holder: 'other', expiresInMs: 15_000 });
  t.same(step.observation, seenAt(record, 100_000), 'observed since now');
});

t.test('held by another, unchanged: expiry counts from when we first saw it', async (t) => {
  const record = heldBy('other');
  const previous = seenAt(record, 90_000);
  const waiting = decideLease(input({ state: present(record), previous, nowMs: 104_999 }));
  t.same(waiting.decision, { kind: 'wait', holder: 'other', expiresInMs: 1 });
  t.equal(waiting.observation, previous, 'the observation is kept, not refreshed');

  const expired = decideLease(input({ state: present(record, '77'), previous, nowMs: 105_000 }));
  t.same(expired.decision, {
    kind: 'update',
    resourceVersion: '77',
    acquiring: true,
    record: {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: NOW,
      renewTime: NOW,
      leaseTransitions: 5,
    },
  });
});

t.test('any change of the record is a renewal: the wait starts over', async (t) => {
  const before = heldBy('other');
  const previous = seenAt(before, 0);
  for (const change of [
    { renewTime: '2026-12-01T21:40:00.000002Z' },
    // Even a renewTime moved backwards: only the change counts, never the value.
    { renewTime: '1999-01-01T00:00:00.000000Z' },
    { leaseTransitions: 5 },
    { holderIdentity: 'third' },
  ]) {
    const after = { ...before, ...change };
    const step = decideLease(input({ state: present(after), previous, nowMs: 1_000_000 }));
    t.equal(step.decision.kind, 'wait', JSON.stringify(change));
    t.equal(step.observation?.sinceMs, 1_000_000);
  }
});

t.test('the holder says how long to wait; a Lease that does not say gets ours', async (t) => {
  const short = heldBy('other', { leaseDurationSeconds: 2 });
  t.same(
    decideLease(input({ state: present(short), previous: seenAt(short, 98_000) })).decision.kind,
    'update',
    'two seconds after we saw it, a 2 s lease has expired',
  );
  const unsaid = heldBy('other', { leaseDurationSeconds: undefined });
  t.same(
    decideLease(input({ state: present(unsaid), previous: seenAt(unsaid, 90_000) })).decision,
    {
      kind: 'wait',
      holder: 'other',
      expiresInMs: 5_000,
    },
  );
});

t.test('a released Lease (no holder) is taken at once, counting a transition', async (t) => {
  const released = releasedRecord(heldBy('other'), EARLIER);
  const step = decideLease(input({ state: present(released) }));
  t.match(step.decision, {
    kind: 'update',
    acquiring: true,
    record: { holderIdentity: 'me', leaseTransitions: 5 },
  });
});

t.test('held by us: renew, keeping acquireTime and transitions', async (t) => {
  const ours = heldBy('me');
  const step = decideLease(input({ state: present(ours), previous: seenAt(ours, 0) }));
  t.same(step.decision, {
    kind: 'update',
    resourceVersion: '41',
    acquiring: false,
    record: {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: EARLIER,
      renewTime: NOW,
      leaseTransitions: 4,
    },
  });
});

t.test('renewed and released records', async (t) => {
  const ours = heldBy('me', { leaseDurationSeconds: 30, acquireTime: undefined });
  t.same(renewedRecord(ours, 15, NOW), {
    holderIdentity: 'me',
    leaseDurationSeconds: 15,
    acquireTime: NOW,
    renewTime: NOW,
    leaseTransitions: 4,
  });
  t.same(releasedRecord(heldBy('me'), NOW), {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: NOW,
    renewTime: NOW,
    leaseTransitions: 4,
  });
});

t.test('observe keeps the first sighting of an unchanged record', async (t) => {
  const record = heldBy('other');
  const first = observe(undefined, record, 5);
  t.equal(observe(first, { ...record }, 50), first);
  t.equal(observe(first, { ...record, renewTime: NOW }, 50).sinceMs, 50);
});

const microTime = fc
  .date({
    min: new Date('1970-01-01T00:00:00Z'),
    max: new Date('9999-12-31T23:59:59Z'),
    noInvalidDate: true,
  })
  .chain((date) =>
    fc
      .integer({ min: 0, max: 999 })
      .map((micros) => `${date.toISOString().slice(0, 23)}${String(micros).padStart(3, '0')}Z`),
  );

t.test('property: remote timestamps never decide expiry', async (t) => {
  fc.assert(
    fc.property(
      microTime,
      microTime,
      fc.integer({ min: 1, max: 3600 }),
      fc.integer({ min: 0, max: 10_000_000 }),
      fc.integer({ min: 0, max: 10_000_000 }),
      (renewTime, acquireTime, seconds, sinceMs, elapsedMs) => {
        const record = heldBy('other', { renewTime, acquireTime, leaseDurationSeconds: seconds });
        const step = decideLease(
          input({
            state: present(record),
            previous: seenAt(record, sinceMs),
            nowMs: sinceMs + elapsedMs,
          }),
        );
        const expired = elapsedMs >= seconds * 1000;
        return expired
          ? step.decision.kind === 'update' && step.decision.acquiring
          : step.decision.kind === 'wait' &&
              step.decision.expiresInMs === seconds * 1000 - elapsedMs;
      },
    ),
  );
  t.pass('expiry follows only the local observation age and the promised duration');
});

t.test('property: we never take a Lease from a live holder, and count every take', async (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom('', 'me', 'other'),
      fc.integer({ min: 0, max: 1000 }),
      fc.integer({ min: 0, max: 40_000 }),
      (holder, transitions, ageMs) => {
        const record = heldBy(holder, { leaseTransitions: transitions });
        const step = decideLease(
          input({ state: present(record), previous: seenAt(record, 0), nowMs: ageMs }),
        );
        const d = step.decision;
        if (holder === 'other' && ageMs < 15_000) return d.kind === 'wait';
        if (d.kind !== 'update') return false;
        const expected = holder === 'me' ? transitions : transitions + 1;
        return d.record.holderIdentity === 'me' && d.record.leaseTransitions === expected;
      },
    ),
  );
  t.pass();
});

t.test(
  'timings follow client-go: lease > renew deadline > 1.2 × retry, whole seconds',
  async (t) => {
    t.same(
      electionTimingProblems({
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2_000,
      }),
      [],
    );
    t.same(
      electionTimingProblems({
        leaseDurationMs: 3_000,
        renewDeadlineMs: 2_000,
        retryPeriodMs: 500,
      }),
      [],
    );
    const cases: [string, Parameters<typeof electionTimingProblems>[0], RegExp][] = [
      [
        'fractional lease',
        { leaseDurationMs: 2_500, renewDeadlineMs: 2_000, retryPeriodMs: 500 },
        /whole number of seconds/,
      ],
      [
        'renew deadline ≥ lease',
        { leaseDurationMs: 3_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 },
        /must exceed the renew deadline/,
      ],
      [
        'retry too long',
        { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 9_000 },
        /1\.2 × retry period/,
      ],
      [
        'zero retry',
        { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 0 },
        /retry period must be positive/,
      ],
      [
        'NaN',
        { leaseDurationMs: Number.NaN, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
        /whole number/,
      ],
    ];
    for (const [what, timings, problem] of cases) {
      t.match(electionTimingProblems(timings).join('; '), problem, what);
    }
  },
);

import t from 'tap';
import fc from 'fast-check';
import {
  EventCorrelator,
  NOTE_LIMIT_BYTES,
  truncateUtf8,
  type EventIntent,
} from '../../src/core/event-correlator.js';

const T0 = Date.parse('2026-12-01T12:00:00Z') * 1000; // µs
const SECOND = 1_000_000;
const MINUTE = 60 * SECOND;

const profile = (name: string, uid = `uid-${name}`) => ({
  apiVersion: 'kubeflow.org/v1',
  kind: 'Profile',
  name,
  uid,
});
const repaired = (name = 'team-a', note = 'repaired trust policy'): EventIntent => ({
  regarding: profile(name),
  type: 'Normal',
  reason: 'RoleRepaired',
  action: 'RepairRole',
  note,
});

t.test('a new event is created with a name from its object and the time', async (t) => {
  const c = new EventCorrelator();
  const first = c.observe(repaired(), T0 + 123);
  t.equal(first.kind, 'create');
  if (first.kind !== 'create') return;
  t.equal(first.record.name, `team-a.${((BigInt(T0) + 123n) * 1000n).toString(16)}`);
  t.equal(first.record.eventTime, '2026-12-01T12:00:00.000123Z');
  t.equal(first.record.series, undefined, 'one occurrence is no series');
});

t.test('a repeat patches the series of the first object instead of a new one', async (t) => {
  const c = new EventCorrelator();
  const first = c.observe(repaired(), T0);
  const second = c.observe(repaired(), T0 + MINUTE);
  const third = c.observe(repaired(), T0 + 2 * MINUTE);
  t.equal(second.kind, 'patch');
  t.equal(third.kind, 'patch');
  if (first.kind !== 'create' || second.kind !== 'patch' || third.kind !== 'patch') return;
  t.equal(second.record.name, first.record.name, 'the same object');
  t.equal(second.record.eventTime, first.record.eventTime, 'eventTime stays the first one');
  t.same(second.record.series, { count: 2, lastObservedTime: '2026-12-01T12:01:00.000000Z' });
  t.same(third.record.series, { count: 3, lastObservedTime: '2026-12-01T12:02:00.000000Z' });
});

t.test(
  'what makes events distinct: object (and its UID), type, reason, action, note',
  async (t) => {
    const c = new EventCorrelator();
    const base = repaired();
    const variants: EventIntent[] = [
      base,
      { ...base, regarding: profile('team-b') },
      { ...base, regarding: profile('team-a', 'uid-of-a-new-team-a') },
      { ...base, type: 'Warning' },
      { ...base, reason: 'RoleCreated' },
      { ...base, action: 'CreateRole' },
      { ...base, note: 'repaired inline policy' },
    ];
    for (const [i, intent] of variants.entries()) {
      t.equal(c.observe(intent, T0 + i).kind, 'create', `variant ${i} is its own event`);
    }
    t.equal(c.observe(base, T0 + 100).kind, 'patch');
  },
);

t.test('per object: a burst of 25, then one event every 5 minutes', async (t) => {
  const c = new EventCorrelator();
  const kinds: string[] = [];
  for (let i = 0; i < 30; i++) {
    kinds.push(c.observe(repaired('team-a', `drift ${i}`), T0 + i * SECOND).kind);
  }
  t.same(kinds.slice(0, 25), Array(25).fill('create'));
  t.same(kinds.slice(25), Array(5).fill('rate-limited'), 'new events past the burst are dropped');
  t.equal(c.observe(repaired('team-b'), T0 + 31 * SECOND).kind, 'create', 'other objects are not');
  // The bucket refills continuously from its start: one token in the first 5 minutes.
  t.equal(
    c.observe(repaired('team-a', 'late'), T0 + 5 * MINUTE - SECOND).kind,
    'rate-limited',
    'no whole token before 5 minutes',
  );
  t.equal(c.observe(repaired('team-a', 'later'), T0 + 5 * MINUTE).kind, 'create', 'one token');
  t.equal(
    c.observe(repaired('team-a', 'even later'), T0 + 5 * MINUTE + SECOND).kind,
    'rate-limited',
    'and only one',
  );
});

t.test(
  'a flapping role: repeats past the budget are counted, written with the next one',
  async (t) => {
    const c = new EventCorrelator({ burst: 2, refillMs: 60_000 });
    t.equal(c.observe(repaired(), T0).kind, 'create');
    t.equal(c.observe(repaired(), T0 + SECOND).kind, 'patch');
    let writes = 0;
    for (let i = 2; i < 600; i++) {
      const result = c.observe(repaired(), T0 + i * SECOND);
      if (result.kind !== 'rate-limited') writes++;
      else t.equal(result.repeat, true);
    }
    t.ok(writes <= 10, `598 repeats in 10 minutes wrote ${writes} times (one token a minute)`);
    const next = c.observe(repaired(), T0 + 700 * SECOND);
    t.equal(next.kind, 'patch');
    if (next.kind === 'patch')
      t.equal(next.record.series?.count, 601, 'no repeat lost in the count');
  },
);

t.test('forget: the next occurrence creates the event afresh', async (t) => {
  const c = new EventCorrelator();
  const first = c.observe(repaired(), T0);
  if (first.kind !== 'create') return t.fail('created');
  c.forget(first.record.key);
  t.equal(c.observe(repaired(), T0 + SECOND).kind, 'create');
});

t.test('memory is bounded by the LRU, whatever the number of objects', async (t) => {
  const c = new EventCorrelator({ maxEntries: 100 });
  for (let i = 0; i < 1000; i++) c.observe(repaired(`team-${i}`), T0 + i);
  t.same(c.size, { series: 100, buckets: 100 });
  t.equal(c.observe(repaired('team-999'), T0 + 2000).kind, 'patch', 'the newest are kept');
  t.equal(c.observe(repaired('team-0'), T0 + 2001).kind, 'create', 'the oldest went first');
});

t.test(
  'notes are cut to the API server limit in UTF-8 bytes, at a character boundary',
  async (t) => {
    const c = new EventCorrelator();
    const long = 'é'.repeat(NOTE_LIMIT_BYTES); // 2 bytes each
    const result = c.observe(repaired('team-a', long), T0);
    if (result.kind !== 'create') return t.fail('created');
    const bytes = new TextEncoder().encode(result.record.intent.note).length;
    t.ok(bytes <= NOTE_LIMIT_BYTES, `${bytes} bytes`);
    t.ok(result.record.intent.note.endsWith('é…'));
    t.equal(truncateUtf8('short', 10), 'short');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.nat(200), (text, limit) => {
        const cut = truncateUtf8(text, limit + 3);
        const prefix = cut === text || (cut.endsWith('…') && text.startsWith(cut.slice(0, -1)));
        // A split character would encode as U+FFFD; the text may hold that character itself.
        const split = cut.includes('\uFFFD') && !text.includes('\uFFFD');
        return new TextEncoder().encode(cut).length <= limit + 3 && prefix && !split;
      }),
    );
  },
);

t.test('a repeat keeps its series in the LRU; the least recently seen goes', async (t) => {
  const c = new EventCorrelator({ maxEntries: 2 });
  t.equal(c.observe(repaired('team-a'), T0).kind, 'create');
  t.equal(c.observe(repaired('team-b'), T0 + 1).kind, 'create');
  t.equal(c.observe(repaired('team-a'), T0 + 2).kind, 'patch', 'a repeat is a use');
  t.equal(c.observe(repaired('team-c'), T0 + 3).kind, 'create');
  t.equal(c.observe(repaired('team-a'), T0 + 4).kind, 'patch', 'the used series stayed');
  t.equal(c.observe(repaired('team-b'), T0 + 5).kind, 'create', 'the unused one went');
  t.throws(() => new EventCorrelator({ maxEntries: 0 }), 'an LRU holds at least one entry');
});

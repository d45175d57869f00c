import t from 'tap';
import fc from 'fast-check';
import { formatMicroTime, MICRO_TIME_PATTERN } from '../../src/core/micro-time.js';
import { MicroClock } from '../../src/k8s/micro-clock.js';

t.test('MicroTime: RFC 3339 in UTC with exactly six fractional digits', async (t) => {
  const fixtures: [number, string][] = [
    [0, '1970-01-01T00:00:00.000000Z'],
    [1, '1970-01-01T00:00:00.000001Z'],
    [Date.UTC(2026, 11, 1, 21, 45, 21, 123) * 1000 + 456, '2026-12-01T21:45:21.123456Z'],
    [Date.UTC(2026, 11, 1, 21, 45, 21) * 1000 + 999_999, '2026-12-01T21:45:21.999999Z'],
  ];
  for (const [micros, text] of fixtures) t.equal(formatMicroTime(micros), text);
  for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
    t.throws(() => formatMicroTime(bad), RangeError, `refuses ${bad}`);
  }
});

t.test('property: formatting keeps every microsecond and matches the wire pattern', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (micros) => {
      const text = formatMicroTime(micros);
      const back = Date.parse(text) * 1000 + Number(text.slice(23, 26));
      return MICRO_TIME_PATTERN.test(text) && back === micros;
    }),
  );
  t.pass();
});

t.test(
  'MicroClock: microseconds from the monotonic clock, within the wall clock millisecond',
  async (t) => {
    let wall = 1_000_000;
    let monotonic = 50;
    const clock = new MicroClock(
      () => wall,
      () => monotonic,
    );
    t.equal(clock.nowMicros(), 1_000_000_000, 'anchored on the first call');
    monotonic += 0.25;
    t.equal(
      clock.nowMicros(),
      1_000_000_250,
      'sub-millisecond steps come from the monotonic clock',
    );
    monotonic += 0.5;
    t.equal(clock.nowMicros(), 1_000_000_750);
    monotonic += 0.375; // 1.125 ms after the anchor, but the wall clock still says the same millisecond
    t.equal(
      clock.nowMicros(),
      1_000_000_000,
      're-anchored rather than run ahead of the wall clock',
    );
    wall -= 60_000; // the wall clock is stepped back a minute
    monotonic += 0.5;
    t.equal(clock.nowMicros(), 940_000_000, 'follows a wall-clock step');
    wall += 1;
    monotonic += 0.75; // the wall clock ran faster than the monotonic one
    t.equal(clock.nowMicros(), 940_001_000, 're-anchored once behind the wall clock millisecond');
  },
);

t.test('MicroClock on the real clocks stays within a millisecond of Date.now()', async (t) => {
  const clock = new MicroClock();
  const outside: string[] = [];
  const texts = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const before = Date.now();
    const micros = clock.nowMicros();
    const after = Date.now();
    if (micros < before * 1000 || micros >= (after + 1) * 1000) {
      outside.push(`${micros} µs outside [${before}, ${after + 1}) ms`);
    }
    texts.add(clock.now());
  }
  t.same(outside, [], 'every reading inside the wall clock millisecond');
  t.ok(
    [...texts].every((text) => MICRO_TIME_PATTERN.test(text)),
    'every reading a MicroTime',
  );
  t.ok(texts.size > 100, `successive readings differ (${texts.size} distinct of 2000)`);
});

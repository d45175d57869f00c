import { formatMicroTime } from '../core/micro-time.js';

/**
 * Wall-clock time with microseconds. Date.now() has whole milliseconds only, so the finer part
 * comes from the monotonic clock, anchored to Date.now() and re-anchored whenever the estimate leaves
 * Date.now()'s millisecond (a clock step, NTP slewing): never more than 1 ms behind it.
 */
export class MicroClock {
  #anchorWallMs = 0;
  #anchorMonotonicMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly wallMs: () => number = Date.now,
    private readonly monotonicMs: () => number = () => performance.now(),
  ) {}

  /** Microseconds since the Unix epoch. */
  nowMicros(): number {
    const monotonic = this.monotonicMs();
    const wall = this.wallMs();
    let estimate = this.#anchorWallMs + (monotonic - this.#anchorMonotonicMs);
    // The true time lies in [wall, wall + 1): outside it, the anchor is stale.
    if (!(estimate >= wall && estimate < wall + 1)) {
      this.#anchorWallMs = wall;
      this.#anchorMonotonicMs = monotonic;
      estimate = wall;
    }
    return Math.floor(estimate * 1000);
  }

  /** Now as a Kubernetes MicroTime, e.g. `2026-12-01T21:45:21.123456Z`. */
  now(): string {
    return formatMicroTime(this.nowMicros());
  }
}

export interface CreateBudgetOptions {
  /** New roles per second, refilled continuously. */
  perSecond: number;
  /** New roles that may be made at once after a quiet spell. */
  burst: number;
  /** A monotonic clock in milliseconds; for tests. */
  now?: () => number;
}

/**
 * A token bucket for CreateRole: one token per new role, `burst` at most, `perSecond` refilled.
 * It never waits: an admission that finds it empty is denied with a hint to retry, since a
 * CREATE must be answered within the API server's timeout. Hand-made because the queues at hand
 * (p-queue) only wait their turn; this asks "may I now?" and nothing else.
 */
export class CreateBudget {
  readonly perSecond: number;
  readonly burst: number;
  private readonly now: () => number;
  private tokens: number;
  private refilledAt: number;

  constructor(options: CreateBudgetOptions) {
    if (!(options.perSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError(
        'a role creation budget needs a positive rate and a burst of at least 1',
      );
    }
    this.perSecond = options.perSecond;
    this.burst = Math.floor(options.burst);
    this.now = options.now ?? (() => performance.now());
    this.tokens = this.burst;
    this.refilledAt = this.now();
  }

  /** Takes a token when one is there; false (and nothing taken) when the budget is spent. */
  tryTake(): boolean {
    const now = this.now();
    const earned = ((now - this.refilledAt) / 1000) * this.perSecond;
    this.tokens = Math.min(this.burst, this.tokens + earned);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token, for the denial's hint. */
  msUntilNext(): number {
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }
}

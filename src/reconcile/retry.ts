import type { Logger } from 'pino';
import pRetry from 'p-retry';
import { RoleProvisioningError, isRetryableAwsError } from '../iam/errors.js';
import { statusOf } from '../k8s/errors.js';

/** How long the reconciler waits out one call's retryable failures before it gives up. */
export interface RetryBudget {
  /** How long one call may keep failing with retryable errors before the pass gives up. */
  maxWaitMs: number;
  minDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_RETRY_BUDGET: RetryBudget = {
  maxWaitMs: 15 * 60_000,
  minDelayMs: 1000,
  maxDelayMs: 30_000,
};

/**
 * Whether waiting can help: IAM throttling and outages, API server overload, network failures
 * and requests that timed out. AccessDenied, a malformed request or a 404 cannot be waited out.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof RoleProvisioningError) return err.retryable;
  const status = statusOf(err);
  if (status !== undefined) return status === 429 || status >= 500;
  return isRetryableAwsError(err);
}

/**
 * Runs a reconciler call until it succeeds, waiting out retryable failures (on top of the SDK's
 * own retries) with capped exponential backoff. A throttled pass slows down and carries on where
 * it was, instead of failing and starting over an interval later. Ends at once when `signal`
 * aborts.
 */
export function retryTransient<T>(
  what: string,
  call: () => Promise<T>,
  options: { signal: AbortSignal; logger: Logger; budget?: RetryBudget | undefined },
): Promise<T> {
  const budget = options.budget ?? DEFAULT_RETRY_BUDGET;
  return pRetry(call, {
    retries: Number.POSITIVE_INFINITY,
    minTimeout: budget.minDelayMs,
    maxTimeout: budget.maxDelayMs,
    factor: 2,
    maxRetryTime: budget.maxWaitMs,
    signal: options.signal,
    shouldRetry: ({ error }) => !options.signal.aborted && isRetryable(error),
    onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
      if (retryDelay === 0 || !isRetryable(error)) return;
      options.logger.warn(
        { what, attempt: attemptNumber, retryInMs: retryDelay, error: error.message },
        'reconciler call failed; waiting before trying again',
      );
    },
  });
}

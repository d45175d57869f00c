import type { Logger } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { RoleProvisioningError, isNetworkError, isRetryableAwsError } from '../iam/errors.js';
import { statusOf } from '../k8s/errors.js';

export interface Patience {
  /** How long one call may keep failing with retryable errors before the pass gives up. */
  maxWaitMs: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_PATIENCE: Patience = {
  maxWaitMs: 15 * 60_000,
  minDelayMs: 1000,
  maxDelayMs: 30_000,
};

/**
 * Whether waiting can help: IAM throttling and outages, API server overload and network
 * failures. AccessDenied, a malformed request or a 404 cannot be waited out.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof RoleProvisioningError) return err.retryable;
  const status = statusOf(err);
  if (status !== undefined) return status === 429 || status >= 500;
  return isRetryableAwsError(err) || isNetworkError(err);
}

/**
 * Runs a reconciler read until it succeeds, waiting out retryable failures (on top of the SDK's
 * own retries) with capped exponential backoff. A throttled pass slows down and carries on where
 * it was, instead of failing and starting over an hour later.
 */
export async function patiently<T>(
  what: string,
  call: () => Promise<T>,
  options: { signal: AbortSignal; logger: Logger; patience?: Patience },
): Promise<T> {
  const patience = options.patience ?? DEFAULT_PATIENCE;
  const started = Date.now();
  let delay = patience.minDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (options.signal.aborted || !isRetryable(err)) throw err;
      if (Date.now() - started + delay > patience.maxWaitMs) throw err;
      options.logger.warn(
        { what, attempt, retryInMs: delay, error: (err as Error).message },
        'reconciler call failed; waiting before trying again',
      );
      await sleep(delay, undefined, { signal: options.signal });
      delay = Math.min(patience.maxDelayMs, delay * 2);
    }
  }
}

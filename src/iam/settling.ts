import pRetry, { type Options } from 'p-retry';
import { DeleteConflictException } from '@aws-sdk/client-iam';
import { isEntityAlreadyExists, isNoSuchEntity } from './errors.js';

/**
 * How long to wait for IAM to settle after a change. IAM is eventually consistent: for a few
 * seconds after CreateRole, calls on that role may answer NoSuchEntity, and after DeleteRole a
 * CreateRole of that name may answer EntityAlreadyExists (and a DeleteRole right after its
 * policies were deleted, DeleteConflict). Backoff from a quarter second, doubling up to two,
 * jittered, for at most 15 s; an admission's deadline usually ends it sooner.
 */
const IAM_SETTLE_RETRY = {
  retries: 10,
  factor: 2,
  minTimeout: 250,
  maxTimeout: 2000,
  randomize: true,
  maxRetryTime: 15_000,
} as const satisfies Options;

/** Which answers of an IAM call can be IAM still settling rather than the truth. */
export type SettlingCase =
  /** A call on a role this process has just created, or has just read. */
  | 'after-create'
  /** CreateRole of a name whose role was deleted a moment ago. */
  | 'create-after-delete'
  /** DeleteRole right after its inline policies were deleted. */
  | 'delete-after-detach';

export function mayBeSettling(err: unknown, settling: SettlingCase): boolean {
  switch (settling) {
    case 'after-create':
      return isNoSuchEntity(err);
    case 'create-after-delete':
      return isEntityAlreadyExists(err);
    case 'delete-after-detach':
      return err instanceof DeleteConflictException;
  }
}

export interface SettleOptions {
  /** Ends the waiting: the admission deadline, or the reconciler's stop. */
  signal: AbortSignal;
  /** True for a failure that may be IAM settling; anything else is thrown at once. */
  settling: (err: unknown) => boolean;
  /** Told before each wait, e.g. to log it. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  policy?: Partial<Options>;
}

/**
 * Runs `call` until it succeeds, waiting with backoff while its failure may be IAM settling, and
 * at most for the policy's time or until the signal fires (then the signal's reason is thrown).
 */
export function untilIamSettles<T>(call: () => Promise<T>, options: SettleOptions): Promise<T> {
  return pRetry(call, {
    ...IAM_SETTLE_RETRY,
    ...options.policy,
    signal: options.signal,
    shouldRetry: ({ error }) => options.settling(error),
    onFailedAttempt: ({ error, attemptNumber, retriesLeft, retryDelay }) => {
      if (retriesLeft > 0 && options.settling(error)) {
        options.onRetry?.(error, attemptNumber, retryDelay);
      }
    },
  });
}

import type { IAMClient } from '@aws-sdk/client-iam';
import PQueue from 'p-queue';
import type { Metrics } from '../metrics/registry.js';
import { createIamClient, type IamClientOptions } from './client.js';

export interface RateLimitedIamOptions {
  region: string;
  endpoint?: string | undefined;
  metrics: Metrics;
  /** Calls per second, every attempt (retries included) counted. */
  callsPerSecond: number;
  maxAttempts?: number | undefined;
  requestTimeoutMs?: number | undefined;
  /** For tests and the local emulator; production uses the SDK's credential chain. */
  credentials?: IamClientOptions['credentials'];
}

/**
 * Retries give a throttled call this many attempts. More than admission's three: the reconciler
 * has no deadline, and a pass should slow down under throttling rather than fail.
 */
const RECONCILER_MAX_ATTEMPTS = 6;

/**
 * An IAM attempt that has not answered in this long is abandoned (and retried): IAM answers in
 * well under a second, and a connection that went silent would otherwise hold the reconciler's
 * one-at-a-time queue.
 */
const RECONCILER_REQUEST_TIMEOUT_MS = 20_000;

/**
 * The reconciler's own IAM client. Each HTTP attempt waits for its turn in a queue that starts one
 * call at a time, `callsPerSecond` at most, so a pass over a thousand roles spends the account's
 * IAM budget slowly; admissions use another client and never wait in this queue.
 */
export function createRateLimitedIamClient(options: RateLimitedIamOptions): IAMClient {
  const client = createIamClient({
    region: options.region,
    endpoint: options.endpoint,
    metrics: options.metrics,
    maxAttempts: options.maxAttempts ?? RECONCILER_MAX_ATTEMPTS,
    requestTimeoutMs: options.requestTimeoutMs ?? RECONCILER_REQUEST_TIMEOUT_MS,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  });
  const queue = new PQueue({
    concurrency: 1,
    intervalCap: 1,
    interval: Math.max(1, Math.round(1000 / options.callsPerSecond)),
  });
  type Next = (args: unknown) => Promise<unknown>;
  type Context = { __smithy_context?: { abortSignal?: AbortSignal } };
  const rateLimit = (next: Next, context: Context) => (args: unknown) =>
    // The SDK keeps the caller's abortSignal here; a stopped reconciler leaves the queue at once.
    queue.add(() => next(args), { signal: context.__smithy_context?.abortSignal });
  client.middlewareStack.addRelativeTo(
    rateLimit as unknown as Parameters<IAMClient['middlewareStack']['addRelativeTo']>[0],
    {
      relation: 'after',
      toMiddleware: 'retryMiddleware',
      name: 'profileIrsaReconcilerRateLimit',
    },
  );
  return client;
}

import { IAMClient, type IAMClientConfig } from '@aws-sdk/client-iam';
import { StandardRetryStrategy } from '@smithy/core/retry';
import type { Metrics } from '../metrics/registry.js';
import { errorName, isHardIamError } from './errors.js';

export interface IamClientOptions {
  region: string;
  /** Overrides the SDK's own endpoint chain (AWS_ENDPOINT_URL_IAM, config files, defaults). */
  endpoint?: string | undefined;
  /** Attempts per IAM call including the first; the SDK's default (3) when unset. */
  maxAttempts?: number | undefined;
  metrics: Metrics;
  /** For tests and the local emulator; production uses the SDK's credential chain. */
  credentials?: IAMClientConfig['credentials'];
  /** The longest one HTTP attempt may go without an answer (connect, then socket idle). */
  requestTimeoutMs?: number | undefined;
}

const DEFAULT_MAX_ATTEMPTS = 3;

type RefreshArgs = Parameters<StandardRetryStrategy['refreshRetryTokenForRetry']>;

/**
 * The SDK's standard retry mode (exponential backoff with full jitter, retry quota), except that
 * hard IAM errors are never retried. The SDK classifies `LimitExceededException` as throttling
 * and would retry it, but IAM uses that name for account quotas (roles per account, policy
 * size) that no retry within an admission can fix; retrying only burns the deadline.
 * AccessDenied and MalformedPolicyDocument are 4xx client errors the SDK already gives up on;
 * they are listed here too so that stays true whatever the SDK's classification becomes.
 */
class HardErrorAwareRetryStrategy extends StandardRetryStrategy {
  override async refreshRetryTokenForRetry(
    token: RefreshArgs[0],
    errorInfo: RefreshArgs[1],
  ): Promise<Awaited<ReturnType<StandardRetryStrategy['refreshRetryTokenForRetry']>>> {
    if (isHardIamError(errorInfo.error)) throw new Error('hard IAM error: not retried');
    return super.refreshRetryTokenForRetry(token, errorInfo);
  }
}

/** An IAM client that counts every call in `metrics.iamCalls` and never retries hard errors. */
export function createIamClient(options: IamClientOptions): IAMClient {
  const config: IAMClientConfig = {
    region: options.region,
    retryStrategy: new HardErrorAwareRetryStrategy(options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS),
  };
  if (options.endpoint !== undefined) config.endpoint = options.endpoint;
  if (options.requestTimeoutMs !== undefined) {
    config.requestHandler = {
      connectionTimeout: options.requestTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
    };
  }
  if (options.credentials !== undefined) config.credentials = options.credentials;
  const client = new IAMClient(config);
  const { iamCalls } = options.metrics;

  // 'initialize' is the outermost step: one count per call as the caller sees it, after all
  // retries, with the error that finally surfaced (including the caller's abort).
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      try {
        const result = await next(args);
        iamCalls.inc({ operation, outcome: 'success' });
        return result;
      } catch (err) {
        iamCalls.inc({ operation, outcome: errorName(err) });
        throw err;
      }
    },
    { step: 'initialize', name: 'profileIrsaIamCallMetrics' },
  );
  return client;
}

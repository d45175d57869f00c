export type RoleProvisioningReason =
  | 'foreign-role-untrusted'
  | 'role-missing'
  | 'path-mismatch'
  | 'access-denied'
  | 'limit-exceeded'
  | 'malformed-policy'
  | 'deadline'
  | 'aws-error';

/**
 * Why the webhook could not put a profile's IAM role in place. The message is written for the
 * person whose Profile was denied: what failed, which role, and whether retrying can help.
 */
export class RoleProvisioningError extends Error {
  override readonly name = 'RoleProvisioningError';
  readonly reason: RoleProvisioningReason;
  readonly roleName: string;
  /** True when the same request may succeed later without anyone changing anything. */
  readonly retryable: boolean;

  constructor(
    reason: RoleProvisioningReason,
    roleName: string,
    message: string,
    options: { retryable: boolean; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.roleName = roleName;
    this.retryable = options.retryable;
  }
}

export interface AwsErrorContext {
  roleName: string;
  /** The IAM API operation that failed, e.g. `CreateRole`. */
  operation: string;
  /** When this signal has fired, any failure is reported as the admission deadline. */
  signal?: AbortSignal;
}

const RETRY_HINT = 'retrying may help';
const NO_RETRY_HINT = 'retrying will not help until this is fixed';

/** Error names IAM (and the SDK's model of it) uses; the SDK appends `Exception` to modelled ones. */
const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation']);
const LIMIT_EXCEEDED = new Set(['LimitExceeded', 'LimitExceededException']);
const MALFORMED_POLICY = new Set(['MalformedPolicyDocument', 'MalformedPolicyDocumentException']);
const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ConcurrentModification',
  'ConcurrentModificationException',
  'ServiceFailure',
  'ServiceFailureException',
]);
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

interface SdkErrorShape {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

export function errorName(err: unknown): string {
  const name = (err as SdkErrorShape | null)?.name;
  return typeof name === 'string' && name !== '' ? name : 'Error';
}

export function isAbortError(err: unknown): boolean {
  const name = errorName(err);
  return name === 'AbortError' || name === 'TimeoutError';
}

/** AccessDenied, LimitExceeded and MalformedPolicyDocument: no retry can fix them. */
export function isHardIamError(err: unknown): boolean {
  const name = errorName(err);
  return ACCESS_DENIED.has(name) || LIMIT_EXCEEDED.has(name) || MALFORMED_POLICY.has(name);
}

/** The webhook's own credentials are missing, expired or wrong. */
const CREDENTIALS = new Set([
  'CredentialsProviderError',
  'InvalidClientTokenId',
  'ExpiredToken',
  'ExpiredTokenException',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
]);

/**
 * Failures an operator must fix in the webhook's own IAM permissions, credentials, account quota
 * or configuration: nothing about the Profile that was denied could help.
 */
export function isOperatorFault(error: RoleProvisioningError): boolean {
  switch (error.reason) {
    case 'access-denied':
    case 'limit-exceeded':
    case 'malformed-policy':
      return true;
    case 'aws-error':
      return CREDENTIALS.has(errorName(error.cause));
    default:
      return false;
  }
}

export function isRetryableAwsError(err: unknown): boolean {
  if (isHardIamError(err)) return false;
  const e = (err ?? {}) as SdkErrorShape;
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : 0;
  return (
    e.$retryable !== undefined ||
    THROTTLING.has(errorName(err)) ||
    status === 429 ||
    status >= 500 ||
    (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) ||
    errorName(err) === 'TimeoutError'
  );
}

export function deadlineError(roleName: string, cause?: unknown): RoleProvisioningError {
  return new RoleProvisioningError(
    'deadline',
    roleName,
    `IAM did not finish with role ${roleName} before the admission deadline; ${RETRY_HINT}`,
    { retryable: true, cause },
  );
}

/** Turns an SDK error into one a user can act on. */
export function fromAwsError(err: unknown, context: AwsErrorContext): RoleProvisioningError {
  if (err instanceof RoleProvisioningError) return err;
  const { roleName, operation } = context;
  if (context.signal?.aborted === true || isAbortError(err)) return deadlineError(roleName, err);

  const name = errorName(err);
  const rawMessage = (err as SdkErrorShape | null)?.message;
  const detail =
    typeof rawMessage === 'string' && rawMessage !== '' ? `${name}: ${rawMessage}` : name;
  if (ACCESS_DENIED.has(name)) {
    return new RoleProvisioningError(
      'access-denied',
      roleName,
      `the webhook is not allowed to call iam:${operation} on role ${roleName} (${detail}); ` +
        `an administrator must grant it in the webhook's IAM policy; ${NO_RETRY_HINT}`,
      { retryable: false, cause: err },
    );
  }
  if (LIMIT_EXCEEDED.has(name)) {
    return new RoleProvisioningError(
      'limit-exceeded',
      roleName,
      `IAM refused ${operation} for role ${roleName} because an account quota is reached (${detail}); ` +
        `delete unused roles or raise the quota; ${NO_RETRY_HINT}`,
      { retryable: false, cause: err },
    );
  }
  if (MALFORMED_POLICY.has(name)) {
    return new RoleProvisioningError(
      'malformed-policy',
      roleName,
      `IAM rejected a policy document in ${operation} for role ${roleName} (${detail}); ` +
        `check the webhook's bucket, issuer and account settings; ${NO_RETRY_HINT}`,
      { retryable: false, cause: err },
    );
  }
  const retryable = isRetryableAwsError(err);
  return new RoleProvisioningError(
    'aws-error',
    roleName,
    `IAM ${operation} failed for role ${roleName} (${detail}); ${retryable ? RETRY_HINT : NO_RETRY_HINT}`,
    { retryable, cause: err },
  );
}

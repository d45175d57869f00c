import {
  ConcurrentModificationException,
  EntityAlreadyExistsException,
  LimitExceededException,
  MalformedPolicyDocumentException,
  NoSuchEntityException,
  ServiceFailureException,
} from '@aws-sdk/client-iam';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { OIDC_PROVIDER_TAG, type RoleOwnership, type RoleSpec } from '../core/role-spec.js';
import type { RoleMode } from '../core/settings.js';

export type RoleProvisioningReason =
  | 'foreign-role-untrusted'
  | 'foreign-cluster'
  | 'extra-permissions'
  | 'boundary-not-set'
  | 'role-missing'
  | 'path-mismatch'
  | 'access-denied'
  | 'limit-exceeded'
  | 'malformed-policy'
  | 'deadline'
  | 'iam-settling'
  | 'rate-limited'
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

/**
 * IAM's errors the SDK does not model as classes: the SDK names them after IAM's code. Modelled
 * ones (`NoSuchEntityException` and the like) are told apart by class.
 */
const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation']);

interface SdkErrorShape {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  cause?: unknown;
}

export function errorName(err: unknown): string {
  const name = (err as SdkErrorShape | null)?.name;
  return typeof name === 'string' && name !== '' ? name : 'Error';
}

function isAbortError(err: unknown): boolean {
  const name = errorName(err);
  return name === 'AbortError' || name === 'TimeoutError';
}

export function isAccessDenied(err: unknown): boolean {
  return ACCESS_DENIED.has(errorName(err));
}

/** AccessDenied, LimitExceeded and MalformedPolicyDocument: no retry can fix them. */
export function isHardIamError(err: unknown): boolean {
  return (
    isAccessDenied(err) ||
    err instanceof LimitExceededException ||
    err instanceof MalformedPolicyDocumentException
  );
}

export function isNoSuchEntity(err: unknown): boolean {
  return err instanceof NoSuchEntityException;
}

export function isEntityAlreadyExists(err: unknown): boolean {
  return err instanceof EntityAlreadyExistsException;
}

/** The webhook's own credentials are missing, expired or wrong. */
const CREDENTIALS = new Set([
  'CredentialsProviderError',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'ExpiredToken',
  'ExpiredTokenException',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
]);

/** The caller's own credentials are missing, expired or wrong (by the error's name). */
export function isCredentialsError(err: unknown): boolean {
  return CREDENTIALS.has(errorName(err));
}

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
      return isCredentialsError(error.cause);
    default:
      return false;
  }
}

/**
 * A connection that failed or broke, anywhere in the cause chain: Node's system codes
 * (ECONNREFUSED, ECONNRESET, ENOTFOUND...), undici's UND_ERR_* codes and timed-out requests. The one list of network
 * failures for IAM and Kubernetes calls alike.
 */
function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 3; depth++) {
    const { code, name } = e as SdkErrorShape & { name?: unknown };
    if (typeof code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code)) return true;
    // A request ended by its own deadline (AbortSignal.timeout).
    if (name === 'TimeoutError') return true;
    e = (e as SdkErrorShape).cause;
  }
  return false;
}

/**
 * Throttling, IAM's own transient faults, 5xx and broken connections, as the SDK classifies
 * them, except the quotas IAM names `LimitExceeded` (the SDK counts that name as throttling).
 */
export function isRetryableAwsError(err: unknown): boolean {
  if (isHardIamError(err) || err === null || typeof err !== 'object') return false;
  const sdkError = err as Parameters<typeof isTransientError>[0];
  return (
    isThrottlingError(sdkError) ||
    isTransientError(sdkError) ||
    isServerError(sdkError) ||
    err instanceof ConcurrentModificationException ||
    err instanceof ServiceFailureException ||
    isNetworkError(err)
  );
}

/** An IAM read where "no such entity" is an answer (undefined), not a failure. */
export async function readOrMissing<T>(
  context: AwsErrorContext,
  call: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await call();
  } catch (err) {
    if (isNoSuchEntity(err)) return undefined;
    throw fromAwsError(err, context);
  }
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
  if (isAccessDenied(err)) {
    return new RoleProvisioningError(
      'access-denied',
      roleName,
      `the webhook is not allowed to call iam:${operation} on role ${roleName} (${detail}); ` +
        `an administrator must grant it in the webhook's IAM policy; ${NO_RETRY_HINT}`,
      { retryable: false, cause: err },
    );
  }
  if (err instanceof LimitExceededException) {
    return new RoleProvisioningError(
      'limit-exceeded',
      roleName,
      `IAM refused ${operation} for role ${roleName} because an account quota is reached (${detail}); ` +
        `delete unused roles or raise the quota; ${NO_RETRY_HINT}`,
      { retryable: false, cause: err },
    );
  }
  if (err instanceof MalformedPolicyDocumentException) {
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

type OtherCluster = Extract<RoleOwnership, { kind: 'other-cluster' }>;

/** The region in an EKS issuer (`oidc.eks.<region>.amazonaws.com/id/...`), when it is one. */
function eksRegion(provider: string | undefined): string | undefined {
  return /^oidc\.eks\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\//.exec(provider ?? '')?.[1];
}

const REGION_TEMPLATE = "--role-name-template '{namespace}-{cluster}-{region}-role'";
const SEPARATING_TEMPLATE = "--role-name-template '{namespace}.{cluster}-role'";

/**
 * A role this webhook made for another cluster. Two clusters meet on one role name when they
 * share a name (EKS names are unique per region only, and a recreated cluster keeps its name) or
 * when the template runs namespace and cluster together (`team-a`@`prod` and `team`@`a-prod`).
 */
export function foreignCluster(spec: RoleSpec, other: OtherCluster): RoleProvisioningError {
  const owner = spec.owner;
  const theirs = `cluster ${other.clusterName ?? '(unnamed)'} (OIDC provider ${other.oidcProvider ?? 'not recorded'}, profile ${other.profile ?? '(none)'})`;
  const ours = `this cluster ${owner.clusterName} (OIDC provider ${owner.oidcProvider}, profile ${spec.namespace})`;
  let hint: string;
  if (other.clusterName === owner.clusterName) {
    const [here, there] = [eksRegion(owner.oidcProvider), eksRegion(other.oidcProvider)];
    hint =
      here !== undefined && there !== undefined && here !== there
        ? `two clusters named ${owner.clusterName}, in ${there} and ${here}, derive the same role ` +
          `names: run both with ${REGION_TEMPLATE}`
        : `another cluster named ${owner.clusterName} made it (one in another region, or an ` +
          `earlier cluster of that name): run both with ${REGION_TEMPLATE} if it is in another ` +
          'region, or delete the role if that cluster is gone';
  } else {
    hint =
      'the role name template gives both clusters this name: run both with a template that ' +
      `keeps namespace and cluster apart, such as ${SEPARATING_TEMPLATE} (neither name can ` +
      `contain a dot), or ${REGION_TEMPLATE} if they are in different regions`;
  }
  return new RoleProvisioningError(
    'foreign-cluster',
    spec.roleName,
    `IAM role ${spec.roleName} belongs to ${theirs}, not to ${ours}; the webhook never writes ` +
      `or uses another cluster's role. ${capitalize(hint)}; ${NO_RETRY_HINT}`,
    { retryable: false },
  );
}

/** A role that exists but is not this cluster's to change, and whose trust does not fit. */
export function roleNotOurs(
  spec: RoleSpec,
  ownership: RoleOwnership,
  mode: RoleMode,
  reason: string,
): RoleProvisioningError {
  const why =
    mode === 'lookup'
      ? 'the webhook runs in lookup mode and changes no role'
      : `the role ${notOursBecause(spec, ownership)}, so the webhook does not change it`;
  return new RoleProvisioningError(
    'foreign-role-untrusted',
    spec.roleName,
    `IAM role ${spec.roleName} cannot be used: ${reason}; ${why}. ` +
      "Fix the role's trust policy or remove the role, then retry",
    { retryable: false },
  );
}

export function notOursBecause(spec: RoleSpec, ownership: RoleOwnership): string {
  switch (ownership.kind) {
    case 'unmanaged':
      return 'is not managed by profile-irsa-webhook';
    case 'owned':
      return `is managed for profile ${ownership.profile ?? '(none)'}, not ${spec.namespace}`;
    case 'no-provider-tag':
      return (
        `has no ${OIDC_PROVIDER_TAG} tag (an earlier version made it); if it is this ` +
        `cluster's, tag it: aws iam tag-role --role-name ${spec.roleName} --tags ` +
        `Key=${OIDC_PROVIDER_TAG},Value=${spec.owner.oidcProvider}`
      );
    case 'trust-elsewhere':
      return `is tagged for this cluster but its trust policy does not name ${spec.owner.oidcProviderArn}`;
    case 'other-cluster':
      return `is managed for cluster ${ownership.clusterName ?? '(unnamed)'}`;
  }
}

/** An owned role that grants more than the webhook manages: adopting it would hand that on. */
export function extraPermissions(
  spec: RoleSpec,
  attached: string[],
  inline: string[],
): RoleProvisioningError {
  const parts = [
    ...(attached.length > 0 ? [`managed policies attached: ${attached.join(', ')}`] : []),
    ...(inline.length > 0
      ? [`inline policies other than ${spec.s3Policy.name}: ${inline.join(', ')}`]
      : []),
  ];
  return new RoleProvisioningError(
    'extra-permissions',
    spec.roleName,
    `IAM role ${spec.roleName} is tagged as this cluster's but grants more than the webhook ` +
      `manages (${parts.join('; ')}); the webhook does not adopt it or change its trust. ` +
      `Detach or delete those policies, or delete the role so the webhook creates it; ${NO_RETRY_HINT}`,
    { retryable: false },
  );
}

/**
 * An owned role without the configured permissions boundary. The webhook never sets a boundary
 * on an existing role: its IAM policy would then let it take over any role it can tag, and IAM
 * cannot keep it from tagging an untagged role under the path (docs/iam-policy.md). With the
 * boundary configured the policy lets it write only roles that already carry it.
 */
export function boundaryNotSet(
  spec: RoleSpec,
  actual: string | undefined,
  drift: string,
): RoleProvisioningError {
  const has = actual === undefined ? 'no permissions boundary' : `permissions boundary ${actual}`;
  const cannot = drift === '' ? '' : `, so it cannot repair its ${drift}`;
  return new RoleProvisioningError(
    'boundary-not-set',
    spec.roleName,
    `IAM role ${spec.roleName} has ${has}, not the configured ${spec.permissionsBoundary ?? ''}; ` +
      'the webhook never sets a boundary on an existing role and may write only roles that ' +
      `carry it${cannot}. Set it with: aws iam put-role-permissions-boundary --role-name ` +
      `${spec.roleName} --permissions-boundary ${spec.permissionsBoundary ?? ''}; ${NO_RETRY_HINT}`,
    { retryable: false },
  );
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

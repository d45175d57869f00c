import type { Logger } from 'pino';
import type { RoleSpec } from '../core/role-spec.js';
import { decideMutation } from '../core/mutate.js';
import { decideValidation } from '../core/validate.js';
import type { AdmissionRequest } from '../core/profile-request.js';
import { isOperatorFault, RoleProvisioningError } from '../iam/errors.js';
import { NamespaceReadError, type NamespaceReader } from '../k8s/namespaces.js';
import { namespaceOwnerProblem } from '../core/namespace.js';
import type { Metrics } from '../metrics/registry.js';
import type { DecisionContext } from '../core/decision-context.js';
import { workBudget } from './deadline.js';
import { allowed, denied, errored, patched, review, type AdmissionResponse } from './response.js';
import { decodeReview, MalformedReviewError } from './review.js';

export type WebhookName = 'mutate' | 'validate';

/** What provisions roles; the IAM adapter's RoleEnsurer in production. */
export interface RoleProvider {
  /** A role verified earlier, from memory; never does I/O. */
  cached(namespace: string, roleArn: string): EnsureResult | undefined;
  /** Puts the role in place (or proves it is) in IAM. */
  provision(
    spec: RoleSpec,
    options: { dryRun: boolean; expectNew: boolean; signal: AbortSignal; logger: Logger },
  ): Promise<EnsureResult>;
}

interface EnsureResult {
  roleArn: string;
  outcome: string;
  warnings: string[];
}

export interface AdmitDeps {
  decisions: DecisionContext;
  roles: RoleProvider;
  /** Reads the Namespace a new Profile would take; absent when Kubernetes is not configured. */
  namespaces?: NamespaceReader | undefined;
  metrics: Metrics;
  logger: Logger;
}

/** The work of one admission outlived its budget; the answer still goes out in time. */
class DeadlineExceededError extends Error {
  constructor(readonly budgetMs: number) {
    super(`the webhook could not finish within ${Math.round(budgetMs)} ms; retrying may help`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * The one place where an admission becomes an answer: every outcome, including unexpected
 * exceptions, turns into a well-formed AdmissionReview, so the process never dies on a request.
 * A body that is not an AdmissionReview throws MalformedReviewError, which the HTTP layer
 * answers with 400 like an undecodable body.
 */
export async function admit(
  webhook: WebhookName,
  body: unknown,
  timeoutMs: number,
  deps: AdmitDeps,
) {
  const started = process.hrtime.bigint();
  const decoded = decodeReview(body);
  if (!decoded.ok) {
    deps.logger.info(
      { webhook, uid: decoded.uid, problem: decoded.message },
      'malformed admission review',
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    deps.metrics.recordAdmission(webhook, 'UNKNOWN', 'malformed', seconds);
    throw new MalformedReviewError(decoded.message);
  }
  const { request } = decoded;
  // Made only when something is logged: cache-hit answers, the hot path, log nothing.
  let child: Logger | undefined;
  const logger = () =>
    (child ??= deps.logger.child({
      webhook,
      uid: request.uid,
      operation: request.operation,
      name: request.name,
      dryRun: request.dryRun,
    }));
  let response: AdmissionResponse;
  try {
    response =
      webhook === 'mutate'
        ? await mutate(request, deps, workBudget(timeoutMs), logger)
        : validate(request, deps);
  } catch (error) {
    countIamFailure(deps.metrics, error);
    response = failureResponse(request.uid, error, logger());
  }
  // Denials are what operators are asked about; allowed answers are only worth a debug line.
  if (!response.allowed) logger().info({ status: response.status }, 'admission denied');
  else if (deps.logger.isLevelEnabled('debug')) logger().debug('admission allowed');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  deps.metrics.recordAdmission(webhook, request.operation, resultLabel(response), seconds);
  return review(decoded.apiVersion, response);
}

async function mutate(
  request: AdmissionRequest,
  deps: AdmitDeps,
  budgetMs: number,
  logger: () => Logger,
): Promise<AdmissionResponse> {
  const decision = decideMutation(request, deps.decisions.mutation);
  // Answered from the request alone: no cache lookup, no IAM call, whatever the cache holds.
  if (decision.kind === 'pass') {
    deps.metrics.recordNoIam('mutate', decision.code);
    return allowed(request.uid);
  }
  const { namespace, roleArn } = decision;
  // A CREATE goes to IAM: the role may have been deleted since it was cached (an orphan the
  // leader removed, on another replica), and a new Profile must not trust a gone role.
  const creating = request.operation === 'CREATE';
  const cached = creating ? undefined : deps.roles.cached(namespace, roleArn);
  // A new Profile's namespace may already be someone else's. Checked on CREATE only: the profile
  // controller's many UPDATEs stay free of any call.
  const namespaces = creating ? deps.namespaces : undefined;
  let result = cached;
  if (!result || namespaces) {
    type Outcome = { problem: string } | { result: EnsureResult };
    const outcome = await withDeadline(budgetMs, async (signal): Promise<Outcome> => {
      if (namespaces) {
        const observed = await namespaces.read(namespace);
        const problem = namespaceOwnerProblem(namespace, observed, request.object);
        if (problem) return { problem };
      }
      if (cached) return { result: cached };
      const spec = deps.decisions.specFor(namespace);
      const ensured = await deps.roles.provision(spec, {
        dryRun: request.dryRun,
        expectNew: creating,
        signal,
        logger: logger(),
      });
      if (ensured.outcome !== 'cached') {
        logger().info({ role: spec.roleArn, outcome: ensured.outcome }, 'role ensured');
      }
      return { result: ensured };
    });
    if ('problem' in outcome) return denied(request.uid, 403, outcome.problem);
    result = outcome.result;
  }
  return patched(request.uid, decision.patch, {
    warnings: result.warnings,
    auditAnnotations: { 'role-arn': roleArn },
  });
}

function validate(request: AdmissionRequest, deps: AdmitDeps): AdmissionResponse {
  const { verdict, skipped } = decideValidation(request, deps.decisions.validation);
  if (skipped) deps.metrics.recordNoIam('validate', skipped);
  return verdict.allowed
    ? allowed(request.uid)
    : denied(request.uid, verdict.code, verdict.message);
}

/** Runs `work` with an abort signal and answers by the deadline even if the work ignores it. */
async function withDeadline<T>(
  budgetMs: number,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort(new DeadlineExceededError(budgetMs));
      reject(new DeadlineExceededError(budgetMs));
    }, budgetMs);
  });
  try {
    return await Promise.race([work(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Where a user is sent when the fault is the webhook's own. */
const OPERATOR_HINT =
  'This is not a problem with the Profile: an operator must fix the webhook (`profile-irsa-webhook doctor` shows what is wrong).';

function failureResponse(uid: string, error: unknown, logger: Logger): AdmissionResponse {
  if (error instanceof RoleProvisioningError) {
    if (isOperatorFault(error)) {
      // Answered as a server-side error: the user's request was fine, the webhook's setup is not.
      logger.error({ reason: error.reason, role: error.roleName, err: error.cause }, error.message);
      return errored(
        uid,
        500,
        `profile-irsa-webhook cannot provision: ${error.message}. ${OPERATOR_HINT}`,
      );
    }
    logger.warn({ reason: error.reason, role: error.roleName, err: error.cause }, error.message);
    const code = error.reason === 'rate-limited' ? 429 : error.retryable ? 503 : 403;
    return denied(uid, code, error.message);
  }
  if (error instanceof NamespaceReadError) {
    if (error.forbidden) {
      logger.error({ namespace: error.namespace, err: error.cause }, error.message);
      return errored(
        uid,
        500,
        `profile-irsa-webhook ${error.message}: it needs get on namespaces (chart RBAC). ${OPERATOR_HINT}`,
      );
    }
    logger.warn({ namespace: error.namespace, err: error.cause }, error.message);
    return denied(uid, 503, `profile-irsa-webhook ${error.message}; retrying may help`);
  }
  if (error instanceof DeadlineExceededError) {
    logger.warn({ budgetMs: error.budgetMs }, 'admission deadline exceeded');
    return denied(uid, 504, error.message);
  }
  logger.error({ err: error }, 'unexpected error while answering an admission request');
  return errored(
    uid,
    500,
    `internal error in profile-irsa-webhook; see its logs. ${OPERATOR_HINT}`,
  );
}

/** IAM failures are what operators are alerted on; the reason says which runbook entry applies. */
function countIamFailure(metrics: Metrics, error: unknown): void {
  if (error instanceof RoleProvisioningError) {
    metrics.admissionIamFailures.inc({ reason: error.reason });
  } else if (error instanceof DeadlineExceededError) {
    metrics.admissionIamFailures.inc({ reason: 'deadline' });
  }
}

function resultLabel(response: AdmissionResponse): string {
  if (!response.allowed) return (response.status?.code ?? 500) >= 500 ? 'error' : 'denied';
  return response.patch ? 'patched' : 'allowed';
}

import type { Logger } from 'pino';
import type { RoleSpec } from '../core/role-spec.js';
import { decideMutation } from '../core/mutate.js';
import { decideValidation } from '../core/validate.js';
import type { AdmissionRequest } from '../core/admission.js';
import { RoleProvisioningError } from '../iam/errors.js';
import type { Metrics } from '../metrics/registry.js';
import type { DecisionContext } from './context.js';
import { workBudget } from './deadline.js';
import { allowed, denied, errored, patched, review, type AdmissionResponse } from './response.js';
import { decodeReview } from './review.js';

export type WebhookName = 'mutate' | 'validate';

/** What provisions roles; the IAM adapter's RoleEnsurer in production. */
export interface RoleProvider {
  /** A role verified earlier, from memory; never does I/O. */
  cached(namespace: string, roleArn: string): EnsureResult | undefined;
  /** Puts the role in place (or proves it is) in IAM. */
  provision(
    spec: RoleSpec,
    options: { dryRun: boolean; signal: AbortSignal; logger: Logger },
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
  metrics: Metrics;
  logger: Logger;
}

/** The work of one admission outlived its budget; the answer still goes out in time. */
export class DeadlineExceededError extends Error {
  constructor(readonly budgetMs: number) {
    super(`the webhook could not finish within ${Math.round(budgetMs)} ms; retrying may help`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * The one place where an admission becomes an answer: every outcome, including unexpected
 * exceptions, turns into a well-formed AdmissionReview, so the process never dies on a request.
 */
export async function admit(
  webhook: WebhookName,
  body: unknown,
  timeoutMs: number,
  deps: AdmitDeps,
) {
  const started = process.hrtime.bigint();
  const decoded = decodeReview(body);
  let operation = 'UNKNOWN';
  let response: AdmissionResponse;
  if (!decoded.ok) {
    deps.logger.info(
      { webhook, uid: decoded.uid, problem: decoded.message },
      'undecodable admission review',
    );
    response = denied(decoded.uid, 400, `malformed AdmissionReview: ${decoded.message}`);
  } else {
    const { request } = decoded;
    operation = request.operation;
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
    try {
      response =
        webhook === 'mutate'
          ? await mutate(request, deps, workBudget(timeoutMs), logger)
          : validate(request, deps);
    } catch (error) {
      response = failureResponse(request.uid, error, logger());
    }
    // Denials are what operators are asked about; allowed answers are only worth a debug line.
    if (!response.allowed) logger().info({ status: response.status }, 'admission denied');
    else if (deps.logger.isLevelEnabled('debug')) logger().debug('admission allowed');
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  deps.metrics.recordAdmission(webhook, operation, resultLabel(response), seconds);
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
  let result = deps.roles.cached(decision.namespace, decision.roleArn);
  if (!result) {
    const spec = deps.decisions.specFor(decision.namespace);
    result = await withDeadline(budgetMs, (signal) =>
      deps.roles.provision(spec, { dryRun: request.dryRun, signal, logger: logger() }),
    );
    if (result.outcome !== 'cached') {
      logger().info({ role: spec.roleArn, outcome: result.outcome }, 'role ensured');
    }
  }
  return patched(request.uid, decision.patch, {
    warnings: result.warnings,
    auditAnnotations: { 'role-arn': decision.roleArn },
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

function failureResponse(uid: string, error: unknown, logger: Logger): AdmissionResponse {
  if (error instanceof RoleProvisioningError) {
    logger.warn({ reason: error.reason, role: error.roleName, err: error.cause }, error.message);
    return denied(uid, error.retryable ? 503 : 403, error.message);
  }
  if (error instanceof DeadlineExceededError) {
    logger.warn({ budgetMs: error.budgetMs }, 'admission deadline exceeded');
    return denied(uid, 504, error.message);
  }
  logger.error({ err: error }, 'unexpected error while answering an admission request');
  return errored(uid, 500, 'internal error in profile-irsa-webhook; see its logs');
}

function resultLabel(response: AdmissionResponse): string {
  if (!response.allowed) return (response.status?.code ?? 500) >= 500 ? 'error' : 'denied';
  return response.patch ? 'patched' : 'allowed';
}

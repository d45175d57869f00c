import {
  getDenialReasons,
  getGrantReasons,
  runSimulation,
  type EvaluationResult,
  type Simulation,
} from '@cloud-copilot/iam-simulate';
import type { PolicyDocument } from '../../src/core/policy-document.js';
import type { S3Access } from '../../src/core/settings.js';

/**
 * IAM documents judged by the policy simulator (@cloud-copilot/iam-simulate, AGPL-3.0, a
 * devDependency only), never by reading them. Shared by every test that proves a policy.
 */
export interface SimulatedRequest {
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
  /** Who asks; the webhook's own role unless given. */
  principal?: string;
}

export interface SimulatedPolicies {
  /** Identity policies of the principal. */
  identity: PolicyDocument[];
  /** The principal's permissions boundary, if it has one. */
  boundary?: PolicyDocument | undefined;
  /** The resource's own policy, e.g. a role's trust policy. */
  resourcePolicy?: PolicyDocument | undefined;
}

export interface Verdict {
  result: EvaluationResult;
  /** Which statements decided, and which context keys the simulator dropped as not applicable. */
  explanation: string;
}

const SIMULATED_ACCOUNT = '123456789012';

/** Runs one request through the simulator; input it refuses (bad ARN, bad action) throws. */
export async function simulate(
  request: SimulatedRequest,
  policies: SimulatedPolicies,
): Promise<Verdict> {
  const account =
    accountOf(request.resource) ?? accountOf(request.principal ?? '') ?? SIMULATED_ACCOUNT;
  const simulation: Simulation = {
    request: {
      principal: request.principal ?? `arn:aws:iam::${account}:role/profile-irsa-webhook`,
      action: request.action,
      resource: { resource: request.resource, accountId: account },
      contextVariables: request.context ?? {},
    },
    identityPolicies: policies.identity.map((policy, i) => ({ name: `identity-${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  };
  if (policies.boundary !== undefined) {
    simulation.permissionBoundaryPolicies = [{ name: 'boundary', policy: policies.boundary }];
  }
  if (policies.resourcePolicy !== undefined) simulation.resourcePolicy = policies.resourcePolicy;
  const outcome = await runSimulation(simulation, {});
  if (outcome.resultType === 'error') {
    throw new Error(
      `the simulator refused ${request.action} on ${request.resource}: ${JSON.stringify(outcome.errors)}`,
    );
  }
  const analysis =
    outcome.resultType === 'single' ? outcome.result.analysis : outcome.results[0]?.analysis;
  const ignored = outcome.resultType === 'single' ? (outcome.result.ignoredContextKeys ?? []) : [];
  const reasons =
    analysis === undefined
      ? []
      : outcome.overallResult === 'Allowed'
        ? getGrantReasons(analysis).map((g) => `allowed by ${g.policyType} ${g.statementId ?? ''}`)
        : getDenialReasons(analysis).map((d) =>
            d.denialType === 'Explicit'
              ? `explicitly denied by ${d.policyType} statement ${d.statementId ?? d.statementIndex}`
              : `implicitly denied: no ${d.policyType} statement allows it`,
          );
  const explanation = [
    ...reasons,
    ...(ignored.length > 0 ? [`context keys not applicable: ${ignored.join(', ')}`] : []),
  ].join('; ');
  return { result: outcome.overallResult, explanation };
}

function accountOf(arn: string): string | undefined {
  return /^arn:[^:]+:[^:]*:[^:]*:(\d{12}):/.exec(arn)?.[1];
}

/** A request as one line, for assertion messages. */
export function describeRequest(request: SimulatedRequest): string {
  const context = Object.entries(request.context ?? {})
    // IAM sets aws:ResourceTag and iam:ResourceTag alike; one is enough to read.
    .filter(([k]) => !k.startsWith('aws:ResourceTag/'))
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : v}`)
    .join(' ');
  return `${request.action} on ${request.resource}${context ? ` {${context}}` : ''}`;
}

/** The S3 calls Kubeflow Pipelines makes on its artifact bucket, as the actions IAM authorizes. */
export interface PipelineS3Call {
  /** The S3 API operation, for messages. */
  operation: string;
  action: string;
  /** Bucket-level calls act on the bucket, the others on an object key in it. */
  on: 'bucket' | 'object';
}

const READS: PipelineS3Call[] = [
  { operation: 'GetObject', action: 's3:GetObject', on: 'object' },
  { operation: 'HeadObject', action: 's3:GetObject', on: 'object' },
  { operation: 'ListObjectsV2', action: 's3:ListBucket', on: 'bucket' },
  { operation: 'GetBucketLocation', action: 's3:GetBucketLocation', on: 'bucket' },
];
const WRITES: PipelineS3Call[] = [
  { operation: 'PutObject', action: 's3:PutObject', on: 'object' },
  { operation: 'CreateMultipartUpload', action: 's3:PutObject', on: 'object' },
  { operation: 'UploadPart', action: 's3:PutObject', on: 'object' },
  { operation: 'CompleteMultipartUpload', action: 's3:PutObject', on: 'object' },
  { operation: 'AbortMultipartUpload', action: 's3:AbortMultipartUpload', on: 'object' },
  { operation: 'ListParts', action: 's3:ListMultipartUploadParts', on: 'object' },
  { operation: 'ListMultipartUploads', action: 's3:ListBucketMultipartUploads', on: 'bucket' },
  { operation: 'DeleteObject', action: 's3:DeleteObject', on: 'object' },
];

/** What each access level must allow (the pipelines' calls) and must not (writes when read-only). */
export const PIPELINE_S3_CALLS: Record<
  S3Access,
  { allowed: PipelineS3Call[]; denied: PipelineS3Call[] }
> = {
  full: { allowed: [...READS, ...WRITES], denied: [] },
  readwrite: { allowed: [...READS, ...WRITES], denied: [] },
  readonly: { allowed: READS, denied: WRITES },
};

/** The resource a pipeline call acts on, in `bucket` under `key`. */
export function s3Resource(
  call: PipelineS3Call,
  bucket: string,
  key = 'artifacts/run-1/output.tgz',
  partition = 'aws',
): string {
  return call.on === 'bucket'
    ? `arn:${partition}:s3:::${bucket}`
    : `arn:${partition}:s3:::${bucket}/${key}`;
}

/**
 * A trust policy judged for sts:AssumeRoleWithWebIdentity. The simulator drops context keys it
 * does not know for that action, such as `<provider>:sub`, so it judges the statements with
 * their conditions set aside (principal, action, resource); the StringEquals conditions are then
 * evaluated here from the token's claims, as STS sets `<issuer>:<claim>` from them.
 */
export async function judgeWebIdentity(
  trust: PolicyDocument,
  roleArn: string,
  token: { providerArn: string; issuer: string; claims: Record<string, unknown> },
): Promise<{ allowed: boolean; why: string }> {
  const issuerKey = token.issuer.replace(/^https:\/\//, '').replace(/\/+$/, '');
  const context: Record<string, string> = {};
  for (const [claim, value] of Object.entries(token.claims)) {
    const values = Array.isArray(value) ? value : [value];
    // A single-audience token: STS compares the one audience.
    if (values.length === 1 && typeof values[0] === 'string')
      context[`${issuerKey}:${claim}`] = values[0];
  }
  const reasons: string[] = [];
  for (const [index, statement] of trust.Statement.entries()) {
    const { Condition: condition, ...rest } = statement;
    const verdict = await simulate(
      { action: 'sts:AssumeRoleWithWebIdentity', resource: roleArn, principal: token.providerArn },
      { identity: [], resourcePolicy: { Version: '2012-10-17', Statement: [rest] } },
    );
    if (verdict.result !== 'Allowed') {
      reasons.push(`statement ${index + 1}: ${verdict.result} for principal ${token.providerArn}`);
      continue;
    }
    const unmet: string[] = [];
    for (const [operator, block] of Object.entries(condition ?? {})) {
      if (operator !== 'StringEquals') {
        unmet.push(`operator ${operator} is not evaluated here`);
        continue;
      }
      for (const [key, expected] of Object.entries(block)) {
        const wanted = Array.isArray(expected) ? expected : [expected];
        const actual = context[key];
        if (actual === undefined || !wanted.includes(actual)) {
          unmet.push(`${key} is ${actual ?? 'absent'}, not ${wanted.join(' or ')}`);
        }
      }
    }
    if (unmet.length === 0)
      return { allowed: true, why: `statement ${index + 1} admits the token` };
    reasons.push(`statement ${index + 1}: ${unmet.join('; ')}`);
  }
  return { allowed: false, why: reasons.join(' | ') };
}

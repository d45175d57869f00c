import { z } from 'zod';
import { DEFAULT_RESERVED_NAMESPACES } from '../core/namespace.js';
import type { S3Access } from '../core/settings.js';
import { renderedNameProblem, templateSyntaxProblem } from '../core/role-name.js';
import { oidcProviderTagProblem } from '../core/role-spec.js';
import {
  expandS3PrefixPresets,
  INLINE_POLICY_MAX_CHARS,
  s3PolicyOversize,
  s3ScopeProblems,
} from '../core/s3-policy.js';
import { issuerProblem, parseExtraTags } from './iam-limits.js';
import { s3ScopeOf } from './settings.js';
import { roleArnPattern } from '../core/role-pattern.js';
import { knownPartition } from '../core/settings.js';
import { parseDuration } from '../core/duration.js';

const list = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  );

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

const required = (what: string) =>
  z
    .string({ error: `${what} is required` })
    .trim()
    .min(1, `${what} is required`);

/** 0 asks the OS for a free port (tests, local runs). */
const port = z.coerce.number().int().min(0).max(65535);
const boolean = z.enum(['true', 'false']).transform((value) => value === 'true');

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Services are named by DNS-1035 labels: a letter first. */
const DNS_LABEL = /^(?=.{1,63}$)[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** The partition is checked against the region's in the refinement below. */
const POLICY_ARN = /^arn:([a-z]+(?:-[a-z]+)*):iam::(\d{12}|aws):policy\/[\w+=,.@/-]+$/;

/** The API server waits at most 30 s for a webhook: no admission outlives that. */
export const LONGEST_ADMISSION_MS = 30_000;

const duration = (min: number, minText: string) =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `"${text}" is not a duration such as 90s, 10m or 1h`,
      });
      return z.NEVER;
    }
    if (ms < min) {
      ctx.addIssue({ code: 'custom', message: minText });
      return z.NEVER;
    }
    return ms;
  });

export const configSchema = z
  .object({
    clusterName: required('the cluster name').regex(
      /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/,
      'must be an EKS cluster name (letters, digits, - and _, at most 100)',
    ),
    region: required('the region').refine(
      (region) => knownPartition(region) !== undefined,
      "must be an AWS region the AWS SDK's partition table lists, such as us-east-1",
    ),
    s3Bucket: required('the S3 bucket').regex(BUCKET, 'must be an S3 bucket name'),
    extraS3Buckets: list.pipe(z.array(z.string().regex(BUCKET, 'must be S3 bucket names'))),
    accountId: optionalText.pipe(
      z
        .string()
        .regex(/^\d{12}$/, 'must be 12 digits')
        .optional(),
    ),
    oidcIssuer: optionalText.superRefine((issuer, ctx) => {
      // The issuer also becomes an ownership tag's value, so IAM's tag rules apply to it too.
      const problem =
        issuer === undefined
          ? undefined
          : (issuerProblem(issuer) ?? oidcProviderTagProblem(issuer));
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    roleNameTemplate: z.string().superRefine((template, ctx) => {
      const problem = templateSyntaxProblem(template);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    rolePath: z
      .string()
      .max(512)
      .regex(
        /^\/([\x21-\x7e]+\/)?$/,
        'must begin and end with / (for example /kubeflow-profiles/)',
      ),
    serviceAccounts: list.pipe(
      z
        .array(z.string().regex(SERVICE_ACCOUNT, 'must be service account names'))
        .min(1, 'needs at least one service account'),
    ),
    s3Access: z.enum(['full', 'readwrite', 'readonly']),
    s3Prefixes: list.transform(expandS3PrefixPresets),
    s3SharedPrefixes: list.transform((items) => [...new Set(items)]),
    s3SharedAccess: z.enum(['full', 'readwrite', 'readonly']),
    s3AllowBucketWrites: boolean,
    permissionsBoundary: optionalText.pipe(
      z
        .string()
        .regex(POLICY_ARN, 'must be an IAM policy ARN (arn:PARTITION:iam::ACCOUNT:policy/NAME)')
        .optional(),
    ),
    /** The operator's waiver of the boundary in provision mode; absent means not waived. */
    allowNoBoundary: z.boolean().optional(),
    maxSessionDuration: optionalText.pipe(
      z.coerce.number<string | undefined>().int().min(3600).max(43200).optional(),
    ),
    extraRoleTags: list.transform((pairs, ctx) => {
      const { tags, problems } = parseExtraTags(pairs);
      for (const message of problems) ctx.addIssue({ code: 'custom', message });
      return tags;
    }),
    mode: z.enum(['provision', 'lookup']),
    allowedRoleArns: list.superRefine((globs, ctx) => {
      for (const glob of globs) {
        const result = roleArnPattern(glob);
        if (!result.ok) ctx.addIssue({ code: 'custom', message: result.problem });
      }
    }),
    reservedNamespaces: z
      .string()
      .optional()
      .transform((value) =>
        value === undefined ? DEFAULT_RESERVED_NAMESPACES : list.parse(value),
      ),
    podNamespace: optionalText,
    requirePlugin: boolean,
    roleCacheTtlSeconds: z.coerce.number().int().min(0).max(86400),
    tlsCertFile: optionalText,
    tlsKeyFile: optionalText,
    host: z.string().min(1),
    port,
    opsPort: port,
    shutdownDelaySeconds: z.coerce.number().min(0).max(300),
    webhookName: z
      .string()
      .regex(DNS_LABEL, 'must be a DNS-1035 label (the Service is named after it)'),
    maxConnections: z.coerce.number().int().min(1).max(65535),
    // At least one review at the body limit (7.5 MiB) must always fit.
    bodyMemoryMib: z.coerce
      .number()
      .int()
      .min(8, 'must be at least 8 (one review at the body limit)')
      .max(4096),
    requestTimeoutSeconds: z.coerce.number().min(1).max(300),
    keepAliveTimeoutSeconds: z.coerce.number().min(1).max(3600),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    reconcile: boolean,
    reconcileInterval: duration(60_000, 'must be at least 1m: every pass reads every role'),
    orphanPolicy: z.enum(['retain', 'delete']),
    orphanGrace: duration(
      LONGEST_ADMISSION_MS + 1,
      'must be longer than 30s, the longest an admission can take, so a role made by an admission still in flight is never taken for an orphan',
    ),
    annotateServiceAccounts: list.pipe(
      z
        .array(z.string().regex(SERVICE_ACCOUNT, 'must be service account names'))
        .refine(
          (names) => !names.includes('default-editor'),
          "must not name default-editor: Kubeflow's profile controller annotates it",
        ),
    ),
    iamRate: z.coerce
      .number()
      .gt(0, 'must be more than 0 calls per second')
      .max(100, 'must be at most 100 calls per second'),
    leaderElectionLease: z
      .string()
      .max(253)
      .regex(
        /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
        'must be a Lease name (DNS subdomain)',
      ),
    podName: optionalText,
  })
  .superRefine((config, ctx) => {
    const nameProblem =
      templateSyntaxProblem(config.roleNameTemplate) === undefined
        ? renderedNameProblem(config.roleNameTemplate, config.clusterName, config.region)
        : undefined;
    if (nameProblem) {
      ctx.addIssue({ code: 'custom', path: ['roleNameTemplate'], message: nameProblem });
    }
    const boundaryPartition = config.permissionsBoundary?.match(POLICY_ARN)?.[1];
    const regionPartition = knownPartition(config.region);
    if (boundaryPartition && regionPartition && boundaryPartition !== regionPartition) {
      ctx.addIssue({
        code: 'custom',
        path: ['permissionsBoundary'],
        message: `is in partition ${boundaryPartition}, but region ${config.region} is in ${regionPartition}`,
      });
    }
    s3ScopeIssues(config, ctx);
    if (config.port !== 0 && config.port === config.opsPort) {
      ctx.addIssue({
        code: 'custom',
        path: ['opsPort'],
        message: 'must differ from the admission port',
      });
    }
  })
  .transform((config) => ({
    ...config,
    reservedNamespaces: config.podNamespace
      ? [...new Set([...config.reservedNamespaces, config.podNamespace])]
      : config.reservedNamespaces,
  }));

export type Config = z.output<typeof configSchema>;

interface S3ScopeInput {
  region: string;
  s3Bucket: string;
  extraS3Buckets: string[];
  s3Access: S3Access;
  s3Prefixes: string[];
  s3SharedPrefixes: string[];
  s3SharedAccess: S3Access;
  s3AllowBucketWrites: boolean;
}

function s3ScopeIssues(config: S3ScopeInput, ctx: z.RefinementCtx): void {
  const problems = s3ScopeProblems({
    prefixTemplates: config.s3Prefixes,
    sharedPrefixes: config.s3SharedPrefixes,
  });
  for (const message of problems.prefixTemplates)
    ctx.addIssue({ code: 'custom', path: ['s3Prefixes'], message });
  for (const message of problems.sharedPrefixes)
    ctx.addIssue({ code: 'custom', path: ['s3SharedPrefixes'], message });
  // The policy's size can only be measured for a region whose partition is known; an unknown
  // region is reported on its own.
  const measurable = knownPartition(config.region) !== undefined;
  if (measurable && problems.prefixTemplates.length === 0 && problems.sharedPrefixes.length === 0) {
    const size = s3PolicyOversize({
      region: config.region,
      s3Access: config.s3Access,
      s3Buckets: [config.s3Bucket, ...config.extraS3Buckets],
      s3Scope: s3ScopeOf(config),
      s3AllowBucketWrites: config.s3AllowBucketWrites,
    });
    if (size !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['s3Prefixes'],
        message: `with these buckets and prefixes a role's S3 policy is ${size} characters; IAM allows ${INLINE_POLICY_MAX_CHARS}`,
      });
    }
  }
  if (config.s3SharedPrefixes.length > 0 && config.s3Prefixes.length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['s3SharedPrefixes'],
      message: 'needs --s3-prefixes: without a scope every role has the whole bucket',
    });
  }
  if (config.s3AllowBucketWrites && config.s3Prefixes.length > 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['s3AllowBucketWrites'],
      message:
        'cannot be used with --s3-prefixes: a bucket policy written by one namespace reaches all',
    });
  } else if (config.s3AllowBucketWrites && config.s3Access !== 'full') {
    ctx.addIssue({
      code: 'custom',
      path: ['s3AllowBucketWrites'],
      message: 'only applies to --s3-access full',
    });
  }
}

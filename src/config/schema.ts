import { z } from 'zod';
import { DEFAULT_RESERVED_NAMESPACES } from '../core/namespace.js';
import { renderedNameProblem, templateSyntaxProblem } from '../core/role-name.js';
import { issuerProblem, parseExtraTags } from './iam-limits.js';
import { roleArnPattern } from '../core/role-pattern.js';
import { knownPartition } from '../core/settings.js';

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
/** The partition is checked against the region's in the refinement below. */
const POLICY_ARN = /^arn:([a-z]+(?:-[a-z]+)*):iam::(\d{12}|aws):policy\/[\w+=,.@/-]+$/;

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
      const problem = issuer === undefined ? undefined : issuerProblem(issuer);
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
    permissionsBoundary: optionalText.pipe(
      z
        .string()
        .regex(POLICY_ARN, 'must be an IAM policy ARN (arn:PARTITION:iam::ACCOUNT:policy/NAME)')
        .optional(),
    ),
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
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
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

import { z } from 'zod';
import { DEFAULT_RESERVED_NAMESPACES } from '../core/namespace.js';
import { renderRoleNameTemplate, ROLE_NAME_CHARS } from '../core/role-name.js';
import { CLUSTER_TAG, MANAGED_BY_TAG, PROFILE_TAG } from '../core/role-spec.js';

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
const OUR_TAGS = [MANAGED_BY_TAG, CLUSTER_TAG, PROFILE_TAG];

/** A longest-case namespace, so a template that only breaks for long names fails at startup. */
const SAMPLE_NAMESPACE = 'n'.repeat(63);

export const configSchema = z
  .object({
    clusterName: required('the cluster name').regex(
      /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/,
      'must be an EKS cluster name (letters, digits, - and _, at most 100)',
    ),
    region: required('the region').regex(
      /^[a-z]{2}(-[a-z]+)+-\d+$/,
      'must be an AWS region such as us-east-1',
    ),
    s3Bucket: required('the S3 bucket').regex(BUCKET, 'must be an S3 bucket name'),
    extraS3Buckets: list.pipe(z.array(z.string().regex(BUCKET, 'must be S3 bucket names'))),
    accountId: optionalText.pipe(
      z
        .string()
        .regex(/^\d{12}$/, 'must be 12 digits')
        .optional(),
    ),
    oidcIssuer: optionalText.pipe(
      z
        .string()
        .regex(
          /^(https:\/\/)?[^\s/]+(\/[^\s]*)?$/,
          'must be the issuer URL, such as https://oidc.eks.us-east-1.amazonaws.com/id/ABC',
        )
        .optional(),
    ),
    roleNameTemplate: z
      .string()
      .refine(
        (t) => t.includes('{namespace}'),
        'must contain {namespace}, or every Profile would share one role',
      )
      .refine(
        (t) => !/\{(?!namespace\}|cluster\})[^}]*\}/.test(t),
        'only {namespace} and {cluster} can be replaced',
      ),
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
        .regex(/^arn:aws(-cn|-us-gov)?:iam::(\d{12}|aws):policy\/.+$/, 'must be an IAM policy ARN')
        .optional(),
    ),
    maxSessionDuration: optionalText.pipe(
      z.coerce.number<string | undefined>().int().min(3600).max(43200).optional(),
    ),
    extraRoleTags: list.transform((pairs, ctx) => {
      const tags: Record<string, string> = {};
      for (const pair of pairs) {
        const at = pair.indexOf('=');
        const key = at > 0 ? pair.slice(0, at).trim() : '';
        if (!key || key.length > 128 || pair.length - at - 1 > 256) {
          ctx.addIssue({
            code: 'custom',
            message: `"${pair}" is not key=value (key ≤128, value ≤256 characters)`,
          });
        } else if (OUR_TAGS.includes(key) || key.startsWith('aws:')) {
          ctx.addIssue({ code: 'custom', message: `tag "${key}" is reserved` });
        } else {
          tags[key] = pair.slice(at + 1).trim();
        }
      }
      if (Object.keys(tags).length > 47)
        ctx.addIssue({ code: 'custom', message: 'at most 47 extra tags' });
      return tags;
    }),
    mode: z.enum(['provision', 'lookup']),
    allowedRoleArns: list.pipe(
      z.array(z.string().regex(/^arn:[*a-z-]+:iam::[*\d]*:role\/.*$/, 'must be role ARN patterns')),
    ),
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
  })
  .superRefine((config, ctx) => {
    const name = renderRoleNameTemplate(
      config.roleNameTemplate,
      SAMPLE_NAMESPACE,
      config.clusterName,
    );
    if (!ROLE_NAME_CHARS.test(name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['roleNameTemplate'],
        message:
          'gives role names with characters IAM does not allow (letters, digits and +=,.@_- only)',
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

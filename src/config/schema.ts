import { z } from 'zod';
import { DEFAULT_RESERVED_NAMESPACES } from '../core/namespace.js';
import { renderRoleNameTemplate, ROLE_NAME_CHARS } from '../core/role-name.js';
import { OWNERSHIP_TAG_KEYS, oidcProviderTagProblem } from '../core/role-spec.js';

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
const DNS_SUBDOMAIN =
  /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

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
        .refine((issuer) => oidcProviderTagProblem(issuer) === undefined, {
          error: (issue) => oidcProviderTagProblem(String(issue.input)) ?? 'invalid issuer',
        })
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
        } else if (OWNERSHIP_TAG_KEYS.includes(key) || key.startsWith('aws:')) {
          ctx.addIssue({ code: 'custom', message: `tag "${key}" is reserved` });
        } else {
          tags[key] = pair.slice(at + 1).trim();
        }
      }
      // IAM allows 50 tags on a role; the ownership tags take four.
      if (Object.keys(tags).length > 50 - OWNERSHIP_TAG_KEYS.length)
        ctx.addIssue({
          code: 'custom',
          message: `at most ${50 - OWNERSHIP_TAG_KEYS.length} extra tags`,
        });
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
    webhookName: z
      .string()
      .regex(DNS_LABEL, 'must be a DNS-1035 label (the Service is named after it)'),
    reconcile: boolean,
    leaderElectionLease: z.string().regex(DNS_SUBDOMAIN, 'must be a DNS-1123 subdomain'),
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

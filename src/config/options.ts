/**
 * Every setting: its flag, its environment variables (first set wins) and its default. Flags win
 * over the environment, the environment over defaults (SPEC §4.3); the chart sets the variables.
 */
export interface OptionSpec {
  key: string;
  flag: string;
  env: string[];
  description: string;
  default?: string;
}

export const SERVE_OPTIONS: OptionSpec[] = [
  {
    key: 'clusterName',
    flag: '--cluster-name <name>',
    env: ['CLUSTER_NAME'],
    description: 'EKS cluster name (required)',
  },
  {
    key: 'region',
    flag: '--region <region>',
    env: ['CLUSTER_REGION', 'AWS_REGION'],
    description: 'AWS region of the cluster (required)',
  },
  {
    key: 's3Bucket',
    flag: '--s3-bucket <bucket>',
    env: ['S3_BUCKET'],
    description: 'Kubeflow Pipelines artifact bucket (required)',
  },
  {
    key: 'extraS3Buckets',
    flag: '--extra-s3-buckets <list>',
    env: ['EXTRA_S3_BUCKETS'],
    description: 'more buckets the role may use, comma-separated',
    default: '',
  },
  {
    key: 'accountId',
    flag: '--account-id <id>',
    env: ['AWS_ACCOUNT_ID'],
    description: 'AWS account ID (default: from STS GetCallerIdentity)',
  },
  {
    key: 'oidcIssuer',
    flag: '--oidc-issuer <url>',
    env: ['OIDC_ISSUER'],
    description: 'cluster OIDC issuer URL (default: discovered from the API server)',
  },
  {
    key: 'roleNameTemplate',
    flag: '--role-name-template <template>',
    env: ['ROLE_NAME_TEMPLATE'],
    description: 'role name; {namespace} and {cluster} are replaced',
    default: '{namespace}-{cluster}-role',
  },
  {
    key: 'rolePath',
    flag: '--role-path <path>',
    env: ['ROLE_PATH'],
    description: 'IAM path of the roles',
    default: '/kubeflow-profiles/',
  },
  {
    key: 'serviceAccounts',
    flag: '--service-accounts <list>',
    env: ['SERVICE_ACCOUNTS'],
    description: 'service accounts the role trusts, comma-separated',
    default: 'default-editor',
  },
  {
    key: 's3Access',
    flag: '--s3-access <level>',
    env: ['S3_ACCESS'],
    description: 'full, readwrite or readonly',
    default: 'readwrite',
  },
  {
    key: 'permissionsBoundary',
    flag: '--permissions-boundary <arn>',
    env: ['PERMISSIONS_BOUNDARY_ARN'],
    description: 'permissions boundary policy ARN for created roles',
  },
  {
    key: 'maxSessionDuration',
    flag: '--max-session-duration <seconds>',
    env: ['MAX_SESSION_DURATION'],
    description: 'maximum session duration of created roles (3600-43200)',
  },
  {
    key: 'extraRoleTags',
    flag: '--extra-role-tags <list>',
    env: ['EXTRA_ROLE_TAGS'],
    description: 'more tags for created roles, key=value,key=value',
    default: '',
  },
  {
    key: 'mode',
    flag: '--mode <mode>',
    env: ['ROLE_MODE'],
    description: 'provision (create roles) or lookup (roles must exist)',
    default: 'provision',
  },
  {
    key: 'allowedRoleArns',
    flag: '--allowed-role-arns <list>',
    env: ['ALLOWED_ROLE_ARNS'],
    description: 'other role ARNs a Profile may name, comma-separated globs (* = any run)',
    default: '',
  },
  {
    key: 'reservedNamespaces',
    flag: '--reserved-namespaces <list>',
    env: ['RESERVED_NAMESPACES'],
    description: 'names a Profile may not take, comma-separated (default: system namespaces)',
  },
  {
    key: 'podNamespace',
    flag: '--pod-namespace <namespace>',
    env: ['POD_NAMESPACE'],
    description: "the webhook's own namespace, always reserved",
  },
  {
    key: 'requirePlugin',
    flag: '--require-plugin <bool>',
    env: ['REQUIRE_PLUGIN'],
    description: 'deny Profiles without the plugin',
    default: 'true',
  },
  {
    key: 'roleCacheTtlSeconds',
    flag: '--role-cache-ttl-seconds <seconds>',
    env: ['ROLE_CACHE_TTL_SECONDS'],
    description: 'how long a verified role is trusted without IAM calls',
    default: '300',
  },
  {
    key: 'tlsCertFile',
    flag: '--tls-cert-file <file>',
    env: ['TLS_CERT_FILE'],
    description: 'serving certificate (PEM), reloaded on change',
  },
  {
    key: 'tlsKeyFile',
    flag: '--tls-key-file <file>',
    env: ['TLS_KEY_FILE'],
    description: 'serving key (PEM), reloaded on change',
  },
  {
    key: 'host',
    flag: '--host <address>',
    env: ['HOST'],
    description: 'address to listen on',
    default: '0.0.0.0',
  },
  {
    key: 'port',
    flag: '--port <port>',
    env: ['PORT'],
    description: 'HTTPS admission port',
    default: '9443',
  },
  {
    key: 'opsPort',
    flag: '--ops-port <port>',
    env: ['OPS_PORT'],
    description: 'HTTP port for /healthz, /readyz, /metrics',
    default: '8080',
  },
  {
    key: 'shutdownDelaySeconds',
    flag: '--shutdown-delay-seconds <seconds>',
    env: ['SHUTDOWN_DELAY_SECONDS'],
    description: 'after SIGTERM, keep serving unready this long so endpoints drop the pod',
    default: '5',
  },
  {
    key: 'maxConnections',
    flag: '--max-connections <count>',
    env: ['MAX_CONNECTIONS'],
    description: 'admission connections open at once; more are dropped as they arrive',
    default: '256',
  },
  {
    key: 'bodyMemoryMib',
    flag: '--body-memory-mib <MiB>',
    env: ['BODY_MEMORY_MIB'],
    description: 'memory for request bodies over 64 KiB received at once; past it they get 503',
    default: '32',
  },
  {
    key: 'requestTimeoutSeconds',
    flag: '--request-timeout-seconds <seconds>',
    env: ['REQUEST_TIMEOUT_SECONDS'],
    description: 'a request must arrive within this (its headers within 10 s at most)',
    default: '32',
  },
  {
    key: 'keepAliveTimeoutSeconds',
    flag: '--keep-alive-timeout-seconds <seconds>',
    env: ['KEEP_ALIVE_TIMEOUT_SECONDS'],
    description: "idle connections are closed after this; above the API server's 90 s",
    default: '95',
  },
  {
    key: 'logLevel',
    flag: '--log-level <level>',
    env: ['LOG_LEVEL'],
    description: 'fatal, error, warn, info, debug or trace',
    default: 'info',
  },
];

export type RawConfig = Record<string, string | undefined>;

/** Flag, else the first environment variable that is set, else the default. */
export function mergeSources(
  options: readonly OptionSpec[],
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): RawConfig {
  const raw: RawConfig = {};
  for (const option of options) {
    const flag = flags[option.key];
    const fromEnv = option.env
      .map((name) => env[name])
      .find((value) => value !== undefined && value !== '');
    raw[option.key] = typeof flag === 'string' ? flag : (fromEnv ?? option.default);
  }
  return raw;
}

export function describeSource(options: readonly OptionSpec[], key: string): string {
  const option = options.find((o) => o.key === key);
  if (!option) return key;
  return `${option.flag.split(' ')[0]} (${option.env.join(' or ')})`;
}

/**
 * Every setting: its flag, its environment variables (first set wins) and its default. Flags win
 * over the environment, the environment over defaults (docs/configuration.md); the chart sets the variables.
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
    description: 'role name; {namespace}, {cluster} and {region} are replaced',
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
    key: 's3Prefixes',
    flag: '--s3-prefixes <list>',
    env: ['S3_PREFIXES'],
    description:
      'confine each role to these key prefixes, comma-separated templates with {namespace} (preset kfp = private-artifacts/{namespace}/,private/{namespace}/); default: the whole bucket',
    default: '',
  },
  {
    key: 's3SharedPrefixes',
    flag: '--s3-shared-prefixes <list>',
    env: ['S3_SHARED_PREFIXES'],
    description: 'with --s3-prefixes: key prefixes common to every namespace, comma-separated',
    default: '',
  },
  {
    key: 's3SharedAccess',
    flag: '--s3-shared-access <level>',
    env: ['S3_SHARED_ACCESS'],
    description: 'access to the shared prefixes: full, readwrite or readonly',
    default: 'readonly',
  },
  {
    key: 's3AllowBucketWrites',
    flag: '--s3-allow-bucket-writes [bool]',
    env: ['S3_ALLOW_BUCKET_WRITES'],
    description:
      'with --s3-access full and no --s3-prefixes: also s3:* on the bucket itself (its policy, ACL, deletion)',
    default: 'false',
  },
  {
    key: 'permissionsBoundary',
    flag: '--permissions-boundary <arn>',
    env: ['PERMISSIONS_BOUNDARY_ARN'],
    description: 'permissions boundary policy ARN for created roles',
  },
  {
    key: 'allowNoBoundary',
    flag: '--allow-no-boundary [bool]',
    env: ['ALLOW_NO_BOUNDARY'],
    description:
      'waive the permissions boundary that provision mode requires (roles are then limited by the webhook policy alone)',
    default: 'false',
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
    description: 'other role ARNs a Profile may name, comma-separated patterns (* within one part)',
    default: '',
  },
  {
    key: 'roleAdminGroups',
    flag: '--role-admin-groups <list>',
    env: ['ROLE_ADMIN_GROUPS'],
    description:
      'groups whose members may move an existing Profile to an allow-listed role, comma-separated (default: none)',
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
    flag: '--require-plugin [bool]',
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
    key: 'roleCreateRate',
    flag: '--role-create-rate <roles>',
    env: ['ROLE_CREATE_RATE'],
    description:
      'new IAM roles this replica may create per second; past it (and the burst) a new Profile is denied with a hint to retry',
    default: '1',
  },
  {
    key: 'roleCreateBurst',
    flag: '--role-create-burst <roles>',
    env: ['ROLE_CREATE_BURST'],
    description: 'new IAM roles this replica may create at once after a quiet spell',
    default: '30',
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
    key: 'webhookName',
    flag: '--webhook-name <name>',
    env: ['WEBHOOK_NAME'],
    description:
      'name of both webhook configurations and of the Service in --pod-namespace (the chart: its full name)',
    default: 'profile-irsa-webhook',
  },
  {
    key: 'maxConnections',
    flag: '--max-connections <count>',
    env: ['MAX_CONNECTIONS'],
    description:
      'admission connections open at once; at the cap the longest-idle one is closed to make room',
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
  // The reconciler (docs/reconciler.md).
  {
    key: 'reconcile',
    flag: '--reconcile [bool]',
    env: ['RECONCILE'],
    description: 'run the leader-elected reconciler beside the webhook (serve)',
    default: 'true',
  },
  {
    key: 'reconcileInterval',
    flag: '--reconcile-interval <duration>',
    env: ['RECONCILE_INTERVAL'],
    description: 'time between full passes over every Profile and role, e.g. 1h, 30m',
    default: '1h',
  },
  {
    key: 'reconcilePassTimeout',
    flag: '--reconcile-pass-timeout <duration>',
    env: ['RECONCILE_PASS_TIMEOUT'],
    description:
      'the longest a full pass (or one namespace) may take before it is aborted and retried; default: the interval',
    default: '',
  },
  {
    key: 'orphanPolicy',
    flag: '--orphan-policy <policy>',
    env: ['ORPHAN_POLICY'],
    description: 'roles whose Profile is gone: retain (report only) or delete',
    default: 'retain',
  },
  {
    key: 'orphanGrace',
    flag: '--orphan-grace <duration>',
    env: ['ORPHAN_GRACE'],
    description: 'how long a role must have been an orphan before it is deleted (> 30s)',
    default: '10m',
  },
  {
    key: 'annotateServiceAccounts',
    flag: '--annotate-service-accounts <list>',
    env: ['ANNOTATE_SERVICE_ACCOUNTS'],
    description:
      'more service accounts to annotate with the role and to trust, comma-separated (e.g. default,pipeline-runner)',
    default: '',
  },
  {
    key: 'iamRate',
    flag: '--iam-rate <calls>',
    env: ['IAM_RATE'],
    description: "the reconciler's IAM calls per second (admissions never wait behind them)",
    default: '10',
  },
  {
    key: 'leaderElectionLease',
    flag: '--leader-election-lease <name>',
    env: ['LEADER_ELECTION_LEASE'],
    description: "the Lease, in the webhook's namespace, that elects the reconciling replica",
    default: 'profile-irsa-webhook',
  },
  {
    key: 'podName',
    flag: '--pod-name <name>',
    env: ['POD_NAME'],
    description: 'this replica in the leader election (default: the host name)',
  },
  {
    key: 'maxConnectionsPerClient',
    flag: '--max-connections-per-client <count>',
    env: ['MAX_CONNECTIONS_PER_CLIENT'],
    description:
      'admission connections open at once from one client address; more are refused (default: half of --max-connections)',
  },
];

/**
 * A true-or-false setting. On the command line it follows the Kubernetes convention: the flag
 * alone means true, `--flag=false` false.
 */
export function isBooleanOption(option: OptionSpec): boolean {
  return /\s[<[]bool[>\]]$/.test(option.flag);
}

/** The value of a boolean flag as the settings take it, or undefined for anything but true/false. */
export function booleanFlagValue(text: string): 'true' | 'false' | undefined {
  const value = text.trim().toLowerCase();
  return value === 'true' || value === 'false' ? value : undefined;
}

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

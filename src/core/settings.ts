/** The pure inputs of role derivation; resolved once at startup from the configuration. */
export type Partition = 'aws' | 'aws-cn' | 'aws-us-gov';
export type S3Access = 'full' | 'readwrite' | 'readonly';
export type RoleMode = 'provision' | 'lookup';

/** Confines each role to its namespace's key prefixes (with `{namespace}`) plus common prefixes. */
export interface S3Scope {
  prefixTemplates: string[];
  sharedPrefixes: string[];
  sharedAccess: S3Access;
}

export interface RoleSettings {
  clusterName: string;
  region: string;
  accountId: string;
  /** The cluster's OIDC issuer URL; a leading `https://` is accepted and dropped where IAM wants it bare. */
  oidcIssuer: string;
  roleNameTemplate: string;
  rolePath: string;
  serviceAccounts: string[];
  s3Access: S3Access;
  /** The pipelines bucket first, then any extra buckets. */
  s3Buckets: string[];
  /** Unset: the whole bucket, which fits every KFP layout. */
  s3Scope?: S3Scope | undefined;
  /** `full` without a scope also gets bucket-level writes (policy, ACL, deletion) only when set. */
  s3AllowBucketWrites?: boolean | undefined;
  permissionsBoundary?: string | undefined;
  maxSessionDuration?: number | undefined;
  extraTags: Record<string, string>;
}

/** What the validator needs beyond the derived ARN. */
export interface PolicySettings {
  /** Anchored globs where `*` matches any run of characters. */
  allowedRoleArns: string[];
  reservedNamespaces: string[];
  requirePlugin: boolean;
}

export function partitionForRegion(region: string): Partition {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

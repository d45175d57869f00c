import { partition as sdkPartition } from '@aws-sdk/core/client';

/** A partition ID from the AWS SDK's partition table: `aws`, `aws-cn`, `aws-us-gov`, `aws-iso`... */
export type Partition = string;
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
  /** Role ARN patterns, matched part by part (see roleArnPattern). */
  allowedRoleArns: string[];
  reservedNamespaces: string[];
  requirePlugin: boolean;
  /** Requesters in these groups may move a Profile to an allow-listed role on UPDATE. */
  roleAdminGroups: string[];
}

/**
 * The partition of a region, from the AWS SDK's own partition table (the one the IAM client
 * resolves endpoints with), or undefined for a region the table does not list. The SDK's lookup
 * falls back to `aws` for anything it does not know, and matches new names by pattern only
 * within that fallback, so only the regions it lists by name count as known; its `*-global`
 * entries are endpoints, not regions a cluster runs in.
 */
export function knownPartition(region: string): Partition | undefined {
  if (region.endsWith('-global')) return undefined;
  const entry = sdkPartition(region);
  // A listed region carries its own entry (with its description) merged into the partition's.
  return Object.hasOwn(entry, 'description') ? entry.name : undefined;
}

/** The partition of a configured region; the configuration has refused unknown regions already. */
export function partitionForRegion(region: string): Partition {
  const partition = knownPartition(region);
  if (partition === undefined)
    throw new Error(`region ${region} is not in the AWS SDK's partition table`);
  return partition;
}

/** The namespace scope of the S3 policy, or none (the whole bucket) without prefixes. */
export function s3ScopeOf(config: {
  s3Prefixes: string[];
  s3SharedPrefixes: string[];
  s3SharedAccess: S3Access;
}): S3Scope | undefined {
  return config.s3Prefixes.length > 0
    ? {
        prefixTemplates: config.s3Prefixes,
        sharedPrefixes: config.s3SharedPrefixes,
        sharedAccess: config.s3SharedAccess,
      }
    : undefined;
}

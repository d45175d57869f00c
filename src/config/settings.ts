import { s3ScopeOf, type PolicySettings, type RoleSettings } from '../core/settings.js';
import type { Config } from './schema.js';

/** The pure core's inputs, once the account and issuer are known (given or discovered). */
export function roleSettings(config: Config, accountId: string, oidcIssuer: string): RoleSettings {
  return {
    clusterName: config.clusterName,
    region: config.region,
    accountId,
    oidcIssuer,
    roleNameTemplate: config.roleNameTemplate,
    rolePath: config.rolePath,
    // The reconciler annotates the extra service accounts, so the role must trust them too.
    serviceAccounts: [...new Set([...config.serviceAccounts, ...config.annotateServiceAccounts])],
    s3Access: config.s3Access,
    s3Buckets: [config.s3Bucket, ...config.extraS3Buckets],
    s3Scope: s3ScopeOf(config),
    s3AllowBucketWrites: config.s3AllowBucketWrites,
    permissionsBoundary: config.permissionsBoundary,
    maxSessionDuration: config.maxSessionDuration,
    extraTags: config.extraRoleTags,
  };
}

export function policySettings(config: Config): PolicySettings {
  return {
    allowedRoleArns: config.allowedRoleArns,
    reservedNamespaces: config.reservedNamespaces,
    requirePlugin: config.requirePlugin,
    roleAdminGroups: config.roleAdminGroups,
  };
}

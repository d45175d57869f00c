import type { ObservedNamespace } from './namespace.js';

/**
 * What the reconciler observed, as plain data: the input of its plan (docs/reconciler.md). The adapters
 * fill it from the API server and IAM; the plan never does I/O.
 */

export interface ObservedProfile {
  name: string;
  /** The Profile as the API server returned it. */
  object: unknown;
  resourceVersion: string | undefined;
  /** `metadata.deletionTimestamp` is set: the profile controller is tearing it down. */
  terminating: boolean;
}

/** What a role's attachments are, read for orphans before any deletion is planned. */
export interface RoleAttachments {
  inlinePolicies: string[];
  managedPolicies: string[];
  instanceProfiles: string[];
}

/** A role as IAM describes it (policy documents still URL-encoded). */
export interface InventoryRole {
  roleName: string;
  arn: string;
  /** IAM's unique id: a role deleted and made again under the same name gets another. */
  roleId: string | undefined;
  /** CreateDate, ms since the epoch. */
  createdAt: number | undefined;
  tags: Record<string, string>;
  trustPolicy: string | undefined;
  /** The derived inline policy's document, when it was read; undefined when the role lacks it. */
  inlinePolicy?: string | undefined;
  /** Only read when a permissions boundary is configured (ListRoles does not return it). */
  permissionsBoundaryArn?: string | undefined;
  maxSessionDuration?: number | undefined;
  /** Read only for roles whose Profile is gone. */
  attachments?: RoleAttachments | undefined;
}

export interface ObservedServiceAccount {
  namespace: string;
  name: string;
  /** The `eks.amazonaws.com/role-arn` annotation, if any. */
  roleArn: string | undefined;
}

export interface Observation {
  /** The namespaces this observation is complete for: all of them, or one. */
  scope: { all: true } | { all: false; namespace: string };
  profiles: ObservedProfile[];
  /** Roles under the role path (a full pass), or the namespace's derived role when it exists. */
  roles: InventoryRole[];
  /** The extra service accounts (`--annotate-service-accounts`) that exist. */
  serviceAccounts: ObservedServiceAccount[];
  /**
   * The Namespaces of the observed Profiles, for the namespace-owner rule; a Profile whose
   * Namespace was not read is judged without it.
   */
  namespaces: ReadonlyMap<string, ObservedNamespace>;
  /** When the watch saw a Profile go (ms), for namespaces it saw go; a later Profile clears it. */
  goneAt: ReadonlyMap<string, number>;
  now: number;
  /** IAM requests this observation took (a full pass reports them as a metric). */
  iamCalls?: number | undefined;
}

export const ROLE_ARN_ANNOTATION = 'eks.amazonaws.com/role-arn';

import type { MutationContext } from '../core/mutate.js';
import { compileRoleArnPatterns } from '../core/role-pattern.js';
import { roleNameFor } from '../core/role-name.js';
import { deriveRoleSpec, roleArn, type RoleSpec } from '../core/role-spec.js';
import type { PolicySettings, RoleSettings } from '../core/settings.js';
import type { ValidationContext } from '../core/validate.js';

/** The pure parts both webhooks decide with, built once from the resolved configuration. */
export interface DecisionContext {
  mutation: MutationContext;
  validation: ValidationContext;
  specFor(namespace: string): RoleSpec;
}

export function createDecisionContext(role: RoleSettings, policy: PolicySettings): DecisionContext {
  const specFor = (namespace: string) => deriveRoleSpec(role, namespace);
  // Every admission needs the namespace's ARN; only a cache miss needs the policy documents.
  const roleArnFor = (namespace: string) =>
    roleArn(role, roleNameFor(role.roleNameTemplate, namespace, role.clusterName, role.region));
  return {
    specFor,
    mutation: { reservedNamespaces: policy.reservedNamespaces, roleArnFor },
    validation: {
      reservedNamespaces: policy.reservedNamespaces,
      allowedRoleArns: compileRoleArnPatterns(policy.allowedRoleArns),
      requirePlugin: policy.requirePlugin,
      roleAdminGroups: policy.roleAdminGroups,
      roleArnFor,
    },
  };
}

import type { MutationContext } from './mutate.js';
import { compileRoleArnPatterns } from './role-pattern.js';
import { roleNameFor } from './role-name.js';
import { deriveRoleSpec, roleArn, type RoleSpec } from './role-spec.js';
import type { PolicySettings, RoleSettings } from './settings.js';
import type { ValidationContext } from './validate.js';

/** The pure parts both webhooks decide with, built once from the resolved configuration. */
export interface DecisionContext {
  mutation: MutationContext;
  validation: ValidationContext;
  specFor: (namespace: string) => RoleSpec;
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

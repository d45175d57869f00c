import type { MutationContext } from '../core/mutate.js';
import { globToRegExp } from '../core/role-pattern.js';
import { deriveRoleSpec, type RoleSpec } from '../core/role-spec.js';
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
  const roleArnFor = (namespace: string) => specFor(namespace).roleArn;
  return {
    specFor,
    mutation: { reservedNamespaces: policy.reservedNamespaces, roleArnFor },
    validation: {
      reservedNamespaces: policy.reservedNamespaces,
      allowedRoleArns: policy.allowedRoleArns.map(globToRegExp),
      requirePlugin: policy.requirePlugin,
      roleArnFor,
    },
  };
}

import type { MutationContext } from '../core/mutate.js';
import { globToRegExp } from '../core/role-pattern.js';
import { roleNameFor } from '../core/role-name.js';
import { deriveRoleSpec, roleArn, type RoleSpec } from '../core/role-spec.js';
import type { PolicySettings, RoleSettings } from '../core/settings.js';
import type { ValidationContext } from '../core/validate.js';

/** Namespaces whose role ARN is kept; a cluster with more only derives some of them again. */
const ARN_MEMO_ENTRIES = 10_000;

/** The pure parts both webhooks decide with, built once from the resolved configuration. */
export interface DecisionContext {
  mutation: MutationContext;
  validation: ValidationContext;
  specFor(namespace: string): RoleSpec;
}

export function createDecisionContext(role: RoleSettings, policy: PolicySettings): DecisionContext {
  const specFor = (namespace: string) => deriveRoleSpec(role, namespace);
  // Every admission needs the namespace's ARN; only a cache miss needs the policy documents.
  // Derived once per namespace: the hot path (the profile controller's UPDATEs) asks for the
  // same few names all day. Names come from requests, so the memo is bounded.
  const arns = new Map<string, string>();
  const roleArnFor = (namespace: string) => {
    let arn = arns.get(namespace);
    if (arn === undefined) {
      arn = roleArn(role, roleNameFor(role.roleNameTemplate, namespace, role.clusterName));
      if (arns.size >= ARN_MEMO_ENTRIES) arns.clear();
      arns.set(namespace, arn);
    }
    return arn;
  };
  return {
    specFor,
    mutation: { reservedNamespaces: policy.reservedNamespaces, roleArnFor },
    validation: {
      reservedNamespaces: policy.reservedNamespaces,
      allowedRoleArns: policy.allowedRoleArns.map((glob) => globToRegExp(glob)),
      requirePlugin: policy.requirePlugin,
      roleArnFor,
    },
  };
}

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

/** More namespaces than a cluster has Profiles; the oldest derivation is dropped past it. */
const SPEC_MEMO_MAX = 20_000;

export function createDecisionContext(role: RoleSettings, policy: PolicySettings): DecisionContext {
  // Derivation is pure but not free (hashing, documents); every UPDATE would repeat it.
  const specs = new Map<string, RoleSpec>();
  const specFor = (namespace: string): RoleSpec => {
    let spec = specs.get(namespace);
    if (spec === undefined) {
      spec = deriveRoleSpec(role, namespace);
      if (specs.size >= SPEC_MEMO_MAX) specs.delete(specs.keys().next().value!);
      specs.set(namespace, spec);
    }
    return spec;
  };
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

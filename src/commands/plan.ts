import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { AdmissionRequest } from '../core/profile-request.js';
import { decideMutation } from '../core/mutate.js';
import { namespaceProblem } from '../core/namespace.js';
import { fieldPath } from '../core/json.js';
import { namespacePrefixes } from '../core/s3-policy.js';
import { deriveRoleName } from '../core/role-name.js';
import type { RoleSettings, PolicySettings } from '../core/settings.js';
import { createDecisionContext } from '../core/decision-context.js';

export class PlanInputError extends Error {
  override readonly name = 'PlanInputError';
}

/** A Profile to plan for: the file's object, or a bare Profile for the namespace. */
export async function planInput(options: {
  namespace?: string;
  profile?: string;
}): Promise<unknown> {
  if (options.profile !== undefined) {
    const text = await readFile(options.profile, 'utf8').catch((error: Error) => {
      throw new PlanInputError(`cannot read ${options.profile}: ${error.message}`);
    });
    try {
      return parseYaml(text) as unknown;
    } catch (error) {
      throw new PlanInputError(
        `${options.profile} is not YAML or JSON: ${(error as Error).message}`,
      );
    }
  }
  if (options.namespace !== undefined) {
    return {
      apiVersion: 'kubeflow.org/v1',
      kind: 'Profile',
      metadata: { name: options.namespace },
    };
  }
  throw new PlanInputError('give --namespace NS or --profile FILE');
}

/** What the webhook would do for this Profile on CREATE, computed without any I/O. */
export function plan(profile: unknown, role: RoleSettings, policy: PolicySettings) {
  const name = fieldPath(profile, 'metadata', 'name');
  const problem = namespaceProblem(name, policy.reservedNamespaces);
  if (problem) throw new PlanInputError(problem);
  const context = createDecisionContext(role, policy);
  const request: AdmissionRequest = {
    uid: 'plan',
    operation: 'CREATE',
    group: 'kubeflow.org',
    kind: 'Profile',
    name: name as string,
    object: profile,
    oldObject: undefined,
    dryRun: true,
  };
  const decision = decideMutation(request, context.mutation);
  const spec = context.specFor(name as string);
  const roleName = deriveRoleName(role.roleNameTemplate, {
    namespace: spec.namespace,
    cluster: role.clusterName,
    region: role.region,
  });
  return {
    namespace: spec.namespace,
    roleName: spec.roleName,
    roleNameShortened: roleName.shortened,
    roleNameFull: roleName.full,
    roleArn: spec.roleArn,
    rolePath: spec.rolePath,
    trustPolicy: spec.trustPolicy,
    s3Policy: spec.s3Policy,
    s3Scope: s3ScopeOf(role, spec.namespace),
    tags: spec.tags,
    permissionsBoundary: spec.permissionsBoundary ?? null,
    maxSessionDuration: spec.maxSessionDuration ?? null,
    patch: decision.kind === 'ensure' ? decision.patch : [],
    note:
      decision.kind === 'pass'
        ? `the webhook would not patch this Profile: ${decision.reason}`
        : undefined,
  };
}

/** The key prefixes this namespace's role is confined to, or null for the whole bucket. */
function s3ScopeOf(role: RoleSettings, namespace: string) {
  const scope = role.s3Scope;
  if (scope === undefined) return null;
  return {
    access: role.s3Access,
    buckets: role.s3Buckets,
    prefixes: namespacePrefixes(scope, namespace),
    sharedPrefixes: scope.sharedPrefixes,
    sharedAccess: scope.sharedAccess,
  };
}

import type { Operation } from 'fast-json-patch';
import { isProfileWrite, profileName, type AdmissionRequest } from './admission.js';
import { field, isObject } from './json.js';
import { profileNameProblem } from './namespace.js';
import { pluginEntry, pluginRole, pluginSpecProblem, scanPlugins } from './plugin.js';

export interface MutationContext {
  reservedNamespaces: readonly string[];
  roleArnFor(namespace: string): string;
}

/**
 * `pass`: nothing for this webhook to do, and no IAM call. `ensure`: the namespace's role must be
 * in place before the patch (possibly empty) may be returned.
 *
 * Content problems are never denied here: the validating webhook owns those answers (with its
 * ratchet for old objects), and the mutating half only refuses to provision for them.
 */
export type MutationDecision =
  | { kind: 'pass'; reason: string }
  | { kind: 'ensure'; namespace: string; roleArn: string; patch: Operation[] };

export function decideMutation(
  request: AdmissionRequest,
  context: MutationContext,
): MutationDecision {
  if (!isProfileWrite(request)) return { kind: 'pass', reason: 'not a Profile create or update' };
  if (profileNameProblem(request, context.reservedNamespaces)) {
    return { kind: 'pass', reason: 'name cannot own a role' };
  }
  const namespace = profileName(request) as string;
  const scan = scanPlugins(request.object);
  if (!scan.ok) return { kind: 'pass', reason: 'malformed plugins' };
  if (scan.iam.length > 1) return { kind: 'pass', reason: 'more than one plugin' };

  const roleArn = context.roleArnFor(namespace);
  const plugin = scan.iam[0];
  if (!plugin) {
    return { kind: 'ensure', namespace, roleArn, patch: addPluginPatch(request.object, roleArn) };
  }
  if (pluginRole(plugin) !== roleArn) return { kind: 'pass', reason: 'plugin names another role' };
  const needsAnnotateOnly = isObject(plugin.spec) && !Object.hasOwn(plugin.spec, 'annotateOnly');
  // No role for a plugin the validator will refuse even after the patch: a side effect for a
  // Profile that is never stored would only be left for the reconciler to clean up.
  const patchedSpec = needsAnnotateOnly
    ? { ...(plugin.spec as object), annotateOnly: true }
    : plugin.spec;
  if (pluginSpecProblem({ ...plugin, spec: patchedSpec })) {
    return { kind: 'pass', reason: 'malformed plugin' };
  }
  const patch: Operation[] = needsAnnotateOnly
    ? [{ op: 'add', path: `/spec/plugins/${plugin.index}/spec/annotateOnly`, value: true }]
    : [];
  return { kind: 'ensure', namespace, roleArn, patch };
}

/** A patch that applies to the object exactly as received, creating `/spec` or its list if absent. */
function addPluginPatch(object: unknown, roleArn: string): Operation[] {
  const entry = pluginEntry(roleArn);
  const spec = isObject(object) ? field(object, 'spec') : undefined;
  if (!isObject(spec)) return [{ op: 'add', path: '/spec', value: { plugins: [entry] } }];
  if (!Array.isArray(field(spec, 'plugins'))) {
    return [{ op: 'add', path: '/spec/plugins', value: [entry] }];
  }
  return [{ op: 'add', path: '/spec/plugins/-', value: entry }];
}

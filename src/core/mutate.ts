import type { Operation } from 'fast-json-patch';
import {
  isProfileWrite,
  profileName,
  type AdmissionRequest,
  pluginEntry,
  pluginRole,
  pluginSpecProblem,
  scanPlugins,
  isBeingDeleted,
  pluginsUnchanged,
  type NoIamReason,
} from './profile-request.js';
import { field, isObject } from './json.js';
import { profileNameProblem } from './namespace.js';

export interface MutationContext {
  reservedNamespaces: readonly string[];
  roleArnFor(namespace: string): string;
}

/**
 * `pass`: nothing for this webhook to do, answered from the request alone: no IAM call of any
 * kind, not even a cache lookup (`code` says why, `reason` says it in words). `ensure`: the
 * namespace's role must be in place before the patch (possibly empty) may be returned.
 *
 * Content problems are never denied here: the validating webhook owns those answers (with its
 * ratchet for old objects), and the mutating half only refuses to provision for them.
 */
export type MutationDecision =
  | { kind: 'pass'; code: NoIamReason; reason: string }
  | { kind: 'ensure'; namespace: string; roleArn: string; patch: Operation[] };

const pass = (code: NoIamReason, reason: string): MutationDecision => ({
  kind: 'pass',
  code,
  reason,
});

export function decideMutation(
  request: AdmissionRequest,
  context: MutationContext,
): MutationDecision {
  if (!isProfileWrite(request)) {
    return pass('not-a-profile-write', 'not a Profile create or update');
  }
  // Kubeflow's profile controller updates every Profile on every reconcile and removes its
  // finalizer on deletion: neither may wait on IAM, and a Profile on its way out gets no role,
  // even if its role was deleted by hand.
  if (isBeingDeleted(request)) return pass('deleting', 'the Profile is being deleted');
  if (pluginsUnchanged(request)) return pass('plugins-unchanged', 'the plugins are unchanged');
  if (profileNameProblem(request, context.reservedNamespaces)) {
    return pass('invalid-name', 'name cannot own a role');
  }
  const namespace = profileName(request) as string;
  const scan = scanPlugins(request.object);
  if (!scan.ok) return pass('malformed-plugins', 'malformed plugins');
  if (scan.iam.length > 1) return pass('several-plugins', 'more than one plugin');

  const roleArn = context.roleArnFor(namespace);
  const plugin = scan.iam[0];
  if (!plugin) {
    return { kind: 'ensure', namespace, roleArn, patch: addPluginPatch(request.object, roleArn) };
  }
  if (pluginRole(plugin) !== roleArn) return pass('foreign-role', 'plugin names another role');
  const needsAnnotateOnly = isObject(plugin.spec) && !Object.hasOwn(plugin.spec, 'annotateOnly');
  // No role for a plugin the validator will refuse even after the patch: a side effect for a
  // Profile that is never stored would only be left for the reconciler to clean up.
  const patchedSpec = needsAnnotateOnly
    ? { ...(plugin.spec as object), annotateOnly: true }
    : plugin.spec;
  if (pluginSpecProblem({ ...plugin, spec: patchedSpec })) {
    return pass('malformed-plugin', 'malformed plugin');
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

import {
  ALLOW,
  deny,
  isProfileWrite,
  profileName,
  type AdmissionRequest,
  type Verdict,
} from './admission.js';
import { fieldPath, jsonEqual } from './json.js';
import { profileNameProblem } from './namespace.js';
import { PLUGIN_KIND, pluginRole, pluginSpecProblem, scanPlugins } from './plugin.js';
import { matchesAny } from './role-pattern.js';

export interface ValidationContext {
  reservedNamespaces: readonly string[];
  allowedRoleArns: readonly RegExp[];
  requirePlugin: boolean;
  roleArnFor(namespace: string): string;
}

/** The validating webhook's decision on the final object of a CREATE or UPDATE (SPEC §3.3). */
export function validateProfile(request: AdmissionRequest, context: ValidationContext): Verdict {
  if (!isProfileWrite(request)) return ALLOW;
  // Ratchet: whatever the configuration says now, an update that leaves the plugins as they were
  // (finalizers, status, owner changes) must never get stuck behind this webhook.
  if (
    request.operation === 'UPDATE' &&
    jsonEqual(
      fieldPath(request.object, 'spec', 'plugins'),
      fieldPath(request.oldObject, 'spec', 'plugins'),
    )
  ) {
    return ALLOW;
  }

  const nameProblem = profileNameProblem(request, context.reservedNamespaces);
  if (nameProblem) return deny(422, nameProblem);
  const namespace = profileName(request) as string;

  const scan = scanPlugins(request.object);
  if (!scan.ok) return deny(422, scan.problem);
  if (scan.iam.length > 1) {
    return deny(422, `only one ${PLUGIN_KIND} plugin is allowed; found ${scan.iam.length}`);
  }
  const expected = context.roleArnFor(namespace);
  const plugin = scan.iam[0];
  if (!plugin) {
    return context.requirePlugin
      ? deny(
          403,
          `the ${PLUGIN_KIND} plugin is required (expected role ${expected}); it is added by the mutating webhook unless that was skipped`,
        )
      : ALLOW;
  }
  const specProblem = pluginSpecProblem(plugin);
  if (specProblem) return deny(422, specProblem);

  const role = pluginRole(plugin)!;
  if (role === expected || matchesAny(role, context.allowedRoleArns)) return ALLOW;
  return deny(403, `role ${role} does not belong to Profile ${namespace}: expected ${expected}`);
}

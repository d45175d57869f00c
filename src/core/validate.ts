import {
  ALLOW,
  deny,
  isProfileWrite,
  profileName,
  type AdmissionRequest,
  type Verdict,
  PLUGIN_KIND,
  pluginRole,
  pluginSpecProblem,
  scanPlugins,
  isBeingDeleted,
  pluginsUnchanged,
  type NoIamReason,
} from './profile-request.js';
import { profileNameProblem } from './namespace.js';
import { matchesAny } from './role-pattern.js';

export interface ValidationContext {
  reservedNamespaces: readonly string[];
  allowedRoleArns: readonly RegExp[];
  requirePlugin: boolean;
  /** Groups whose members may move a Profile to an allow-listed role on UPDATE. */
  roleAdminGroups: readonly string[];
  roleArnFor(namespace: string): string;
}

/**
 * A verdict, and when it was given from the request alone without looking at the Profile's
 * content, why (validation never calls IAM; the reason feeds the same metric as mutation's).
 */
export interface ValidationDecision {
  verdict: Verdict;
  skipped?: NoIamReason;
}

/** The validating webhook's decision on the final object of a CREATE or UPDATE (docs/admission.md). */
export function validateProfile(request: AdmissionRequest, context: ValidationContext): Verdict {
  return decideValidation(request, context).verdict;
}

export function decideValidation(
  request: AdmissionRequest,
  context: ValidationContext,
): ValidationDecision {
  if (!isProfileWrite(request)) return { verdict: ALLOW, skipped: 'not-a-profile-write' };
  // Ratchet: whatever the configuration says now, an update that leaves the plugins as they were
  // (finalizers, status, owner changes) must never get stuck behind this webhook. A plugin change
  // on a Profile being deleted is still checked: the controller applies the plugins once more.
  if (pluginsUnchanged(request)) return { verdict: ALLOW, skipped: 'plugins-unchanged' };
  return { verdict: checkProfile(request, context) };
}

function checkProfile(request: AdmissionRequest, context: ValidationContext): Verdict {
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
    // The mutating webhook adds nothing to a Profile being deleted; requiring the plugin there
    // would leave it terminating for good, and a Profile on its way out needs no role.
    return context.requirePlugin && !isBeingDeleted(request)
      ? deny(
          403,
          `the ${PLUGIN_KIND} plugin is required (expected role ${expected}); it is added by the mutating webhook unless that was skipped`,
        )
      : ALLOW;
  }
  const specProblem = pluginSpecProblem(plugin);
  if (specProblem) return deny(422, specProblem);

  const role = pluginRole(plugin)!;
  if (role === expected) return ALLOW;
  if (!matchesAny(role, context.allowedRoleArns)) {
    return deny(403, `role ${role} does not belong to Profile ${namespace}: expected ${expected}`);
  }
  // Allow-listed roles are for new Profiles: whoever may edit a Profile must not be able to move
  // it onto another team's role, so on UPDATE only an administrator may. Keeping the role the
  // stored object already names is no move.
  if (request.operation === 'CREATE' || isRoleAdmin(request, context)) return ALLOW;
  if (oldRoles(request).includes(role)) return ALLOW;
  return deny(
    403,
    `role ${role} is allowed for new Profiles only; moving Profile ${namespace} to it takes a member of --role-admin-groups (expected ${expected})`,
  );
}

/** The roles the stored object's plugins name: keeping one is no move. */
function oldRoles(request: AdmissionRequest): string[] {
  const scan = scanPlugins(request.oldObject);
  if (!scan.ok) return [];
  return scan.iam.flatMap((plugin) => pluginRole(plugin) ?? []);
}

function isRoleAdmin(request: AdmissionRequest, context: ValidationContext): boolean {
  const groups = request.userGroups ?? [];
  return context.roleAdminGroups.some((group) => groups.includes(group));
}

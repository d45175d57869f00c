// One Profile admission request and the facts read from it alone: what it is, whether it writes
// a Profile being deleted or leaves its plugins as they were, and its AwsIamForServiceAccount
// plugins.

import { field, fieldPath, isObject, jsonEqual, type JsonObject } from './json.js';

/** The parts of an AdmissionReview request the decisions read, already decoded and type-checked. */
export interface AdmissionRequest {
  uid: string;
  operation: string;
  /** `group`/`kind` of the object as the API server sent it. */
  group: string | undefined;
  kind: string | undefined;
  name: string | undefined;
  object: unknown;
  oldObject: unknown;
  dryRun: boolean;
  /** The requester's groups, as the API server authenticated them (`userInfo.groups`); absent: none. */
  userGroups?: readonly string[];
}

export type Verdict = { allowed: true } | { allowed: false; code: number; message: string };

export const ALLOW: Verdict = { allowed: true };

export function deny(code: number, message: string): Verdict {
  return { allowed: false, code, message };
}

/** Whether this webhook has anything to decide: a Profile being created or updated. */
export function isProfileWrite(request: AdmissionRequest): boolean {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return false;
  if (request.group !== undefined || request.kind !== undefined) {
    return request.group === 'kubeflow.org' && request.kind === 'Profile';
  }
  const apiVersion = fieldPath(request.object, 'apiVersion');
  return (
    typeof apiVersion === 'string' &&
    apiVersion.startsWith('kubeflow.org/') &&
    fieldPath(request.object, 'kind') === 'Profile'
  );
}

export function profileName(request: AdmissionRequest): unknown {
  return isObject(request.object) ? fieldPath(request.object, 'metadata', 'name') : undefined;
}

/**
 * Why an admission was answered from the request alone, with no IAM call of any kind. A closed
 * set, because it labels a metric.
 */
export type NoIamReason =
  /** Not a CREATE or UPDATE of a Profile (DELETE, CONNECT, another kind). */
  | 'not-a-profile-write'
  /** The Profile is being deleted: nothing done for it may create or change a role. */
  | 'deleting'
  /** An UPDATE that leaves `spec.plugins` as they were (finalizers, labels, status, owner...). */
  | 'plugins-unchanged'
  /** The name cannot be a namespace that owns a role (the validator says why). */
  | 'invalid-name'
  /** `spec` or `spec.plugins` is not what a Profile holds (the validator says why). */
  | 'malformed-plugins'
  /** More than one AwsIamForServiceAccount plugin (the validator refuses it). */
  | 'several-plugins'
  /** The plugin names a role other than the derived one (the validator decides). */
  | 'foreign-role'
  /** The derived plugin has a shape the validator refuses even after the patch. */
  | 'malformed-plugin';

/**
 * Whether the object (or, on UPDATE, the stored object) carries a deletion timestamp. Any value
 * counts: a request that merely looks like a deletion gets no role, which is the safe side.
 */
export function isBeingDeleted(request: AdmissionRequest): boolean {
  return hasDeletionTimestamp(request.object) || hasDeletionTimestamp(request.oldObject);
}

function hasDeletionTimestamp(object: unknown): boolean {
  if (!isObject(object)) return false;
  const metadata = field(object, 'metadata');
  if (!isObject(metadata)) return false;
  const stamp = field(metadata, 'deletionTimestamp');
  return stamp !== undefined && stamp !== null;
}

/**
 * Whether an UPDATE leaves `spec.plugins` as they were. No plugins is one value however it is
 * spelled (`spec` or `spec.plugins` absent or null, an empty list): the profile controller's Go
 * types cannot tell them apart, and its routine Update omits an empty list. The webhook
 * configurations' matchConditions compare the same way.
 *
 * The hot path: plugin lists are a few small entries, and other parts of `spec` are never read.
 */
export function pluginsUnchanged(request: AdmissionRequest): boolean {
  return (
    request.operation === 'UPDATE' &&
    jsonEqual(pluginsOf(request.object), pluginsOf(request.oldObject))
  );
}

/** `spec.plugins`, with every spelling of "none" as undefined; anything malformed as it is. */
function pluginsOf(object: unknown): unknown {
  if (!isObject(object)) return undefined;
  const spec = field(object, 'spec');
  if (spec === undefined || spec === null) return undefined;
  if (!isObject(spec)) return spec;
  const plugins = field(spec, 'plugins');
  if (plugins === null || (Array.isArray(plugins) && plugins.length === 0)) return undefined;
  return plugins;
}

export const PLUGIN_KIND = 'AwsIamForServiceAccount';
const PLUGIN_SPEC_KEYS = ['awsIamRole', 'annotateOnly'] as const;

export interface IamPlugin {
  index: number;
  spec: unknown;
}

export type PluginScan = { ok: true; iam: IamPlugin[] } | { ok: false; problem: string };

/**
 * Finds the AwsIamForServiceAccount entries of `spec.plugins`. A kind that differs only by case is
 * refused rather than ignored: a user who wrote it meant the plugin, and must not end up with a
 * second one added beside it.
 */
export function scanPlugins(profile: unknown): PluginScan {
  if (!isObject(profile)) return { ok: false, problem: 'the object is not a Profile' };
  const spec = field(profile, 'spec');
  if (spec === undefined || spec === null) return { ok: true, iam: [] };
  if (!isObject(spec)) return { ok: false, problem: 'spec must be an object' };
  const plugins = field(spec, 'plugins');
  if (plugins === undefined || plugins === null) return { ok: true, iam: [] };
  if (!Array.isArray(plugins)) return { ok: false, problem: 'spec.plugins must be a list' };
  const iam: IamPlugin[] = [];
  for (const [index, entry] of plugins.entries()) {
    if (!isObject(entry)) return { ok: false, problem: `spec.plugins[${index}] must be an object` };
    const kind = field(entry, 'kind');
    if (kind === PLUGIN_KIND) {
      iam.push({ index, spec: field(entry, 'spec') });
    } else if (typeof kind === 'string' && kind.toLowerCase() === PLUGIN_KIND.toLowerCase()) {
      return {
        ok: false,
        problem: `spec.plugins[${index}].kind "${kind}" must be spelled exactly "${PLUGIN_KIND}"`,
      };
    }
  }
  return { ok: true, iam };
}

/**
 * The profile controller decodes the plugin spec with Go's case-insensitive JSON rules, so any key
 * beyond the two exact ones could shadow them there; only the exact shape is accepted.
 */
export function pluginSpecProblem(plugin: IamPlugin): string | undefined {
  const where = `spec.plugins[${plugin.index}].spec`;
  if (!isObject(plugin.spec)) return `${where} must be an object with awsIamRole and annotateOnly`;
  for (const key of Object.keys(plugin.spec)) {
    if ((PLUGIN_SPEC_KEYS as readonly string[]).includes(key)) continue;
    const near = PLUGIN_SPEC_KEYS.find((known) => known.toLowerCase() === key.toLowerCase());
    return near
      ? `${where} key "${key}" must be spelled exactly "${near}"`
      : `${where} has unexpected key "${key}"; only awsIamRole and annotateOnly are allowed`;
  }
  const role = field(plugin.spec, 'awsIamRole');
  if (typeof role !== 'string') return `${where}.awsIamRole must be a string (the role ARN)`;
  if (field(plugin.spec, 'annotateOnly') !== true) {
    return `${where}.annotateOnly must be true: the role is managed outside the profile controller`;
  }
  return undefined;
}

export function pluginRole(plugin: IamPlugin): string | undefined {
  const role = isObject(plugin.spec) ? field(plugin.spec, 'awsIamRole') : undefined;
  return typeof role === 'string' ? role : undefined;
}

export function pluginEntry(roleArn: string): JsonObject {
  return { kind: PLUGIN_KIND, spec: { awsIamRole: roleArn, annotateOnly: true } };
}

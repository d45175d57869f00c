import type { AdmissionRequest } from './admission.js';
import { field, isObject, jsonEqual } from './json.js';

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

import type { AdmissionRequest } from '../core/profile-request.js';
import { field, fieldPath, isObject, type JsonObject } from '../core/json.js';

const REVIEW_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type ReviewVersion = (typeof REVIEW_VERSIONS)[number];

/** The operations an AdmissionRequest can carry (admission.k8s.io/v1 `Operation`). */
const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;

export type DecodedReview =
  | { ok: true; apiVersion: ReviewVersion; request: AdmissionRequest }
  | { ok: false; apiVersion: ReviewVersion; uid: string; message: string };

/**
 * A body that decodes as JSON but is not an AdmissionReview the API server could have sent. It is
 * refused like an undecodable body (HTTP 400): answering it with a verdict would mean deciding on
 * a request nobody made, and a review without `kind` used to be allowed that way.
 */
export class MalformedReviewError extends Error {
  override readonly name = 'MalformedReviewError';
  /** Read by the HTTP error handler, as for fastify's own body errors. */
  readonly statusCode = 400;
  readonly code = 'MalformedAdmissionReview';
  constructor(readonly problem: string) {
    super(`malformed AdmissionReview: ${problem}`);
  }
}

/**
 * Turns any decoded JSON body into a request the decisions can trust, or into the reason it is
 * not one. Never throws. What every AdmissionRequest has is required: `uid`, `kind` and
 * `resource` (group, version and name as strings), a known `operation`, and on CREATE and UPDATE
 * an `object` (and on UPDATE an `oldObject`) that is a JSON object.
 */
export function decodeReview(body: unknown): DecodedReview {
  const declared = isObject(body) ? field(body, 'apiVersion') : undefined;
  // A v1beta1 review is answered in v1beta1; anything else is answered in v1.
  const apiVersion: ReviewVersion =
    declared === 'admission.k8s.io/v1beta1' ? 'admission.k8s.io/v1beta1' : 'admission.k8s.io/v1';
  const request = isObject(body) ? field(body, 'request') : undefined;
  const rawUid = isObject(request) ? field(request, 'uid') : undefined;
  const uid = typeof rawUid === 'string' ? rawUid : '';
  const fail = (message: string): DecodedReview => ({ ok: false, apiVersion, uid, message });

  if (!isObject(body)) return fail('the body is not an AdmissionReview object');
  if (field(body, 'kind') !== 'AdmissionReview') return fail('kind must be AdmissionReview');
  if (!(REVIEW_VERSIONS as readonly unknown[]).includes(declared)) {
    return fail(`apiVersion must be one of ${REVIEW_VERSIONS.join(', ')}`);
  }
  if (!isObject(request)) return fail('request is missing or not an object');
  if (uid === '') return fail('request.uid is missing');
  const operation = field(request, 'operation');
  if (typeof operation !== 'string') return fail('request.operation is missing');
  if (!(OPERATIONS as readonly string[]).includes(operation)) {
    return fail(`request.operation must be one of ${OPERATIONS.join(', ')}`);
  }
  const dryRun = field(request, 'dryRun');
  if (dryRun !== undefined && dryRun !== null && typeof dryRun !== 'boolean') {
    return fail('request.dryRun must be a boolean');
  }
  const kind = groupVersion(request, 'kind', 'kind');
  if (typeof kind === 'string') return fail(kind);
  const resource = groupVersion(request, 'resource', 'resource');
  if (typeof resource === 'string') return fail(resource);
  const object = nullToUndefined(field(request, 'object'));
  const oldObject = nullToUndefined(field(request, 'oldObject'));
  if ((operation === 'CREATE' || operation === 'UPDATE') && !isObject(object)) {
    return fail(`request.object must be an object on ${operation}`);
  }
  if (operation === 'UPDATE' && !isObject(oldObject)) {
    return fail('request.oldObject must be an object on UPDATE');
  }
  const name = field(request, 'name');
  const groups = fieldPath(request, 'userInfo', 'groups');

  return {
    ok: true,
    apiVersion,
    request: {
      uid,
      operation,
      group: kind.group,
      kind: kind.name,
      name: typeof name === 'string' ? name : undefined,
      object,
      oldObject,
      dryRun: dryRun === true,
      // Only the API server's own answer counts: anything but a list of strings is no group.
      userGroups: Array.isArray(groups)
        ? groups.filter((group): group is string => typeof group === 'string')
        : [],
    },
  };
}

/**
 * `request.kind` (`{group, version, kind}`) or `request.resource` (`{group, version, resource}`):
 * every member a string, the group empty for the core API. A problem comes back as a string.
 */
function groupVersion(
  request: JsonObject,
  key: 'kind' | 'resource',
  last: 'kind' | 'resource',
): { group: string; name: string } | string {
  const value = field(request, key);
  if (!isObject(value)) return `request.${key} must be an object with group, version and ${last}`;
  const group = field(value, 'group');
  const version = field(value, 'version');
  const name = field(value, last);
  if (typeof group !== 'string' || typeof version !== 'string' || typeof name !== 'string') {
    return `request.${key} must have string group, version and ${last}`;
  }
  if (version === '' || name === '') return `request.${key}.version and .${last} must not be empty`;
  return { group, name };
}

function nullToUndefined(value: unknown): unknown {
  return value === null ? undefined : value;
}

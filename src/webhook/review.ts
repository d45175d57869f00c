import type { AdmissionRequest } from '../core/admission.js';
import { field, fieldPath, isObject } from '../core/json.js';

export const REVIEW_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type ReviewVersion = (typeof REVIEW_VERSIONS)[number];

export type DecodedReview =
  | { ok: true; apiVersion: ReviewVersion; request: AdmissionRequest }
  | { ok: false; apiVersion: ReviewVersion; uid: string; message: string };

/**
 * Turns any decoded JSON body into a request the decisions can trust, or into the reason it is
 * not one. Never throws: a body that decodes always gets an AdmissionReview back.
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
  const dryRun = field(request, 'dryRun');
  if (dryRun !== undefined && dryRun !== null && typeof dryRun !== 'boolean') {
    return fail('request.dryRun must be a boolean');
  }
  const kind = field(request, 'kind');
  if (kind !== undefined && !isObject(kind)) return fail('request.kind must be an object');

  return {
    ok: true,
    apiVersion,
    request: {
      uid,
      operation,
      group: optionalString(fieldPath(request, 'kind', 'group')),
      kind: optionalString(fieldPath(request, 'kind', 'kind')),
      name: optionalString(field(request, 'name')),
      object: nullToUndefined(field(request, 'object')),
      oldObject: nullToUndefined(field(request, 'oldObject')),
      dryRun: dryRun === true,
    },
  };
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function nullToUndefined(value: unknown): unknown {
  return value === null ? undefined : value;
}

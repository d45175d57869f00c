import type { Operation } from 'fast-json-patch';
import type { ReviewVersion } from './review.js';

/** The AdmissionReview response fields this webhook sets. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface ResponseExtras {
  warnings?: string[] | undefined;
  auditAnnotations?: Record<string, string> | undefined;
}

/** The API server shows warnings to users and caps their length; ours stay short on purpose. */
export const WARNING_MAX = 120;

function withExtras(response: AdmissionResponse, extras: ResponseExtras): AdmissionResponse {
  const warnings = extras.warnings?.map((w) =>
    w.length > WARNING_MAX ? `${w.slice(0, WARNING_MAX - 3)}...` : w,
  );
  if (warnings && warnings.length > 0) response.warnings = warnings;
  if (extras.auditAnnotations && Object.keys(extras.auditAnnotations).length > 0) {
    response.auditAnnotations = extras.auditAnnotations;
  }
  return response;
}

export function allowed(uid: string, extras: ResponseExtras = {}): AdmissionResponse {
  return withExtras({ uid, allowed: true }, extras);
}

export function patched(
  uid: string,
  patch: Operation[],
  extras: ResponseExtras = {},
): AdmissionResponse {
  if (patch.length === 0) return allowed(uid, extras);
  const encoded = Buffer.from(JSON.stringify(patch)).toString('base64');
  return withExtras({ uid, allowed: true, patchType: 'JSONPatch', patch: encoded }, extras);
}

export function denied(
  uid: string,
  code: number,
  message: string,
  extras: ResponseExtras = {},
): AdmissionResponse {
  return withExtras(
    { uid, allowed: false, status: { code, message, reason: reasonFor(code) } },
    extras,
  );
}

/**
 * An internal failure, still a well-formed answer. The API server applies its failure policy only
 * when the call itself fails (no answer, timeout, bad response); `allowed: false` is a denial
 * whatever the code, so a webhook fault denies the request.
 */
export function errored(uid: string, code: number, message: string): AdmissionResponse {
  return { uid, allowed: false, status: { code, message, reason: reasonFor(code) } };
}

export function review(apiVersion: ReviewVersion, response: AdmissionResponse) {
  return { apiVersion, kind: 'AdmissionReview', response };
}

function reasonFor(code: number): string {
  switch (code) {
    case 400:
      return 'BadRequest';
    case 403:
      return 'Forbidden';
    case 422:
      return 'Invalid';
    case 503:
      return 'ServiceUnavailable';
    case 504:
      return 'Timeout';
    default:
      return code >= 500 ? 'InternalError' : 'BadRequest';
  }
}

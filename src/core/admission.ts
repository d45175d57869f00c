import { fieldPath, isObject } from './json.js';

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

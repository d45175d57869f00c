import { profileName, type AdmissionRequest } from './profile-request.js';
import { fieldPath } from './json.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const DEFAULT_RESERVED_NAMESPACES = [
  'kube-system',
  'kube-public',
  'kube-node-lease',
  'default',
  'kubeflow',
  'istio-system',
  'cert-manager',
  'auth',
];

/** Why a Profile name cannot own a role, or undefined when it can. */
export function namespaceProblem(name: unknown, reserved: readonly string[]): string | undefined {
  if (typeof name !== 'string' || name === '') return 'metadata.name is missing';
  if (name.length > 63 || !DNS1123_LABEL.test(name)) {
    return `metadata.name "${truncate(name)}" is not a valid namespace name (DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)`;
  }
  if (reserved.includes(name)) {
    return `metadata.name "${name}" is a reserved namespace; a Profile cannot take it`;
  }
  return undefined;
}

/**
 * Why the Profile of this request cannot own a role, or undefined: its name (which must be a
 * usable namespace) and, on CREATE, no `metadata.generateName`. The name of a Profile is the
 * namespace the profile controller creates and the name of its role, so it cannot be left to the
 * API server to make up; and the mutating webhook, which runs before the name is generated, could
 * not make the role for it.
 */
export function profileNameProblem(
  request: AdmissionRequest,
  reserved: readonly string[],
): string | undefined {
  if (request.operation === 'CREATE') {
    const generateName = fieldPath(request.object, 'metadata', 'generateName');
    if (typeof generateName === 'string' && generateName !== '') {
      return `metadata.generateName "${truncate(generateName)}" is not supported: a Profile's name is the namespace it creates, so it must be fixed; set metadata.name instead`;
    }
  }
  return namespaceProblem(profileName(request), reserved);
}

/** A Namespace as admission sees it: absent, or present with its `owner` annotation (if any). */
export type ObservedNamespace = { exists: false } | { exists: true; owner: string | undefined };

/**
 * Why a new Profile must not get a role because its namespace is already someone else's, or
 * undefined. The profile controller's own rule: an existing Namespace is taken only when its
 * `owner` annotation is present and equals the Profile's `spec.owner.name`; otherwise it refuses
 * the Profile, and a role made for it would serve whoever owns the namespace.
 */
export function namespaceOwnerProblem(
  namespace: string,
  observed: ObservedNamespace,
  profile: unknown,
): string | undefined {
  if (!observed.exists) return undefined;
  const raw = fieldPath(profile, 'spec', 'owner', 'name');
  const owner = typeof raw === 'string' ? raw : '';
  if (observed.owner === owner) return undefined;
  const whose =
    observed.owner === undefined
      ? 'has no owner annotation, so it does not belong to'
      : `belongs to "${truncate(observed.owner)}" (its owner annotation), not to`;
  return (
    `namespace "${namespace}" already exists and ${whose} this Profile's owner "${truncate(owner)}"; ` +
    'the profile controller will not take it over, so no IAM role is made for it'
  );
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

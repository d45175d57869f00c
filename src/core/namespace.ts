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

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

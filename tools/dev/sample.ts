import { randomUUID } from 'node:crypto';

export interface ProfileSpec {
  owner?: { kind: string; name: string };
  plugins?: { kind: string; spec?: Record<string, unknown> }[];
}

/** A plain Profile as a user would apply it: no plugin unless given, the webhook adds it. */
export function plainProfile(name: string, spec: ProfileSpec = {}) {
  return {
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    metadata: { name },
    spec: { owner: { kind: 'User', name: `${name}@example.com` }, ...spec },
  };
}

/** The AdmissionReview the API server would send for creating that Profile. */
export function sampleReview(name: string) {
  return profileReview({ operation: 'CREATE', object: plainProfile(name) });
}

/** Wraps a Profile operation the way the API server does (`request` fields may be overridden). */
export function profileReview(options: {
  operation: string;
  object: unknown;
  oldObject?: unknown;
  request?: Record<string, unknown> | undefined;
}) {
  const name = (options.object as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group: 'kubeflow.org', version: 'v1', kind: 'Profile' },
      resource: { group: 'kubeflow.org', version: 'v1', resource: 'profiles' },
      name: typeof name === 'string' ? name : undefined,
      operation: options.operation,
      userInfo: { username: 'admin@example.com', groups: ['system:masters'] },
      object: options.object,
      oldObject: options.oldObject ?? null,
      dryRun: false,
      ...options.request,
    },
  };
}

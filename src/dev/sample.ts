import { randomUUID } from 'node:crypto';

/** A plain Profile as a user would apply it: no plugin, the webhook adds it. */
export function sampleProfile(name: string) {
  return {
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    metadata: { name },
    spec: { owner: { kind: 'User', name: `${name}@example.com` } },
  };
}

/** The AdmissionReview the API server would send for creating that Profile. */
export function sampleReview(name: string) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group: 'kubeflow.org', version: 'v1', kind: 'Profile' },
      resource: { group: 'kubeflow.org', version: 'v1', resource: 'profiles' },
      name,
      operation: 'CREATE',
      userInfo: { username: 'admin@example.com' },
      object: sampleProfile(name),
      oldObject: null,
      dryRun: false,
    },
  };
}

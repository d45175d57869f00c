import { plainProfile, profileReview } from '../dev/sample.js';

/** A review as the API server sends it, with the request's kind and options filled in too. */
function apiServerReview(
  operation: 'CREATE' | 'UPDATE',
  object: unknown,
  oldObject: unknown = null,
) {
  return profileReview({
    operation,
    object,
    oldObject,
    request: {
      requestKind: { group: 'kubeflow.org', version: 'v1', kind: 'Profile' },
      requestResource: { group: 'kubeflow.org', version: 'v1', resource: 'profiles' },
      options:
        operation === 'CREATE'
          ? { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl' }
          : { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'manager' },
    },
  });
}

/** A plain Profile, as a user creates it: no plugin yet. */
export function createReviewBody(namespace: string): string {
  return JSON.stringify(apiServerReview('CREATE', plainProfile(namespace)));
}

/**
 * The hot path: the profile controller's UPDATE of a provisioned Profile (finalizer, status),
 * carrying the plugin the webhook added and an unchanged oldObject, about 2 KB in all.
 */
export function hotUpdateReviewBody(namespace: string, roleArn: string): string {
  const profile = (resourceVersion: string, generation: number) => ({
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    metadata: {
      name: namespace,
      uid: '3f1c2a7e-9b7d-4c1e-8a55-0d6f2b9e4c11',
      resourceVersion,
      generation,
      creationTimestamp: '2025-01-15T09:30:00Z',
      labels: { 'app.kubernetes.io/part-of': 'kubeflow-profile', team: 'data-science' },
      annotations: { 'owner-contact': `${namespace}-owner@example.com` },
      finalizers: ['profile-finalizer'],
    },
    spec: {
      owner: { kind: 'User', name: `${namespace}-owner@example.com` },
      plugins: [
        { kind: 'AwsIamForServiceAccount', spec: { awsIamRole: roleArn, annotateOnly: true } },
      ],
      resourceQuotaSpec: {
        hard: {
          cpu: '64',
          memory: '256Gi',
          'requests.nvidia.com/gpu': '4',
          persistentvolumeclaims: '20',
        },
      },
    },
    status: {
      conditions: [
        { type: 'Ready', status: 'True', message: 'namespace and service accounts are in place' },
      ],
    },
  });
  return JSON.stringify(apiServerReview('UPDATE', profile('184467', 3), profile('184455', 3)));
}

export interface ReviewAnswer {
  allowed: boolean;
  uid: string | undefined;
  patch: string | undefined;
  message: string | undefined;
}

export function parseAnswer(body: string): ReviewAnswer {
  const review = JSON.parse(body) as {
    response?: { allowed?: boolean; uid?: string; patch?: string; status?: { message?: string } };
  };
  return {
    allowed: review.response?.allowed === true,
    uid: review.response?.uid,
    patch: review.response?.patch,
    message: review.response?.status?.message,
  };
}

import t from 'tap';
import { profileView } from '../../src/core/profile-view.js';
import type { Observation } from '../../src/core/reconcile-observed.js';
import { planReconcile } from '../../src/core/reconcile-plan.js';
import { caseObservation, casePolicy, loadPlanCases } from '../helpers/reconcile-cases.js';

// The reconciler keeps only a view of each Profile (profileView): every plan made from the views
// must be the plan made from the Profiles as the API server stores them, with everything the
// view drops (managedFields, annotations, labels, status, the rest of the spec) filled in.

function stored(object: unknown): unknown {
  const profile = object as { metadata?: Record<string, unknown>; spec?: unknown };
  return {
    ...profile,
    metadata: {
      ...profile.metadata,
      labels: { 'kubernetes.io/metadata.name': 'x' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
      finalizers: ['profile-finalizer'],
      generation: 3,
      creationTimestamp: '2026-11-01T00:00:00Z',
      managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
    },
    spec:
      typeof profile.spec === 'object' && profile.spec !== null
        ? { ...profile.spec, resourceQuotaSpec: { hard: { cpu: '8' } } }
        : profile.spec,
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function withObjects(observation: Observation, map: (object: unknown) => unknown): Observation {
  return {
    ...observation,
    profiles: observation.profiles.map((p) => ({ ...p, object: map(p.object) })),
  };
}

for (const c of loadPlanCases()) {
  t.test(`${c.name}: the views plan as the stored Profiles`, async (t) => {
    const policy = casePolicy(c);
    const full = withObjects(caseObservation(c), stored);
    const viewed = withObjects(full, (object) => profileView(object));
    const plans = planReconcile(full, policy);
    t.ok(plans.length > 0 || full.profiles.length === 0);
    t.same(planReconcile(viewed, policy), plans);
  });
}

t.test('keeps identity, version, deletion, owner and plugins; drops the rest', async (t) => {
  const plugins = [{ kind: 'AwsIamForServiceAccount', spec: { awsIamRole: 'arn' } }];
  const kept = {
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    metadata: {
      name: 'team-a',
      uid: 'u-1',
      resourceVersion: '7',
      deletionTimestamp: '2026-12-01T00:00:00Z',
    },
    spec: { owner: { kind: 'User', name: 'a@example.com' }, plugins },
  };
  t.same(profileView(stored(kept)), kept);
});

t.test('parts that are not objects are kept as they are', async (t) => {
  t.same(profileView({ metadata: ['x'], spec: 'y' }), { metadata: ['x'], spec: 'y' });
  t.equal(profileView(null), null);
  t.same(profileView({ spec: null }), { spec: null });
  const hostile = JSON.parse('{"metadata":{"name":"a","__proto__":{"uid":"forged"}}}') as unknown;
  const view = profileView(hostile) as { metadata: Record<string, unknown> };
  t.same(Object.keys(view.metadata), ['name']);
  t.equal(view.metadata.uid, undefined, 'an inherited key is not read');
});

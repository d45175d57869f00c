import t from 'tap';
import jsonpatch from 'fast-json-patch';
import { planReconcile, type NamespacePlan } from '../../src/core/reconcile-plan.js';
import { validateProfile } from '../../src/core/validate.js';
import {
  caseObservation,
  casePolicy,
  duration,
  loadPlanCases,
  NOW,
} from '../helpers/reconcile-cases.js';

const rowKey = (plan: NamespacePlan, all: NamespacePlan[]): string =>
  all.filter((p) => p.namespace === plan.namespace).length > 1
    ? `${plan.namespace}/${plan.roleName ?? '(none)'}`
    : plan.namespace;

for (const c of loadPlanCases()) {
  t.test(c.name, async (t) => {
    const policy = casePolicy(c);
    const observation = caseObservation(c);
    const plans = planReconcile(observation, policy);
    const byKey = new Map(plans.map((plan) => [rowKey(plan, plans), plan]));
    t.same([...byKey.keys()].sort(), Object.keys(c.expect).sort(), 'rows');
    for (const [key, expected] of Object.entries(c.expect)) {
      const plan = byKey.get(key);
      if (plan === undefined) continue;
      t.equal(plan.state.kind, expected.state, `${key}: state`);
      if (expected.drift !== undefined) {
        t.same(
          plan.state.kind === 'drift' ? plan.state.drift.map((d) => d.kind) : [],
          expected.drift,
          `${key}: drift`,
        );
      }
      if (expected.actions !== undefined) {
        t.same(
          plan.actions.map((a) => a.kind),
          expected.actions,
          `${key}: actions`,
        );
      }
      if (expected.inPlace !== undefined)
        t.equal(plan.inPlace, expected.inPlace, `${key}: inPlace`);
      if (expected.fixable !== undefined)
        t.equal(plan.fixable, expected.fixable, `${key}: fixable`);
      if (expected.reason !== undefined) {
        const reason =
          plan.state.kind === 'blocked' ||
          plan.state.kind === 'foreign' ||
          plan.state.kind === 'refused'
            ? plan.state.reason
            : '';
        t.match(reason, expected.reason, `${key}: reason`);
      }
      if (expected.note !== undefined)
        t.match(plan.notes.join('; '), expected.note, `${key}: note`);
      if (expected.recheckIn !== undefined) {
        t.equal(plan.recheckAt, NOW + duration(expected.recheckIn), `${key}: recheck`);
      } else {
        t.equal(plan.recheckAt, undefined, `${key}: no recheck`);
      }
      if (plan.inPlace) t.same(plan.actions, [], `${key}: in place means nothing to do`);
    }

    // Every plugin patch applies to the Profile as observed and gives a Profile the validating
    // webhook admits: the reconciler and the webhooks can never disagree.
    for (const plan of plans) {
      for (const action of plan.actions) {
        if (action.kind !== 'add-plugin') continue;
        const profile = observation.profiles.find((p) => p.name === action.profile)!;
        const object = structuredClone(profile.object);
        t.equal(jsonpatch.validate(action.patch, object), undefined, 'patch applies');
        const patched = jsonpatch.applyPatch(object, action.patch, true, false).newDocument;
        const verdict = validateProfile(
          {
            uid: 'u',
            operation: 'UPDATE',
            group: 'kubeflow.org',
            kind: 'Profile',
            name: action.profile,
            object: patched,
            oldObject: profile.object,
            dryRun: false,
          },
          policy.validation,
        );
        t.same(verdict, { allowed: true }, 'the patched Profile passes validation');
        t.equal(action.resourceVersion, '42', 'guarded by the observed resourceVersion');
      }
      for (const action of plan.actions) {
        if (action.kind === 'delete-role' || action.kind === 'repair-role') {
          const role = observation.roles.find(
            (r) =>
              r.roleName ===
              (action.kind === 'delete-role' ? action.roleName : action.spec.roleName),
          )!;
          t.equal(
            role.tags['app.kubernetes.io/managed-by'],
            'profile-irsa-webhook',
            'only roles tagged as ours are ever written',
          );
          t.equal(role.tags['profile-irsa-webhook/cluster'], 'prod', '... for this cluster');
        }
      }
    }
  });
}

t.test('the plan is a pure function of what was observed', async (t) => {
  for (const c of loadPlanCases()) {
    const a = planReconcile(caseObservation(c), casePolicy(c));
    const b = planReconcile(caseObservation(c), casePolicy(c));
    t.same(a, b, c.name);
  }
});

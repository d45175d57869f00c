// Properties of the no-IAM answers (issue 8): an UPDATE that leaves spec.plugins as they were,
// and any request for a Profile being deleted, is answered from the request alone, whatever else
// the objects hold and whatever the role cache holds.

import t from 'tap';
import fc from 'fast-check';
import { pino } from 'pino';
import { createMetrics } from '../../src/metrics/registry.js';
import { admit, type RoleProvider, type WebhookName } from '../../src/webhook/admit.js';
import { createDecisionContext } from '../../src/core/decision-context.js';
import { profileReview } from '../../tools/dev/sample.js';
import { testPolicySettings, testRoleSettings } from '../helpers/settings.js';

const logger = pino({ level: 'silent' });
const decisions = createDecisionContext(testRoleSettings(), testPolicySettings());
const DERIVED = 'arn:aws:iam::111122223333:role/kubeflow-profiles/team-a-prod-role';

/** A role provider that holds a hit for every namespace and counts every use. */
class CountingRoles implements RoleProvider {
  lookups = 0;
  provisions = 0;
  cached(_namespace: string, roleArn: string) {
    this.lookups++;
    return { roleArn, outcome: 'cached', warnings: [] };
  }
  async provision() {
    this.provisions++;
    return { roleArn: DERIVED, outcome: 'created', warnings: [] };
  }
}

async function answer(webhook: WebhookName, body: unknown) {
  const roles = new CountingRoles();
  const metrics = createMetrics({ defaultMetrics: false });
  const review = await admit(webhook, body, 10_000, { decisions, roles, metrics, logger });
  const reasons = (await metrics.admissionsWithoutIam.get()).values.map((v) => v.labels.reason);
  return { response: review.response, roles, reasons };
}

/** The same JSON with every object's keys in reverse order: equal data, another spelling. */
function reordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reordered);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).reverse()) {
    Object.defineProperty(out, key, {
      value: reordered((value as Record<string, unknown>)[key]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

const pluginSpec = fc.oneof(
  fc.constant({ awsIamRole: DERIVED, annotateOnly: true }),
  fc.record({ awsIamRole: fc.string(), annotateOnly: fc.jsonValue() }, { requiredKeys: [] }),
  fc.jsonValue(),
);
const plugin = fc.oneof(
  fc.record({
    kind: fc.constantFrom('AwsIamForServiceAccount', 'WorkloadIdentity', 'awsiamforserviceaccount'),
    spec: pluginSpec,
  }),
  fc.jsonValue(),
);
const plugins = fc.oneof(fc.array(plugin, { maxLength: 3 }), fc.constant(null), fc.jsonValue());
const extra = fc.dictionary(
  fc.string().filter((k) => k !== 'plugins' && k !== '__proto__'),
  fc.jsonValue(),
  { maxKeys: 4 },
);
const metadataExtra = fc.dictionary(
  fc.constantFrom('labels', 'annotations', 'finalizers', 'resourceVersion', 'generation', 'uid'),
  fc.jsonValue(),
);

function profile(
  name: string,
  specExtra: Record<string, unknown>,
  meta: Record<string, unknown>,
  withPlugins: unknown,
) {
  return {
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    metadata: { ...meta, name },
    spec: { ...specExtra, plugins: withPlugins },
  };
}

t.test('an UPDATE that keeps spec.plugins is allowed with no patch and no IAM', async (t) => {
  const holds = fc.assert(
    fc.asyncProperty(
      plugins,
      extra,
      extra,
      metadataExtra,
      metadataExtra,
      fc.boolean(),
      async (kept, oldSpec, newSpec, oldMeta, newMeta, dryRun) => {
        const body = profileReview({
          operation: 'UPDATE',
          oldObject: profile('team-a', oldSpec, oldMeta, kept),
          object: profile('team-a', newSpec, newMeta, reordered(structuredClone(kept))),
          request: { dryRun },
        });
        for (const webhook of ['mutate', 'validate'] as const) {
          const { response, roles, reasons } = await answer(webhook, body);
          if (!response.allowed || response.patch !== undefined) return false;
          if (roles.lookups + roles.provisions !== 0) return false;
          if (reasons.length !== 1 || reasons[0] !== 'plugins-unchanged') return false;
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
  await t.resolves(holds, 'holds for 300 generated updates (a failure prints its seed)');
});

t.test('any mutation request for a Profile being deleted makes no IAM call', async (t) => {
  const holds = fc.assert(
    fc.asyncProperty(
      fc.constantFrom('CREATE', 'UPDATE'),
      plugins,
      plugins,
      fc.constantFrom('object', 'oldObject', 'both'),
      async (operation, oldPlugins, newPlugins, where) => {
        const stamp = { deletionTimestamp: '2026-01-01T00:00:00Z' };
        const onNew = where !== 'oldObject' || operation === 'CREATE';
        const body = profileReview({
          operation,
          object: profile('team-a', {}, onNew ? stamp : {}, newPlugins),
          oldObject:
            operation === 'UPDATE'
              ? profile('team-a', {}, where === 'object' ? {} : stamp, oldPlugins)
              : undefined,
        });
        const { response, roles, reasons } = await answer('mutate', body);
        return (
          response.allowed &&
          response.patch === undefined &&
          roles.lookups + roles.provisions === 0 &&
          reasons.length === 1 &&
          reasons[0] === 'deleting'
        );
      },
    ),
    { numRuns: 300 },
  );
  await t.resolves(holds, 'holds for 300 generated requests (a failure prints its seed)');
});

t.test('an UPDATE that changes the plugins still does the IAM work', async (t) => {
  const stored = profile('team-a', {}, {}, [
    { kind: 'AwsIamForServiceAccount', spec: { awsIamRole: DERIVED, annotateOnly: true } },
  ]);
  const removed = await answer(
    'mutate',
    profileReview({
      operation: 'UPDATE',
      oldObject: stored,
      object: profile('team-a', {}, {}, []),
    }),
  );
  t.equal(removed.response.allowed, true);
  t.ok(removed.response.patch, 'the plugin is patched back in');
  t.equal(removed.roles.lookups, 1, 'the role is checked (here: a cache hit)');
  t.same(removed.reasons, [], 'not counted as answered without IAM');
});

import t from 'tap';
import { pino } from 'pino';
import { namespaceOwnerProblem, type ObservedNamespace } from '../../src/core/namespace.js';
import { NamespaceReadError, type NamespaceReader } from '../../src/k8s/namespaces.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { admit, type RoleProvider } from '../../src/webhook/admit.js';
import { createDecisionContext } from '../../src/core/decision-context.js';
import { RecordingRoles } from '../helpers/recording-roles.js';
import { createReview, profileWithRole } from '../helpers/reviews.js';
import { derivedArn, testPolicySettings, testRoleSettings } from '../helpers/settings.js';
import { profileReview } from '../../tools/dev/sample.js';

const owned = (owner: string | undefined): ObservedNamespace => ({ exists: true, owner });
const profileOf = (owner?: string) => ({
  metadata: { name: 'team-a' },
  spec: owner === undefined ? {} : { owner: { kind: 'User', name: owner } },
});

t.test("the profile controller's rule", async (t) => {
  t.equal(namespaceOwnerProblem('team-a', { exists: false }, profileOf('a@x')), undefined, 'new');
  t.equal(namespaceOwnerProblem('team-a', owned('a@x'), profileOf('a@x')), undefined, 'same owner');
  t.match(
    namespaceOwnerProblem('team-a', owned('b@x'), profileOf('a@x')),
    'namespace "team-a" already exists and belongs to "b@x" (its owner annotation), not to this Profile\'s owner "a@x"',
  );
  t.match(
    namespaceOwnerProblem('team-a', owned(undefined), profileOf('a@x')),
    'has no owner annotation',
    'an existing namespace without the annotation is not taken over either',
  );
  t.match(
    namespaceOwnerProblem('team-a', owned(undefined), profileOf()),
    'has no owner annotation',
    'not even by a Profile without an owner',
  );
  t.equal(namespaceOwnerProblem('team-a', owned(''), profileOf()), undefined, '"" equals ""');
});

/** Stands in for the Kubernetes API in tests of the decision: answers and counts reads. */
class FakeNamespaces implements NamespaceReader {
  reads: string[] = [];
  constructor(private readonly answer: (name: string) => Promise<ObservedNamespace>) {}
  read(name: string) {
    this.reads.push(name);
    return this.answer(name);
  }
}

async function run(
  body: unknown,
  namespaces: NamespaceReader,
  roles: RoleProvider & { calls?: unknown[] } = new RecordingRoles(),
) {
  const review = await admit('mutate', body, 10_000, {
    decisions: createDecisionContext(testRoleSettings(), testPolicySettings()),
    roles,
    namespaces,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: pino({ level: 'silent' }),
  });
  return { response: review.response, roles };
}

t.test('a CREATE reads the namespace once and makes no role for a taken one', async (t) => {
  const namespaces = new FakeNamespaces(async () => owned('someone@example.com'));
  const { response, roles } = await run(createReview('team-a'), namespaces);
  t.equal(response.allowed, false);
  t.equal(response.status?.code, 403);
  t.match(response.status?.message, 'belongs to "someone@example.com"');
  t.same(namespaces.reads, ['team-a']);
  t.equal(roles.calls?.length, 0, 'no IAM call');
});

t.test('a cached role does not skip the check on CREATE', async (t) => {
  const namespaces = new FakeNamespaces(async () => owned('someone@example.com'));
  const roles = new RecordingRoles();
  const cachedRoles: RoleProvider = {
    cached: () => ({ roleArn: derivedArn('team-a'), outcome: 'cached', warnings: [] }),
    provision: (spec, options) => roles.provision(spec, options),
  };
  const { response } = await run(createReview('team-a'), namespaces, cachedRoles);
  t.equal(response.allowed, false);
});

t.test('UPDATEs never read namespaces', async (t) => {
  const namespaces = new FakeNamespaces(async () => owned('someone@example.com'));
  const profile = profileWithRole('team-a', derivedArn('team-a'));
  // An UPDATE that adds the plugin: the one kind of UPDATE that still ensures the role.
  const before = { ...profile, spec: { ...profile.spec, plugins: [] } };
  const body = profileReview({ operation: 'UPDATE', object: profile, oldObject: before });
  const { response, roles } = await run(body, namespaces);
  t.equal(response.allowed, true);
  t.same(namespaces.reads, []);
  t.equal(roles.calls?.length, 1, 'the role is ensured as before');
});

t.test('a namespace that cannot be read', async (t) => {
  const forbidden = new FakeNamespaces(async (name) => {
    throw new NamespaceReadError(name, 403, { cause: new Error('forbidden') });
  });
  const denied = await run(createReview('team-a'), forbidden);
  t.equal(denied.response.status?.code, 500, "no RBAC is the webhook's fault");
  t.match(denied.response.status?.message, 'needs get on namespaces');
  t.match(denied.response.status?.message, 'doctor');
  t.equal(denied.roles.calls?.length, 0);

  const down = new FakeNamespaces(async (name) => {
    throw new NamespaceReadError(name, 503, { cause: new Error('unavailable') });
  });
  const later = await run(createReview('team-a'), down);
  t.equal(later.response.status?.code, 503);
  t.match(later.response.status?.message, 'retrying may help');

  const hanging = new FakeNamespaces(() => new Promise<never>(() => {}));
  const started = Date.now();
  const review = await admit('mutate', createReview('team-a'), 600, {
    decisions: createDecisionContext(testRoleSettings(), testPolicySettings()),
    roles: new RecordingRoles(),
    namespaces: hanging,
    metrics: createMetrics({ defaultMetrics: false }),
    logger: pino({ level: 'silent' }),
  });
  t.equal(review.response.status?.code, 504, 'a hanging read still answers by the deadline');
  t.ok(Date.now() - started < 600, 'within the API server timeout');
});

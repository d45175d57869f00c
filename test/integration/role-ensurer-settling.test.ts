import t from 'tap';
import {
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetRolePolicyCommand,
  ListRolePoliciesCommand,
  UpdateRoleCommand,
} from '@aws-sdk/client-iam';
import { createHandMadeRole, roleExists } from '../helpers/iam-roles.js';
import { startIamProxy } from '../helpers/iam-proxy.js';
import { CreateBudget } from '../../src/iam/create-budget.js';
import type { RoleSpec } from '../../src/core/role-spec.js';
import { count, calls, ensure, rejection, startRig } from '../helpers/role-ensurer-rig.js';

// IAM's eventual consistency, CreateRole first, the role creation budget and what the cache may
// answer. The proxy plays the lag real IAM shows and moto does not.

const LAG_MS = 2500;
const { moto, raw, specFor, harness } = await startRig(t);
const proxy = await startIamProxy(moto.endpoint);
t.teardown(() => proxy.close());
proxy.lag({ afterCreateMs: LAG_MS, afterDeleteMs: LAG_MS });

async function deleteRole(spec: RoleSpec): Promise<void> {
  const { PolicyNames } = await raw.send(new ListRolePoliciesCommand({ RoleName: spec.roleName }));
  for (const PolicyName of PolicyNames ?? []) {
    await raw.send(new DeleteRolePolicyCommand({ RoleName: spec.roleName, PolicyName }));
  }
  await raw.send(new DeleteRoleCommand({ RoleName: spec.roleName }));
}

async function hasInlinePolicy(spec: RoleSpec): Promise<boolean> {
  const out = await raw.send(
    new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  return out.PolicyDocument !== undefined;
}

t.test('a new role: two IAM calls without lag, and complete under a 2.5 s lag', async (t) => {
  const direct = harness();
  const quick = specFor('two-calls');
  t.equal((await ensure(direct, quick, { operation: 'CREATE' })).outcome, 'created');
  t.same(
    (await calls(direct.metrics)).map((c) => [c.op, c.outcome, c.n]),
    [
      ['CreateRole', 'success', 1],
      ['PutRolePolicy', 'success', 1],
    ],
    'CreateRole, then PutRolePolicy: two round trips',
  );

  const h = harness({ endpoint: proxy.endpoint });
  const spec = specFor('lagged');
  const laggedBefore = proxy.lagged();
  const started = Date.now();
  const result = await ensure(h, spec, { operation: 'CREATE', signal: AbortSignal.timeout(9000) });
  t.equal(result.outcome, 'created');
  t.ok(Date.now() - started >= LAG_MS - 100, 'waited for IAM to show the role');
  t.ok(proxy.lagged() > laggedBefore, 'PutRolePolicy met NoSuchEntity at least once');
  t.ok(await hasInlinePolicy(spec), 'the role has its inline policy');
  t.equal(await count(h.metrics, 'CreateRole'), 1, 'one CreateRole');
  t.ok(
    h.logs.some((l) => /eventually consistent/.test(String(l['msg']))),
    'the wait is logged',
  );
});

t.test('a deadline shorter than the lag: a denial that says a retry helps', async (t) => {
  const h = harness({ endpoint: proxy.endpoint });
  const spec = specFor('short');
  const err = await rejection(
    ensure(h, spec, { operation: 'CREATE', signal: AbortSignal.timeout(800) }),
  );
  t.equal(err.retryable, true);
  t.match(err.message, /retrying may help/);
  // The API server's retry, once IAM has settled: the role is completed.
  await new Promise((resolve) => setTimeout(resolve, LAG_MS));
  const again = await ensure(h, spec, { operation: 'CREATE' });
  t.equal(again.outcome, 'repaired', 'the half-made role gets its inline policy');
  t.ok(await hasInlinePolicy(spec));
});

t.test('adopting and repairing drift under the lag', async (t) => {
  const h = harness({ endpoint: proxy.endpoint });
  const spec = specFor('drift');
  await ensure(harness(), spec, { operation: 'CREATE' });
  await raw.send(new UpdateRoleCommand({ RoleName: spec.roleName, MaxSessionDuration: 3600 }));
  const result = await ensure(h, spec, { operation: 'CREATE' });
  t.equal(result.outcome, 'repaired');
  t.same(
    (await calls(h.metrics)).find((c) => c.op === 'CreateRole'),
    { op: 'CreateRole', outcome: 'EntityAlreadyExistsException', n: 1 },
    'CreateRole first, then the existing-role path',
  );
});

t.test('lookup mode and dry runs stay read-only under the lag', async (t) => {
  const spec = specFor('lookup');
  await ensure(harness(), spec, { operation: 'CREATE' });
  const lookup = harness({ endpoint: proxy.endpoint, mode: 'lookup' });
  t.equal((await ensure(lookup, spec, { operation: 'CREATE' })).outcome, 'looked-up');
  const dry = harness({ endpoint: proxy.endpoint });
  const fresh = specFor('dry');
  const result = await ensure(dry, fresh, { operation: 'CREATE', dryRun: true });
  t.equal(result.outcome, 'would-create');
  t.equal(await count(dry.metrics, 'CreateRole'), 0);
  t.equal(await count(lookup.metrics, 'CreateRole'), 0);
  t.notOk(await roleExists(raw, fresh.roleName));
});

t.test('concurrent CREATEs on two replicas under the lag', async (t) => {
  const spec = specFor('concurrent');
  const [a, b] = [harness({ endpoint: proxy.endpoint }), harness({ endpoint: proxy.endpoint })];
  const results = await Promise.all([
    ensure(a, spec, { operation: 'CREATE' }),
    ensure(b, spec, { operation: 'CREATE' }),
    ensure(a, spec, { operation: 'CREATE' }),
  ]);
  for (const r of results) t.ok(['created', 'verified', 'repaired'].includes(r.outcome), r.outcome);
  // Either replica may call CreateRole again within its flight while IAM shows the other's new
  // role as both existing and missing; only one CreateRole can succeed.
  t.ok((await count(a.metrics, 'CreateRole')) >= 1);
  t.ok((await count(b.metrics, 'CreateRole')) >= 1);
  t.equal(
    (await calls(a.metrics)).filter((c) => c.op === 'CreateRole' && c.outcome === 'success')
      .length +
      (await calls(b.metrics)).filter((c) => c.op === 'CreateRole' && c.outcome === 'success')
        .length,
    1,
    'one role created',
  );
  t.ok(await hasInlinePolicy(spec));
});

t.test('a role deleted a moment ago: CreateRole waits for IAM to forget it', async (t) => {
  const spec = specFor('recreate');
  await ensure(harness(), spec, { operation: 'CREATE' });
  await new Promise((resolve) => setTimeout(resolve, 10));
  // Deleted through the proxy, so it plays the lag after the deletion.
  const viaProxy = harness({ endpoint: proxy.endpoint });
  await viaProxy.iam.send(
    new DeleteRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  await viaProxy.iam.send(new DeleteRoleCommand({ RoleName: spec.roleName }));
  const h = harness({ endpoint: proxy.endpoint });
  const result = await ensure(h, spec, {
    operation: 'CREATE',
    signal: AbortSignal.timeout(15_000),
  });
  t.equal(result.outcome, 'created');
  t.ok(await hasInlinePolicy(spec));
  t.ok(
    h.logs.some((l) => /recent deletion/.test(String(l['msg']))),
    'the wait is logged',
  );
});

t.test('a CREATE never trusts the cache: a role deleted out of band is made again', async (t) => {
  const h = harness();
  const spec = specFor('gone');
  await ensure(h, spec, { operation: 'CREATE' });
  t.equal((await ensure(h, spec)).outcome, 'cached', 'an UPDATE may answer from the cache');
  await deleteRole(spec);
  t.equal((await ensure(h, spec, { operation: 'CREATE' })).outcome, 'created');
  t.ok(await roleExists(raw, spec.roleName), 'the role is back');
  t.ok(await hasInlinePolicy(spec));
});

t.test('the creation budget: bulk onboarding completes with retries', async (t) => {
  const h = harness({ createBudget: new CreateBudget({ perSecond: 20, burst: 5 }) });
  const specs = Array.from({ length: 100 }, () => specFor('bulk'));
  let denials = 0;
  // As the API server's clients do: retry a retryable denial after a pause.
  const onboard = async (spec: RoleSpec) => {
    for (let attempt = 0; attempt < 60; attempt++) {
      try {
        return await ensure(h, spec, { operation: 'CREATE' });
      } catch (err) {
        const e = await rejection(Promise.reject(err));
        if (e.reason !== 'rate-limited' || !e.retryable) throw err;
        t.match(e.message, /retrying in \d+ s or later will help/);
        denials++;
        await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 300));
      }
    }
    throw new Error(`${spec.namespace} never admitted`);
  };
  const results = await Promise.all(specs.map(onboard));
  t.ok(
    results.every((r) => r.outcome === 'created'),
    'all 100 created',
  );
  t.ok(denials > 0, `${denials} denials to retry`);
  t.equal(await count(h.metrics, 'CreateRole'), 100, 'one CreateRole per role');
});

t.test('the budget never holds up a role that exists or is cached', async (t) => {
  const budget = new CreateBudget({ perSecond: 0.001, burst: 1 });
  const h = harness({ createBudget: budget });
  const existing = specFor('existing');
  await createHandMadeRole(raw, existing, { tags: {} });
  const first = specFor('first');
  t.equal((await ensure(h, first, { operation: 'CREATE' })).outcome, 'created', 'the burst');
  const denied = await rejection(ensure(h, specFor('second'), { operation: 'CREATE' }));
  t.equal(denied.reason, 'rate-limited');
  const creates = await count(h.metrics, 'CreateRole');
  const verified = await ensure(h, existing, { operation: 'CREATE' });
  t.not(verified.outcome, 'created', `an existing role is judged (${verified.outcome})`);
  t.equal(await count(h.metrics, 'CreateRole'), creates, 'no CreateRole without a token');
  t.equal((await ensure(h, first)).outcome, 'cached', 'an UPDATE answers from the cache');
});

// The sweep of the role path, against moto (behind the counting proxy) and the real API server:
// each role's tags are read once, and a role handed out is read again only after its namespace
// has been looked at. Re-reading every waiting role on every sweep would spend the IAM rate that
// deleting roles made by reviews whose Profile was never stored needs.

import t from 'tap';
import { pino } from 'pino';
import { DeleteRoleCommand } from '@aws-sdk/client-iam';
import { loadConfig } from '../../src/config/load.js';
import { policySettings, roleSettings } from '../../src/config/settings.js';
import { createDecisionContext } from '../../src/core/decision-context.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { buildReconciler } from '../../src/reconcile/build.js';
import { plainProfile, profiles } from '../../tools/dev/cluster.js';
import { installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';
import { startIamProxy } from '../helpers/iam-proxy.js';
import { createOwnedRole } from '../helpers/iam-roles.js';
import { iamClientFor, MOTO_ACCOUNT_ID, startMoto } from '../helpers/moto.js';
import { ISSUER, REQUIRED_ENV } from '../helpers/settings.js';
import { useMoto } from '../helpers/webhook.js';

const moto = await startMoto();
t.teardown(() => moto.stop());
const proxy = await startIamProxy(moto.endpoint);
t.teardown(() => proxy.close());
useMoto({ endpoint: proxy.endpoint });
const cp = await startControlPlane();
t.teardown(() => cp.stop());
await installProfileCrd(cp.kubeConfig);

const loaded = loadConfig({}, { ...REQUIRED_ENV, OIDC_ISSUER: ISSUER, IAM_RATE: '50' });
if (!loaded.ok) throw new Error(loaded.problems.join('; '));
const { config } = loaded;
const role = roleSettings(config, MOTO_ACCOUNT_ID, ISSUER);
const decisions = createDecisionContext(role, policySettings(config));
const { reconciler } = await buildReconciler({
  config,
  role,
  decisions,
  kubeConfig: cp.kubeConfig,
  metrics: createMetrics({ defaultMetrics: false }),
  logger: pino({ level: 'silent' }),
  // Long enough that no look here deletes a role: the sweep's reads are what is counted.
  orphanGraceMs: 60 * 60_000,
});
const signal = new AbortController().signal;
const admin = iamClientFor(moto.endpoint);
const NAMESPACES = ['sweep-0', 'sweep-1', 'sweep-2', 'sweep-3', 'sweep-4'];

/** As an admission makes it: tagged for this cluster, bound to no Profile yet. */
async function makeRole(namespace: string) {
  await createOwnedRole(admin, decisions.specFor(namespace), { inlinePolicy: false });
}
for (const namespace of NAMESPACES) await makeRole(namespace);

/** The sweep's answer and the ListRoleTags calls it made. */
async function sweep() {
  const before = proxy.forwarded('ListRoleTags');
  const due = await reconciler.sweep(signal);
  return {
    namespaces: due.map((entry) => entry.namespace).sort(),
    tagReads: proxy.forwarded('ListRoleTags') - before,
  };
}

t.test('the first sweep reads every role and hands out each unbound one', async (t) => {
  t.same(await sweep(), { namespaces: NAMESPACES, tagReads: NAMESPACES.length });
});

t.test('a later sweep reads no role still waiting for its look', async (t) => {
  t.same(await sweep(), { namespaces: [], tagReads: 0 });
  t.same(await sweep(), { namespaces: [], tagReads: 0 });
});

t.test('a role looked at and still unbound is read and handed out again', async (t) => {
  await reconciler.reconcileNamespace('sweep-0', { signal, dryRun: false });
  t.same(await sweep(), { namespaces: ['sweep-0'], tagReads: 1 });
});

t.test('a role bound to its stored Profile is never read again', async (t) => {
  await profiles(cp.kubeConfig).create(plainProfile('sweep-1'));
  await reconciler.reconcileNamespace('sweep-1', { signal, dryRun: false });
  // Its look bound it (after reading it unbound): one read to learn that, then none.
  t.same(await sweep(), { namespaces: [], tagReads: 1 });
  t.same(await sweep(), { namespaces: [], tagReads: 0 });
});

t.test('a role deleted and made again under its name is read as a new role', async (t) => {
  const spec = decisions.specFor('sweep-2');
  await admin.send(new DeleteRoleCommand({ RoleName: spec.roleName }));
  t.same(await sweep(), { namespaces: [], tagReads: 0 }, 'gone: nothing to read');
  await makeRole('sweep-2');
  t.same(await sweep(), { namespaces: ['sweep-2'], tagReads: 1 }, 'a new RoleId: read once');
});

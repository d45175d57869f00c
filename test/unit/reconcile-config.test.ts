import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { roleSettings } from '../../src/config/settings.js';
import { REQUIRED_ENV } from '../helpers/settings.js';

t.test('reconciler defaults', async (t) => {
  const result = loadConfig({}, REQUIRED_ENV);
  t.ok(result.ok);
  if (!result.ok) return;
  const c = result.config;
  t.equal(c.reconcile, true, 'on by default');
  t.equal(c.reconcileInterval, 3_600_000, '1h');
  t.equal(c.orphanPolicy, 'retain');
  t.equal(c.orphanGrace, 600_000, '10m');
  t.same(c.annotateServiceAccounts, []);
  t.equal(c.iamRate, 10);
  t.equal(c.leaderElectionLease, 'profile-irsa-webhook');
  t.equal(c.podName, undefined);
});

t.test('flags and environment', async (t) => {
  const result = loadConfig(
    { orphanGrace: '1h30m' },
    {
      ...REQUIRED_ENV,
      RECONCILE: 'false',
      RECONCILE_INTERVAL: '15m',
      ORPHAN_POLICY: 'delete',
      ORPHAN_GRACE: '5m',
      ANNOTATE_SERVICE_ACCOUNTS: 'default, pipeline-runner',
      IAM_RATE: '0.5',
      LEADER_ELECTION_LEASE: 'irsa-leader',
      POD_NAME: 'webhook-7d9f-abcde',
    },
  );
  t.ok(result.ok);
  if (!result.ok) return;
  const c = result.config;
  t.equal(c.reconcile, false);
  t.equal(c.reconcileInterval, 900_000);
  t.equal(c.orphanPolicy, 'delete');
  t.equal(c.orphanGrace, 5_400_000, 'the flag wins');
  t.same(c.annotateServiceAccounts, ['default', 'pipeline-runner']);
  t.equal(c.iamRate, 0.5);
  t.equal(c.leaderElectionLease, 'irsa-leader');
  t.equal(c.podName, 'webhook-7d9f-abcde');
});

t.test('the extra service accounts are trusted by every role', async (t) => {
  const result = loadConfig(
    {},
    { ...REQUIRED_ENV, ANNOTATE_SERVICE_ACCOUNTS: 'default,default-viewer,default' },
  );
  t.ok(result.ok);
  if (!result.ok) return;
  t.same(
    roleSettings(result.config, '111122223333', 'https://oidc.example/id/X').serviceAccounts,
    ['default-editor', 'default', 'default-viewer'],
    'configured ones first, no duplicates',
  );
});

t.test('bad reconciler settings are all reported at once', async (t) => {
  const result = loadConfig(
    {},
    {
      ...REQUIRED_ENV,
      RECONCILE: 'yes',
      RECONCILE_INTERVAL: '10s',
      ORPHAN_POLICY: 'purge',
      ORPHAN_GRACE: '30s',
      ANNOTATE_SERVICE_ACCOUNTS: 'default-editor,Bad_Name',
      IAM_RATE: '0',
      LEADER_ELECTION_LEASE: 'Not A Name',
    },
  );
  t.notOk(result.ok);
  if (result.ok) return;
  const text = result.problems.join('\n');
  t.match(text, '--reconcile (RECONCILE)');
  t.match(text, '--reconcile-interval (RECONCILE_INTERVAL): must be at least 1m');
  t.match(text, '--orphan-policy (ORPHAN_POLICY)');
  t.match(
    text,
    /--orphan-grace \(ORPHAN_GRACE\): must be longer than 30s, the longest an admission/,
  );
  t.match(
    text,
    '--annotate-service-accounts (ANNOTATE_SERVICE_ACCOUNTS): must be service account names',
  );
  t.match(text, '--iam-rate (IAM_RATE): must be more than 0');
  t.match(text, '--leader-election-lease (LEADER_ELECTION_LEASE)');
  t.match(text, 'must not name default-editor');
  t.equal(result.problems.length, 8, 'one line per problem');

  const editor = loadConfig({}, { ...REQUIRED_ENV, ANNOTATE_SERVICE_ACCOUNTS: 'default-editor' });
  t.notOk(editor.ok);
  t.match(
    !editor.ok && editor.problems.join(),
    "must not name default-editor: Kubeflow's profile controller annotates it",
  );
  const unitless = loadConfig({}, { ...REQUIRED_ENV, ORPHAN_GRACE: '600' });
  t.match(
    !unitless.ok && unitless.problems.join(),
    '"600" is not a duration such as 90s, 10m or 1h',
  );
});

t.test('serving with the reconciler needs the namespace of its Lease', async (t) => {
  const missing = loadConfig({}, REQUIRED_ENV, { lease: true });
  t.notOk(missing.ok);
  t.match(
    !missing.ok && missing.problems.join(),
    '--pod-namespace (POD_NAMESPACE): is required while the reconciler runs',
  );
  t.ok(loadConfig({}, { ...REQUIRED_ENV, POD_NAMESPACE: 'irsa' }, { lease: true }).ok);
  t.ok(loadConfig({}, { ...REQUIRED_ENV, RECONCILE: 'false' }, { lease: true }).ok);
  t.ok(loadConfig({}, REQUIRED_ENV).ok, 'other commands do not need it');
});

// `profile-irsa-webhook reconcile` (dist/bin/cli.js) on a prepared mix of states, against the
// real kube-apiserver and moto behind a counting, throttling proxy: the table, -o json and the
// exit codes; a dry run makes no IAM write; --apply fixes what it may; throttling slows a pass
// without failing it.

import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateRoleCommand,
  GetRoleCommand,
  PutRolePolicyCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import {
  deriveRoleSpec,
  CLUSTER_TAG,
  trustPolicy,
  type RoleSpec,
} from '../../src/core/role-spec.js';
import { parsePolicyDocument, policiesEqual } from '../../src/core/policy-compare.js';
import { ORPHANED_SINCE_TAG, PROFILE_UID_TAG } from '../../src/core/role-binding.js';
import { plainProfile, profiles } from '../../tools/dev/cluster.js';
import { installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';
import { createHandMadeRole, EC2_TRUST, roleExists, roleSnapshot } from '../helpers/iam-roles.js';
import { startIamProxy } from '../helpers/iam-proxy.js';
import { FAKE_CREDENTIALS, iamClientFor, MOTO_ACCOUNT_ID, startMoto } from '../helpers/moto.js';
import { ISSUER, REQUIRED_ENV, testRoleSettings } from '../helpers/settings.js';

const CLI = fileURLToPath(new URL('../../dist/bin/cli.js', import.meta.url));

const moto = await startMoto();
t.teardown(() => moto.stop());
const proxy = await startIamProxy(moto.endpoint);
t.teardown(() => proxy.close());
const iam: IAMClient = iamClientFor(moto.endpoint);
const cp = await startControlPlane();
t.teardown(() => cp.stop());
await installProfileCrd(cp.kubeConfig);
const api = profiles(cp.kubeConfig);

const specFor = (ns: string): RoleSpec =>
  deriveRoleSpec(testRoleSettings({ accountId: MOTO_ACCOUNT_ID }), ns);
const withPlugin = (ns: string) =>
  plainProfile(ns, {
    plugins: [
      {
        kind: 'AwsIamForServiceAccount',
        spec: { awsIamRole: specFor(ns).roleArn, annotateOnly: true },
      },
    ],
  });

/** A role exactly as the webhook makes it (tags in CreateRole, then the inline policy). */
async function createManagedRole(
  spec: RoleSpec,
  trust: unknown = spec.trustPolicy,
  profileUid?: string,
) {
  const tags =
    profileUid === undefined ? spec.tags : { ...spec.tags, [PROFILE_UID_TAG]: profileUid };
  await iam.send(
    new CreateRoleCommand({
      RoleName: spec.roleName,
      Path: spec.rolePath,
      AssumeRolePolicyDocument: JSON.stringify(trust),
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: spec.roleName,
      PolicyName: spec.s3Policy.name,
      PolicyDocument: JSON.stringify(spec.s3Policy.document),
    }),
  );
}

// The mix: in place, drift, missing, a Profile from before the webhook, a foreign role, an orphan,
// and another cluster's role (never shown, never touched).
// Roles bound to their stored Profile (its UID), as the reconciler leaves them.
const uidOf = (profile: { metadata?: { uid?: string } }) => profile.metadata?.uid ?? '';
await createManagedRole(
  specFor('team-ok'),
  undefined,
  uidOf(await api.create(withPlugin('team-ok'))),
);
// Drifted, still naming this cluster's provider (a role trusting anything else is not ours).
await createManagedRole(
  specFor('team-drift'),
  trustPolicy(
    testRoleSettings({ accountId: MOTO_ACCOUNT_ID, serviceAccounts: ['intruder'] }),
    'team-drift',
  ),
  uidOf(await api.create(withPlugin('team-drift'))),
);
await api.create(withPlugin('team-missing'));
await api.create(plainProfile('team-backfill'));
await createHandMadeRole(iam, specFor('team-hand'), { trust: EC2_TRUST });
await api.create(withPlugin('team-hand'));
// It served a Profile that is gone now.
await createManagedRole(specFor('team-gone'), undefined, 'uid-of-a-deleted-profile');
await createHandMadeRole(iam, specFor('team-z'), {
  tags: { ...specFor('team-z').tags, [CLUSTER_TAG]: 'staging' },
});
const foreignBefore = await roleSnapshot(iam, 'team-hand-prod-role');
const otherClusterBefore = await roleSnapshot(iam, 'team-z-prod-role');

const ENV = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '/tmp',
  ...REQUIRED_ENV,
  OIDC_ISSUER: ISSUER,
  AWS_ACCOUNT_ID: MOTO_ACCOUNT_ID,
  AWS_REGION: 'us-east-1',
  AWS_ENDPOINT_URL_IAM: proxy.endpoint,
  AWS_ENDPOINT_URL_STS: moto.endpoint,
  AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
  KUBECONFIG: cp.kubeconfigPath,
  LOG_LEVEL: 'warn',
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The CLI in its own process (asynchronously: the IAM proxy runs in this one). */
function reconcile(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'reconcile', ...args],
      { env: { ...ENV, ...env }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr, ms: Date.now() - started });
      },
    );
  });
}

const rowOf = (table: string, ns: string) =>
  table.split('\n').find((line) => line.startsWith(`${ns} `)) ?? '';

t.test('dry run: the table shows every state, exit 1, and no IAM write', async (t) => {
  const writesBefore = proxy.writes();
  const run = await reconcile([]);
  t.equal(run.code, 1, 'out of place and not fixed');
  const table = run.stdout;
  t.match(table.split('\n')[0], /^NAMESPACE\s+ROLE\s+STATE\s+ACTION$/);
  t.match(rowOf(table, 'team-ok'), /team-ok-prod-role\s+in place\s+-$/);
  t.match(rowOf(table, 'team-drift'), /drift: trust policy\s+would repair trust policy/);
  t.match(rowOf(table, 'team-missing'), /missing\s+would create the role$/);
  t.match(rowOf(table, 'team-backfill'), /missing\s+would create the role, add the plugin$/);
  t.match(rowOf(table, 'team-hand'), /foreign\s+not managed by profile-irsa-webhook/);
  t.match(
    rowOf(table, 'team-gone'),
    /orphan [\dhms]+\s+would mark the role orphaned; kept \(--orphan-policy retain\)/,
  );
  t.notMatch(table, 'team-z', "another cluster's role is not this cluster's business");
  t.match(table, '6 namespaces: 1 in place, 5 out of place (dry run: nothing was changed');
  t.equal(proxy.writes(), writesBefore, 'no IAM write at all');
  t.ok(proxy.forwarded('ListRoles') >= 1, 'it did read IAM');
  t.same((await api.get('team-backfill')).spec?.plugins, undefined, 'no Profile write either');
});

let unthrottledMs = 0;

t.test('-o json: one document, the same states', async (t) => {
  const writesBefore = proxy.writes();
  const run = await reconcile(['-o', 'json']);
  unthrottledMs = run.ms;
  t.equal(run.code, 1);
  const report = JSON.parse(run.stdout) as {
    dryRun: boolean;
    summary: Record<string, number>;
    namespaces: {
      namespace: string;
      status: string;
      state: { kind: string };
      actions: { kind: string; result: string }[];
    }[];
  };
  t.equal(report.dryRun, true);
  t.same(report.summary, { namespaces: 6, inPlace: 1, fixed: 0, outOfPlace: 5 });
  t.same(Object.fromEntries(report.namespaces.map((n) => [n.namespace, n.state.kind])), {
    'team-backfill': 'missing',
    'team-drift': 'drift',
    'team-gone': 'orphan',
    'team-hand': 'foreign',
    'team-missing': 'missing',
    'team-ok': 'in-place',
  });
  const backfill = report.namespaces.find((n) => n.namespace === 'team-backfill')!;
  t.same(backfill.actions, [
    { kind: 'create-role', description: 'create the role', result: 'planned' },
    { kind: 'add-plugin', description: 'add the plugin', result: 'planned' },
  ]);
  t.equal(proxy.writes(), writesBefore, 'no IAM write');
});

t.test('bad configuration is exit code 2, with every problem', async (t) => {
  const run = await reconcile(['--orphan-grace', '5s', '--iam-rate', '0']);
  t.equal(run.code, 2);
  t.match(run.stderr, '--orphan-grace (ORPHAN_GRACE): must be longer than 30s');
  t.match(run.stderr, '--iam-rate (IAM_RATE): must be more than 0');
  t.equal((await reconcile(['-o', 'yaml'])).code, 2, 'an unknown output format');
});

t.test('IAM throttling slows a pass without failing it', async (t) => {
  const throttleMs = 4000;
  proxy.throttleFor(throttleMs);
  const throttledBefore = proxy.throttled();
  const run = await reconcile(['-o', 'json'], { LOG_LEVEL: 'warn' });
  t.equal(run.code, 1, 'the same answer as without throttling');
  t.same(JSON.parse(run.stdout).summary, { namespaces: 6, inPlace: 1, fixed: 0, outOfPlace: 5 });
  t.ok(
    proxy.throttled() > throttledBefore,
    `IAM said Throttling ${proxy.throttled() - throttledBefore} times`,
  );
  const { throttleStarted, lastForwarded } = proxy.times();
  t.ok(
    lastForwarded - throttleStarted >= throttleMs,
    `the pass waited the throttling out and carried on (${lastForwarded - throttleStarted} ms)`,
  );
  t.ok(run.ms >= throttleMs, `slower for it: ${run.ms} ms (${unthrottledMs} ms unthrottled)`);
});

let markedAt = 0;

t.test('--apply fixes what it may; the orphan is retained; exit 1', async (t) => {
  const writesBefore = proxy.writes();
  const run = await reconcile(['--apply']);
  t.equal(run.code, 1, 'the foreign role and the retained orphan are still out of place');
  const table = run.stdout;
  t.match(rowOf(table, 'team-drift'), /drift: trust policy\s+repaired trust policy/);
  t.match(rowOf(table, 'team-missing'), /missing\s+created the role$/);
  t.match(rowOf(table, 'team-backfill'), /missing\s+created the role, added the plugin$/);
  t.match(
    rowOf(table, 'team-gone'),
    /orphan .*marked the role orphaned; kept \(--orphan-policy retain\)/,
  );
  markedAt = Date.now();
  t.match(table, '6 namespaces: 1 in place, 3 fixed, 2 out of place');
  t.ok(proxy.writes() > writesBefore, 'it wrote to IAM');

  const drift = specFor('team-drift');
  const { Role } = await iam.send(new GetRoleCommand({ RoleName: drift.roleName }));
  t.ok(policiesEqual(parsePolicyDocument(Role!.AssumeRolePolicyDocument!), drift.trustPolicy));
  t.ok(await roleExists(iam, specFor('team-missing').roleName));
  t.same((await api.get('team-backfill')).spec?.plugins, [
    {
      kind: 'AwsIamForServiceAccount',
      spec: { awsIamRole: specFor('team-backfill').roleArn, annotateOnly: true },
    },
  ]);
  t.ok(await roleExists(iam, specFor('team-gone').roleName), 'retained');
  const gone = await iam.send(new GetRoleCommand({ RoleName: specFor('team-gone').roleName }));
  t.ok(
    gone.Role?.Tags?.some((tag) => tag.Key === ORPHANED_SINCE_TAG),
    'marked orphaned, for the next run and every replica to count from',
  );
  t.same(await roleSnapshot(iam, 'team-hand-prod-role'), foreignBefore, 'foreign role untouched');
});

t.test('--apply with --orphan-policy delete removes the orphan; all fixed: exit 0', async (t) => {
  await api.delete('team-hand');
  // The grace counts from the mark the earlier run left on the role, not from this run.
  const early = await reconcile(['--apply', '--orphan-policy', 'delete', '--orphan-grace', '31s']);
  t.match(rowOf(early.stdout, 'team-gone'), /deleted in \d+s, once past the orphan grace/);
  t.ok(await roleExists(iam, specFor('team-gone').roleName), 'not before the grace ends');
  const grace = 31_000;
  await sleep(Math.max(0, markedAt + grace + 1000 - Date.now()));
  const run = await reconcile(['--apply', '--orphan-policy', 'delete', '--orphan-grace', '31s']);
  t.equal(run.code, 0, run.stdout + run.stderr);
  t.match(rowOf(run.stdout, 'team-gone'), /orphan [\dhms]+\s+deleted the role$/);
  t.notOk(await roleExists(iam, specFor('team-gone').roleName), 'deleted, inline policy first');
  t.ok(await roleExists(iam, 'team-hand-prod-role'), 'a role that is not ours is no orphan');
  t.same(
    await roleSnapshot(iam, 'team-z-prod-role'),
    otherClusterBefore,
    "another cluster's role untouched",
  );

  const again = await reconcile([]);
  t.equal(again.code, 0, 'a dry run now finds everything in place');
  t.match(again.stdout, '4 namespaces: 4 in place, 0 out of place (dry run)');
});

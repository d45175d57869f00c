// Routine Profile updates and deletions never wait on IAM, and deleting a Profile never makes a
// role (issue 8). The real kube-apiserver calls the webhook through the chart's own webhook
// configurations; the profile controller's requests are sent as it sends them
// (test/helpers/profile-controller.ts); IAM is moto behind a proxy on 127.0.0.1 that counts every
// request at the endpoint and can hang like an IAM outage.

import t, { type Test } from 'tap';
import {
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import { AdmissionregistrationV1Api, ApiException } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { profileReview } from '../../tools/dev/sample.js';
import { plainProfile, registerWebhook, type Profile } from '../../tools/dev/cluster.js';
import { rejection, serveWebhook, startE2eControlPlane, startE2eMoto } from '../helpers/e2e.js';
import { startIamProxy } from '../helpers/iam-proxy.js';
import { roleExists } from '../helpers/iam-roles.js';
import { MOTO_ACCOUNT_ID } from '../helpers/moto.js';
import {
  FINALIZER,
  ProfileControllerStandIn,
  type ProfileWrite,
} from '../helpers/profile-controller.js';
import { testRoleSettings } from '../helpers/settings.js';
import { useMoto } from '../helpers/webhook.js';

const PLUGIN = 'AwsIamForServiceAccount';
/**
 * What a write through the API server may take on this shared machine when no webhook waits on
 * anything. With IAM hanging, a webhook that waited would answer only at its deadline (several
 * seconds: the mutating timeout below is 5 s).
 */
const ROUTINE_LATENCY_MS = 2000;
const MUTATING_TIMEOUT_S = 5;

const { moto, iam } = await startE2eMoto();
const proxy = await startIamProxy(moto.endpoint);
t.teardown(() => proxy.close());
// The webhook's IAM client goes through the proxy; the test reads IAM directly, uncounted.
useMoto(proxy);

const { cp, kc, api } = await startE2eControlPlane();
const admission = kc.makeApiClient(AdmissionregistrationV1Api);

// Profiles stored before any webhook is registered: the shapes a Profile made before the webhook
// can have, for the matchCondition branches.
const bare = (name: string, spec?: unknown) =>
  ({
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    metadata: { name },
    ...(spec === undefined ? {} : { spec }),
  }) as Profile;
await api.create(bare('old-nospec'));
await api.create(bare('old-noplugins', { owner: { kind: 'User', name: 'o@example.com' } }));

// No role cache: any IAM need would show at once, and routine updates must not have one.
const chartValues = ['--set', `webhook.mutating.timeoutSeconds=${MUTATING_TIMEOUT_S}`];
const webhook = await serveWebhook(
  kc,
  { AWS_ACCOUNT_ID: MOTO_ACCOUNT_ID, ROLE_CACHE_TTL_SECONDS: '0' },
  {},
  { extraArgs: chartValues },
);

const specFor = (ns: string) =>
  deriveRoleSpec(testRoleSettings({ accountId: MOTO_ACCOUNT_ID }), ns);
const pluginsOf = (profile: Profile) => profile.spec?.plugins ?? [];
const derivedPlugin = (ns: string) => ({
  kind: PLUGIN,
  spec: { awsIamRole: specFor(ns).roleArn, annotateOnly: true },
});
const foreignPlugin = {
  kind: PLUGIN,
  spec: { awsIamRole: specFor('team-a').roleArn, annotateOnly: true },
};

/** How often the API server called each webhook for `operation`, from the webhook's own metric. */
async function calls(operation = 'UPDATE'): Promise<{ mutate: number; validate: number }> {
  const counts = { mutate: 0, validate: 0 };
  for (const v of (await webhook.metrics.admissionRequests.get()).values) {
    if (v.labels.operation !== operation) continue;
    counts[v.labels.webhook as 'mutate' | 'validate'] += v.value;
  }
  return counts;
}

async function noIamCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await webhook.metrics.admissionsWithoutIam.get()).values) {
    out[`${v.labels.webhook} ${v.labels.reason}`] = v.value;
  }
  return out;
}

async function gone(name: string): Promise<boolean> {
  try {
    await api.get(name);
    return false;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return true;
    throw err;
  }
}

/** IAM hangs (a black hole) for the duration of `body`; it always answers again afterwards. */
async function withIamHanging<T>(body: () => Promise<T>): Promise<T> {
  proxy.hang();
  try {
    return await body();
  } finally {
    proxy.forward();
  }
}

async function deleteRoleByHand(roleName: string): Promise<void> {
  const { PolicyNames = [] } = await iam.send(new ListRolePoliciesCommand({ RoleName: roleName }));
  for (const PolicyName of PolicyNames) {
    await iam.send(new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName }));
  }
  await iam.send(new DeleteRoleCommand({ RoleName: roleName }));
}

/**
 * A Profile's life as the profile controller drives it, with IAM hanging from after its creation
 * to its end: reconciles, a user's label and annotation change, deletion, the reconcile that
 * removes the finalizer. Returns the Profile writes made.
 */
async function routineLife(t: Test, name: string): Promise<ProfileWrite[]> {
  const created = await api.create(plainProfile(name));
  t.same(pluginsOf(created), [derivedPlugin(name)], 'created with its plugin');
  const controller = new ProfileControllerStandIn(cp.kubeConfig);
  const iamBefore = proxy.actions().length;
  await withIamHanging(async () => {
    await controller.reconcile(name); // routine update, finalizer add, status
    await controller.reconcile(name); // the periodic resync: routine update, status
    await controller.edit(name, 'label and annotation change', (p) => {
      p.metadata!.labels = { ...p.metadata!.labels, team: 'data-science' };
      p.metadata!.annotations = { ...p.metadata!.annotations, 'owner-contact': 'x@example.com' };
    });
    await api.delete(name);
    t.ok((await api.get(name)).metadata?.deletionTimestamp, 'deletion waits for the finalizer');
    await controller.reconcile(name); // routine update while deleting, revoke, finalizer removal
  });
  t.ok(await gone(name), 'the Profile is gone after deletion');
  t.same(proxy.actions().slice(iamBefore), [], 'not one request reached IAM');
  t.same(
    controller.writes.map((w) => w.step),
    [
      'routine update',
      'finalizer add',
      'routine update',
      'label and annotation change',
      'routine update',
      'finalizer removal',
    ],
    "the profile controller's writes, in its order",
  );
  t.same(
    controller.writes[0]!.object.spec,
    { ...controller.writes[0]!.oldObject.spec, resourceQuotaSpec: {} },
    'the routine update changes spec, not spec.plugins',
  );
  for (const write of controller.writes) {
    t.ok(
      write.ms < ROUTINE_LATENCY_MS,
      `${write.step}: ${Math.round(write.ms)} ms, within normal latency`,
    );
  }
  return controller.writes;
}

t.test('the chart registers both webhooks with their matchConditions', async (t) => {
  const mutating = await admission.readMutatingWebhookConfiguration({
    name: 't-profile-irsa-webhook',
  });
  const validating = await admission.readValidatingWebhookConfiguration({
    name: 't-profile-irsa-webhook',
  });
  t.same(
    mutating.webhooks?.[0]?.matchConditions?.map((c) => c.name),
    ['create-or-plugins-change', 'not-being-deleted'],
  );
  t.same(
    validating.webhooks?.[0]?.matchConditions?.map((c) => c.name),
    ['create-or-plugins-change'],
  );
});

t.test(
  'with IAM hanging, the profile controller updates and deletes a Profile without calling the webhook',
  async (t) => {
    const callsBefore = await calls();
    const writes = await routineLife(t, 'team-r');
    t.same(await calls(), callsBefore, 'the API server called neither webhook for any update');

    // The same reviews sent straight to the webhook (a caller without matchConditions) are
    // answered from the request alone: allowed, no patch, not one request reaches IAM.
    const iamAtReplay = proxy.actions().length;
    const counted = await noIamCounts();
    await withIamHanging(async () => {
      for (const write of writes) {
        const review = profileReview({
          operation: 'UPDATE',
          object: write.object,
          oldObject: write.oldObject,
        });
        for (const path of ['/mutate', '/validate']) {
          const started = performance.now();
          const res = await webhook.post(path, review);
          const ms = performance.now() - started;
          const response = res.json().response;
          t.equal(response.allowed, true, `${path} ${write.step}: allowed`);
          t.equal(response.patch, undefined, `${path} ${write.step}: no patch`);
          t.ok(ms < ROUTINE_LATENCY_MS, `${path} ${write.step}: answered in ${Math.round(ms)} ms`);
        }
      }
    });
    t.same(proxy.actions().slice(iamAtReplay), [], 'zero requests at the IAM endpoint');
    const after = await noIamCounts();
    const delta = (key: string) => (after[key] ?? 0) - (counted[key] ?? 0);
    t.equal(delta('mutate plugins-unchanged'), 4, 'mutate: the four writes before deletion');
    t.equal(delta('mutate deleting'), 2, 'mutate: the two writes during deletion');
    t.equal(delta('validate plugins-unchanged'), 6, 'validate: all six');
  },
);

/** Deletes a Profile whose role an admin removed by hand; IAM must be asked nothing. */
async function deleteAfterRoleRemovedByHand(t: Test, name: string): Promise<void> {
  await api.create(plainProfile(name));
  const controller = new ProfileControllerStandIn(cp.kubeConfig);
  await controller.reconcile(name);
  const { roleName } = specFor(name);
  await deleteRoleByHand(roleName);
  const iamBefore = proxy.actions().length;
  await controller.reconcile(name);
  await api.delete(name);
  await controller.reconcile(name);
  t.ok(await gone(name), 'the Profile is gone');
  t.notOk(await roleExists(iam, roleName), 'no role was created for it (read from IAM)');
  t.same(proxy.actions().slice(iamBefore), [], 'no request reached IAM at all');
}

t.test('a Profile whose role was deleted by hand is deleted without a role being made', (t) =>
  deleteAfterRoleRemovedByHand(t, 'team-h'),
);

t.test('an UPDATE that changes the plugins still goes through both webhooks', async (t) => {
  const name = 'team-u';
  await api.create(plainProfile(name));
  const controller = new ProfileControllerStandIn(cp.kubeConfig);
  await controller.reconcile(name);
  const removePlugin = (p: Profile) => {
    p.spec = { ...p.spec, plugins: [] };
  };

  const before = await calls();
  const restored = await controller.edit(name, 'plugin removed', removePlugin);
  t.same(pluginsOf(restored), [derivedPlugin(name)], 'a removed plugin comes back');
  const message = await rejection(
    controller.edit(name, 'another role', (p) => {
      p.spec = { ...p.spec, plugins: [foreignPlugin] };
    }),
  );
  t.match(message, `does not belong to Profile ${name}`, 'another role is denied');
  const after = await calls();
  t.equal(after.mutate - before.mutate, 2, 'the mutating webhook was called for both');
  // The restored Profile's plugins equal the stored ones again, so validation is not called.
  t.equal(after.validate - before.validate, 1, 'the validating webhook for the other role');

  // Restoring the plugin is IAM work (no role cache here): with IAM hanging it is refused at the
  // webhook's deadline, and the stored Profile keeps its plugin.
  const iamBefore = proxy.actions().length;
  const started = performance.now();
  const refused = await withIamHanging(() =>
    rejection(controller.edit(name, 'plugin removed', removePlugin)),
  );
  const ms = performance.now() - started;
  t.match(refused, /could not finish within \d+ ms; retrying may help/);
  t.ok(ms < MUTATING_TIMEOUT_S * 1000, `refused in ${Math.round(ms)} ms, inside the timeout`);
  t.ok(proxy.actions().length > iamBefore, 'the role was looked up in IAM');
  t.same(pluginsOf(await api.get(name)), [derivedPlugin(name)], 'the stored plugin is unchanged');
});

t.test('each matchCondition branch, against the real API server', async (t) => {
  const editor = new ProfileControllerStandIn(cp.kubeConfig);
  const skipLabel = { 'profile-irsa-webhook.kubeflow.org/skip-mutation': 'true' };
  await api.create({
    ...bare('skip-u', { plugins: [derivedPlugin('skip-u')] }),
    metadata: { name: 'skip-u', labels: skipLabel },
  });
  await api.create(plainProfile('del'));
  await editor.edit('del', 'finalizer add', (p) => {
    p.metadata!.finalizers = [FINALIZER];
  });
  const owner = { kind: 'User', name: 'o@example.com' };
  type Outcome = 'stored' | RegExp;
  const cases: [
    string,
    string,
    (p: Profile) => void,
    [mutate: number, validate: number],
    Outcome,
  ][] = [
    [
      'spec absent on both sides (a label change)',
      'old-nospec',
      (p) => {
        p.metadata!.labels = { changed: 'yes' };
      },
      [0, 0],
      'stored',
    ],
    [
      'plugins absent on both sides (a new owner)',
      'old-noplugins',
      (p) => {
        p.spec = { owner: { ...owner, name: 'p@example.com' } };
      },
      [0, 0],
      'stored',
    ],
    [
      'plugins absent, then an empty list',
      'old-noplugins',
      (p) => {
        p.spec = { ...p.spec, plugins: [] };
      },
      [0, 0],
      'stored',
    ],
    [
      'an empty list, then spec null (the API server prunes it to absent)',
      'old-noplugins',
      (p) => {
        (p as { spec: unknown }).spec = null;
      },
      [0, 0],
      'stored',
    ],
    [
      'spec absent, then a plugin naming another role',
      'old-nospec',
      (p) => {
        p.spec = { plugins: [foreignPlugin] };
      },
      [1, 1],
      /does not belong to Profile old-nospec/,
    ],
    [
      'spec absent, then the derived plugin',
      'old-nospec',
      (p) => {
        p.spec = { owner, plugins: [derivedPlugin('old-nospec')] };
      },
      [1, 1],
      'stored',
    ],
    [
      'plugins present, then spec absent (restored; the final object equals the stored one)',
      'old-nospec',
      (p) => {
        delete p.spec;
      },
      [1, 0],
      'stored',
    ],
    [
      'plugins present, then spec without plugins (restored)',
      'old-nospec',
      (p) => {
        p.spec = { owner };
      },
      [1, 0],
      'stored',
    ],
    [
      'plugins removed from a Profile that opted out of mutation',
      'skip-u',
      (p) => {
        p.spec = {};
      },
      [0, 1],
      /plugin is required/,
    ],
  ];
  for (const [what, name, change, [mutate, validate], outcome] of cases) {
    const before = await calls();
    const result = editor.edit(name, what, change);
    if (outcome === 'stored') await result;
    else t.match(await rejection(result), outcome, `${what}: refused`);
    const after = await calls();
    t.same(
      [after.mutate - before.mutate, after.validate - before.validate],
      [mutate, validate],
      `${what}: calls to [mutating, validating]`,
    );
  }
  t.same(pluginsOf(await api.get('old-nospec')), [derivedPlugin('old-nospec')], 'kept its plugin');

  // Being deleted: the mutating webhook is never called; the validating one checks plugin changes.
  await api.delete('del');
  const deleting: [string, (p: Profile) => void, [number, number], Outcome][] = [
    [
      'while deleting, a plugin naming another role',
      (p) => {
        p.spec = { ...p.spec, plugins: [foreignPlugin] };
      },
      [0, 1],
      /does not belong to Profile del/,
    ],
    [
      'while deleting, the plugin removed (nothing adds it back)',
      (p) => {
        p.spec = { ...p.spec, plugins: [] };
      },
      [0, 1],
      'stored',
    ],
    [
      'while deleting, an update without the deletion timestamp naming another role',
      (p) => {
        delete p.metadata!.deletionTimestamp;
        delete p.metadata!.deletionGracePeriodSeconds;
        p.spec = { ...p.spec, plugins: [foreignPlugin] };
      },
      [0, 1],
      /does not belong to Profile del/,
    ],
    [
      'while deleting, the finalizer removal',
      (p) => {
        p.metadata!.finalizers = [];
      },
      [0, 0],
      'stored',
    ],
  ];
  for (const [what, change, [mutate, validate], outcome] of deleting) {
    const before = await calls();
    const result = editor.edit('del', what, change);
    if (outcome === 'stored') await result;
    else t.match(await rejection(result), outcome, `${what}: refused`);
    const after = await calls();
    t.same(
      [after.mutate - before.mutate, after.validate - before.validate],
      [mutate, validate],
      `${what}: calls to [mutating, validating]`,
    );
  }
  t.ok(await gone('del'), 'gone once the finalizer is removed');
  t.notOk(await roleExists(iam, specFor('skip-u').roleName), 'no role for the opted-out Profile');
});

t.test(
  'without matchConditions (the chart as rendered for Kubernetes < 1.28) the API server calls the webhook, which still needs no IAM',
  async (t) => {
    await admission.deleteMutatingWebhookConfiguration({ name: 't-profile-irsa-webhook' });
    await admission.deleteValidatingWebhookConfiguration({ name: 't-profile-irsa-webhook' });
    await registerWebhook(cp.kubeConfig, webhook.url, webhook.certs.caCert, {
      release: 'old',
      extraArgs: [...chartValues, '--kube-version', '1.27.0'],
    });
    const registered = await admission.readMutatingWebhookConfiguration({
      name: 'old-profile-irsa-webhook',
    });
    t.same(registered.webhooks?.[0]?.matchConditions ?? [], [], 'rendered without them');

    // The API server takes a moment to see new configurations: wait until a label change
    // reaches the webhook (the old ones were deleted first, so they are gone by then).
    await api.create(plainProfile('probe-update'));
    const editor = new ProfileControllerStandIn(cp.kubeConfig);
    const deadline = Date.now() + 30_000;
    for (let i = 0; ; i++) {
      const before = await calls();
      await editor.edit('probe-update', 'probe', (p) => {
        p.metadata!.labels = { probe: String(i) };
      });
      if ((await calls()).mutate > before.mutate) break;
      if (Date.now() > deadline) throw new Error('the new configurations never took effect');
      await sleep(200);
    }

    const before = await calls();
    const writes = await routineLife(t, 'team-o');
    const after = await calls();
    t.equal(after.mutate - before.mutate, writes.length, 'mutating webhook called for every write');
    t.equal(after.validate - before.validate, writes.length, 'validating webhook too');

    await deleteAfterRoleRemovedByHand(t, 'team-ho');
  },
);

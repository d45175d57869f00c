import t from 'tap';
import { request } from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { createObjects, plainProfile } from '../../tools/dev/cluster.js';
import { API_SERVER_DEPTH, nestedJson } from '../helpers/deep.js';
import { chartDir, findObject, helmTemplate, REQUIRED_VALUES } from '../helpers/helm.js';
import { roleExists } from '../helpers/iam-roles.js';
import { rejection, serveWebhook, startE2eControlPlane, startE2eMoto } from '../helpers/e2e.js';
import { MOTO_ACCOUNT_ID } from '../helpers/moto.js';
import { createReview } from '../helpers/reviews.js';
import { testRoleSettings } from '../helpers/settings.js';
import { startTestWebhook } from '../helpers/webhook.js';

const PLUGIN = 'AwsIamForServiceAccount';

const { iam } = await startE2eMoto();
// The webhook reads Namespaces through KUBECONFIG, as it would outside a pod.
const { cp, kc, core, api } = await startE2eControlPlane();
const workDir = await mkdtemp(join(tmpdir(), 'e2e-hardening-'));
t.teardown(() => rm(workDir, { recursive: true, force: true }));
await serveWebhook(kc);

const specFor = (ns: string) =>
  deriveRoleSpec(testRoleSettings({ accountId: MOTO_ACCOUNT_ID }), ns);

async function createNamespace(name: string, annotations?: Record<string, string>) {
  await core.createNamespace({
    body: { metadata: { name, ...(annotations ? { annotations } : {}) } },
  });
}

t.test("a namespace that is already someone else's gets no role", async (t) => {
  await createNamespace('team-taken', { owner: 'alice@example.com' });
  const message = await rejection(api.create(plainProfile('team-taken')));
  t.match(message, 'namespace "team-taken" already exists and belongs to "alice@example.com"');
  t.match(message, 'this Profile\'s owner "team-taken@example.com"');
  t.notOk(await roleExists(iam, specFor('team-taken').roleName), 'no role in IAM');

  const mine = await api.create(
    plainProfile('team-taken', { owner: { kind: 'User', name: 'alice@example.com' } }),
  );
  t.same(
    mine.spec?.plugins?.filter((p) => p.kind === PLUGIN).map((p) => p.spec?.['awsIamRole']),
    [specFor('team-taken').roleArn],
    "the namespace owner's own Profile is admitted",
  );
  t.ok(await roleExists(iam, specFor('team-taken').roleName), 'and gets its role');

  await createNamespace('team-unowned');
  t.match(
    await rejection(api.create(plainProfile('team-unowned'))),
    'namespace "team-unowned" already exists and has no owner annotation',
  );
  t.notOk(await roleExists(iam, specFor('team-unowned').roleName));
});

t.test("the chart's RBAC is what the check needs, and no more", async (t) => {
  const objects = await helmTemplate([
    'irsa',
    chartDir,
    ...REQUIRED_VALUES,
    '--namespace',
    'default',
    '--show-only',
    'templates/rbac.yaml',
    '--show-only',
    'templates/serviceaccount.yaml',
  ]);
  await createObjects(cp.kubeConfig, objects);
  const account = findObject(objects, 'ServiceAccount').metadata.name;
  const user = `system:serviceaccount:default:${account}`;
  const authz = cp.kubeConfig.makeApiClient(AuthorizationV1Api);
  const may = async (verb: string, name?: string) =>
    (
      await authz.createSubjectAccessReview({
        body: {
          spec: {
            user,
            resourceAttributes: { verb, resource: 'namespaces', ...(name ? { name } : {}) },
          },
        },
      })
    ).status?.allowed === true;
  t.ok(await may('get', 'team-taken'), 'get one namespace');
  // The reconciler (on by default) reads the owners of all in one paged list each full pass.
  t.ok(await may('list'), "list: the reconciler's full pass");
  t.notOk(await may('update', 'team-taken'), 'not update');

  // A webhook that runs as that service account, with its token and nothing else.
  const token = (
    await core.createNamespacedServiceAccountToken({
      name: account,
      namespace: 'default',
      body: { spec: { expirationSeconds: 600 } },
    })
  ).status!.token!;
  const asAccount = await kubeconfigWithToken('chart-sa', token);
  const withChartRbac = await startWebhookWith(asAccount);
  const denied = (await withChartRbac.post('/mutate', createReview('team-taken'))).json().response;
  t.equal(denied.allowed, false);
  t.match(
    denied.status.message,
    'belongs to "alice@example.com"',
    'the check works with the chart RBAC',
  );

  // Without it: the webhook's own fault, said as such.
  await core.createNamespacedServiceAccount({
    namespace: 'default',
    body: { metadata: { name: 'no-rbac' } },
  });
  const bare = (
    await core.createNamespacedServiceAccountToken({
      name: 'no-rbac',
      namespace: 'default',
      body: { spec: { expirationSeconds: 600 } },
    })
  ).status!.token!;
  const withoutRbac = await startWebhookWith(await kubeconfigWithToken('no-rbac', bare));
  const failed = (await withoutRbac.post('/mutate', createReview('team-free'))).json().response;
  t.equal(failed.allowed, false);
  t.equal(failed.status.code, 500, 'a server-side error');
  t.match(failed.status.message, 'needs get on namespaces');
  t.match(failed.status.message, '`profile-irsa-webhook doctor`');
  t.notOk(await roleExists(iam, specFor('team-free').roleName), 'and no role');
});

t.test('a Profile with generateName is refused, saying the name is the namespace', async (t) => {
  const profile = plainProfile('unused');
  const message = await rejection(
    api.create({ ...profile, metadata: { generateName: 'team-gen-' } }),
  );
  t.match(message, 'metadata.generateName "team-gen-" is not supported');
  t.match(message, "a Profile's name is the namespace it creates");
  t.same(
    (await api.list()).filter((p) => p.metadata?.name?.startsWith('team-gen-')),
    [],
    'nothing stored',
  );
});

t.test(
  'a Profile nested as deep as the API server accepts can be updated and deleted',
  async (t) => {
    const name = 'team-deep';
    const base = plainProfile(name, {
      plugins: [{ kind: 'SomeOtherPlugin', spec: { deep: '__DEEP__' } }],
    });
    const body = JSON.stringify(base).replace('"__DEEP__"', nestedJson(API_SERVER_DEPTH, '"a"'));
    const created = await raw(cp.kubeConfig, 'POST', '/apis/kubeflow.org/v1/profiles', body);
    t.equal(created.status, 201, `created (${created.text.slice(0, 200)})`);
    t.ok(await roleExists(iam, specFor(name).roleName), 'its role was made');

    // An UPDATE that changes the deep plugin reaches both webhooks, which must compare it.
    const path = `/apis/kubeflow.org/v1/profiles/${name}`;
    const stored = await raw(cp.kubeConfig, 'GET', path);
    const changed = stored.text.replace(`${'{"d":'.repeat(3)}"a"`, `${'{"d":'.repeat(3)}"b"`);
    t.not(changed, stored.text, 'the deepest value changes');
    const updated = await raw(cp.kubeConfig, 'PUT', path, changed);
    t.equal(updated.status, 200, `updated (${updated.text.slice(0, 300)})`);

    // The profile controller's finalizer round trip: add, then remove, then the delete goes through.
    const patch = (value: unknown) =>
      raw(
        cp.kubeConfig,
        'PATCH',
        path,
        JSON.stringify({ metadata: { finalizers: value } }),
        'application/merge-patch+json',
      );
    t.equal((await patch(['profile-finalizer'])).status, 200, 'finalizer added');
    t.equal((await raw(cp.kubeConfig, 'DELETE', path)).status, 200, 'deletion requested');
    const removed = await patch(null);
    t.equal(removed.status, 200, `finalizer removed (${removed.text.slice(0, 300)})`);
    t.equal((await raw(cp.kubeConfig, 'GET', path)).status, 404, 'gone');
  },
);

/** A kubeconfig for the control plane that authenticates with a bearer token only. */
async function kubeconfigWithToken(name: string, token: string): Promise<string> {
  const cluster = cp.kubeConfig.getCurrentCluster()!;
  const file = join(workDir, `${name}.kubeconfig`);
  await writeFile(
    file,
    toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'cp',
          cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData },
        },
      ],
      users: [{ name, user: { token } }],
      contexts: [{ name, context: { cluster: 'cp', user: name } }],
      'current-context': name,
    }),
  );
  return file;
}

async function startWebhookWith(kubeconfig: string) {
  const previous = process.env.KUBECONFIG;
  process.env.KUBECONFIG = kubeconfig;
  try {
    const started = await startTestWebhook();
    t.teardown(() => started.stop());
    return started;
  } finally {
    process.env.KUBECONFIG = previous;
  }
}

/** One API request with a body given as text: JSON.stringify cannot write what the tests send. */
async function raw(
  kc: KubeConfig,
  method: string,
  path: string,
  body?: string,
  contentType = 'application/json',
): Promise<{ status: number; text: string }> {
  const cluster = kc.getCurrentCluster()!;
  const options: Parameters<typeof request>[1] = {
    method,
    headers: body === undefined ? {} : { 'content-type': contentType },
  };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, cluster.server), options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
      );
      res.on('error', reject);
    });
    req.setTimeout(60_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

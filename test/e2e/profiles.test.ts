import t from 'tap';
import { execFile } from 'node:child_process';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GetRoleCommand, GetRolePolicyCommand } from '@aws-sdk/client-iam';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { parsePolicyDocument, policiesEqual } from '../../src/core/policy-compare.js';
import { plainProfile, type Profile } from '../../tools/dev/cluster.js';
import { rejection, serveWebhook, startE2eControlPlane, startE2eMoto } from '../helpers/e2e.js';
import { MOTO_ACCOUNT_ID } from '../helpers/moto.js';
import { testRoleSettings } from '../helpers/settings.js';
import { startTestWebhook, type TestWebhook } from '../helpers/webhook.js';
import { createHandMadeRole, EC2_TRUST, roleExists, roleSnapshot } from '../helpers/iam-roles.js';

const run = promisify(execFile);
const PLUGIN = 'AwsIamForServiceAccount';

const { iam } = await startE2eMoto();
const { cp, kc, api } = await startE2eControlPlane();
let webhook: TestWebhook = await serveWebhook(kc);
// The webhook restarted below.
t.teardown(() => webhook.stop());
const specFor = (ns: string) =>
  deriveRoleSpec(testRoleSettings({ accountId: MOTO_ACCOUNT_ID }), ns);
const pluginOf = (profile: Profile) =>
  profile.spec?.plugins?.filter((p) => p.kind === PLUGIN) ?? [];
const workDir = await mkdtemp(join(tmpdir(), 'e2e-'));
t.teardown(() => rm(workDir, { recursive: true, force: true }));

async function kubectl(args: string[], input?: Profile) {
  const file = join(workDir, `input-${Math.random().toString(36).slice(2)}.yaml`);
  if (input) await writeFile(file, toYaml(input));
  try {
    const { stdout, stderr } = await run('kubectl', [
      '--kubeconfig',
      cp.kubeconfigPath,
      ...args,
      ...(input ? ['-f', file] : []),
    ]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

t.test('a plain Profile is stored with the plugin and its role exists in IAM', async (t) => {
  const created = await api.create(plainProfile('team-a'));
  const spec = specFor('team-a');
  t.same(pluginOf(created), [
    { kind: PLUGIN, spec: { awsIamRole: spec.roleArn, annotateOnly: true } },
  ]);
  t.same(pluginOf(await api.get('team-a')), pluginOf(created), 'as stored');
  const role = (await iam.send(new GetRoleCommand({ RoleName: spec.roleName }))).Role!;
  t.equal(role.Arn, spec.roleArn);
  t.ok(
    policiesEqual(parsePolicyDocument(role.AssumeRolePolicyDocument!), spec.trustPolicy),
    'trust policy',
  );
  const inline = await iam.send(
    new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  t.ok(
    policiesEqual(parsePolicyDocument(inline.PolicyDocument!), spec.s3Policy.document),
    'S3 policy',
  );
});

t.test('a Profile created as v1beta1 is mutated and validated too', async (t) => {
  const created = await api.create(
    { ...plainProfile('team-beta'), apiVersion: 'kubeflow.org/v1beta1' },
    { version: 'v1beta1' },
  );
  t.same(pluginOf(created), [
    { kind: PLUGIN, spec: { awsIamRole: specFor('team-beta').roleArn, annotateOnly: true } },
  ]);
  t.ok(await roleExists(iam, specFor('team-beta').roleName));
  const foreign = plainProfile('team-beta2', {
    plugins: [
      { kind: PLUGIN, spec: { awsIamRole: specFor('team-a').roleArn, annotateOnly: true } },
    ],
  });
  const message = await rejection(
    api.create({ ...foreign, apiVersion: 'kubeflow.org/v1beta1' }, { version: 'v1beta1' }),
  );
  t.match(message, 'does not belong to Profile team-beta2');
});

t.test('kubectl apply --dry-run=server shows the plugin and creates no role', async (t) => {
  const result = await kubectl(
    ['apply', '--dry-run=server', '-o', 'json'],
    plainProfile('team-dry'),
  );
  t.equal(result.code, 0, result.stderr);
  const shown = JSON.parse(result.stdout) as Profile;
  t.same(pluginOf(shown), [
    { kind: PLUGIN, spec: { awsIamRole: specFor('team-dry').roleArn, annotateOnly: true } },
  ]);
  t.notOk(await roleExists(iam, specFor('team-dry').roleName), 'no role in IAM');
  t.equal((await kubectl(['get', 'profile', 'team-dry'])).code, 1, 'nothing stored');
});

t.test(
  'Profiles that name a role that is not theirs are rejected with the webhook message',
  async (t) => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [
        'a foreign role',
        { awsIamRole: specFor('team-a').roleArn, annotateOnly: true },
        /does not belong to Profile team-x/,
      ],
      [
        'a role in another account',
        {
          awsIamRole: specFor('team-x').roleArn.replace(MOTO_ACCOUNT_ID, '999999999999'),
          annotateOnly: true,
        },
        /expected arn:aws:iam::123456789012:role\/kubeflow-profiles\/team-x-prod-role/,
      ],
      [
        'annotateOnly: false',
        { awsIamRole: specFor('team-x').roleArn, annotateOnly: false },
        /annotateOnly must be true/,
      ],
    ];
    for (const [name, pluginSpec, message] of cases) {
      const profile = plainProfile('team-x', { plugins: [{ kind: PLUGIN, spec: pluginSpec }] });
      t.match(await rejection(api.create(profile)), message, name);
      const viaKubectl = await kubectl(['apply'], profile);
      t.not(viaKubectl.code, 0, `${name}: kubectl fails`);
      t.match(
        viaKubectl.stderr,
        /admission webhook "validate\.profile-irsa-webhook\.kubeflow\.org" denied the request/,
      );
      t.match(viaKubectl.stderr, message, `${name}: kubectl shows why`);
    }
    t.equal((await kubectl(['get', 'profile', 'team-x'])).code, 1, 'none stored');
  },
);

t.test(
  'content problems are refused through the API server with the webhook message',
  async (t) => {
    const cases: [string, Profile, RegExp][] = [
      ['a reserved namespace', plainProfile('kubeflow'), /"kubeflow" is a reserved namespace/],
      [
        'a plugin key that differs only by case',
        plainProfile('team-case', {
          plugins: [
            {
              kind: PLUGIN,
              spec: {
                awsIamRole: specFor('team-case').roleArn,
                annotateOnly: true,
                AwsIamRole: 'arn:aws:iam::1:role/x',
              },
            },
          ],
        }),
        /must be spelled exactly "awsIamRole"/,
      ],
      [
        'two plugins',
        plainProfile('team-two', {
          plugins: [
            { kind: PLUGIN, spec: { awsIamRole: specFor('team-two').roleArn, annotateOnly: true } },
            { kind: PLUGIN, spec: { awsIamRole: specFor('team-two').roleArn, annotateOnly: true } },
          ],
        }),
        /only one AwsIamForServiceAccount plugin/,
      ],
    ];
    const calls = await webhook.iamCalls();
    for (const [name, profile, message] of cases) {
      t.match(await rejection(api.create(profile)), message, name);
    }
    t.equal(await webhook.iamCalls(), calls, 'no IAM call for any of them');
  },
);

t.test(
  'a hand-made role that does not trust the namespace is never changed, and the Profile is refused',
  async (t) => {
    const spec = specFor('team-hand');
    await createHandMadeRole(iam, spec, { trust: EC2_TRUST });
    const before = await roleSnapshot(iam, spec.roleName);
    const message = await rejection(api.create(plainProfile('team-hand')));
    t.match(message, `IAM role ${spec.roleName} cannot be used`);
    t.match(message, 'trust policy');
    t.same(await roleSnapshot(iam, spec.roleName), before, 'trust, tags and policies unchanged');
    t.equal((await kubectl(['get', 'profile', 'team-hand'])).code, 1, 'not stored');
  },
);

t.test(
  'updates: plugin restored, foreign role refused, finalizer and status updates cost no IAM call',
  async (t) => {
    await api.create(plainProfile('team-u'));
    const stored = await api.get('team-u');

    const removed = await api.replace({ ...stored, spec: { ...stored.spec, plugins: [] } });
    t.same(pluginOf(removed), pluginOf(stored), 'removing the plugin gets it back');

    const current = await api.get('team-u');
    const foreign = {
      ...current,
      spec: {
        ...current.spec,
        plugins: [
          { kind: PLUGIN, spec: { awsIamRole: specFor('team-a').roleArn, annotateOnly: true } },
        ],
      },
    };
    t.match(await rejection(api.replace(foreign)), 'does not belong to Profile team-u');

    const calls = await webhook.iamCalls();
    const withFinalizer = await api.replace({
      ...(await api.get('team-u')),
      metadata: { ...(await api.get('team-u')).metadata, finalizers: ['profile-finalizer'] },
    });
    t.same(withFinalizer.metadata?.finalizers, ['profile-finalizer']);
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await custom.replaceClusterCustomObjectStatus({
      group: 'kubeflow.org',
      version: 'v1',
      plural: 'profiles',
      name: 'team-u',
      body: { ...withFinalizer, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    });
    t.equal(await webhook.iamCalls(), calls, 'no IAM call for finalizer and status updates');

    await api.delete('team-u');
    const terminating = await api.get('team-u');
    t.ok(terminating.metadata?.deletionTimestamp, 'deletion waits for the finalizer');
    await api.replace({ ...terminating, metadata: { ...terminating.metadata, finalizers: [] } });
    t.equal(
      (await kubectl(['get', 'profile', 'team-u'])).code,
      1,
      'gone once the finalizer is removed',
    );
  },
);

t.test('many Profiles created in parallel all come out right', async (t) => {
  const names = Array.from({ length: 20 }, (_, i) => `team-p${i}`);
  const created = await Promise.all(names.map((name) => api.create(plainProfile(name))));
  for (const [i, profile] of created.entries()) {
    t.same(pluginOf(profile), [
      { kind: PLUGIN, spec: { awsIamRole: specFor(names[i]!).roleArn, annotateOnly: true } },
    ]);
  }
  const exists = await Promise.all(names.map((name) => roleExists(iam, specFor(name).roleName)));
  t.ok(exists.every(Boolean), 'every role exists');
});

t.test('webhook down: creation is refused; webhook back: creation works', async (t) => {
  const port = new URL(webhook.url).port;
  const certs = webhook.certs;
  const stopping = performance.now();
  await webhook.stop();
  // The API server keeps spare connections open; shutdown must not wait for them to time out.
  t.ok(performance.now() - stopping < 10_000, 'stops promptly with the API server still connected');
  const refused = await rejection(api.create(plainProfile('team-down')));
  t.match(refused, /failed calling webhook/, 'fails closed');
  t.equal((await kubectl(['get', 'profile', 'team-down'])).code, 1, 'not stored');

  webhook = await startTestWebhook({ PORT: port }, { certs });
  const created = await api.create(plainProfile('team-down'));
  t.same(pluginOf(created), [
    { kind: PLUGIN, spec: { awsIamRole: specFor('team-down').roleArn, annotateOnly: true } },
  ]);
});

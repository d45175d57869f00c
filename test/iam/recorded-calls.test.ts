import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRolePolicyCommand,
  IAMClient,
  ListOpenIDConnectProvidersCommand,
  UntagRoleCommand,
  UpdateAssumeRolePolicyCommand,
  UpdateRoleCommand,
} from '@aws-sdk/client-iam';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { startWebhook } from '../../src/commands/serve.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { writeLocalCerts } from '../../tools/dev/certs.js';
import { EC2_TRUST, roleSnapshot } from '../helpers/iam-roles.js';
import { startIamRecorder } from '../helpers/iam-recorder.js';
import {
  iamClientFor,
  judgedCredentials,
  judgedSettingsFor,
  MOTO_ACCOUNT_ID,
  MOTO_REGION,
  startMoto,
} from '../helpers/moto.js';
import { createReview } from '../helpers/reviews.js';
import { testRoleSettings } from '../helpers/settings.js';
import { localServeEnv, startTestWebhook, useMoto } from '../helpers/webhook.js';

// The IAM calls the webhook really makes, recorded at moto's endpoint and judged by the policy
// simulator against the policy `iam-policy` prints for the webhook's configuration: here with
// the recommended boundary, extra tags and a session duration, through every repair. (Every file
// that starts moto is judged the same way when it ends: test/helpers/moto.ts.)

const moto = await startMoto();
t.teardown(() => moto.stop());
useMoto(moto);
const raw = iamClientFor(moto.endpoint);
const BOUNDARY = `arn:aws:iam::${MOTO_ACCOUNT_ID}:policy/profile-irsa-webhook-boundary`;
const ENV = {
  PERMISSIONS_BOUNDARY_ARN: BOUNDARY,
  EXTRA_ROLE_TAGS: 'team=ml,cost-center=4711',
  MAX_SESSION_DURATION: '7200',
};
const webhook = await startTestWebhook(ENV);
t.teardown(() => webhook.stop());
const settings = testRoleSettings({
  accountId: MOTO_ACCOUNT_ID,
  permissionsBoundary: BOUNDARY,
  extraTags: { team: 'ml', 'cost-center': '4711' },
  maxSessionDuration: 7200,
});

async function admit(namespace: string) {
  const res = await webhook.post('/mutate', createReview(namespace), '?timeout=10s');
  return res.json().response as {
    allowed: boolean;
    warnings?: string[];
    status?: { message: string };
  };
}

t.test(
  'create, then every repair, with the boundary: each call allowed by the policy',
  async (t) => {
    const spec = deriveRoleSpec(settings, 'team-rec');
    t.equal((await admit('team-rec')).allowed, true);
    t.match(await roleSnapshot(raw, spec.roleName), { boundary: BOUNDARY, maxSession: 7200 });

    await raw.send(
      new UpdateAssumeRolePolicyCommand({
        RoleName: spec.roleName,
        PolicyDocument: JSON.stringify({
          ...spec.trustPolicy,
          Statement: [{ ...spec.trustPolicy.Statement[0]!, Condition: {} }],
        }),
      }),
    );
    await raw.send(
      new DeleteRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
    );
    await raw.send(new UpdateRoleCommand({ RoleName: spec.roleName, MaxSessionDuration: 3600 }));
    await raw.send(new UntagRoleCommand({ RoleName: spec.roleName, TagKeys: ['team'] }));
    // A second webhook process (another replica) has no cache: it sees the drift and repairs it.
    const replica = await startTestWebhook(ENV);
    t.teardown(() => replica.stop());
    const res = await replica.post('/mutate', createReview('team-rec'), '?timeout=10s');
    const answer = res.json().response;
    t.equal(answer.allowed, true);
    t.match(answer.warnings, [
      /trust policy, missing inline policy, max session duration, tags repaired/,
    ]);

    const requests = (await moto.recorder.requests()).filter(
      (r) => r.params['RoleName'] === spec.roleName,
    );
    const operations = new Set(requests.map((r) => r.operation));
    for (const operation of [
      'GetRole',
      'CreateRole',
      'PutRolePolicy',
      'ListAttachedRolePolicies',
      'ListRolePolicies',
      'GetRolePolicy',
      'UpdateAssumeRolePolicy',
      'UpdateRole',
      'TagRole',
    ]) {
      t.ok(operations.has(operation), `${operation} was made and recorded`);
    }
    for (const request of requests) {
      t.notOk(
        request.assumedDefault,
        `${request.operation}: judged against the webhook's own configuration`,
      );
      t.equal(request.settings?.permissionsBoundary, BOUNDARY);
      for (const verdict of request.verdicts) {
        t.equal(
          verdict.result,
          'Allowed',
          `${request.operation} as ${verdict.request.action}: ${verdict.explanation}`,
        );
      }
    }
    const create = requests.find((r) => r.operation === 'CreateRole')!;
    t.same(
      create.verdicts.map((v) => v.request.action),
      ['iam:CreateRole', 'iam:TagRole'],
      'CreateRole with tags is authorized as iam:TagRole too',
    );
  },
);

t.test('the same, without a boundary', async (t) => {
  const plain = await startTestWebhook({ CLUSTER_NAME: 'plain' });
  t.teardown(() => plain.stop());
  const res = await plain.post('/mutate', createReview('team-plain'), '?timeout=10s');
  t.equal(res.json().response.allowed, true);
  const requests = (await moto.recorder.requests()).filter(
    (r) => r.params['RoleName'] === 'team-plain-plain-role',
  );
  t.same(
    requests.map((r) => r.operation),
    ['CreateRole', 'PutRolePolicy'],
    'a new namespace: CreateRole first, two round trips',
  );
  for (const request of requests) {
    t.equal(request.settings?.permissionsBoundary, undefined);
    t.equal(request.settings?.clusterName, 'plain');
    for (const verdict of request.verdicts)
      t.equal(verdict.result, 'Allowed', verdict.request.action);
  }
});

t.test('a role from before the boundary was configured: reported, not written', async (t) => {
  // Made by a webhook without the boundary, then the operator configures one.
  const before = await startTestWebhook({
    EXTRA_ROLE_TAGS: ENV.EXTRA_ROLE_TAGS,
    MAX_SESSION_DURATION: '7200',
  });
  t.equal(
    (await before.post('/mutate', createReview('team-old'), '?timeout=10s')).json().response
      .allowed,
    true,
  );
  await before.stop();
  const spec = deriveRoleSpec(settings, 'team-old');
  const snapshot = await roleSnapshot(raw, spec.roleName);
  const answer = await admit('team-old');
  t.equal(answer.allowed, true, 'the Profile is admitted: its role works');
  t.match(answer.warnings, [/lacks the configured permissions boundary/]);
  t.same(await roleSnapshot(raw, spec.roleName), snapshot, 'nothing written');
});

t.test(
  'the recorder catches a call the policy does not allow, or doctor does not list',
  async (t) => {
    const judged = { ...settings, mode: 'provision' as const };
    // A recorder of its own, so that the calls made on purpose here do not fail this file.
    const recorder = await startIamRecorder({
      target: moto.direct.endpoint,
      admin: raw,
      defaultSettings: judged,
    });
    t.teardown(() => recorder.close());
    const iam = new IAMClient({
      region: MOTO_REGION,
      endpoint: recorder.endpoint,
      credentials: judgedCredentials(judged),
    });
    const spec = deriveRoleSpec(settings, 'team-meta');
    // A role created without the ownership tags and the boundary, a managed policy attached to it.
    await iam.send(
      new CreateRoleCommand({
        RoleName: spec.roleName,
        Path: spec.rolePath,
        AssumeRolePolicyDocument: JSON.stringify(EC2_TRUST),
      }),
    );
    await iam
      .send(
        new AttachRolePolicyCommand({
          RoleName: spec.roleName,
          PolicyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess',
        }),
      )
      .catch(() => undefined);
    await iam.send(new ListOpenIDConnectProvidersCommand({}));
    const failures = await recorder.failures();
    t.match(failures, [
      /^iam:CreateRole on .*team-meta-prod-role .* is ExplicitlyDenied .*NoRoleWithoutTheBoundary/,
      /^iam:AttachRolePolicy is not listed in webhookIamCalls\(\)/,
      /^iam:AttachRolePolicy on .* is ExplicitlyDenied .*NeverPassRolesAttachPoliciesOrTouchBoundaries/,
      /^iam:ListOpenIDConnectProviders is not listed in webhookIamCalls\(\)/,
      /^iam:ListOpenIDConnectProviders on \* .* is ImplicitlyDenied/,
    ]);
    t.equal(failures.length, 5);
  },
);

t.test('the webhook warns at start when no boundary is configured', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'irsa-warn-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certs = await writeLocalCerts(dir);
  const start = async (env: Record<string, string>) => {
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
        callback();
      },
    });
    const result = loadConfig(
      {},
      { ...localServeEnv(certs), SHUTDOWN_DELAY_SECONDS: '0', ...env },
      { tls: true },
    );
    if (!result.ok) throw new Error(result.problems.join('; '));
    const server = await startWebhook(result.config, pino({ level: 'info' }, sink), {
      metrics: createMetrics({ defaultMetrics: false }),
      iamCredentials: judgedCredentials(judgedSettingsFor(result.config)),
    });
    await server.close();
    // Other warnings (e.g. no Kubernetes configured for the namespace check) are not this test's.
    return lines
      .filter((line) => line.level === 40 && /boundary/.test(line.msg))
      .map((line) => line.msg);
  };
  t.match(await start({}), [/^no permissions boundary configured/]);
  t.same(await start({ PERMISSIONS_BOUNDARY_ARN: BOUNDARY }), [], 'no warning with a boundary');
  t.same(await start({ ROLE_MODE: 'lookup' }), [], 'nor in lookup mode, which creates nothing');
});

import t from 'tap';
import {
  GetRoleCommand,
  GetRolePolicyCommand,
  ListRolePoliciesCommand,
  ListRoleTagsCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import jsonpatch from 'fast-json-patch';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { parsePolicyDocument, policiesEqual } from '../../src/core/policy-compare.js';
import { iamClientFor, MOTO_ACCOUNT_ID, startMoto } from '../helpers/moto.js';
import { profileReview } from '../../tools/dev/sample.js';
import { createReview, decodePatch, profileWithRole } from '../helpers/reviews.js';
import { testRoleSettings } from '../helpers/settings.js';
import { startTestWebhook, useMoto } from '../helpers/webhook.js';
import { createHandMadeRole, EC2_TRUST, roleExists, roleSnapshot } from '../helpers/iam-roles.js';

const moto = await startMoto();
t.teardown(() => moto.stop());
useMoto(moto);
const iam: IAMClient = iamClientFor(moto.endpoint);
const webhook = await startTestWebhook();
t.teardown(() => webhook.stop());

const settings = testRoleSettings({ accountId: MOTO_ACCOUNT_ID });
const specFor = (ns: string) => deriveRoleSpec(settings, ns);
/** IAM calls that change something; reads are allowed on a dry run. */
const iamWrites = async () =>
  (await webhook.iamCalls()) -
  (await webhook.iamCalls('GetRole')) -
  (await webhook.iamCalls('GetRolePolicy'));

t.test('a plain CREATE provisions the role in IAM and patches the plugin in', async (t) => {
  const body = createReview('team-a');
  const res = await webhook.post('/mutate', body, '?timeout=10s');
  t.equal(res.status, 200);
  const review = res.json();
  t.equal(review.apiVersion, 'admission.k8s.io/v1');
  t.equal(review.kind, 'AdmissionReview');
  t.equal(review.response.uid, body.request.uid);
  t.equal(review.response.allowed, true);
  t.same(review.response.auditAnnotations, { 'role-arn': specFor('team-a').roleArn });
  const patch = decodePatch(review.response.patch);
  const patched = jsonpatch.applyPatch(structuredClone(body.request.object), patch, true, false)
    .newDocument as { spec?: unknown };
  t.same(patched.spec, {
    plugins: [
      {
        kind: 'AwsIamForServiceAccount',
        spec: { awsIamRole: specFor('team-a').roleArn, annotateOnly: true },
      },
    ],
  });

  const spec = specFor('team-a');
  const role = (await iam.send(new GetRoleCommand({ RoleName: spec.roleName }))).Role!;
  t.equal(role.Path, '/kubeflow-profiles/');
  t.equal(role.Arn, spec.roleArn);
  t.ok(
    policiesEqual(parsePolicyDocument(role.AssumeRolePolicyDocument!), spec.trustPolicy),
    'trust policy',
  );
  const tags = (await iam.send(new ListRoleTagsCommand({ RoleName: spec.roleName }))).Tags ?? [];
  t.same(Object.fromEntries(tags.map((tag) => [tag.Key, tag.Value])), spec.tags, 'ownership tags');
  const policies = (await iam.send(new ListRolePoliciesCommand({ RoleName: spec.roleName })))
    .PolicyNames;
  t.same(policies, ['kf-team-a-pipeline-s3']);
  const inline = await iam.send(
    new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: 'kf-team-a-pipeline-s3' }),
  );
  t.ok(
    policiesEqual(parsePolicyDocument(inline.PolicyDocument!), spec.s3Policy.document),
    'S3 policy',
  );
});

t.test('a repeated CREATE is idempotent: same patch, no second role', async (t) => {
  const creates = await webhook.iamCalls('CreateRole', 'success');
  const first = decodePatch(
    (await webhook.post('/mutate', createReview('team-b'))).json().response.patch,
  );
  const second = decodePatch(
    (await webhook.post('/mutate', createReview('team-b'))).json().response.patch,
  );
  t.same(second, first);
  // Every CREATE tries CreateRole first; the second meets EntityAlreadyExists.
  t.equal((await webhook.iamCalls('CreateRole', 'success')) - creates, 1, 'one role made in all');
});

t.test('concurrent CREATEs for one namespace make one role and identical patches', async (t) => {
  const creates = await webhook.iamCalls('CreateRole', 'success');
  const answers = await Promise.all(
    Array.from({ length: 25 }, () => webhook.post('/mutate', createReview('team-c'))),
  );
  const patches = answers.map((a) => a.json().response.patch as string);
  t.ok(
    answers.every((a) => a.status === 200 && a.json().response.allowed === true),
    'all allowed',
  );
  t.equal(new Set(patches).size, 1, 'identical patches');
  t.equal((await webhook.iamCalls('CreateRole', 'success')) - creates, 1, 'exactly one role made');
  t.ok(await roleExists(iam, specFor('team-c').roleName));
});

t.test('an unchanged UPDATE makes no IAM request', async (t) => {
  const spec = specFor('team-d');
  const created = await webhook.post('/mutate', createReview('team-d'));
  const patch = decodePatch(created.json().response.patch);
  const stored = jsonpatch.applyPatch(
    structuredClone(createReview('team-d').request.object),
    patch,
    true,
    false,
  ).newDocument as Record<string, unknown>;
  const before = await webhook.iamCalls();
  const lookups = async () =>
    ((await webhook.metrics.roleCacheHits.get()).values[0]?.value ?? 0) +
    ((await webhook.metrics.roleCacheMisses.get()).values[0]?.value ?? 0);
  const lookupsBefore = await lookups();
  for (let i = 0; i < 5; i++) {
    const update = profileReview({
      operation: 'UPDATE',
      object: { ...stored, metadata: { name: 'team-d', finalizers: [`f${i}`] } },
      oldObject: stored,
    });
    const answer = (await webhook.post('/mutate', update)).json().response;
    t.equal(answer.allowed, true);
    t.notOk(answer.patch, 'nothing to patch');
  }
  t.equal(await webhook.iamCalls(), before, 'no IAM call');
  t.equal(await lookups(), lookupsBefore, 'not even a role cache lookup');
  const noIam = (await webhook.metrics.admissionsWithoutIam.get()).values.find(
    (v) => v.labels.webhook === 'mutate' && v.labels.reason === 'plugins-unchanged',
  );
  t.equal(noIam?.value, 5, 'counted as answered without IAM');
  t.ok(await roleExists(iam, spec.roleName), 'the role the CREATE made is there');
});

t.test('an UPDATE that removed the plugin gets it back', async (t) => {
  await webhook.post('/mutate', createReview('team-e'));
  const old = profileWithRole('team-e', specFor('team-e').roleArn);
  const update = profileReview({
    operation: 'UPDATE',
    object: { ...old, spec: { plugins: [] } },
    oldObject: old,
  });
  const answer = (await webhook.post('/mutate', update)).json().response;
  t.same(decodePatch(answer.patch), [
    {
      op: 'add',
      path: '/spec/plugins/-',
      value: {
        kind: 'AwsIamForServiceAccount',
        spec: { awsIamRole: specFor('team-e').roleArn, annotateOnly: true },
      },
    },
  ]);
});

t.test('dry-run returns the same patch and leaves IAM untouched', async (t) => {
  const spec = specFor('team-dry');
  const writesBefore = await iamWrites();
  const answer = (await webhook.post('/mutate', createReview('team-dry', { dryRun: true }))).json()
    .response;
  t.equal(answer.allowed, true);
  t.same(
    decodePatch(answer.patch),
    decodePatch(
      (await webhook.post('/mutate', createReview('team-dry', { dryRun: true }))).json().response
        .patch,
    ),
  );
  t.match(
    answer.warnings?.join(' '),
    /dry run|dry-run/i,
    'the user is told the role was not created',
  );
  t.equal(await iamWrites(), writesBefore, 'no IAM write');
  t.notOk(await roleExists(iam, spec.roleName), 'role still absent');
});

t.test('a pre-existing role not tagged as ours is never changed', async (t) => {
  const spec = specFor('team-legacy');
  await createHandMadeRole(iam, spec, { trust: EC2_TRUST });
  const before = await roleSnapshot(iam, spec.roleName);
  const answer = (await webhook.post('/mutate', createReview('team-legacy'))).json().response;
  t.equal(answer.allowed, false, 'denied');
  t.match(answer.status.message, spec.roleName, 'names the role');
  t.match(answer.status.message, 'trust policy', 'says why');
  t.same(await roleSnapshot(iam, spec.roleName), before, 'trust, tags and policies unchanged');
});

t.test('a pre-existing untagged role that trusts the service account is used as is', async (t) => {
  const spec = specFor('team-tf');
  await createHandMadeRole(iam, spec);
  const before = await roleSnapshot(iam, spec.roleName);
  const answer = (await webhook.post('/mutate', createReview('team-tf'))).json().response;
  t.equal(answer.allowed, true);
  t.ok(answer.warnings?.length, 'the user is told the role is not managed here');
  t.same(await roleSnapshot(iam, spec.roleName), before, 'no tag or policy added');
});

t.test('the validating webhook over HTTPS', async (t) => {
  const foreign = profileReview({
    operation: 'CREATE',
    object: profileWithRole('team-a', specFor('team-b').roleArn),
  });
  const calls = await webhook.iamCalls();
  const answer = (await webhook.post('/validate', foreign)).json().response;
  t.equal(answer.allowed, false);
  t.equal(answer.status.code, 403);
  t.match(answer.status.message, specFor('team-a').roleArn);
  t.equal(await webhook.iamCalls(), calls, 'no IAM call');
});

t.test('a v1beta1 review is answered in v1beta1', async (t) => {
  const body = { ...createReview('team-a'), apiVersion: 'admission.k8s.io/v1beta1' };
  const review = (await webhook.post('/mutate', body)).json();
  t.equal(review.apiVersion, 'admission.k8s.io/v1beta1');
  t.equal(review.response.uid, body.request.uid);
  t.equal(review.response.allowed, true);
});

t.test('ops endpoints and metrics', async (t) => {
  const health = await fetch(`${webhook.opsUrl}/healthz`);
  t.equal(health.status, 200);
  const ready = await fetch(`${webhook.opsUrl}/readyz`);
  t.equal(ready.status, 200);
  const metrics = await (await fetch(`${webhook.opsUrl}/metrics`)).text();
  t.match(
    metrics,
    /profile_irsa_admission_requests_total\{webhook="mutate",operation="CREATE",result="patched"\} \d+/,
  );
  t.match(metrics, /profile_irsa_admission_duration_seconds_bucket/);
  t.match(metrics, /profile_irsa_iam_calls_total\{operation="CreateRole",outcome="success"\} \d+/);
  t.match(metrics, /profile_irsa_role_cache_hits_total \d+/);
  t.match(metrics, /profile_irsa_role_cache_misses_total \d+/);
  t.match(metrics, /profile_irsa_certificate_expiry_timestamp_seconds \d+/);
});

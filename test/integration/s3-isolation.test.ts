import t from 'tap';
import { GetRolePolicyCommand, ListRolesCommand } from '@aws-sdk/client-iam';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { AssumeRoleWithWebIdentityCommand } from '@aws-sdk/client-sts';
import { parsePolicyDocument, policiesEqual } from '../../src/core/policy-compare.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { S3_PREFIX_PRESETS } from '../../src/core/s3-policy.js';
import {
  BUCKET,
  outcomeOf,
  startAuthorizedMoto,
  TEAM_B_BODY,
  TEAM_B_KEY,
  type Credentials,
} from '../helpers/authorized-moto.js';
import { MOTO_ACCOUNT_ID } from '../helpers/moto.js';
import { createReview, decodePatch, profileWithRole } from '../helpers/reviews.js';
import { testRoleSettings } from '../helpers/settings.js';
import { startTestWebhook, type TestWebhook } from '../helpers/webhook.js';
import { profileReview } from '../../tools/dev/sample.js';

const { bootstrap, admin, iam, sts, s3For, adminS3 } = await startAuthorizedMoto();

/** The credentials a pod running as the namespace's default-editor gets through IRSA. */
async function podCredentials(namespace: string, roleArn: string): Promise<Credentials> {
  const subject = `system:serviceaccount:${namespace}:default-editor`;
  const token = [{ alg: 'RS256' }, { sub: subject, aud: 'sts.amazonaws.com' }, 'signature']
    .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
    .join('.');
  const { Credentials } = await sts.send(
    new AssumeRoleWithWebIdentityCommand({
      RoleArn: roleArn,
      RoleSessionName: `${namespace}-pod`,
      WebIdentityToken: token,
    }),
  );
  return {
    accessKeyId: Credentials!.AccessKeyId!,
    secretAccessKey: Credentials!.SecretAccessKey!,
    sessionToken: Credentials!.SessionToken!,
  };
}

/** The role ARN the mutating webhook admitted the Profile with, and its patch. */
async function admitted(webhook: TestWebhook, review: unknown) {
  const res = await webhook.post('/mutate', review, '?timeout=10s');
  const response = res.json().response;
  if (response.allowed !== true) throw new Error(`denied: ${response.status?.message}`);
  return {
    roleArn: response.auditAnnotations?.['role-arn'] as string,
    patch: decodePatch(response.patch),
  };
}

async function body(s3: S3Client, key: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return out.Body!.transformToString();
}

const scoped = (namespace: string) =>
  deriveRoleSpec(
    testRoleSettings({
      accountId: MOTO_ACCOUNT_ID,
      s3Scope: {
        prefixTemplates: [...S3_PREFIX_PRESETS.kfp!],
        sharedPrefixes: [],
        sharedAccess: 'readonly',
      },
    }),
    namespace,
  );
const inlinePolicy = async (namespace: string) =>
  parsePolicyDocument(
    (
      await iam.send(
        new GetRolePolicyCommand({
          RoleName: scoped(namespace).roleName,
          PolicyName: scoped(namespace).s3Policy.name,
        }),
      )
    ).PolicyDocument ?? '',
  );

// A Profile made before the scope was turned on: its role has the whole bucket.
const unscopedWebhook = await startTestWebhook({}, { iamCredentials: admin });
const teamCArn = (await admitted(unscopedWebhook, createReview('team-c'))).roleArn;
await unscopedWebhook.stop();

const webhook = await startTestWebhook({ S3_PREFIXES: 'kfp' }, { iamCredentials: admin });
t.teardown(() => webhook.stop());

t.test('moto enforces IAM here: unknown credentials are refused', async (t) => {
  t.equal(await outcomeOf(bootstrap.send(new ListRolesCommand({}))), 'InvalidClientTokenId');
  t.equal(await outcomeOf(iam.send(new ListRolesCommand({}))), 'ok');
});

t.test(
  'a Profile created through the webhook gets a role that reaches its own prefix only',
  async (t) => {
    const { roleArn, patch } = await admitted(webhook, createReview('team-a'));
    t.equal(roleArn, scoped('team-a').roleArn);
    t.equal(patch.length, 1, 'the plugin is patched in');
    t.ok(policiesEqual(await inlinePolicy('team-a'), scoped('team-a').s3Policy.document));

    const pod = s3For(await podCredentials('team-a', roleArn));
    const own = 'private-artifacts/team-a/v2/artifacts/run-1/metrics.json';
    t.equal(
      await outcomeOf(
        pod.send(new PutObjectCommand({ Bucket: BUCKET, Key: own, Body: '{"acc":1}' })),
      ),
      'ok',
      'writes under private-artifacts/team-a/',
    );
    t.equal(await body(pod, own), '{"acc":1}', 'reads it back');
    t.equal(
      await outcomeOf(
        pod.send(
          new PutObjectCommand({ Bucket: BUCKET, Key: 'private/team-a/nb.ipynb', Body: '{}' }),
        ),
      ),
      'ok',
      'writes under private/team-a/',
    );

    const upload = await pod.send(
      new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${own}.parts` }),
    );
    const part = await pod.send(
      new UploadPartCommand({
        Bucket: BUCKET,
        Key: `${own}.parts`,
        UploadId: upload.UploadId,
        PartNumber: 1,
        Body: 'one part',
      }),
    );
    await pod.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: `${own}.parts`,
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: [{ ETag: part.ETag, PartNumber: 1 }] },
      }),
    );
    t.equal(await body(pod, `${own}.parts`), 'one part', 'a multipart upload completes');

    t.equal(
      await outcomeOf(pod.send(new GetObjectCommand({ Bucket: BUCKET, Key: TEAM_B_KEY }))),
      'AccessDenied',
      "team-b's object cannot be read",
    );
    t.equal(
      await outcomeOf(
        pod.send(new PutObjectCommand({ Bucket: BUCKET, Key: TEAM_B_KEY, Body: 'x' })),
      ),
      'AccessDenied',
      "team-b's object cannot be overwritten",
    );
    t.equal(
      await outcomeOf(
        pod.send(
          new PutObjectCommand({
            Bucket: BUCKET,
            Key: 'private-artifacts/team-a-x/v2/artifacts/run-1/model.bin',
            Body: 'x',
          }),
        ),
      ),
      'AccessDenied',
      'nor can a namespace whose name starts with team-a be written',
    );
    t.equal(await body(adminS3, TEAM_B_KEY), TEAM_B_BODY, "team-b's object is untouched");
  },
);

t.test(
  'turning the scope on repairs an existing role when its Profile is admitted again',
  async (t) => {
    t.equal(teamCArn, scoped('team-c').roleArn);
    t.notOk(
      policiesEqual(await inlinePolicy('team-c'), scoped('team-c').s3Policy.document),
      'made with the whole bucket',
    );
    const pod = s3For(await podCredentials('team-c', teamCArn));
    t.equal(await body(pod, TEAM_B_KEY), TEAM_B_BODY, "before: team-c reads team-b's object");

    // The Profile as stored, admitted again: a cache miss, so the role is checked and repaired.
    const review = profileReview({
      operation: 'CREATE',
      object: profileWithRole('team-c', teamCArn),
    });
    t.same((await admitted(webhook, review)).patch, [], 'no patch: the plugin is already there');
    t.ok(
      policiesEqual(await inlinePolicy('team-c'), scoped('team-c').s3Policy.document),
      'the inline policy is the scoped one',
    );
    t.equal(
      await outcomeOf(pod.send(new GetObjectCommand({ Bucket: BUCKET, Key: TEAM_B_KEY }))),
      'AccessDenied',
      "after: the same session no longer reads team-b's object",
    );
    t.equal(
      await outcomeOf(
        pod.send(
          new PutObjectCommand({ Bucket: BUCKET, Key: 'private-artifacts/team-c/x', Body: 'x' }),
        ),
      ),
      'ok',
      'and still writes its own prefix',
    );
  },
);

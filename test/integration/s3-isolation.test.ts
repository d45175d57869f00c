import t from 'tap';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolesCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { parsePolicyDocument, policiesEqual } from '../../src/core/policy-compare.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { S3_PREFIX_PRESETS } from '../../src/core/s3-policy.js';
import { iamClientFor, MOTO_ACCOUNT_ID, MOTO_REGION, startMoto } from '../helpers/moto.js';
import { createReview, decodePatch, profileWithRole } from '../helpers/reviews.js';
import { REQUIRED_ENV, testRoleSettings } from '../helpers/settings.js';
import { startTestWebhook, useMoto, type TestWebhook } from '../helpers/webhook.js';
import { profileReview } from '../../tools/dev/sample.js';

/*
 * moto with its authorization on: requests are authenticated, and for IAM users and assumed
 * roles the actions and resources of their policies are enforced (conditions are not). It skips
 * authorization for as many requests as INITIAL_NO_AUTH_ACTION_COUNT says: exactly the three
 * below that make the admin user every other request is signed with.
 */
process.env.INITIAL_NO_AUTH_ACTION_COUNT = '3';
const recorded = await startMoto();
delete process.env.INITIAL_NO_AUTH_ACTION_COUNT;
t.teardown(() => recorded.stop());
/*
 * Straight to moto, past the IAM recorder: the recorder reads roles with keys moto issued to no
 * one, which moto refuses once its authorization is on. The webhook's IAM calls here are the same
 * ones every other file has judged.
 */
const moto = recorded.direct;

const bootstrap = iamClientFor(moto.endpoint);
await bootstrap.send(new CreateUserCommand({ UserName: 'admin' }));
await bootstrap.send(
  new PutUserPolicyCommand({
    UserName: 'admin',
    PolicyName: 'admin',
    PolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
    }),
  }),
);
const { AccessKey } = await bootstrap.send(new CreateAccessKeyCommand({ UserName: 'admin' }));
const admin = {
  accessKeyId: AccessKey!.AccessKeyId!,
  secretAccessKey: AccessKey!.SecretAccessKey!,
};

// The webhook reaches IAM through the SDK's environment chain, as the admin.
useMoto(moto);
process.env.AWS_ACCESS_KEY_ID = admin.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = admin.secretAccessKey;

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const BUCKET = REQUIRED_ENV.S3_BUCKET;
const iam = new IAMClient({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: admin });
const s3For = (credentials: Credentials) =>
  new S3Client({
    region: MOTO_REGION,
    endpoint: moto.endpoint,
    credentials,
    forcePathStyle: true,
    // Plain signed payloads: moto does not verify aws-chunked trailing checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
const adminS3 = s3For(admin);
await adminS3.send(new CreateBucketCommand({ Bucket: BUCKET }));
const TEAM_B_KEY = 'private-artifacts/team-b/v2/artifacts/run-1/model.bin';
await adminS3.send(new PutObjectCommand({ Bucket: BUCKET, Key: TEAM_B_KEY, Body: 'team-b model' }));

/*
 * The SDK sends AssumeRoleWithWebIdentity unsigned (the token is the credential). moto answers it
 * only when signed, and does not check the token: who may assume the role is the trust policy's
 * business, tested against real service account tokens elsewhere. So: signed with the admin's key.
 */
const sts = new STSClient({
  region: MOTO_REGION,
  endpoint: moto.endpoint,
  credentials: admin,
  httpAuthSchemeProvider: (params: { region?: string }) =>
    [
      {
        schemeId: 'aws.auth#sigv4',
        signingProperties: { name: 'sts', region: params.region },
        propertiesExtractor: (config: unknown, context: unknown) => ({
          signingProperties: { config, context },
        }),
      },
    ] as never,
});

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

async function status(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    return (error as Error).name;
  }
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
  t.equal(await status(bootstrap.send(new ListRolesCommand({}))), 'InvalidClientTokenId');
  t.equal(await status(iam.send(new ListRolesCommand({}))), 'ok');
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
      await status(pod.send(new PutObjectCommand({ Bucket: BUCKET, Key: own, Body: '{"acc":1}' }))),
      'ok',
      'writes under private-artifacts/team-a/',
    );
    t.equal(await body(pod, own), '{"acc":1}', 'reads it back');
    t.equal(
      await status(
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
      await status(pod.send(new GetObjectCommand({ Bucket: BUCKET, Key: TEAM_B_KEY }))),
      'AccessDenied',
      "team-b's object cannot be read",
    );
    t.equal(
      await status(pod.send(new PutObjectCommand({ Bucket: BUCKET, Key: TEAM_B_KEY, Body: 'x' }))),
      'AccessDenied',
      "team-b's object cannot be overwritten",
    );
    t.equal(
      await status(
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
    t.equal(await body(adminS3, TEAM_B_KEY), 'team-b model', "team-b's object is untouched");
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
    t.equal(await body(pod, TEAM_B_KEY), 'team-b model', "before: team-c reads team-b's object");

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
      await status(pod.send(new GetObjectCommand({ Bucket: BUCKET, Key: TEAM_B_KEY }))),
      'AccessDenied',
      "after: the same session no longer reads team-b's object",
    );
    t.equal(
      await status(
        pod.send(
          new PutObjectCommand({ Bucket: BUCKET, Key: 'private-artifacts/team-c/x', Body: 'x' }),
        ),
      ),
      'ok',
      'and still writes its own prefix',
    );
  },
);

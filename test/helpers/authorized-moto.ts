import t from 'tap';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { STSClient } from '@aws-sdk/client-sts';
import { iamClientFor, MOTO_REGION, startMoto, type Moto } from './moto.js';
import { REQUIRED_ENV } from './settings.js';
import { useMoto } from './webhook.js';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export const BUCKET = REQUIRED_ENV.S3_BUCKET;
/** Another namespace's artifact, in the bucket from the start. */
export const TEAM_B_KEY = 'private-artifacts/team-b/v2/artifacts/run-1/model.bin';
export const TEAM_B_BODY = 'team-b model';

export interface AuthorizedMoto {
  moto: Moto;
  /** Keys moto issued to no one: refused once the admin user is made. */
  bootstrap: IAMClient;
  /** The admin user's keys: every action on every resource. */
  admin: Credentials;
  iam: IAMClient;
  sts: STSClient;
  s3For: (credentials: Credentials) => S3Client;
  adminS3: S3Client;
}

/**
 * moto with its authorization on: requests are authenticated, and for IAM users and assumed
 * roles the actions and resources of their policies are enforced (conditions are not). It skips
 * authorization for as many requests as INITIAL_NO_AUTH_ACTION_COUNT says: exactly the three
 * that make the admin user every other request is signed with. The webhook reaches IAM through
 * the SDK's environment chain, as the admin; the bucket holds team-b's artifact.
 *
 * Straight to moto, past the IAM recorder: the recorder reads roles with keys moto issued to no
 * one, which moto refuses once its authorization is on. The webhook's IAM calls here are the
 * same ones every other file has judged.
 */
export async function startAuthorizedMoto(): Promise<AuthorizedMoto> {
  process.env.INITIAL_NO_AUTH_ACTION_COUNT = '3';
  const recorded = await startMoto();
  delete process.env.INITIAL_NO_AUTH_ACTION_COUNT;
  t.teardown(() => recorded.stop());
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

  useMoto(moto);
  process.env.AWS_ACCESS_KEY_ID = admin.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = admin.secretAccessKey;

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
  await adminS3.send(new PutObjectCommand({ Bucket: BUCKET, Key: TEAM_B_KEY, Body: TEAM_B_BODY }));

  /*
   * The SDK sends AssumeRoleWithWebIdentity unsigned (the token is the credential). moto answers
   * it only when signed, and does not check the token: who may assume the role is the trust
   * policy's business, judged with the policy simulator. So: signed with the admin's key.
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

  return {
    moto,
    bootstrap,
    admin,
    iam: new IAMClient({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: admin }),
    sts,
    s3For,
    adminS3,
  };
}

/** `ok`, or the name of the error the call failed with (`AccessDenied`). */
export async function outcomeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    return (error as Error).name;
  }
}

// The whole chain down to a pod, against the real kube-apiserver, moto (IAM, STS, S3 with its
// authorization on) and the real amazon-eks-pod-identity-webhook: a Profile is created through
// this webhook (role made, plugin patched in), the profile controller annotates default-editor,
// the reconciler annotates an extra service account; a pod of that service account is mutated by
// the pod identity webhook with the Profile's role and a projected token; a token the TokenRequest
// API mints for that pod, with that audience, is exchanged at STS for the role's credentials, and
// those reach the namespace's own artifacts in S3 and not another namespace's.
//
// The control plane has no controller-manager or kubelet: the test creates what kube would (the
// service account), pods are never scheduled, and the token is requested as kubelet would for
// the projected volume (bound to the pod).

import t from 'tap';
import { GetRoleCommand } from '@aws-sdk/client-iam';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { AssumeRoleWithWebIdentityCommand } from '@aws-sdk/client-sts';
import type { V1Pod } from '@kubernetes/client-node';
import { parsePolicyDocument } from '../../src/core/policy-compare.js';
import type { PolicyDocument } from '../../src/core/policy-document.js';
import { discoverOidcIssuer } from '../../src/discovery/oidc-issuer.js';
import { plainProfile } from '../../tools/dev/cluster.js';
import {
  BUCKET,
  outcomeOf,
  startAuthorizedMoto,
  TEAM_B_BODY,
  TEAM_B_KEY,
} from '../helpers/authorized-moto.js';
import { serveWebhook, startE2eControlPlane, waitFor } from '../helpers/e2e.js';
import { MOTO_ACCOUNT_ID, MOTO_REGION } from '../helpers/moto.js';
import { startPodIdentityWebhook } from '../helpers/pod-identity-webhook.js';
import { ProfileControllerStandIn } from '../helpers/profile-controller.js';
import { judgeWebIdentity } from '../helpers/simulator.js';

const NAMESPACE = 'irsa-system';
const ANNOTATION = 'eks.amazonaws.com/role-arn';
const AUDIENCE = 'sts.amazonaws.com';
const EXTRA_ACCOUNT = 'pipeline-runner';

// --- moto with its authorization on (as in test/integration/s3-isolation.test.ts) ---------------
const { admin, iam, sts, s3For, adminS3 } = await startAuthorizedMoto();

// --- the control plane, this webhook (admission and reconciler), the pod identity webhook ---------
const { cp, kc, core, api } = await startE2eControlPlane({ namespaces: [NAMESPACE] });
const issuer = await discoverOidcIssuer(kc);

await serveWebhook(
  kc,
  {
    RECONCILE: 'true',
    POD_NAMESPACE: NAMESPACE,
    POD_NAME: 'replica-a',
    ANNOTATE_SERVICE_ACCOUNTS: EXTRA_ACCOUNT,
    S3_PREFIXES: 'kfp',
    OIDC_ISSUER: issuer,
  },
  {
    iamCredentials: admin,
    reconcile: {
      intervalMs: 10_000,
      leaseDurationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 300,
      informerBackoffMs: { min: 200, max: 1000 },
    },
  },
);

const podIdentity = await startPodIdentityWebhook({
  kubeconfigPath: cp.kubeconfigPath,
  kubeConfig: kc,
  region: MOTO_REGION,
});
t.teardown(() => podIdentity.stop());

const annotationOf = async (ns: string, name: string) =>
  (await core.readNamespacedServiceAccount({ namespace: ns, name })).metadata?.annotations?.[
    ANNOTATION
  ];

/** A Profile's life up to its pods: created through the webhooks, then the profile controller. */
async function profileWithNamespace(name: string): Promise<string> {
  await api.create(plainProfile(name));
  await new ProfileControllerStandIn(kc).reconcile(name);
  const plugin = (await api.get(name)).spec?.plugins?.find(
    (p) => p.kind === 'AwsIamForServiceAccount',
  );
  const role = plugin?.spec?.awsIamRole;
  if (typeof role !== 'string') throw new Error(`Profile ${name} has no role`);
  // What kube and a pipelines install would make: the extra service account.
  await core.createNamespacedServiceAccount({
    namespace: name,
    body: { metadata: { name: EXTRA_ACCOUNT } },
  });
  return role;
}

const pipelinePod = (name: string, serviceAccountName: string): V1Pod => ({
  metadata: { name },
  spec: {
    serviceAccountName,
    containers: [{ name: 'main', image: 'ghcr.io/kubeflow/kfp-launcher:2.15.0' }],
  },
});

/**
 * Creates the pod once the pod identity webhook mutates it: its informer learns of a new
 * annotation a moment after the API server stored it, so dry runs are tried first.
 */
async function createMutatedPod(namespace: string, body: V1Pod): Promise<V1Pod> {
  await waitFor(
    `the pod identity webhook to mutate ${namespace}/${body.metadata!.name}`,
    async () => {
      const dry = await core.createNamespacedPod({ namespace, body, dryRun: 'All' });
      return dry.spec?.containers[0]?.env?.some((e) => e.name === 'AWS_ROLE_ARN');
    },
    60_000,
  );
  return core.createNamespacedPod({ namespace, body });
}

const envOf = (pod: V1Pod) =>
  Object.fromEntries((pod.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));

const roleA = await profileWithNamespace('team-a');
const roleB = await profileWithNamespace('team-b');

t.test('the Profile gets its role; default-editor by the profile controller', async (t) => {
  t.equal(roleA, `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/kubeflow-profiles/team-a-prod-role`);
  t.not(roleA, roleB);
  const { Role } = await iam.send(new GetRoleCommand({ RoleName: 'team-a-prod-role' }));
  t.equal(Role?.Arn, roleA, 'the role exists in IAM');
  t.equal(await annotationOf('team-a', 'default-editor'), roleA);
});

t.test('the reconciler annotates the extra service account', async (t) => {
  const annotated = await waitFor(
    'the reconciler to annotate pipeline-runner',
    async () => ((await annotationOf('team-a', EXTRA_ACCOUNT)) === roleA ? true : undefined),
    60_000,
  );
  t.ok(annotated);
});

let pod: V1Pod;
t.test('the pod identity webhook mutates a pod of that service account', async (t) => {
  pod = await createMutatedPod('team-a', pipelinePod('pipeline-step', EXTRA_ACCOUNT));
  const env = envOf(pod);
  t.comment(`pod env: ${JSON.stringify(env)}`);
  t.equal(env.AWS_ROLE_ARN, roleA, "AWS_ROLE_ARN is the Profile's role");
  t.equal(
    env.AWS_WEB_IDENTITY_TOKEN_FILE,
    '/var/run/secrets/eks.amazonaws.com/serviceaccount/token',
  );
  t.equal(env.AWS_REGION, MOTO_REGION);
  t.equal(env.AWS_DEFAULT_REGION, MOTO_REGION);
  const volume = pod.spec?.volumes?.find((v) => v.name === 'aws-iam-token');
  t.same(volume?.projected?.sources, [
    {
      serviceAccountToken: { audience: AUDIENCE, expirationSeconds: 86400, path: 'token' },
    },
  ]);
  const mount = pod.spec?.containers[0]?.volumeMounts?.find((m) => m.name === 'aws-iam-token');
  t.same(
    { mountPath: mount?.mountPath, readOnly: mount?.readOnly },
    { mountPath: '/var/run/secrets/eks.amazonaws.com/serviceaccount', readOnly: true },
    'the token is mounted where AWS_WEB_IDENTITY_TOKEN_FILE points',
  );

  const editorPod = await createMutatedPod('team-a', pipelinePod('notebook', 'default-editor'));
  t.equal(envOf(editorPod).AWS_ROLE_ARN, roleA, 'a default-editor pod gets the same role');
  const viewerPod = await core.createNamespacedPod({
    namespace: 'team-a',
    body: pipelinePod('viewer', 'default-viewer'),
  });
  t.equal(envOf(viewerPod).AWS_ROLE_ARN, undefined, 'an unannotated service account gets none');
});

t.test(
  "the pod's token is exchanged for the role, which reaches its own artifacts only",
  async (t) => {
    const env = envOf(pod);
    const volume = pod.spec!.volumes!.find((v) => v.name === 'aws-iam-token')!;
    const projected = volume.projected!.sources![0]!.serviceAccountToken!;
    // What kubelet requests for the projected volume: the pod's audience, bound to the pod.
    const answer = await core.createNamespacedServiceAccountToken({
      name: EXTRA_ACCOUNT,
      namespace: 'team-a',
      body: {
        spec: {
          audiences: [projected.audience!],
          expirationSeconds: projected.expirationSeconds!,
          boundObjectRef: {
            apiVersion: 'v1',
            kind: 'Pod',
            name: pod.metadata!.name!,
            uid: pod.metadata!.uid!,
          },
        },
      },
    });
    const token = answer.status?.token;
    if (token === undefined) throw new Error('the TokenRequest API returned no token');
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as {
      iss: string;
      sub: string;
      aud: string[];
    };
    t.equal(claims.sub, `system:serviceaccount:team-a:${EXTRA_ACCOUNT}`);
    t.same(claims.aud, [AUDIENCE]);

    // The trust policy IAM holds for the role admits exactly this token (and not team-b's).
    const { Role } = await iam.send(new GetRoleCommand({ RoleName: 'team-a-prod-role' }));
    const trust = parsePolicyDocument(Role!.AssumeRolePolicyDocument!) as PolicyDocument;
    const providerArn = `arn:aws:iam::${MOTO_ACCOUNT_ID}:oidc-provider/${claims.iss.replace(/^https:\/\//, '')}`;
    const verdict = await judgeWebIdentity(trust, env.AWS_ROLE_ARN!, {
      providerArn,
      issuer: claims.iss,
      claims,
    });
    t.ok(verdict.allowed, `the trust admits the pod's token: ${verdict.why}`);
    const other = await judgeWebIdentity(trust, env.AWS_ROLE_ARN!, {
      providerArn,
      issuer: claims.iss,
      claims: { ...claims, sub: `system:serviceaccount:team-b:${EXTRA_ACCOUNT}` },
    });
    t.notOk(other.allowed, "nor team-b's service account of the same name");

    const { Credentials, AssumedRoleUser } = await sts.send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: env.AWS_ROLE_ARN,
        RoleSessionName: 'pipeline-step',
        WebIdentityToken: token,
      }),
    );
    t.match(AssumedRoleUser?.Arn, /:assumed-role\/team-a-prod-role\/pipeline-step$/);
    const s3 = s3For({
      accessKeyId: Credentials!.AccessKeyId!,
      secretAccessKey: Credentials!.SecretAccessKey!,
      sessionToken: Credentials!.SessionToken!,
    });

    const own = 'private-artifacts/team-a/v2/artifacts/run-1/metrics.json';
    const results: string[] = [];
    const put = await outcomeOf(
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: own, Body: '{"acc":1}' })),
    );
    results.push(`PutObject ${own}: ${put}`);
    t.equal(put, 'ok', 'writes its own artifact');
    const read = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: own }));
    t.equal(await read.Body!.transformToString(), '{"acc":1}', 'reads its own artifact back');
    results.push(`GetObject ${own}: ok`);
    const checks: [string, string, () => Promise<unknown>, string][] = [
      [
        'PutObject',
        'private/team-a/notebook.ipynb',
        () =>
          s3.send(
            new PutObjectCommand({
              Bucket: BUCKET,
              Key: 'private/team-a/notebook.ipynb',
              Body: '{}',
            }),
          ),
        'ok',
      ],
      [
        'GetObject',
        TEAM_B_KEY,
        () => s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: TEAM_B_KEY })),
        'AccessDenied',
      ],
      [
        'PutObject',
        TEAM_B_KEY,
        () => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: TEAM_B_KEY, Body: 'x' })),
        'AccessDenied',
      ],
      [
        'PutObject',
        'private-artifacts/team-b/v2/artifacts/run-2/x',
        () =>
          s3.send(
            new PutObjectCommand({
              Bucket: BUCKET,
              Key: 'private-artifacts/team-b/v2/artifacts/run-2/x',
              Body: 'x',
            }),
          ),
        'AccessDenied',
      ],
    ];
    for (const [op, key, call, expected] of checks) {
      const got = await outcomeOf(call());
      results.push(`${op} ${key}: ${got}`);
      t.equal(got, expected, `${op} ${key}`);
    }
    t.comment(`S3 with the pod's credentials:\n${results.join('\n')}`);
    const teamB = await adminS3.send(new GetObjectCommand({ Bucket: BUCKET, Key: TEAM_B_KEY }));
    t.equal(await teamB.Body!.transformToString(), TEAM_B_BODY, "team-b's artifact is untouched");
  },
);

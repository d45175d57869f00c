import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteOpenIDConnectProviderCommand } from '@aws-sdk/client-iam';
import {
  ApiextensionsV1Api,
  ApiException,
  DiscoveryV1Api,
  KubernetesObjectApi,
  V1MicroTime,
} from '@kubernetes/client-node';
import { createCa } from '../../tools/dev/certs.js';
import { apiErrorMessage, createObjects, waitUntilMutating } from '../../tools/dev/cluster.js';
import { installProfileCrd } from '../../tools/dev/controlplane.js';
import { checkOf, LEASE, NAME, NAMESPACE, RELEASE, startDoctorRig } from '../helpers/doctor-rig.js';
import {
  chartDir,
  helmTemplate,
  renderWebhookConfigurations,
  REQUIRED_VALUES,
} from '../helpers/helm.js';
import { MOTO_ACCOUNT_ID } from '../helpers/moto.js';

// doctor on an install with one fault at a time: the check that owns it fails with a hint that
// names the fix, and the checks that need it say "not checked" instead of guessing.

const rig = await startDoctorRig(t);
const { moto, iam, kc, admission, coordination, webhook, providerArn, expectFailure } = rig;
const { createProvider, recreateProvider, editValidating, renewLease } = rig;

t.test('without a permissions boundary in provision mode: a failure', async (t) => {
  await expectFailure(
    t,
    'aws.permissions-boundary',
    /no permissions boundary/,
    /iam-policy --boundary.*--allow-no-boundary/,
    { PERMISSIONS_BOUNDARY_ARN: '', ALLOW_NO_BOUNDARY: 'false' },
  );
});

t.test('a configured boundary policy that does not exist: a failure', async (t) => {
  const missing = `arn:aws:iam::${MOTO_ACCOUNT_ID}:policy/no-such-boundary`;
  await expectFailure(
    t,
    'aws.permissions-boundary',
    new RegExp(`${missing} does not exist`),
    /aws iam create-policy --policy-name no-such-boundary/,
    { PERMISSIONS_BOUNDARY_ARN: missing },
  );
});

t.test('the OIDC provider missing in IAM', async (t) => {
  await iam.send(new DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: providerArn }));
  t.teardown(() => recreateProvider());
  const report = await expectFailure(
    t,
    'aws.oidc-provider',
    /IAM has no OIDC provider for the issuer https:\/\/kubernetes\.default\.svc\.cluster\.local/,
    /eksctl utils associate-iam-oidc-provider --cluster prod --region us-east-1 --approve[\s\S]*aws iam create-open-id-connect-provider --url https:\/\/kubernetes\.default\.svc\.cluster\.local --client-id-list sts\.amazonaws\.com/,
  );
  t.match(
    checkOf(report, 'aws.account'),
    {
      status: 'warn',
      message: /discovered from the credentials.*holds no OIDC provider/,
      hint: /--account-id/,
    },
    'the discovered account is not confirmed by the provider',
  );
});

t.test('the OIDC provider without the sts.amazonaws.com client ID', async (t) => {
  // moto has no RemoveClientIDFromOpenIDConnectProvider: the provider is made again without it.
  await iam.send(new DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: providerArn }));
  await createProvider(['other-audience']);
  t.teardown(async () => {
    await iam.send(
      new DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: providerArn }),
    );
    await createProvider();
  });
  await expectFailure(
    t,
    'aws.oidc-provider',
    /does not list the client ID sts\.amazonaws\.com \(it lists: other-audience\)/,
    new RegExp(
      `aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn ${providerArn} --client-id sts.amazonaws.com`,
    ),
  );
});

t.test('credentials rejected', async (t) => {
  // moto checks signatures from now on; it knows no access key "testing", as AWS would not.
  const auth = (count: string) =>
    fetch(`${moto.direct.endpoint}/moto-api/reset-auth`, { method: 'POST', body: count });
  await (await auth('0')).text();
  t.teardown(async () => void (await (await auth('inf')).text()));
  const report = await expectFailure(
    t,
    'aws.credentials',
    /InvalidClientTokenId: The security token included in the request is invalid/,
    /AWS rejected these credentials/,
  );
  t.match(
    checkOf(report, 'aws.oidc-provider').message,
    /^not checked: the AWS credentials do not work/,
  );
  t.match(
    checkOf(report, 'aws.permissions-boundary'),
    { status: 'fail', message: /^not checked: the AWS credentials do not work/ },
    'the configured boundary cannot be read without them',
  );
  t.match(
    checkOf(report, 'config.account').status,
    'fail',
    'the account cannot be discovered either',
  );
});

t.test('the configured account is not the credentials', async (t) => {
  const report = await expectFailure(
    t,
    'aws.account',
    /configured account 111122223333 is not the credentials' account 123456789012/,
    /AWS_ACCOUNT_ID .* to 123456789012/,
    { AWS_ACCOUNT_ID: '111122223333' },
  );
  t.match(
    checkOf(report, 'aws.permissions'),
    { status: 'fail', hint: 'fix aws.account first' },
    'no simulation for the settings of another account',
  );
});

t.test('the configured issuer is not the API server', async (t) => {
  await expectFailure(
    t,
    'config.issuer',
    /is not the API server's service-account issuer https:\/\/kubernetes\.default\.svc\.cluster\.local/,
    /set the issuer to https:\/\/kubernetes\.default\.svc\.cluster\.local/,
    { OIDC_ISSUER: 'https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE' },
  );
});

/** Reads a configuration, applies `edit`, writes it back; returns how to undo it. */

t.test('a webhook configuration with the caBundle of another CA', async (t) => {
  const other = await createCa('some other CA');
  const undo = await editValidating((object) => {
    object.webhooks[0]!.clientConfig.caBundle = Buffer.from(other.cert).toString('base64');
  });
  t.teardown(undo);
  await expectFailure(
    t,
    'k8s.serving-certificate',
    /the certificate served at 127\.0\.0\.1:\d+ \(issued by CN=profile-irsa-webhook local CA\) does not verify against its caBundle \(CN=some other CA\) of ValidatingWebhookConfiguration kf-profile-irsa-webhook/,
    /caBundle must be the CA that signed the serving certificate/,
  );
});

t.test('a webhook configuration deleted', async (t) => {
  await admission.deleteValidatingWebhookConfiguration({ name: NAME });
  t.teardown(async () => {
    const { validating } = await renderWebhookConfigurations({
      url: webhook.url,
      ca: webhook.certs.caCert,
      release: RELEASE,
    });
    await createObjects(kc, [validating]);
  });
  const report = await expectFailure(
    t,
    'k8s.validating-webhook',
    /ValidatingWebhookConfiguration kf-profile-irsa-webhook is missing: nothing stops a Profile from naming a role that is not its own/,
    /helm -n profile-irsa-webhook upgrade <release> charts\/profile-irsa-webhook --reuse-values/,
  );
  t.equal(checkOf(report, 'k8s.mutating-webhook').status, 'ok', 'the other one is still fine');
});

t.test("a webhook configuration without the chart's matchConditions", async (t) => {
  // As an old chart, or a hand edit, leaves it: every routine Profile update reaches the webhook.
  const object = await admission.readMutatingWebhookConfiguration({ name: NAME });
  const original = structuredClone(object);
  delete object.webhooks![0]!.matchConditions;
  await admission.replaceMutatingWebhookConfiguration({ name: NAME, body: object });
  t.teardown(async () => {
    const current = await admission.readMutatingWebhookConfiguration({ name: NAME });
    original.metadata!.resourceVersion = current.metadata!.resourceVersion!;
    await admission.replaceMutatingWebhookConfiguration({ name: NAME, body: original });
  });
  await expectFailure(
    t,
    'k8s.mutating-webhook',
    /its matchConditions \(none\) are not the chart's \(create-or-plugins-change, not-being-deleted\)/,
    /helm -n profile-irsa-webhook upgrade kf charts\/profile-irsa-webhook --reuse-values/,
  );
});

t.test('the Profile CRD missing', async (t) => {
  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  const crdName = 'profiles.kubeflow.org';
  await extensions.deleteCustomResourceDefinition({ name: crdName });
  t.teardown(async () => {
    await installProfileCrd(kc);
    await waitUntilMutating(kc);
  });
  await eventually(async () => {
    try {
      await extensions.readCustomResourceDefinition({ name: crdName });
      return false;
    } catch (error) {
      return error instanceof ApiException && error.code === 404;
    }
  });
  const report = await expectFailure(
    t,
    'k8s.crd',
    /the Profile CRD \(profiles\.kubeflow\.org\) is not installed/,
    /kubectl get crd profiles\.kubeflow\.org/,
  );
  t.match(checkOf(report, 'e2e.dry-run-create'), {
    status: 'fail',
    message: /^not checked/,
    hint: 'fix k8s.crd first',
  });
});

t.test('a stale Lease: the leader is gone', async (t) => {
  rig.setRenewing(false);
  const staleSince = Date.now();
  const lease = await coordination.readNamespacedLease({ namespace: NAMESPACE, name: LEASE });
  lease.spec!.renewTime = new V1MicroTime(Date.now() - 60_000);
  await coordination.replaceNamespacedLease({ namespace: NAMESPACE, name: LEASE, body: lease });
  t.teardown(async () => {
    await renewLease();
    rig.setRenewing(true);
  });
  const report = await expectFailure(
    t,
    'k8s.leader-lease',
    /Lease profile-irsa-webhook\/profile-irsa-webhook held by .* was last renewed \d+s ago \(duration 15s\)/,
    /kubectl -n profile-irsa-webhook logs deploy\/kf-profile-irsa-webhook/,
  );
  // Renewed 60 s before it was set, plus however long doctor took on this machine to look.
  const age = Number(
    /last renewed (\d+)s ago/.exec(checkOf(report, 'k8s.leader-lease').message)![1],
  );
  const waited = Math.ceil((Date.now() - staleSince) / 1000);
  t.ok(age >= 60 && age <= 60 + waited, `renewed ${age}s ago, 60s plus at most ${waited}s`);
});

t.test('Service with no ready endpoints: the webhook stopped', async (t) => {
  await rig.stopWebhook();
  const objects = await helmTemplate([
    RELEASE,
    chartDir,
    ...REQUIRED_VALUES,
    '--namespace',
    NAMESPACE,
    '--set-string',
    `webhook.caBundle=${Buffer.from(webhook.certs.caCert).toString('base64')}`,
    '--show-only',
    'templates/mutatingwebhookconfiguration.yaml',
    '--show-only',
    'templates/validatingwebhookconfiguration.yaml',
    '--show-only',
    'templates/service.yaml',
  ]);
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const object of objects) {
    if (object.kind === 'Service') {
      await api.create(object);
    } else {
      const current = await api.read({
        ...object,
        metadata: { name: object.metadata.name },
      });
      await api.replace({
        ...object,
        metadata: { ...object.metadata, resourceVersion: current.metadata!.resourceVersion },
      } as never);
    }
  }
  const endpointSlices = kc.makeApiClient(DiscoveryV1Api);
  const slice = {
    metadata: {
      name: `${NAME}-abcde`,
      namespace: NAMESPACE,
      labels: {
        'kubernetes.io/service-name': NAME,
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      },
    },
    addressType: 'IPv4',
    ports: [{ name: 'https', port: 9443, protocol: 'TCP' }],
    endpoints: [
      {
        addresses: ['127.0.0.1'],
        conditions: { ready: true },
      },
    ],
  };
  // Why the API server cannot be routed to this webhook through the Service here:
  const refused = await endpointSlices
    .createNamespacedEndpointSlice({ namespace: NAMESPACE, body: slice })
    .then(
      () => 'created',
      (error: unknown) => apiErrorMessage(error),
    );
  t.match(refused, /may not be in the loopback range/, 'EndpointSlices may not point at loopback');
  // The stopped pod, as the endpoint controller leaves it while it terminates: not ready.
  slice.endpoints = [
    {
      addresses: ['10.244.1.17'],
      conditions: { ready: false, serving: false, terminating: true } as never,
      targetRef: { kind: 'Pod', name: `${NAME}-5d8f7c9b4-x2k7q`, namespace: NAMESPACE },
    } as never,
  ];
  await endpointSlices.createNamespacedEndpointSlice({
    namespace: NAMESPACE,
    body: slice,
  });

  const report = await expectFailure(
    t,
    'k8s.service-endpoints',
    /Service profile-irsa-webhook\/kf-profile-irsa-webhook has no ready endpoints \(not ready: kf-profile-irsa-webhook-5d8f7c9b4-x2k7q\): the API server cannot call the webhook/,
    /kubectl -n profile-irsa-webhook get pods -l app\.kubernetes\.io\/instance=kf,app\.kubernetes\.io\/name=profile-irsa-webhook/,
  );
  t.match(checkOf(report, 'k8s.mutating-webhook'), {
    status: 'ok',
    message: /calls Service profile-irsa-webhook\/kf-profile-irsa-webhook:443\/mutate/,
  });
  t.match(checkOf(report, 'k8s.serving-certificate'), {
    status: 'fail',
    hint: 'fix k8s.service-endpoints first',
  });
  t.match(checkOf(report, 'e2e.dry-run-create'), {
    status: 'fail',
    hint: 'fix k8s.service-endpoints first',
  });
});

async function eventually(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms`);
    await sleep(200);
  }
}

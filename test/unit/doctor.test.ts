import t from 'tap';
import { createCa } from '../../tools/dev/certs.js';
import { loadConfig } from '../../src/config/load.js';
import { SERVE_OPTIONS } from '../../src/config/options.js';
import type { Config } from '../../src/config/schema.js';
import { fail, ok, warn, type Check } from '../../src/doctor/check.js';
import { formatDuration, parseDuration } from '../../src/core/duration.js';
import type {
  V1EndpointSlice,
  V1Endpoint,
  V1Service,
  V1ValidatingWebhook,
} from '@kubernetes/client-node';
import type { Outcome, TlsFact, WebhookConfiguration } from '../../src/doctor/facts.js';
import {
  judgeAccountMatch,
  judgeBoundary,
  judgeCredentials,
  judgePermissions,
  simulationPrincipal,
} from '../../src/doctor/judge-aws.js';
import { judgeIssuer } from '../../src/doctor/judge-configuration.js';
import { judgeDryRun } from '../../src/doctor/judge-e2e.js';
import {
  judgeLease,
  judgeServiceEndpoints,
  readyEndpoints,
} from '../../src/doctor/judge-kubernetes.js';
import { judgeWebhookConfiguration } from '../../src/doctor/judge-webhooks.js';
import { judgeServingCertificate, tlsTargets } from '../../src/doctor/judge-tls.js';
import { EXPECTED_WEBHOOKS, expectedFor } from '../../src/doctor/registration.js';
import { renderText } from '../../src/doctor/render.js';
import { runChecks } from '../../src/doctor/runner.js';
import { settingSource } from '../../src/doctor/gather.js';
import { REQUIRED_ENV } from '../helpers/settings.js';

function config(env: Record<string, string> = {}): Config {
  const result = loadConfig({}, { ...REQUIRED_ENV, POD_NAMESPACE: 'irsa', ...env });
  if (!result.ok) throw new Error(result.problems.join('; '));
  return result.config;
}

const okOf = <T>(value: T): Outcome<T> => ({ ok: true, value });
const errorOf = (name: string, message: string, status?: number): Outcome<never> => ({
  ok: false,
  error: { name, message, status },
});

t.test('durations as kubectl and flux take them', async (t) => {
  t.equal(parseDuration('90s'), 90_000);
  t.equal(parseDuration('5m'), 300_000);
  t.equal(parseDuration('1h30m'), 5_400_000);
  t.equal(parseDuration('2m0s'), 120_000);
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration('1.5s'), 1500);
  t.equal(parseDuration('0'), 0);
  for (const bad of ['5', '', 'soon', '5 m', '-1s', '1d', 's']) {
    t.equal(parseDuration(bad), undefined, JSON.stringify(bad));
  }
  t.equal(formatDuration(80_000), '1m20s');
  t.equal(formatDuration(45_000), '45s');
  t.equal(formatDuration(400), '400ms');
  t.equal(formatDuration(3_600_000), '1h');
});

t.test('runner: failing checks are retried with fresh facts until they pass', async (t) => {
  let round = 0;
  let runsOfStable = 0;
  const checks: Check<number>[] = [
    {
      id: 'aws.flaky',
      run: async (facts) => (facts >= 3 ? ok('fine now') : fail(`round ${facts}`, 'wait')),
    },
    {
      id: 'config.stable',
      run: async () => {
        runsOfStable++;
        return warn('a warning', 'not retried');
      },
    },
  ];
  const retries: string[][] = [];
  const report = await runChecks(checks, () => ++round, {
    waitMs: 5000,
    intervalMs: 10,
    onRetry: (failing) => retries.push(failing),
  });
  t.equal(report.success, true);
  t.same(retries, [['aws.flaky'], ['aws.flaky']]);
  t.equal(runsOfStable, 1, 'a warning is final');
  t.same(
    report.sections.map((s) => s.name),
    ['configuration', 'aws'],
    'sections in their fixed order',
  );
  t.same(report.sections[1]!.checks[0], {
    id: 'aws.flaky',
    status: 'ok',
    message: 'fine now',
    hint: null,
  });
});

t.test('runner: gives up when the time is up; throws and hangs are failures', async (t) => {
  const checks: Check<null>[] = [
    { id: 'aws.broken', run: async () => fail('broken', 'fix it') },
    {
      id: 'aws.throws',
      run: async () => {
        throw new Error('boom');
      },
    },
    { id: 'k8s.hangs', run: () => new Promise(() => {}) },
  ];
  const started = Date.now();
  const report = await runChecks(checks, () => null, {
    waitMs: 300,
    intervalMs: 50,
    checkTimeoutMs: 100,
  });
  const elapsed = Date.now() - started;
  t.ok(elapsed >= 300 && elapsed < 5000, `bounded (${elapsed} ms)`);
  t.equal(report.success, false);
  const all = report.sections.flatMap((s) => s.checks);
  t.match(
    all.find((c) => c.id === 'aws.throws'),
    { status: 'fail', message: 'could not run: boom' },
  );
  t.match(
    all.find((c) => c.id === 'k8s.hangs'),
    { status: 'fail', message: /did not finish within/ },
  );
});

t.test('runner: a check whose need does not hold is not checked, and not run', async (t) => {
  const asked: string[] = [];
  const need = (name: string, holds: boolean) => ({
    why: `${name} is down`,
    fixFirst: name,
    holds: async () => {
      asked.push(name);
      return holds;
    },
  });
  let ran = 0;
  const run = async () => {
    ran++;
    return ok('ran');
  };
  const checks: Check<null>[] = [
    {
      id: 'aws.blocked',
      needs: [need('a', true), need('b', false), need('c', false)],
      run,
    },
    { id: 'aws.free', needs: [need('d', true)], run },
  ];
  const report = await runChecks(checks, () => null);
  t.same(report.sections[0]!.checks, [
    { id: 'aws.blocked', status: 'fail', message: 'not checked: b is down', hint: 'fix b first' },
    { id: 'aws.free', status: 'ok', message: 'ran', hint: null },
  ]);
  t.equal(ran, 1, 'only the check whose needs hold ran');
  t.same(asked.sort(), ['a', 'b', 'd'], 'needs are tried in order, up to the first that fails');
});

t.test('text: one line per check, the hint indented under it, a summary', async (t) => {
  const text = renderText({
    success: false,
    sections: [
      {
        name: 'aws',
        checks: [
          { id: 'a', status: 'ok', message: 'good', hint: null },
          { id: 'b', status: 'fail', message: 'bad', hint: 'run this\nor that' },
          { id: 'c', status: 'warn', message: 'meh', hint: 'consider' },
        ],
      },
    ],
  });
  t.equal(
    text,
    [
      'aws',
      '---',
      '✔ good',
      '× bad [b]',
      '    hint: run this',
      '          or that',
      '‼ meh [c]',
      '    hint: consider',
      '',
      '× 1 failed, 1 passed, 1 warning',
      '',
    ].join('\n'),
  );
});

t.test('where a setting came from', async (t) => {
  const source = (key: string, flags: Record<string, unknown>, env: Record<string, string>) =>
    settingSource({ options: SERVE_OPTIONS, flags, env }, key);
  t.same(source('accountId', { accountId: '1' }, {}), {
    kind: 'flag',
    name: '--account-id',
  });
  t.same(source('accountId', {}, { AWS_ACCOUNT_ID: '1' }), {
    kind: 'environment',
    name: 'AWS_ACCOUNT_ID',
  });
  t.same(source('oidcIssuer', {}, { OIDC_ISSUER: '' }), {
    kind: 'discovery',
  });
});

t.test('issuer: configured and the API server agree up to the scheme and slash', async (t) => {
  const c = config({ OIDC_ISSUER: 'oidc.example.com/id/ABC' });
  const source = { kind: 'environment', name: 'OIDC_ISSUER' } as const;
  t.equal(judgeIssuer(c, source, okOf('https://oidc.example.com/id/ABC/')).status, 'ok');
  t.equal(judgeIssuer(c, source, okOf('https://other.example.com')).status, 'fail');
  t.equal(judgeIssuer(c, source, errorOf('Error', 'forbidden')).status, 'warn');
  const discovered = judgeIssuer(config(), { kind: 'discovery' }, errorOf('Error', 'down'));
  t.match(discovered, { status: 'fail', hint: /aws eks describe-cluster --name prod/ });
});

t.test('credentials: the hint follows what went wrong', async (t) => {
  t.match(judgeCredentials(errorOf('CredentialsProviderError', 'Could not load credentials')), {
    hint: /eks\.amazonaws\.com\/role-arn/,
  });
  t.match(
    judgeCredentials(
      errorOf('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity'),
    ),
    { hint: /trust policy/ },
  );
  t.match(judgeCredentials(errorOf('ExpiredToken', 'expired')), { hint: /rejected/ });
  t.match(judgeCredentials(errorOf('InvalidAccessKeyId', 'unknown key')), { hint: /rejected/ });
  t.match(judgeCredentials(errorOf('TimeoutError', 'socket hang up')), { hint: /reached/ });
});

t.test('the principal to simulate', async (t) => {
  const id = (arn: string) => ({ arn, account: '111122223333' });
  t.same(
    simulationPrincipal(
      undefined,
      id('arn:aws:sts::111122223333:assumed-role/profile-irsa-webhook-prod/botocore-session-1'),
    ),
    { arn: 'arn:aws:iam::111122223333:role/profile-irsa-webhook-prod' },
  );
  t.same(
    simulationPrincipal(
      'arn:aws:iam::111122223333:role/team/webhook',
      id('arn:aws:sts::111122223333:assumed-role/webhook/x'),
    ),
    { arn: 'arn:aws:iam::111122223333:role/team/webhook' },
    'AWS_ROLE_ARN keeps the path',
  );
  t.same(simulationPrincipal(undefined, id('arn:aws-cn:iam::111122223333:user/ops/alice')), {
    arn: 'arn:aws-cn:iam::111122223333:user/ops/alice',
  });
  t.ok('problem' in simulationPrincipal(undefined, id('arn:aws:iam::111122223333:root')));
});

t.test('permissions: denied calls fail, an unavailable simulator warns', async (t) => {
  const principal = { arn: 'arn:aws:iam::111122223333:role/webhook' };
  const denied = judgePermissions(
    principal,
    ['iam:CreateRole', 'iam:GetRole'],
    okOf([
      { action: 'iam:GetRole', resource: 'arn:r', decision: 'allowed' },
      { action: 'iam:CreateRole', resource: 'arn:r', decision: 'implicitDeny' },
    ]),
  );
  t.match(denied, {
    status: 'fail',
    message: /1 of 2 .* iam:CreateRole on arn:r \(implicitDeny\)/,
    hint: /iam-policy/,
  });
  t.equal(
    judgePermissions(
      principal,
      ['iam:GetRole'],
      okOf([{ action: 'iam:GetRole', resource: 'arn:r', decision: 'allowed' }]),
    ).status,
    'ok',
  );
  t.match(judgePermissions(principal, [], errorOf('AccessDenied', 'no')), {
    status: 'warn',
    hint: /allow iam:SimulatePrincipalPolicy on arn:aws:iam::111122223333:role\/webhook/,
  });
  t.equal(judgePermissions(principal, [], errorOf('HTTP 500', 'no document')).status, 'warn');
});

const SERVICE: V1Service = {
  metadata: { namespace: 'irsa', name: 'profile-irsa-webhook' },
  spec: {
    ports: [
      { name: 'https', port: 443 },
      { name: 'metrics', port: 8080 },
    ],
    selector: { 'app.kubernetes.io/name': 'profile-irsa-webhook' },
  },
};

const slice = (endpoints: V1Endpoint[]): V1EndpointSlice => ({
  addressType: 'IPv4',
  metadata: { name: 's' },
  ports: [
    { name: 'metrics', port: 8080 },
    { name: 'https', port: 9443 },
  ],
  endpoints,
});

t.test('endpoints: ready ones on the named port, as the API server picks them', async (t) => {
  const found = readyEndpoints(
    SERVICE,
    [
      slice([
        { addresses: ['10.0.0.1'], conditions: { ready: true } },
        {
          addresses: ['10.0.0.2'],
          conditions: { ready: false },
          targetRef: { kind: 'Pod', name: 'p2' },
        },
        { addresses: ['10.0.0.3'] },
      ]),
    ],
    443,
  );
  t.same(
    found,
    {
      ready: [
        { address: '10.0.0.1', port: 9443 },
        { address: '10.0.0.3', port: 9443 },
      ],
      notReady: ['p2'],
    },
    'an endpoint without conditions is ready, as the API server reads it',
  );
  t.match(readyEndpoints(SERVICE, [], 8443), { problem: /has no port 8443/ });
  const endpoint = {
    mode: 'service',
    namespace: 'irsa',
    name: 'profile-irsa-webhook',
    port: 443,
  } as const;
  t.match(judgeServiceEndpoints(endpoint, okOf(SERVICE), okOf([slice([])])), {
    status: 'fail',
    hint: /get pods -l app\.kubernetes\.io\/name=profile-irsa-webhook/,
  });
  t.match(judgeServiceEndpoints(endpoint, okOf(null), undefined), {
    status: 'fail',
    message: /is missing/,
  });
  t.equal(
    judgeServiceEndpoints(endpoint, errorOf('Forbidden', 'services is forbidden', 403), undefined)
      .status,
    'warn',
    'RBAC that forbids the read: not checked, not failed',
  );
  t.equal(
    judgeServiceEndpoints(endpoint, okOf(SERVICE), okOf([slice([{ addresses: ['a'] }])])).status,
    'ok',
  );
});

/** An override of `undefined` leaves the field unset, as the API server may store it. */
type WebhookOverrides = { [K in keyof V1ValidatingWebhook]?: V1ValidatingWebhook[K] | undefined };

const webhookOf = (overrides: WebhookOverrides = {}): V1ValidatingWebhook =>
  ({
    name: 'validate.profile-irsa-webhook.kubeflow.org',
    clientConfig: {
      service: { name: 'profile-irsa-webhook', namespace: 'irsa', path: '/validate', port: 443 },
      caBundle: '',
    },
    rules: EXPECTED_WEBHOOKS.ValidatingWebhookConfiguration.rules,
    matchConditions: EXPECTED_WEBHOOKS.ValidatingWebhookConfiguration.matchConditions,
    sideEffects: 'NoneOnDryRun',
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    timeoutSeconds: 5,
    namespaceSelector: {},
    objectSelector: {},
    admissionReviewVersions: ['v1'],
    ...overrides,
  }) as V1ValidatingWebhook;

const configurationOf = (webhook: V1ValidatingWebhook): WebhookConfiguration => ({
  kind: 'ValidatingWebhookConfiguration',
  metadata: {
    name: 'profile-irsa-webhook',
    labels: { 'app.kubernetes.io/instance': 'irsa-release' },
  },
  webhooks: [webhook],
});

t.test('webhook configuration: each departure from the chart is named', async (t) => {
  const expected = EXPECTED_WEBHOOKS.ValidatingWebhookConfiguration;
  const judge = (webhook: V1ValidatingWebhook) =>
    judgeWebhookConfiguration(config(), expected, okOf(configurationOf(webhook)));
  t.equal(judge(webhookOf()).status, 'ok');
  t.match(judge(webhookOf({ sideEffects: 'None' })), {
    status: 'fail',
    message: /sideEffects is None, not NoneOnDryRun/,
    hint: /helm -n irsa upgrade irsa-release/,
  });
  t.match(judge(webhookOf({ failurePolicy: 'Ignore' })), { message: /must fail closed/ });
  t.match(
    judge(
      webhookOf({
        clientConfig: { service: { name: 'other', namespace: 'irsa', path: '/validate' } },
      }),
    ),
    { message: /calls Service irsa\/other, not profile-irsa-webhook/ },
  );
  t.match(judge(webhookOf({ matchConditions: [{ name: 'x', expression: 'true' }] })), {
    message: /matchConditions \(x\) are not the chart's/,
  });
  t.match(judge(webhookOf({ rules: [{ ...expected.rules[0]!, operations: ['CREATE'] }] })), {
    message: /its rules/,
  });
  t.match(judgeWebhookConfiguration(config(), expected, okOf(null)), {
    status: 'fail',
    message: /is missing/,
  });
  // Edits that leave Profiles unguarded while everything else looks right.
  t.match(judge(webhookOf({ matchPolicy: 'Exact' })), {
    status: 'fail',
    message: /matchPolicy is Exact, not Equivalent: writes through .* \(v1beta1\) would skip/,
  });
  t.match(judge(webhookOf({ timeoutSeconds: 31 })), {
    status: 'fail',
    message: /timeoutSeconds is 31: the admission budget is 1 to 30 seconds/,
  });
  t.match(judge(webhookOf({ timeoutSeconds: undefined })), { message: /timeoutSeconds is unset/ });
  t.match(
    judgeWebhookConfiguration(
      config({ REQUEST_TIMEOUT_SECONDS: '10' }),
      expected,
      okOf(configurationOf(webhookOf({ timeoutSeconds: 10 }))),
    ),
    { status: 'fail', message: /timeoutSeconds 10 is not below .*--request-timeout-seconds 10/ },
  );
  const skips = { matchLabels: { team: 'a' } };
  t.match(judge(webhookOf({ objectSelector: skips })), {
    status: 'fail',
    message: /its objectSelector \{"matchLabels":\{"team":"a"\}\} is not the chart's \{\}/,
  });
  t.match(judge(webhookOf({ namespaceSelector: skips })), {
    status: 'fail',
    message: /its namespaceSelector/,
  });
  t.equal(
    judge(webhookOf({ objectSelector: undefined, namespaceSelector: { matchLabels: {} } })).status,
    'ok',
    "an absent or empty selector is the chart's {}",
  );
  const [rule] = expected.rules;
  t.equal(
    judge(
      webhookOf({
        rules: [{ ...rule, operations: ['UPDATE', 'CREATE'] }],
        matchConditions: expected.matchConditions.map((c) => ({
          ...c,
          expression: `${c.expression}\n`,
        })),
      }),
    ).status,
    'ok',
    'lists in another order and a CEL expression from a YAML block are the same registration',
  );
  const mutating = EXPECTED_WEBHOOKS.MutatingWebhookConfiguration;
  const judgeMutating = (webhook: WebhookOverrides) =>
    judgeWebhookConfiguration(
      config(),
      mutating,
      okOf({
        ...configurationOf(webhookOf()),
        kind: 'MutatingWebhookConfiguration',
        webhooks: [
          webhookOf({
            name: mutating.webhookName,
            clientConfig: {
              service: { name: 'profile-irsa-webhook', namespace: 'irsa', path: '/mutate' },
            },
            matchConditions: mutating.matchConditions,
            objectSelector: mutating.objectSelector,
            ...webhook,
          }),
        ],
      }),
    );
  t.equal(judgeMutating({}).status, 'ok');
  t.match(judgeMutating({ failurePolicy: 'Ignore' }), {
    status: 'fail',
    message: /failurePolicy is Ignore, not Fail: a Profile would be stored without its role/,
  });
  t.match(judgeMutating({ objectSelector: {} }), { status: 'fail', message: /objectSelector/ });
});

t.test(
  'matchConditions are expected from Kubernetes 1.28 on, as the chart renders them',
  async (t) => {
    t.equal(
      expectedFor('MutatingWebhookConfiguration', 'v1.27.16-eks-2d5f260').matchConditions.length,
      0,
    );
    t.equal(expectedFor('MutatingWebhookConfiguration', 'v1.28.0').matchConditions.length, 2);
    t.equal(expectedFor('ValidatingWebhookConfiguration', 'v1.35.4').matchConditions.length, 1);
    t.equal(expectedFor('ValidatingWebhookConfiguration', 'v2.0.0').matchConditions.length, 1);
    t.equal(expectedFor('ValidatingWebhookConfiguration', undefined).matchConditions.length, 1);
  },
);

t.test('TLS targets: the URL, every ready endpoint, or the Service name', async (t) => {
  t.same(tlsTargets(webhookOf({ clientConfig: { url: 'https://[::1]:9443/validate' } }), []), [
    { host: '::1', port: 9443, serverName: '::1' },
  ]);
  t.same(tlsTargets(webhookOf(), [{ address: '10.0.0.1', port: 9443 }]), [
    { host: '10.0.0.1', port: 9443, serverName: 'profile-irsa-webhook.irsa.svc' },
  ]);
  t.same(tlsTargets(webhookOf(), undefined), [
    {
      host: 'profile-irsa-webhook.irsa.svc',
      port: 443,
      serverName: 'profile-irsa-webhook.irsa.svc',
    },
  ]);
});

t.test('serving certificate: outside the cluster pod IPs are a warning; expiry too', async (t) => {
  const webhook = webhookOf();
  const target = { host: '10.0.0.1', port: 9443, serverName: 'profile-irsa-webhook.irsa.svc' };
  const probe = (result: Outcome<TlsFact>) => [
    { configuration: configurationOf(webhook), webhook, probes: [{ target, result }] },
  ];
  const timeout: Outcome<TlsFact> = {
    ok: false,
    error: { name: 'TimeoutError', code: 'ETIMEDOUT', message: 'no handshake' },
  };
  const now = Date.parse('2026-06-01T00:00:00Z');
  t.equal(judgeServingCertificate(probe(timeout), false, now).status, 'warn');
  t.equal(judgeServingCertificate(probe(timeout), true, now).status, 'fail');
  const peer = {
    subject: 'CN=profile-irsa-webhook.irsa.svc',
    issuer: 'CN=ca',
    subjectAltName: 'DNS:profile-irsa-webhook.irsa.svc',
    validTo: new Date('2026-06-05T00:00:00Z'),
  };
  t.match(judgeServingCertificate(probe(okOf({ peer })), true, now), {
    status: 'warn',
    message: /expires in 4 days/,
  });
  t.match(judgeServingCertificate(probe(okOf({ peer, hostnameError: 'no' })), true, now), {
    status: 'fail',
    message: /is for DNS:profile-irsa-webhook\.irsa\.svc, not/,
  });
  t.match(judgeServingCertificate([], true, now), { status: 'fail', message: /not checked/ });
});

t.test('a caBundle that does not verify the certificate names the GitOps cause', async (t) => {
  const ca = await createCa('irsa-release-profile-irsa-webhook-ca');
  const webhook = webhookOf({
    clientConfig: {
      ...webhookOf().clientConfig,
      caBundle: Buffer.from(ca.cert).toString('base64'),
    },
  });
  const target = { host: '10.0.0.1', port: 9443, serverName: 'profile-irsa-webhook.irsa.svc' };
  const peer = {
    subject: 'CN=profile-irsa-webhook.irsa.svc',
    issuer: 'CN=irsa-release-profile-irsa-webhook-ca',
    subjectAltName: 'DNS:profile-irsa-webhook.irsa.svc',
    validTo: new Date('2027-06-05T00:00:00Z'),
  };
  const probes = [{ target, result: okOf<TlsFact>({ peer, chainError: 'unable to verify' }) }];
  const result = judgeServingCertificate(
    [{ configuration: configurationOf(webhook), webhook, probes }],
    true,
    Date.parse('2026-06-01T00:00:00Z'),
  );
  t.equal(result.status, 'fail');
  t.match(result, { message: /does not verify against its caBundle/ });
  t.match(result, {
    hint: /tls\.mode=generated under GitOps .*`helm template` render.*every render makes a new CA/,
  });
  // cert-manager injects the CA: its hint is about the injector, not about renders.
  const injected = judgeServingCertificate(
    [
      {
        configuration: {
          ...configurationOf(webhook),
          metadata: { annotations: { 'cert-manager.io/inject-ca-from': 'irsa/serving' } },
        },
        webhook,
        probes,
      },
    ],
    true,
    Date.parse('2026-06-01T00:00:00Z'),
  );
  t.notMatch(injected, { hint: /helm template/ });
});

t.test('Lease: a live holder, or why not', async (t) => {
  const now = Date.parse('2026-06-01T00:00:00Z');
  const lease = (ageSeconds: number, holderIdentity = 'pod-1') =>
    okOf({
      holderIdentity,
      renewTime: new Date(now - ageSeconds * 1000),
      leaseDurationSeconds: 15,
    });
  t.match(judgeLease(config(), lease(3), now), { status: 'ok', message: /held by pod-1/ });
  t.match(judgeLease(config(), lease(19), now), { status: 'ok' }, 'within the skew allowance');
  t.match(judgeLease(config(), lease(40), now), {
    status: 'fail',
    message: /last renewed 40s ago/,
  });
  t.match(judgeLease(config(), lease(1, ''), now), { status: 'fail', message: /no holder/ });
  t.match(judgeLease(config(), okOf(null), now), { status: 'fail', message: /no Lease/ });
  t.equal(judgeLease(config({ RECONCILE: 'false' }), undefined, now).status, 'ok');
  t.match(judgeLease(config({ POD_NAMESPACE: '' }), undefined, now), {
    status: 'fail',
    hint: /POD_NAMESPACE/,
  });
});

t.test('dry run: the derived ARN, and nothing written', async (t) => {
  const expectedArn = 'arn:aws:iam::1:role/kubeflow-profiles/profile-irsa-webhook-doctor-prod-role';
  const profileWith = (awsIamRole: string) =>
    okOf({
      spec: {
        plugins: [{ kind: 'AwsIamForServiceAccount', spec: { awsIamRole, annotateOnly: true } }],
      },
    });
  const base = {
    expectedArn,
    roleName: 'profile-irsa-webhook-doctor-prod-role',
    before: okOf(false),
    after: okOf(false),
  };
  t.equal(judgeDryRun(config(), { ...base, response: profileWith(expectedArn) }).status, 'ok');
  t.match(judgeDryRun(config(), { ...base, response: profileWith('arn:other') }), {
    status: 'fail',
    message: /came back with role arn:other/,
  });
  t.match(judgeDryRun(config(), { ...base, response: okOf({ spec: {} }) }), {
    status: 'fail',
    message: /without the AwsIamForServiceAccount plugin/,
  });
  t.match(
    judgeDryRun(config(), { ...base, after: okOf(true), response: profileWith(expectedArn) }),
    { status: 'fail', message: /wrote role/ },
  );
  t.match(
    judgeDryRun(config(), { ...base, before: okOf(true), response: profileWith(expectedArn) }),
    {
      status: 'warn',
      hint: /aws iam delete-role --role-name profile-irsa-webhook-doctor-prod-role/,
    },
  );
  t.equal(
    judgeDryRun(config(), { ...base, response: errorOf('Forbidden', 'forbidden', 403) }).status,
    'warn',
  );
  t.match(
    judgeDryRun(config(), {
      ...base,
      response: errorOf(
        'InternalError',
        'failed calling webhook: x509: certificate signed by unknown authority',
        500,
      ),
    }),
    { status: 'fail', hint: /k8s\.serving-certificate/ },
  );
});

t.test('boundary: required in provision mode unless waived, and it must exist', async (t) => {
  const arn = 'arn:aws:iam::123456789012:policy/kf-boundary';
  const none = { ...config(), permissionsBoundary: undefined, allowNoBoundary: false };
  t.match(judgeBoundary(none, undefined), { status: 'fail', hint: /--allow-no-boundary/ });
  t.match(judgeBoundary({ ...none, allowNoBoundary: true }, undefined), {
    status: 'warn',
    message: /limited only by what its own policy lets it write.*waived/,
  });
  t.match(judgeBoundary({ ...none, mode: 'lookup' }, undefined), { status: 'ok' });
  const bounded = { ...none, permissionsBoundary: arn };
  t.match(judgeBoundary(bounded, okOf(true)), {
    status: 'ok',
    message: /kf-boundary, which exists/,
  });
  t.match(judgeBoundary(bounded, okOf(false)), {
    status: 'fail',
    message: /does not exist/,
    hint: /iam-policy --boundary/,
  });
  t.match(judgeBoundary(bounded, errorOf('AccessDenied', 'not authorized')), {
    status: 'fail',
    hint: /iam:GetPolicy on arn:aws:iam::123456789012:policy\/kf-boundary/,
  });
});

t.test('account: a discovered account passes only when it holds the OIDC provider', async (t) => {
  const identity = { arn: 'arn:aws:iam::123456789012:user/ops', account: '123456789012' };
  const providerArn = 'arn:aws:iam::123456789012:oidc-provider/oidc.example/id/X';
  const provider = { arn: providerArn, clientIds: ['sts.amazonaws.com'] };
  t.match(judgeAccountMatch(undefined, identity, { providerArn, provider: okOf(provider) }), {
    status: 'ok',
    message: /discovered from the credentials.*holds the cluster's OIDC provider/,
  });
  for (const outcome of [okOf(null), errorOf('Throttling', 'slow down')]) {
    t.match(judgeAccountMatch(undefined, identity, { providerArn, provider: outcome }), {
      status: 'warn',
      message: /discovered from the credentials/,
      hint: /--account-id/,
    });
  }
  t.match(judgeAccountMatch(undefined, identity), { status: 'warn', hint: /--account-id/ });
  t.match(judgeAccountMatch('123456789012', identity), { status: 'ok' });
  t.match(judgeAccountMatch('111122223333', identity), { status: 'fail' });
});

import t from 'tap';
import { GetRoleCommand, ListRolesCommand } from '@aws-sdk/client-iam';
import { createIamClient } from '../../src/iam/client.js';
import { fromAwsError } from '../../src/iam/errors.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import { failingIam } from '../helpers/failing-iam.js';
import { FAKE_CREDENTIALS, startMoto } from '../helpers/moto.js';

function client(endpoint: string, metrics: Metrics) {
  return createIamClient({
    region: 'us-east-1',
    endpoint,
    credentials: FAKE_CREDENTIALS,
    maxAttempts: 3,
    metrics,
  });
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

t.test('hard errors are not retried', async (t) => {
  const cases: [number, string, string, string][] = [
    [409, 'LimitExceeded', 'LimitExceededException', 'limit-exceeded'],
    [403, 'AccessDenied', 'AccessDenied', 'access-denied'],
    [400, 'MalformedPolicyDocument', 'MalformedPolicyDocumentException', 'malformed-policy'],
  ];
  for (const [status, code, sdkName, reason] of cases) {
    const server = await failingIam(t, status, code);
    const metrics = createMetrics({ defaultMetrics: false });
    const err = await failure(
      client(server.endpoint, metrics).send(new GetRoleCommand({ RoleName: 'r' })),
    );
    t.equal(err.name, sdkName, code);
    t.equal(server.attempts(), 1, `${code}: one attempt only`);
    const mapped = fromAwsError(err, { roleName: 'r', operation: 'GetRole' });
    t.equal(mapped.reason, reason);
    t.equal(mapped.retryable, false);
    t.match(mapped.message, /role r.*retrying will not help/);
    t.same((await metrics.iamCalls.get()).values, [
      { value: 1, labels: { operation: 'GetRole', outcome: sdkName } },
    ]);
  }
});

t.test('throttling and server errors are retried with backoff', async (t) => {
  for (const [status, code] of [
    [400, 'Throttling'],
    [500, 'ServiceFailure'],
  ] as const) {
    const server = await failingIam(t, status, code);
    const metrics = createMetrics({ defaultMetrics: false });
    const err = await failure(
      client(server.endpoint, metrics).send(new GetRoleCommand({ RoleName: 'r' })),
    );
    t.equal(server.attempts(), 3, `${code}: all attempts used`);
    t.equal(fromAwsError(err, { roleName: 'r', operation: 'GetRole' }).retryable, true);
    t.match(
      fromAwsError(err, { roleName: 'r', operation: 'GetRole' }).message,
      /retrying may help/,
    );
    t.equal((await metrics.iamCalls.get()).values[0]?.value, 1, 'counted once per call');
  }
});

t.test('uses AWS_ENDPOINT_URL_IAM when no endpoint is passed', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const previous = process.env['AWS_ENDPOINT_URL_IAM'];
  process.env['AWS_ENDPOINT_URL_IAM'] = moto.endpoint;
  t.teardown(() => {
    if (previous === undefined) delete process.env['AWS_ENDPOINT_URL_IAM'];
    else process.env['AWS_ENDPOINT_URL_IAM'] = previous;
  });
  const metrics = createMetrics({ defaultMetrics: false });
  const iam = createIamClient({ region: 'us-east-1', credentials: FAKE_CREDENTIALS, metrics });
  const out = await iam.send(new ListRolesCommand({}));
  t.same(out.Roles, []);
  t.same((await metrics.iamCalls.get()).values, [
    { value: 1, labels: { operation: 'ListRoles', outcome: 'success' } },
  ]);
});

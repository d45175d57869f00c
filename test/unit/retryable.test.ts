import t from 'tap';
import { RoleProvisioningError } from '../../src/iam/errors.js';
import { isRetryable } from '../../src/reconcile/retry.js';

const named = (name: string, fields: Record<string, unknown> = {}) =>
  Object.assign(new Error(name), { name, ...fields });

t.test('broken connections and timed-out requests can be waited out', async (t) => {
  t.ok(isRetryable(named('Error', { code: 'ECONNRESET' })), 'a reset connection');
  t.ok(isRetryable(named('Error', { code: 'UND_ERR_SOCKET' })), "undici's socket error");
  t.ok(
    isRetryable(named('Error', { cause: named('Error', { code: 'ECONNREFUSED' }) })),
    'a refused connection as the cause',
  );
  t.ok(isRetryable(named('TimeoutError')), 'a request ended by its own deadline');
  t.ok(isRetryable(named('Throttling', { $metadata: { httpStatusCode: 400 } })), 'throttling');
});

t.test('what no wait can fix is not retried', async (t) => {
  t.notOk(isRetryable(named('AccessDenied', { $metadata: { httpStatusCode: 403 } })));
  t.notOk(isRetryable(named('Error')), 'an error of no known kind');
  t.notOk(isRetryable('not an error'));
});

t.test('a provisioning error says itself whether it is retryable', async (t) => {
  t.ok(isRetryable(new RoleProvisioningError('deadline', 'r', 'm', { retryable: true })));
  t.notOk(isRetryable(new RoleProvisioningError('aws-error', 'r', 'm', { retryable: false })));
});

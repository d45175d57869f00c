// The reconciler's IAM client against moto: calls start one at a time at most --iam-rate per
// second, and the admission client beside it never waits in that queue.

import t from 'tap';
import { GetRoleCommand, ListRolesCommand } from '@aws-sdk/client-iam';
import { pino } from 'pino';
import { createIamClient } from '../../src/iam/client.js';
import { createRateLimitedIamClient } from '../../src/iam/rate-limit.js';
import { RoleEnsurer } from '../../src/iam/role-ensurer.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { MOTO_ACCOUNT_ID, startMoto } from '../helpers/moto.js';
import { testRoleSettings } from '../helpers/settings.js';
import { useMoto } from '../helpers/webhook.js';

const moto = await startMoto();
t.teardown(() => moto.stop());
useMoto(moto);
const metrics = createMetrics({ defaultMetrics: false });

t.test('calls are spaced to the rate', async (t) => {
  const iam = createRateLimitedIamClient({ region: 'us-east-1', metrics, callsPerSecond: 4 });
  const started = Date.now();
  await Promise.all(Array.from({ length: 6 }, () => iam.send(new ListRolesCommand({}))));
  const took = Date.now() - started;
  // Six calls at 4/s: the sixth starts no earlier than 5 intervals of 250 ms after the first.
  t.ok(took >= 1200, `6 calls at 4/s took ${took} ms`);
});

t.test('admission calls never wait behind the reconciler', async (t) => {
  const reconciler = createRateLimitedIamClient({
    region: 'us-east-1',
    metrics,
    callsPerSecond: 1,
  });
  const admission = createIamClient({ region: 'us-east-1', metrics });
  // Twenty seconds of queued reconciler work.
  const stop = new AbortController();
  const backlog = Array.from({ length: 10 }, () =>
    reconciler
      .send(new GetRoleCommand({ RoleName: 'nobody' }), { abortSignal: stop.signal })
      .catch(() => undefined),
  );
  const roles = new RoleEnsurer({
    iam: admission,
    mode: 'provision',
    cacheTtlMs: 0,
    metrics,
  });
  const spec = deriveRoleSpec(testRoleSettings({ accountId: MOTO_ACCOUNT_ID }), 'team-a');
  const started = Date.now();
  const result = await roles.provision(spec, {
    dryRun: false,
    signal: AbortSignal.timeout(10_000),
    logger: pino({ level: 'silent' }),
  });
  const took = Date.now() - started;
  t.equal(result.outcome, 'created');
  t.ok(took < 5000, `the admission's three IAM calls took ${took} ms beside a 20 s backlog`);
  stop.abort();
  await Promise.all(backlog);
});

t.test('a stopped reconciler leaves the queue at once', async (t) => {
  const iam = createRateLimitedIamClient({ region: 'us-east-1', metrics, callsPerSecond: 0.5 });
  const first = iam.send(new ListRolesCommand({}));
  const stop = new AbortController();
  const waiting = iam.send(new ListRolesCommand({}), { abortSignal: stop.signal });
  const started = Date.now();
  setTimeout(() => stop.abort(), 100);
  await t.rejects(waiting, 'the queued call is abandoned');
  t.ok(Date.now() - started < 1500, 'without waiting for its turn');
  await first;
});

import t from 'tap';
import { Writable } from 'node:stream';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { pino } from 'pino';
import { RoleInventory } from '../../src/iam/role-inventory.js';
import { duplicateKeys } from '../helpers/json-keys.js';
import { EC2_TRUST } from '../helpers/iam-roles.js';
import { iamClientFor, startMoto } from '../helpers/moto.js';
import { createReview } from '../helpers/reviews.js';
import { startTestWebhook, useMoto } from '../helpers/webhook.js';

/** A pino logger at debug level that keeps the raw text of every line it writes. */
function capturingLogger() {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return {
    logger: pino({ level: 'debug' }, stream),
    lines: () => text.split('\n').filter((line) => line !== ''),
  };
}

t.test('duplicateKeys finds a key given twice in one object, at any depth', async (t) => {
  t.same(duplicateKeys('{"a":1,"b":{"c":2,"c":3},"a":4}'), ['b.c', 'a']);
  t.same(duplicateKeys('{"a":[{"x":1},{"x":2}],"b":"a\\"a","c":null}'), []);
  t.throws(() => duplicateKeys('{"a":1'));
});

const moto = await startMoto();
t.teardown(() => moto.stop());
useMoto(moto);

t.test('no line of a provisioning admission gives a key twice', async (t) => {
  const capture = capturingLogger();
  const webhook = await startTestWebhook({}, { logger: capture.logger });
  t.teardown(() => webhook.stop());

  const res = await webhook.post('/mutate', createReview('team-logs'), '?timeout=10s');
  t.equal(res.status, 200);
  t.equal(res.json().response.allowed, true);

  const lines = capture.lines();
  const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const created = parsed.find((line) => line.iamAction === 'CreateRole');
  t.ok(created, 'the CreateRole call is logged with its IAM action');
  t.equal(created?.operation, 'CREATE', 'in the admission, whose operation it keeps');
  t.equal(created?.name, 'team-logs');
  for (const line of lines) t.same(duplicateKeys(line), [], line);
});

t.test('no line of a reconciler deletion gives a key twice', async (t) => {
  const iam = iamClientFor(moto.endpoint);
  await iam.send(
    new CreateRoleCommand({
      RoleName: 'gone-prod-role',
      Path: '/kubeflow-profiles/',
      AssumeRolePolicyDocument: JSON.stringify(EC2_TRUST),
    }),
  );
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: 'gone-prod-role',
      PolicyName: 's3',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*' }],
      }),
    }),
  );
  const capture = capturingLogger();
  // As the reconciler's actor logs: its child logger around the inventory's lines.
  const logger = capture.logger.child({ component: 'reconciler' });
  const inventory = new RoleInventory({ iam, rolePath: '/kubeflow-profiles/', logger });
  await inventory.deleteRole(
    'gone-prod-role',
    { roleId: undefined, beforeStep: () => Promise.resolve() },
    AbortSignal.timeout(10_000),
  );

  const lines = capture.lines();
  const actions = lines.map((line) => (JSON.parse(line) as { iamAction?: string }).iamAction);
  t.same(actions, ['DeleteRolePolicy', 'DeleteRole']);
  for (const line of lines) t.same(duplicateKeys(line), [], line);
});

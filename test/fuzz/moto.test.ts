import t from 'tap';
import fc from 'fast-check';
import { startMoto } from '../helpers/moto.js';
import { ACCOUNT_ID } from '../helpers/settings.js';
import { startTestWebhook, useMoto } from '../helpers/webhook.js';
import { ALLOWED_PATTERN } from './generators.js';
import {
  checkAnswer,
  checkRoleRequest,
  checkValidation,
  fuzzParameters,
  newTally,
  reviewArb,
} from './harness.js';

// The same properties end to end, fewer runs: the real HTTPS server, both webhooks, moto's IAM.
// moto keeps the fixtures' account, so derived ARNs are the same as in the inject runs.
process.env.MOTO_ACCOUNT_ID = ACCOUNT_ID;
const moto = await startMoto();
t.teardown(() => moto.stop());
useMoto(moto);
const webhook = await startTestWebhook({
  AWS_ACCOUNT_ID: ACCOUNT_ID,
  ALLOWED_ROLE_ARNS: ALLOWED_PATTERN,
});
t.teardown(() => webhook.stop());
const tally = newTally();

t.test('both webhooks over HTTPS with IAM in moto', async (t) => {
  await fc.assert(
    fc.asyncProperty(reviewArb, async (generated) => {
      const before = await webhook.iamCalls();
      const mutated = await webhook.post('/mutate', generated.text);
      const calls = (await webhook.iamCalls()) - before;
      const checked = checkAnswer(generated, mutated.status, mutated.text, tally);
      if (!checked) {
        if (calls > 0) throw new Error('IAM was called for a malformed review');
      } else if (calls > 0) {
        tally.provisioned += 1;
        checkRoleRequest(generated, checked.request, checked.response);
      }
      const validated = await webhook.post('/validate', generated.text);
      if ((await webhook.iamCalls()) - before !== calls) throw new Error('validation called IAM');
      const answer = checkAnswer(generated, validated.status, validated.text, tally);
      if (answer) checkValidation(answer.request, answer.response, tally);
    }),
    fuzzParameters(t, 250),
  );
  t.comment(JSON.stringify(tally));
  for (const key of ['malformed', 'allowed', 'denied', 'provisioned'] as const) {
    t.ok(tally[key] > 0, `some reviews were ${key}`);
  }
});

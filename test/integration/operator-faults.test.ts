import t, { type Test } from 'tap';
import { failingIam } from '../helpers/failing-iam.js';
import { FAKE_CREDENTIALS } from '../helpers/moto.js';
import { createReview } from '../helpers/reviews.js';
import { ACCOUNT_ID } from '../helpers/settings.js';
import { startTestWebhook } from '../helpers/webhook.js';

// The webhook's own permissions, credentials, quota or configuration are at fault: the answer is
// a server-side error that says so and sends an operator to `doctor`, never "your Profile is wrong".
process.env.AWS_ACCESS_KEY_ID = FAKE_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = FAKE_CREDENTIALS.secretAccessKey;
process.env.AWS_REGION = 'us-east-1';

async function answerWith(t: Test, status: number, code: string) {
  const iam = await failingIam(t, status, code);
  process.env.AWS_ENDPOINT_URL_IAM = iam.endpoint;
  const webhook = await startTestWebhook({ AWS_ACCOUNT_ID: ACCOUNT_ID });
  t.teardown(() => webhook.stop());
  const res = await webhook.post('/mutate', createReview('team-a'));
  t.equal(res.status, 200, `${code}: still a well-formed AdmissionReview`);
  return res.json().response;
}

for (const [status, code] of [
  [403, 'AccessDenied'],
  [403, 'InvalidClientTokenId'],
  [403, 'ExpiredToken'],
  [409, 'LimitExceeded'],
  [400, 'MalformedPolicyDocument'],
] as const) {
  t.test(`${code} is the webhook's fault: 5xx, an operator problem, doctor`, async (t) => {
    const answer = await answerWith(t, status, code);
    t.equal(answer.allowed, false);
    t.ok(answer.status.code >= 500, `status ${answer.status.code} is server-side`);
    t.equal(answer.status.reason, 'InternalError');
    t.match(answer.status.message, /not a problem with the Profile/);
    t.match(answer.status.message, /operator/);
    t.match(answer.status.message, '`profile-irsa-webhook doctor`');
    t.match(answer.status.message, code, 'says what IAM answered');
  });
}

t.test('throttling is no operator fault: retry later, 503', async (t) => {
  const answer = await answerWith(t, 400, 'Throttling');
  t.equal(answer.allowed, false);
  t.equal(answer.status.code, 503);
  t.match(answer.status.message, /retrying may help/);
  t.notMatch(answer.status.message, /doctor/);
});

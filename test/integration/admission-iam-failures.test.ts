import t from 'tap';
import { failingIam } from '../helpers/failing-iam.js';
import { FAKE_CREDENTIALS } from '../helpers/moto.js';
import { createReview } from '../helpers/reviews.js';
import { ACCOUNT_ID } from '../helpers/settings.js';
import { startTestWebhook } from '../helpers/webhook.js';

// profile_irsa_admission_iam_failures_total is what the admission IAM alert watches: every reason
// is exported at 0 from the start (so the first failure is an increase), and an admission that
// IAM refuses counts once under its reason.
process.env.AWS_ACCESS_KEY_ID = FAKE_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = FAKE_CREDENTIALS.secretAccessKey;
process.env.AWS_REGION = 'us-east-1';

const iam = await failingIam(t, 403, 'AccessDenied');
process.env.AWS_ENDPOINT_URL_IAM = iam.endpoint;
const webhook = await startTestWebhook({ AWS_ACCOUNT_ID: ACCOUNT_ID });
t.teardown(() => webhook.stop());

async function failures(): Promise<Record<string, number>> {
  const metric = await webhook.metrics.admissionIamFailures.get();
  return Object.fromEntries(metric.values.map((v) => [String(v.labels.reason), v.value]));
}

t.test('every reason is exported at 0 before any admission', async (t) => {
  const counts = await failures();
  t.equal(counts['access-denied'], 0);
  t.equal(counts.deadline, 0);
  t.ok(Object.values(counts).every((v) => v === 0));
});

t.test('an admission IAM refuses counts once, under its reason', async (t) => {
  const res = await webhook.post('/mutate', createReview('team-a'));
  t.equal(res.json().response.allowed, false);
  const counts = await failures();
  t.equal(counts['access-denied'], 1);
  t.equal(
    Object.values(counts).reduce((a, b) => a + b, 0),
    1,
    'no other reason moved',
  );
});

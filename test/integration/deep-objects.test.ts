import t from 'tap';
import { MOTO_ACCOUNT_ID, startMoto } from '../helpers/moto.js';
import { API_SERVER_DEPTH, nestedJson } from '../helpers/deep.js';
import { profileWithRole } from '../helpers/reviews.js';
import { startTestWebhook, useMoto } from '../helpers/webhook.js';
import { profileReview } from '../../tools/dev/sample.js';

// Another plugin's spec nested as deep as the API server accepts. The reviews are written as
// text: JSON.stringify recurses too, and would fail on the test's side first.
const moto = await startMoto();
t.teardown(() => moto.stop());
useMoto(moto);
const webhook = await startTestWebhook();
t.teardown(() => webhook.stop());

const PLACEHOLDER = '"__DEEP__"';

/** A Profile of `namespace` with its derived plugin and another plugin whose spec is deep. */
function profileText(namespace: string, depth: number, leaf: string): string {
  const profile = profileWithRole(
    namespace,
    `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/kubeflow-profiles/${namespace}-prod-role`,
  ) as unknown as {
    spec: { plugins: unknown[] };
  };
  profile.spec.plugins.push({ kind: 'SomeOtherPlugin', spec: '__DEEP__' });
  return JSON.stringify(profile).replace(PLACEHOLDER, nestedJson(depth, leaf));
}

function reviewText(
  operation: string,
  namespace: string,
  depth: number,
  leaves: { object: string; oldObject?: string },
) {
  const review = profileReview({
    operation,
    object: '__OBJECT__',
    oldObject: leaves.oldObject === undefined ? undefined : '__OLD__',
    request: { name: namespace },
  });
  let text = JSON.stringify(review).replace(
    '"__OBJECT__"',
    profileText(namespace, depth, leaves.object),
  );
  if (leaves.oldObject !== undefined) {
    text = text.replace('"__OLD__"', profileText(namespace, depth, leaves.oldObject));
  }
  return { uid: review.request.uid, text };
}

for (const depth of [API_SERVER_DEPTH, 100_000]) {
  for (const path of ['/mutate', '/validate']) {
    t.test(`${path}: another plugin nested ${depth} levels deep`, async (t) => {
      const cases = [
        ['CREATE', { object: '"a"' }],
        ['UPDATE that leaves the plugins as they were', { object: '"a"', oldObject: '"a"' }],
        ['UPDATE that changes the deepest value', { object: '"b"', oldObject: '"a"' }],
      ] as const;
      for (const [name, leaves] of cases) {
        const operation = name.startsWith('CREATE') ? 'CREATE' : 'UPDATE';
        const { uid, text } = reviewText(operation, `team-deep-${depth}`, depth, leaves);
        const res = await webhook.post(path, text);
        t.equal(res.status, 200, `${name}: HTTP 200`);
        const answer = res.json().response;
        t.equal(answer.uid, uid, `${name}: uid echoed`);
        t.equal(
          answer.allowed,
          true,
          `${name}: allowed (${answer.status?.message ?? 'no message'})`,
        );
      }
    });
  }
}

import t, { type Test } from 'tap';
import { httpsRequest } from '../helpers/https.js';
import { startMoto } from '../helpers/moto.js';
import { createReview } from '../helpers/reviews.js';
import { startTestWebhook, useMoto } from '../helpers/webhook.js';

const moto = await startMoto();
t.teardown(() => moto.stop());
useMoto(moto);
const webhook = await startTestWebhook();
t.teardown(() => webhook.stop());

const send = (path: string, body: string | Buffer, contentType = 'application/json') =>
  httpsRequest(`${webhook.url}${path}`, {
    ca: webhook.certs.caCert,
    body,
    headers: { 'content-type': contentType },
  });

async function stillAnswers(t: Test) {
  const ok = await webhook.post('/validate', createReview('team-alive'));
  t.equal(ok.status, 200, 'the server still answers afterwards');
}

for (const path of ['/mutate', '/validate']) {
  t.test(`${path}: undecodable bodies get HTTP 400`, async (t) => {
    for (const [name, body, type] of [
      ['empty body', '', 'application/json'],
      ['not JSON', '{"apiVersion": ', 'application/json'],
      ['binary', Buffer.from([0xff, 0xfe, 0x00, 0x01]), 'application/json'],
      ['wrong content type', JSON.stringify(createReview('team-a')), 'text/plain'],
      ['form data', 'a=b', 'application/x-www-form-urlencoded'],
    ] as const) {
      const res = await send(path, body, type);
      t.equal(res.status, 400, name);
      t.ok(res.json().message, `${name}: a message`);
    }
    await stillAnswers(t);
  });

  t.test(`${path}: JSON that is not an AdmissionReview gets HTTP 400`, async (t) => {
    const review = createReview('team-a');
    const request = review.request as Record<string, unknown>;
    const without = (key: string) => {
      const copy = { ...request };
      delete copy[key];
      return { ...review, request: copy };
    };
    const withRequest = (fields: Record<string, unknown>) => ({
      ...review,
      request: { ...request, ...fields },
    });
    const cases: [string, unknown][] = [
      [
        'request null',
        { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: null },
      ],
      ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }],
      ['JSON null', null],
      ['JSON array', [1, 2]],
      ['JSON string', 'AdmissionReview'],
      ['JSON number', 42],
      ['a Pod, not a review', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }],
      [
        'request of the wrong type',
        { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: 'yes' },
      ],
      ['uid of the wrong type', withRequest({ uid: 7 })],
      ['no uid', without('uid')],
      ['no kind', without('kind')],
      ['kind without group', withRequest({ kind: { version: 'v1', kind: 'Profile' } })],
      ['no resource', without('resource')],
      ['resource a string', withRequest({ resource: 'profiles' })],
      ['no operation', without('operation')],
      ['unknown operation', withRequest({ operation: 'PATCH' })],
      ['CREATE without object', withRequest({ object: null })],
      ['CREATE with a string object', withRequest({ object: 'profile' })],
      ['CREATE with a list object', withRequest({ object: [] })],
      ['UPDATE without oldObject', withRequest({ operation: 'UPDATE', oldObject: null })],
    ];
    const iamBefore = await webhook.iamCalls();
    for (const [name, body] of cases) {
      const res = await send(path, JSON.stringify(body));
      t.equal(res.status, 400, `${name}: HTTP 400`);
      const answer = res.json();
      t.equal(answer.error, 'MalformedAdmissionReview', `${name}: named as such`);
      t.match(answer.message, /malformed AdmissionReview/, `${name}: says why`);
      t.notOk(answer.response, `${name}: no verdict`);
    }
    t.equal(await webhook.iamCalls(), iamBefore, 'no IAM call for any of them');
    await stillAnswers(t);
  });

  t.test(`${path}: DELETE and CONNECT need no object`, async (t) => {
    for (const operation of ['DELETE', 'CONNECT']) {
      const review = createReview('team-gone');
      const body = { ...review, request: { ...review.request, operation, object: null } };
      const res = await send(path, JSON.stringify(body));
      t.equal(res.status, 200, operation);
      t.equal(res.json().response.allowed, true, `${operation}: allowed`);
      t.equal(res.json().response.uid, review.request.uid, `${operation}: uid echoed`);
    }
  });

  t.test(`${path}: __proto__ keys are data`, async (t) => {
    const review = createReview('team-proto');
    const raw = JSON.stringify(review).replace(
      '"metadata":{"name":"team-proto"}',
      '"metadata":{"name":"team-proto"},"spec":{"plugins":[{"kind":"AwsIamForServiceAccount","spec":{"__proto__":{"annotateOnly":true},"awsIamRole":"arn:aws:iam::123456789012:role/admin"}}]},"__proto__":{"polluted":true}',
    );
    const res = await send(path, raw);
    t.equal(res.status, 200);
    const answer = res.json().response;
    t.equal(answer.uid, review.request.uid, 'uid echoed');
    if (path === '/validate') {
      t.equal(answer.allowed, false, 'denied');
      t.match(answer.status.message, '__proto__');
    } else {
      t.notOk(answer.patch, 'a foreign role is not patched');
    }
    t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
    const wholeProto = await send(
      path,
      '{"__proto__":{"kind":"AdmissionReview"},"apiVersion":"admission.k8s.io/v1"}',
    );
    t.equal(wholeProto.status, 400, 'a kind only under __proto__ is no kind');
    await stillAnswers(t);
  });

  t.test(`${path}: body sizes`, async (t) => {
    const big = createReview('team-big', {
      spec: { owner: { kind: 'User', name: 'x'.repeat(2 * 1024 * 1024) } },
    });
    const twoMiB = await send(path, JSON.stringify(big));
    t.equal(twoMiB.status, 200, '2 MiB is answered');
    t.equal(twoMiB.json().response.uid, big.request.uid);
    const huge = createReview('team-huge', {
      spec: { owner: { kind: 'User', name: 'x'.repeat(8 * 1024 * 1024) } },
    });
    const eightMiB = await send(path, JSON.stringify(huge));
    t.equal(eightMiB.status, 413, '8 MiB is over the limit');
    t.match(eightMiB.json().message, /too large/i);
    await stillAnswers(t);
  });
}

t.test('unknown routes and methods', async (t) => {
  t.equal((await send('/nope', '{}')).status, 404);
  const get = await httpsRequest(`${webhook.url}/mutate`, {
    ca: webhook.certs.caCert,
    method: 'GET',
  });
  t.equal(get.status, 404);
  await stillAnswers(t);
});

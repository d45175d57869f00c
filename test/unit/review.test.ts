import t from 'tap';
import { parseTimeout, workBudget, DEFAULT_TIMEOUT_MS } from '../../src/webhook/deadline.js';
import { patched, denied, WARNING_MAX } from '../../src/webhook/response.js';
import { decodeReview } from '../../src/webhook/review.js';

t.test('decodeReview answers every decodable body', async (t) => {
  const cases: [string, unknown, string][] = [
    ['null', null, 'not an AdmissionReview object'],
    ['array', [], 'not an AdmissionReview object'],
    ['string', 'x', 'not an AdmissionReview object'],
    [
      'wrong kind',
      { apiVersion: 'admission.k8s.io/v1', kind: 'Pod', request: {} },
      'kind must be AdmissionReview',
    ],
    [
      'wrong version',
      { apiVersion: 'v1', kind: 'AdmissionReview', request: {} },
      'apiVersion must be one of',
    ],
    [
      'request null',
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: null },
      'request is missing',
    ],
    [
      'no uid',
      {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { operation: 'CREATE' },
      },
      'uid is missing',
    ],
    [
      'no operation',
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u' } },
      'operation is missing',
    ],
    [
      'dryRun not boolean',
      {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { uid: 'u', operation: 'CREATE', dryRun: 'yes' },
      },
      'dryRun must be a boolean',
    ],
  ];
  const full = {
    uid: 'u',
    kind: { group: 'kubeflow.org', version: 'v1', kind: 'Profile' },
    resource: { group: 'kubeflow.org', version: 'v1', resource: 'profiles' },
    operation: 'CREATE',
    object: {},
  };
  const review = (request: Record<string, unknown>) => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request,
  });
  const without = (key: string) =>
    Object.fromEntries(Object.entries(full).filter(([k]) => k !== key));
  cases.push(
    ['no kind', review(without('kind')), 'request.kind must be an object'],
    ['kind not a GVK', review({ ...full, kind: { kind: 'Profile' } }), 'string group, version'],
    ['empty kind', review({ ...full, kind: { group: '', version: 'v1', kind: '' } }), 'empty'],
    ['no resource', review(without('resource')), 'request.resource must be an object'],
    ['unknown operation', review({ ...full, operation: 'APPLY' }), 'operation must be one of'],
    ['object missing', review({ ...full, object: null }), 'object must be an object on CREATE'],
    ['object a number', review({ ...full, object: 1 }), 'object must be an object on CREATE'],
    [
      'UPDATE without oldObject',
      review({ ...full, operation: 'UPDATE' }),
      'oldObject must be an object on UPDATE',
    ],
  );
  for (const [name, body, message] of cases) {
    const decoded = decodeReview(body);
    t.notOk(decoded.ok, name);
    if (!decoded.ok) t.match(decoded.message, message, name);
  }
});

t.test('the uid is echoed even when the review is malformed', async (t) => {
  const decoded = decodeReview({
    apiVersion: 'admission.k8s.io/v1beta1',
    kind: 'AdmissionReview',
    request: { uid: 'abc' },
  });
  t.notOk(decoded.ok);
  t.equal(decoded.ok ? undefined : decoded.uid, 'abc');
  t.equal(decoded.apiVersion, 'admission.k8s.io/v1beta1', 'answered in the version asked');
});

t.test('a v1beta1 review decodes and is answered in v1beta1', async (t) => {
  const decoded = decodeReview({
    apiVersion: 'admission.k8s.io/v1beta1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u',
      operation: 'CREATE',
      object: {},
      kind: { group: 'kubeflow.org', version: 'v1beta1', kind: 'Profile' },
      resource: { group: 'kubeflow.org', version: 'v1beta1', resource: 'profiles' },
    },
  });
  t.ok(decoded.ok);
  t.equal(decoded.apiVersion, 'admission.k8s.io/v1beta1');
});

t.test('timeouts from the API server', async (t) => {
  t.equal(parseTimeout('10s'), 10_000);
  t.equal(parseTimeout('500ms'), 500);
  t.equal(parseTimeout('1.5s'), 1500);
  t.equal(parseTimeout('30'), 30_000);
  t.equal(parseTimeout('1m'), 60_000);
  t.equal(parseTimeout(undefined), DEFAULT_TIMEOUT_MS);
  t.equal(parseTimeout('soon'), DEFAULT_TIMEOUT_MS);
  t.equal(parseTimeout(['10s', '1s']), DEFAULT_TIMEOUT_MS);
  t.equal(parseTimeout('0s'), DEFAULT_TIMEOUT_MS);
  t.ok(workBudget(10_000) < 10_000 && workBudget(10_000) >= 8000, 'keeps a margin');
  t.ok(workBudget(100) > 0, 'never negative');
});

t.test('responses', async (t) => {
  const long = 'w'.repeat(300);
  const response = patched('u', [{ op: 'add', path: '/spec', value: {} }], { warnings: [long] });
  t.equal(response.patchType, 'JSONPatch');
  t.same(JSON.parse(Buffer.from(response.patch!, 'base64').toString()), [
    { op: 'add', path: '/spec', value: {} },
  ]);
  t.equal(response.warnings![0]!.length, WARNING_MAX, 'warnings are capped');
  t.same(patched('u', []), { uid: 'u', allowed: true }, 'an empty patch is a plain allow');
  t.same(denied('u', 403, 'no'), {
    uid: 'u',
    allowed: false,
    status: { code: 403, message: 'no', reason: 'Forbidden' },
  });
});

import t from 'tap';
import jsonpatch from 'fast-json-patch';
import { pino } from 'pino';
import { validateProfile } from '../../src/core/validate.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { admit, type WebhookName } from '../../src/webhook/admit.js';
import { createDecisionContext } from '../../src/core/decision-context.js';
import { decodeReview } from '../../src/webhook/review.js';
import { RecordingRoles } from '../helpers/recording-roles.js';
import {
  caseObject,
  decodePatch,
  fixtureFiles,
  loadCases,
  reviewFor,
  type AdmissionCase,
} from '../helpers/reviews.js';
import { testPolicySettings, testRoleSettings } from '../helpers/settings.js';

const logger = pino({ level: 'silent' });

async function run(webhook: WebhookName, c: AdmissionCase) {
  const decisions = createDecisionContext(testRoleSettings(), testPolicySettings(c.settings));
  const roles = new RecordingRoles();
  const body = reviewFor(c);
  const metrics = createMetrics({ defaultMetrics: false });
  const answer = await admit(webhook, body, 10_000, { decisions, roles, metrics, logger });
  const noIam = (await metrics.admissionsWithoutIam.get()).values.map((v) => [
    v.labels.webhook,
    v.labels.reason,
    v.value,
  ]);
  return { answer, roles, decisions, body, noIam };
}

const mutateCases = fixtureFiles('mutate').flatMap((file) => loadCases(file));
const validateCases = fixtureFiles('validate').flatMap((file) => loadCases(file));

for (const c of mutateCases) {
  t.test(`mutate: ${c.name}`, async (t) => {
    const { answer, roles, decisions, body, noIam } = await run('mutate', c);
    const response = answer.response;
    t.equal(answer.apiVersion, 'admission.k8s.io/v1');
    t.equal(response.uid, body.request.uid, 'uid echoed');
    t.equal(response.allowed, c.expect.allowed, 'allowed');
    const patch = decodePatch(response.patch);
    t.same(patch, c.expect.patch ?? [], 'patch');
    if (patch.length > 0) t.equal(response.patchType, 'JSONPatch');
    else t.notOk(response.patchType, 'no patchType without a patch');
    t.equal(roles.calls.length, c.expect.ensure ? 1 : 0, 'role ensured only when needed');
    // A CREATE always asks IAM (a cached role may have been deleted since); only an UPDATE that
    // changes the plugins may be answered from the cache.
    const cacheRead = c.expect.ensure === true && body.request.operation === 'UPDATE';
    t.equal(roles.lookups, cacheRead ? 1 : 0, 'role cache read only on UPDATEs that need a role');
    if (c.expect.ensure) t.same(noIam, [], 'not counted as answered without IAM');
    else t.equal(noIam.length, 1, 'counted once as answered without IAM');
    if (c.expect.noIam !== undefined) t.same(noIam, [['mutate', c.expect.noIam, 1]], 'reason');
    if (c.expect.ensure) {
      t.equal(roles.calls[0]!.dryRun, Boolean(c.request?.dryRun), 'dryRun passed on');
      t.same(response.auditAnnotations, { 'role-arn': roles.calls[0]!.spec.roleArn });
    }

    // The patch must apply to the object exactly as received.
    const object = structuredClone(caseObject(c));
    const errors = jsonpatch.validate(patch, object);
    t.equal(errors, undefined, 'patch validates against the received object');
    if (patch.length > 0) {
      const patched = jsonpatch.applyPatch(object, patch, true, false).newDocument;
      const decoded = decodeReview({ ...body, request: { ...body.request, object: patched } });
      t.ok(decoded.ok);
      if (decoded.ok) {
        t.same(
          validateProfile(decoded.request, decisions.validation),
          { allowed: true },
          'patched object passes validation',
        );
      }
    }
  });
}

for (const c of validateCases) {
  t.test(`validate: ${c.name}`, async (t) => {
    const { answer, roles, body, noIam } = await run('validate', c);
    const response = answer.response;
    t.equal(response.uid, body.request.uid, 'uid echoed');
    t.equal(response.allowed, c.expect.allowed, 'allowed');
    t.equal(roles.calls.length + roles.lookups, 0, 'validation never touches IAM');
    if (c.expect.noIam !== undefined) t.same(noIam, [['validate', c.expect.noIam, 1]], 'reason');
    t.notOk(response.patch, 'validation never patches');
    if (c.expect.code !== undefined) t.equal(response.status?.code, c.expect.code, 'status code');
    if (c.expect.message !== undefined) t.match(response.status?.message, c.expect.message);
    if (!c.expect.allowed) t.ok(response.status?.message, 'a denial always carries a message');
  });
}

import type { Test } from 'tap';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { pino } from 'pino';
import { jsonEqual } from '../../src/core/json.js';
import { buildAdmissionApp } from '../../src/http/admission-app.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { createDecisionContext } from '../../src/core/decision-context.js';
import { RecordingRoles } from '../helpers/recording-roles.js';
import { testPolicySettings, testRoleSettings } from '../helpers/settings.js';
import { decodePatch } from '../helpers/reviews.js';
import { ALLOWED_PATTERN, reviewArb, type GeneratedReview } from './generators.js';
import {
  hasGenerateName,
  isProfileWrite,
  metadataName,
  plugins,
  pluginsProblem,
  usableNamespace,
  wellFormedRequest,
} from './oracle.js';

/** Reproduce a failure with FUZZ_SEED=<seed> (and FUZZ_PATH=<path>) from the failure message. */
export function fuzzParameters(t: Test, numRuns: number): fc.Parameters<[GeneratedReview]> {
  const seed = process.env.FUZZ_SEED
    ? Number(process.env.FUZZ_SEED)
    : (Date.now() ^ (Math.random() * 2 ** 31)) | 0;
  t.comment(`fast-check seed ${seed} (FUZZ_SEED=${seed} reproduces this run)`);
  return {
    seed,
    numRuns,
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
    // Bounded time on a shared machine: stop early (as a pass) rather than run long.
    interruptAfterTimeLimit: 20_000,
    markInterruptAsFailure: false,
    endOnFailure: true,
    includeErrorInReport: true,
  };
}

export interface Tally {
  runs: number;
  malformed: number;
  allowed: number;
  denied: number;
  patched: number;
  provisioned: number;
  /** Admitted by the validator with a plugin the profile controller acts on. */
  admittedPlugins: number;
}

export const newTally = (): Tally => ({
  runs: 0,
  malformed: 0,
  allowed: 0,
  denied: 0,
  patched: 0,
  provisioned: 0,
  admittedPlugins: 0,
});

/** The properties every answer must have, whichever webhook gave it. */
export function checkAnswer(
  generated: GeneratedReview,
  status: number,
  answerText: string,
  tally: Tally,
): { request: Record<string, unknown>; response: Record<string, unknown> } | undefined {
  tally.runs += 1;
  const body: unknown = JSON.parse(generated.text);
  const request = wellFormedRequest(body);
  const answer = JSON.parse(answerText) as Record<string, unknown>;
  if (request === undefined) {
    tally.malformed += 1;
    if (status !== 400)
      throw new Error(`a malformed review got HTTP ${status}: ${answerText.slice(0, 300)}`);
    if (typeof answer['message'] !== 'string') throw new Error('a 400 without a message');
    return undefined;
  }
  if (status !== 200)
    throw new Error(`a well-formed review got HTTP ${status}: ${answerText.slice(0, 300)}`);
  const declared = (body as { apiVersion: string }).apiVersion;
  if (answer['apiVersion'] !== declared || answer['kind'] !== 'AdmissionReview') {
    throw new Error(`not an AdmissionReview in ${declared}: ${answerText.slice(0, 300)}`);
  }
  const response = answer['response'] as Record<string, unknown>;
  if (response['uid'] !== request['uid']) throw new Error('the uid is not echoed');
  if (typeof response['allowed'] !== 'boolean') throw new Error('allowed is not a boolean');
  if (response['allowed']) {
    tally.allowed += 1;
  } else {
    tally.denied += 1;
    const s = response['status'] as { code?: unknown; message?: unknown } | undefined;
    if (typeof s?.code !== 'number' || s.code < 400 || s.code > 599)
      throw new Error('a denial without a 4xx/5xx code');
    if (typeof s.message !== 'string' || s.message === '')
      throw new Error('a denial without a message');
  }
  if (response['patch'] !== undefined) {
    tally.patched += 1;
    if (response['patchType'] !== 'JSONPatch') throw new Error('a patch without patchType');
    if (!Array.isArray(decodePatch(response['patch'] as string)))
      throw new Error('a patch that is not a list');
  }
  return { request, response };
}

/** The validator never admits a plugin whose role is neither the derived ARN nor allow-listed. */
export function checkValidation(
  request: Record<string, unknown>,
  response: Record<string, unknown>,
  tally: Tally,
) {
  if (!response['allowed'] || !isProfileWrite(request)) return;
  const object = request['object'];
  // Ratchet: an UPDATE that leaves the plugins as they were is allowed whatever they hold.
  if (
    request['operation'] === 'UPDATE' &&
    jsonEqual(plugins(object), plugins(request['oldObject']))
  )
    return;
  const { problem, count } = pluginsProblem(object);
  if (problem) throw new Error(`the validator ${problem}`);
  if (count > 0) tally.admittedPlugins += 1;
}

/** Invalid input never leads to an IAM call; a call is for the Profile's own, valid, role. */
export function checkProvisioning(
  generated: GeneratedReview,
  request: Record<string, unknown>,
  response: Record<string, unknown>,
  calls: RecordingRoles['calls'],
) {
  if (calls.length === 0) return;
  if (calls.length > 1) throw new Error(`${calls.length} IAM provisions for one review`);
  checkRoleRequest(generated, request, response);
  if (calls[0]!.spec.namespace !== metadataName(request['object'])) {
    throw new Error('a role for another namespace');
  }
  if (calls[0]!.dryRun !== (request['dryRun'] === true)) throw new Error('dryRun not passed on');
}

/** What must be true of a review for which IAM was called at all. */
export function checkRoleRequest(
  generated: GeneratedReview,
  request: Record<string, unknown>,
  response: Record<string, unknown>,
) {
  const object = request['object'];
  const name = metadataName(object);
  if (!isProfileWrite(request))
    throw new Error('IAM called for something that is not a Profile write');
  if (!usableNamespace(name))
    throw new Error(`IAM called for the unusable name ${JSON.stringify(name)}`);
  if (request['operation'] === 'CREATE' && hasGenerateName(object)) {
    throw new Error('IAM called for a Profile with generateName');
  }
  if (!response['allowed']) return;
  // The object as it will be stored: the patch applied to a fresh copy of what was sent.
  const fresh = (JSON.parse(generated.text) as { request: { object: unknown } }).request.object;
  const patch = decodePatch(response['patch'] as string | undefined);
  const patched = jsonpatch.applyPatch(fresh, patch, true, true).newDocument;
  const { problem, count } = pluginsProblem(patched);
  if (problem) throw new Error(`IAM called, then the patched Profile ${problem}`);
  if (count !== 1) throw new Error(`IAM called for a Profile with ${count} plugins`);
}

/** The real admission app, answering through fastify's inject, with a recording role provider. */
export function fuzzApp() {
  const roles = new RecordingRoles();
  const app = buildAdmissionApp({
    deps: {
      decisions: createDecisionContext(
        testRoleSettings(),
        testPolicySettings({ allowedRoleArns: [ALLOWED_PATTERN] }),
      ),
      roles,
      metrics: createMetrics({ defaultMetrics: false }),
      logger: pino({ level: 'silent' }),
    },
    logger: pino({ level: 'silent' }),
  });
  return { app, roles };
}

export { reviewArb };

import { readdirSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Operation } from 'fast-json-patch';
import type { PolicySettings } from '../../src/core/settings.js';
import { profileReview } from '../../tools/dev/sample.js';

export interface AdmissionCase {
  name: string;
  operation: string;
  object?: unknown;
  /** For keys YAML cannot carry as data, such as `__proto__`. */
  objectJson?: string;
  oldObject?: unknown;
  request?: Record<string, unknown>;
  settings?: Partial<PolicySettings>;
  expect: {
    allowed: boolean;
    code?: number;
    message?: string;
    patch?: Operation[];
    ensure?: boolean;
    /** Answered from the request alone, counted under this reason (`profile_irsa_admission_no_iam_total`). */
    noIam?: string;
  };
}

export function loadCases(file: string): AdmissionCase[] {
  const url = new URL(`../fixtures/admission/${file}`, import.meta.url);
  return parseYaml(readFileSync(url, 'utf8')) as AdmissionCase[];
}

/** Every fixture table of one webhook: `mutate.yaml`, `mutate-*.yaml` (or `validate...`). */
export function fixtureFiles(webhook: 'mutate' | 'validate'): string[] {
  const dir = new URL('../fixtures/admission/', import.meta.url);
  return readdirSync(dir)
    .filter((f) => f === `${webhook}.yaml` || (f.startsWith(`${webhook}-`) && f.endsWith('.yaml')))
    .sort();
}

export function caseObject(c: AdmissionCase): unknown {
  return c.objectJson !== undefined ? JSON.parse(c.objectJson) : c.object;
}

/** Wraps a fixture the way the API server does. */
export function reviewFor(c: AdmissionCase) {
  return profileReview({
    operation: c.operation,
    object: caseObject(c),
    oldObject: c.oldObject,
    request: c.request,
  });
}

/** A Profile with nothing but its name, and `spec` when given. */
function bareProfile(namespace: string, spec?: unknown) {
  return {
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    metadata: { name: namespace },
    ...(spec === undefined ? {} : { spec }),
  };
}

/** A Profile that carries the plugin for `roleArn`, as the webhook leaves it. */
export function profileWithRole(namespace: string, roleArn: string) {
  return bareProfile(namespace, {
    plugins: [
      { kind: 'AwsIamForServiceAccount', spec: { awsIamRole: roleArn, annotateOnly: true } },
    ],
  });
}

/** A plain Profile CREATE review for `namespace`. */
export function createReview(namespace: string, extra: { dryRun?: boolean; spec?: unknown } = {}) {
  return profileReview({
    operation: 'CREATE',
    object: bareProfile(namespace, extra.spec),
    request: { dryRun: extra.dryRun ?? false },
  });
}

export function decodePatch(patch: string | undefined): Operation[] {
  return patch === undefined
    ? []
    : (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[]);
}

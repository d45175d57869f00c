import { DEFAULT_RESERVED_NAMESPACES } from '../../src/core/namespace.js';
import { ACCOUNT_ID } from '../helpers/settings.js';
import { derivedArnOf, PLUGIN } from './generators.js';

/*
 * What must hold, written from the outside: from the AdmissionReview contract and from how
 * Kubeflow's profile controller reads a Profile (Go's encoding/json: keys inside plugins[].spec
 * match case-insensitively, with Unicode simple folding), not from the webhook's own code.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Obj, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);

/** The request of a review the API server could have sent, or undefined. */
export function wellFormedRequest(body: unknown): Obj | undefined {
  if (!isObj(body) || own(body, 'kind') !== 'AdmissionReview') return undefined;
  if (
    !['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'].includes(own(body, 'apiVersion') as string)
  ) {
    return undefined;
  }
  const request = own(body, 'request');
  if (!isObj(request)) return undefined;
  const uid = own(request, 'uid');
  const operation = own(request, 'operation');
  if (typeof uid !== 'string' || uid === '') return undefined;
  if (!['CREATE', 'UPDATE', 'DELETE', 'CONNECT'].includes(operation as string)) return undefined;
  for (const [key, last] of [
    ['kind', 'kind'],
    ['resource', 'resource'],
  ] as const) {
    const gvk = own(request, key);
    if (!isObj(gvk)) return undefined;
    const [group, version, name] = [own(gvk, 'group'), own(gvk, 'version'), own(gvk, last)];
    if (typeof group !== 'string' || typeof version !== 'string' || typeof name !== 'string') {
      return undefined;
    }
    if (version === '' || name === '') return undefined;
  }
  const dryRun = own(request, 'dryRun');
  if (dryRun !== undefined && dryRun !== null && typeof dryRun !== 'boolean') return undefined;
  if ((operation === 'CREATE' || operation === 'UPDATE') && !isObj(own(request, 'object'))) {
    return undefined;
  }
  if (operation === 'UPDATE' && !isObj(own(request, 'oldObject'))) return undefined;
  return request;
}

/** Whether the request is a Profile create or update (anything else has nothing to decide). */
export function isProfileWrite(request: Obj): boolean {
  const kind = own(request, 'kind') as Obj;
  return (
    ['CREATE', 'UPDATE'].includes(own(request, 'operation') as string) &&
    own(kind, 'group') === 'kubeflow.org' &&
    own(kind, 'kind') === 'Profile'
  );
}

/** Go's case-insensitive key match: each rune through simple lower then upper case mapping. */
function goFold(key: string): string {
  const single = (s: string, fallback: string) => ([...s].length === 1 ? s : fallback);
  return [...key]
    .map((c) => {
      if (c === '\u0130') return 'I';
      const lower = single(c.toLowerCase(), c);
      return single(lower.toUpperCase(), lower);
    })
    .join('');
}

const ALLOWED = new RegExp(`^arn:aws:iam::${ACCOUNT_ID}:role/legacy/([\\w+=,.@-]+)$`);

/** A role a Profile may name: its own derived role, or one under the allow pattern's path. */
function acceptableRole(role: unknown, namespace: string): boolean {
  if (typeof role !== 'string') return false;
  if (role === derivedArnOf(namespace)) return true;
  const name = ALLOWED.exec(role)?.[1];
  return name !== undefined && name !== '.' && name !== '..';
}

export function metadataName(object: unknown): unknown {
  const metadata = isObj(object) ? own(object, 'metadata') : undefined;
  return isObj(metadata) ? own(metadata, 'name') : undefined;
}

export function hasGenerateName(object: unknown): boolean {
  const metadata = isObj(object) ? own(object, 'metadata') : undefined;
  const value = isObj(metadata) ? own(metadata, 'generateName') : undefined;
  return typeof value === 'string' && value !== '';
}

export function usableNamespace(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length <= 63 &&
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) &&
    !DEFAULT_RESERVED_NAMESPACES.includes(name)
  );
}

export function plugins(object: unknown): unknown {
  const spec = isObj(object) ? own(object, 'spec') : undefined;
  return isObj(spec) ? own(spec, 'plugins') : undefined;
}

/**
 * Why the profile controller, reading this Profile, would annotate a service account with a role
 * that is not the Profile's, or manage a role itself; undefined when it would not. Counts the
 * plugins it would act on.
 */
export function pluginsProblem(object: unknown): { problem?: string; count: number } {
  const list = plugins(object);
  const namespace = metadataName(object);
  if (!Array.isArray(list)) return { count: 0 };
  let count = 0;
  for (const entry of list) {
    if (!isObj(entry) || own(entry, 'kind') !== PLUGIN) continue;
    count += 1;
    const spec = own(entry, 'spec');
    if (!isObj(spec)) continue;
    const folded = Object.entries(spec).map(([k, v]) => [goFold(k), v] as const);
    const roles = folded.filter(([k]) => k === 'AWSIAMROLE').map(([, v]) => v);
    const annotate = folded.filter(([k]) => k === 'ANNOTATEONLY').map(([, v]) => v);
    const bad = roles.find((role) => !acceptableRole(role, String(namespace)));
    if (bad !== undefined)
      return { problem: `admits role ${JSON.stringify(bad).slice(0, 120)}`, count };
    if (annotate.length === 0 || annotate.some((v) => v !== true)) {
      return { problem: 'admits a plugin whose annotateOnly is not true', count };
    }
  }
  return { count };
}

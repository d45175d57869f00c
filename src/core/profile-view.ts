import { field, isObject, type JsonObject } from './json.js';

/**
 * What the reconciler keeps of a Profile: the fields its plan, its watch and its Events read
 * (identity, version, deletion, owner, plugins), and nothing else. The API server's copy also
 * carries managedFields, status, annotations and the rest of the spec, several times the size
 * of these; with thousands of Profiles held in the watch's cache, or in a full pass, that is
 * most of the reconciler's memory. A Profile whose parts are not objects is kept as it is, so
 * the plan judges it exactly as it would the original.
 */
export function profileView(profile: unknown): unknown {
  if (!isObject(profile)) return profile;
  const view: JsonObject = {};
  copy(profile, view, ['apiVersion', 'kind']);
  const metadata = field(profile, 'metadata');
  if (metadata !== undefined) {
    view.metadata = isObject(metadata) ? pick(metadata, METADATA_KEYS) : metadata;
  }
  const spec = field(profile, 'spec');
  if (spec !== undefined) view.spec = isObject(spec) ? pick(spec, SPEC_KEYS) : spec;
  return view;
}

const METADATA_KEYS = [
  'name',
  'generateName',
  'uid',
  'resourceVersion',
  'deletionTimestamp',
] as const;
const SPEC_KEYS = ['owner', 'plugins'] as const;

function pick(object: JsonObject, keys: readonly string[]): JsonObject {
  const picked: JsonObject = {};
  copy(object, picked, keys);
  return picked;
}

function copy(from: JsonObject, to: JsonObject, keys: readonly string[]): void {
  for (const key of keys) {
    const value = field(from, key);
    if (value !== undefined) to[key] = value;
  }
}

import { field, isObject, type JsonObject } from './json.js';

export const PLUGIN_KIND = 'AwsIamForServiceAccount';
const PLUGIN_SPEC_KEYS = ['awsIamRole', 'annotateOnly'] as const;

export interface IamPlugin {
  index: number;
  spec: unknown;
}

export type PluginScan = { ok: true; iam: IamPlugin[] } | { ok: false; problem: string };

/**
 * Finds the AwsIamForServiceAccount entries of `spec.plugins`. A kind that differs only by case is
 * refused rather than ignored: a user who wrote it meant the plugin, and must not end up with a
 * second one added beside it.
 */
export function scanPlugins(profile: unknown): PluginScan {
  if (!isObject(profile)) return { ok: false, problem: 'the object is not a Profile' };
  const spec = field(profile, 'spec');
  if (spec === undefined || spec === null) return { ok: true, iam: [] };
  if (!isObject(spec)) return { ok: false, problem: 'spec must be an object' };
  const plugins = field(spec, 'plugins');
  if (plugins === undefined || plugins === null) return { ok: true, iam: [] };
  if (!Array.isArray(plugins)) return { ok: false, problem: 'spec.plugins must be a list' };
  const iam: IamPlugin[] = [];
  for (const [index, entry] of plugins.entries()) {
    if (!isObject(entry)) return { ok: false, problem: `spec.plugins[${index}] must be an object` };
    const kind = field(entry, 'kind');
    if (kind === PLUGIN_KIND) {
      iam.push({ index, spec: field(entry, 'spec') });
    } else if (typeof kind === 'string' && kind.toLowerCase() === PLUGIN_KIND.toLowerCase()) {
      return {
        ok: false,
        problem: `spec.plugins[${index}].kind "${kind}" must be spelled exactly "${PLUGIN_KIND}"`,
      };
    }
  }
  return { ok: true, iam };
}

/**
 * The profile controller decodes the plugin spec with Go's case-insensitive JSON rules, so any key
 * beyond the two exact ones could shadow them there; only the exact shape is accepted.
 */
export function pluginSpecProblem(plugin: IamPlugin): string | undefined {
  const where = `spec.plugins[${plugin.index}].spec`;
  if (!isObject(plugin.spec)) return `${where} must be an object with awsIamRole and annotateOnly`;
  for (const key of Object.keys(plugin.spec)) {
    if ((PLUGIN_SPEC_KEYS as readonly string[]).includes(key)) continue;
    const near = PLUGIN_SPEC_KEYS.find((known) => known.toLowerCase() === key.toLowerCase());
    return near
      ? `${where} key "${key}" must be spelled exactly "${near}"`
      : `${where} has unexpected key "${key}"; only awsIamRole and annotateOnly are allowed`;
  }
  const role = field(plugin.spec, 'awsIamRole');
  if (typeof role !== 'string') return `${where}.awsIamRole must be a string (the role ARN)`;
  if (field(plugin.spec, 'annotateOnly') !== true) {
    return `${where}.annotateOnly must be true: the role is managed outside the profile controller`;
  }
  return undefined;
}

export function pluginRole(plugin: IamPlugin): string | undefined {
  const role = isObject(plugin.spec) ? field(plugin.spec, 'awsIamRole') : undefined;
  return typeof role === 'string' ? role : undefined;
}

export function pluginEntry(roleArn: string): JsonObject {
  return { kind: PLUGIN_KIND, spec: { awsIamRole: roleArn, annotateOnly: true } };
}

import { createHash } from 'node:crypto';

export const ROLE_NAME_MAX = 64;
/** The characters IAM allows in a role name; the length is capped by shortening. */
export const ROLE_NAME_CHARS = /^[\w+=,.@-]+$/;
const HASH_LENGTH = 10;
/**
 * How every shortened name ends: `-` and ten hex digits. IAM compares role names without regard
 * to case, so an unshortened name is tested for this ending the same way.
 */
const HASHED_TAIL = /-[0-9a-f]{10}$/i;
const PLACEHOLDERS = ['namespace', 'cluster', 'region'] as const;

export interface RoleNameInputs {
  namespace: string;
  cluster: string;
  region: string;
}

export interface DerivedRoleName {
  /** The role's name in IAM. */
  name: string;
  /** The template as rendered, before any shortening. */
  full: string;
  shortened: boolean;
}

/** Substitutes `{namespace}`, `{cluster}` and `{region}` in one pass (values are never re-read). */
function renderRoleNameTemplate(template: string, inputs: RoleNameInputs): string {
  return template.replace(
    /\{(namespace|cluster|region)\}/g,
    (_, key: keyof RoleNameInputs) => inputs[key],
  );
}

/**
 * The role name for one namespace. Within one cluster (cluster and region fixed) rendering is
 * injective: the namespace is the only part that varies, and its length and place follow from the
 * rendered length. Shortening must keep that, so a name is kept as rendered only when it fits in
 * 64 characters and does not end like a shortened name; any other name is shortened: a readable
 * prefix, then `-` and the first ten hex digits of the SHA-256 of the whole rendered name. The two
 * kinds can never meet (one never has the ending, the other always has it), and two shortened
 * names meet only if their hashes do. The same namespace gets the same name on every replica.
 */
export function deriveRoleName(template: string, inputs: RoleNameInputs): DerivedRoleName {
  const full = renderRoleNameTemplate(template, inputs);
  if (full.length <= ROLE_NAME_MAX && !HASHED_TAIL.test(full)) {
    return { name: full, full, shortened: false };
  }
  const hash = createHash('sha256').update(full).digest('hex').slice(0, HASH_LENGTH);
  const prefix = full.slice(0, ROLE_NAME_MAX - HASH_LENGTH - 1).replace(/[-_.]+$/, '');
  return { name: `${prefix}-${hash}`, full, shortened: true };
}

export function roleNameFor(
  template: string,
  namespace: string,
  cluster: string,
  region: string,
): string {
  return deriveRoleName(template, { namespace, cluster, region }).name;
}

/**
 * Why a template cannot give every namespace of this cluster its own valid role name, or
 * undefined. Checked at start, so a bad template never reaches IAM.
 */
export function roleNameTemplateProblem(
  template: string,
  cluster: string,
  region: string,
): string | undefined {
  return templateSyntaxProblem(template) ?? renderedNameProblem(template, cluster, region);
}

/** What is wrong with the template whatever the cluster: unknown placeholders, no namespace. */
export function templateSyntaxProblem(template: string): string | undefined {
  for (const [, name] of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(name!)) {
      return `has {${name}}; only {namespace}, {cluster} and {region} can be replaced`;
    }
  }
  if (!template.includes('{namespace}')) {
    return 'must contain {namespace}, or every Profile would share one role';
  }
  return undefined;
}

/** What is wrong with the names a syntactically valid template gives on this cluster. */
export function renderedNameProblem(
  template: string,
  cluster: string,
  region: string,
): string | undefined {
  // The shortest and the longest namespace: characters are checked before any shortening.
  for (const namespace of ['a', 'n'.repeat(63)]) {
    const full = renderRoleNameTemplate(template, { namespace, cluster, region });
    if (!ROLE_NAME_CHARS.test(full)) {
      return 'gives role names with characters IAM does not allow (letters, digits and +=,.@_- only)';
    }
  }
  const after = template.slice(template.lastIndexOf('{namespace}') + '{namespace}'.length);
  const tail = renderRoleNameTemplate(after, { namespace: '', cluster, region });
  if (HASHED_TAIL.test(tail)) {
    return `ends in "${tail.slice(-HASH_LENGTH - 1)}", the way shortened role names end, so every name would be shortened; end it with something else`;
  }
  return undefined;
}

import { createHash } from 'node:crypto';

export const ROLE_NAME_MAX = 64;
/** The characters IAM allows in a role name; the length is capped by shortenRoleName. */
export const ROLE_NAME_CHARS = /^[\w+=,.@-]+$/;
const HASH_LENGTH = 10;

/** Substitutes `{namespace}` and `{cluster}` into the template. */
export function renderRoleNameTemplate(
  template: string,
  namespace: string,
  cluster: string,
): string {
  return template.replaceAll('{namespace}', namespace).replaceAll('{cluster}', cluster);
}

/**
 * IAM caps role names at 64 characters. A longer name keeps a readable prefix and ends in a hash
 * of the whole name, so two namespaces that share a long prefix still get distinct roles, and the
 * same namespace gets the same role on every replica and every restart.
 */
export function shortenRoleName(fullName: string): string {
  if (fullName.length <= ROLE_NAME_MAX) return fullName;
  const hash = createHash('sha256').update(fullName).digest('hex').slice(0, HASH_LENGTH);
  const prefix = fullName.slice(0, ROLE_NAME_MAX - HASH_LENGTH - 1).replace(/[-_.]+$/, '');
  return `${prefix}-${hash}`;
}

export function roleNameFor(template: string, namespace: string, cluster: string): string {
  return shortenRoleName(renderRoleNameTemplate(template, namespace, cluster));
}

import type { Role } from '@aws-sdk/client-iam';

/** A role's tags as a map; IAM returns them as a list of pairs. */
export function tagsOf(role: Role): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const tag of role.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
  return tags;
}

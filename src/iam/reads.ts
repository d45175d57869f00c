import type { Role } from '@aws-sdk/client-iam';
import { fromAwsError, isNoSuchEntity, type AwsErrorContext } from './errors.js';

/** An IAM read where "no such entity" is an answer (undefined), not a failure. */
export async function readOrMissing<T>(
  context: AwsErrorContext,
  call: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await call();
  } catch (err) {
    if (isNoSuchEntity(err)) return undefined;
    throw fromAwsError(err, context);
  }
}

/** A role's tags as a map; IAM returns them as a list of pairs. */
export function tagsOf(role: Role): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const tag of role.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
  return tags;
}

/**
 * The reconciler's bookkeeping on a role it owns, kept in IAM (as tags) so every replica and
 * `reconcile --apply` read the same facts: which stored Profile the role serves, and since when
 * it has been an orphan. Neither is an ownership tag: they never make a role ours.
 */

/** The UID of the stored Profile the role serves; absent on a role that never served one. */
export const PROFILE_UID_TAG = 'profile-irsa-webhook/profile-uid';
/** When the role was first judged an orphan (ISO 8601); removed when its Profile returns. */
export const ORPHANED_SINCE_TAG = 'profile-irsa-webhook/orphaned-since';
/** The tags the reconciler may set on a role of this cluster after its creation. */
export const BOOKKEEPING_TAG_KEYS = [PROFILE_UID_TAG, ORPHANED_SINCE_TAG];

/** The orphaned-since tag's time (ms), or undefined when absent or unreadable. */
export function orphanedSince(tags: Readonly<Record<string, string>>): number | undefined {
  const value = tags[ORPHANED_SINCE_TAG];
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

export function orphanedSinceValue(ms: number): string {
  return new Date(ms).toISOString();
}

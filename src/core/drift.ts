import { parsePolicyDocument, policiesEqual } from './policy-compare.js';
import type { RoleSpec } from './role-spec.js';

/** What IAM holds for a role the webhook owns, as read back (documents still URL-encoded). */
export interface ObservedRole {
  trustPolicy: string | undefined;
  inlinePolicy: string | undefined;
  permissionsBoundaryArn: string | undefined;
  maxSessionDuration: number | undefined;
  tags: Record<string, string>;
}

export type Drift =
  | { kind: 'trust-policy' }
  | { kind: 'permissions-boundary'; arn: string }
  | { kind: 'inline-policy'; missing: boolean }
  | { kind: 'max-session-duration'; seconds: number }
  | { kind: 'tags'; tags: Record<string, string> };

/**
 * How an owned role differs from its spec, in the order repairs must run: who may assume the
 * role first, then its boundary, then what it grants, so a repair cut short by the deadline leaves
 * the role no more open than it was. Unset options (boundary, session duration) are not drift,
 * and a boundary is never removed.
 */
export function roleDrift(spec: RoleSpec, observed: ObservedRole): Drift[] {
  const drift: Drift[] = [];
  if (!documentMatches(observed.trustPolicy, spec.trustPolicy))
    drift.push({ kind: 'trust-policy' });
  const boundary = spec.permissionsBoundary;
  if (boundary !== undefined && observed.permissionsBoundaryArn !== boundary) {
    drift.push({ kind: 'permissions-boundary', arn: boundary });
  }
  if (!documentMatches(observed.inlinePolicy, spec.s3Policy.document)) {
    drift.push({ kind: 'inline-policy', missing: observed.inlinePolicy === undefined });
  }
  const seconds = spec.maxSessionDuration;
  if (seconds !== undefined && observed.maxSessionDuration !== seconds) {
    drift.push({ kind: 'max-session-duration', seconds });
  }
  const tags = Object.entries(spec.tags).filter(([key, value]) => observed.tags[key] !== value);
  if (tags.length > 0) drift.push({ kind: 'tags', tags: Object.fromEntries(tags) });
  return drift;
}

export function describeDrift(drift: Drift): string {
  switch (drift.kind) {
    case 'trust-policy':
      return 'trust policy';
    case 'permissions-boundary':
      return 'permissions boundary';
    case 'inline-policy':
      return drift.missing ? 'missing inline policy' : 'inline policy';
    case 'max-session-duration':
      return 'max session duration';
    case 'tags':
      return 'tags';
  }
}

function documentMatches(actual: string | undefined, expected: unknown): boolean {
  if (actual === undefined) return false;
  try {
    return policiesEqual(parsePolicyDocument(actual), expected);
  } catch {
    // Unparseable content is drift: the derived document replaces it.
    return false;
  }
}

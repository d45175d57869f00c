/** Anchored glob: `*` matches any run of characters, everything else is literal (IAM actions). */
export function globToRegExp(glob: string, flags = ''): RegExp {
  const escaped = glob
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${escaped}$`, flags);
}

/** A role ARN taken apart: `arn:{partition}:iam::{account}:role/{path...}/{name}`. */
export interface RoleArnParts {
  partition: string;
  account: string;
  /** The path's segments between `role/` and the name; empty for the root path `/`. */
  path: string[];
  name: string;
}

const ARN = /^arn:([^:]*):iam::([^:]*):role\/(.*)$/;
/** IAM's role-name alphabet; each path segment is held to it too. */
const SEGMENT = /^[\w+=,.@-]+$/;
const PARTITION = /^[a-z]+(-[a-z]+)*$/;
const ACCOUNT = /^\d{12}$/;
const ROLE_NAME_MAX = 64;
const ROLE_PATH_MAX = 512;

/**
 * Parses a role ARN strictly, or returns undefined. Refused: a `..` anywhere or a `.` segment (the profile
 * controller and STS take the role name after the last `/`, so `role/legacy/x/../OrgAdmin` names
 * `OrgAdmin`), empty path segments, and any character outside IAM's role-name alphabet.
 */
export function parseRoleArn(arn: string): RoleArnParts | undefined {
  const parts = splitArn(arn);
  if (parts === undefined) return undefined;
  const { partition, account, segments } = parts;
  if (!PARTITION.test(partition) || !ACCOUNT.test(account)) return undefined;
  if (!segments.every((segment) => SEGMENT.test(segment))) return undefined;
  const name = segments[segments.length - 1]!;
  if (name.length > ROLE_NAME_MAX) return undefined;
  return { partition, account, path: segments.slice(0, -1), name };
}

function splitArn(arn: string) {
  const match = ARN.exec(arn);
  if (!match || arn.includes('..')) return undefined;
  const [, partition, account, resource] = match as unknown as [string, string, string, string];
  const segments = resource.split('/');
  if (segments.includes('.')) return undefined;
  // `role/` + path + name: the path (with its slashes) is at most 512 characters.
  if (resource.length - segments[segments.length - 1]!.length + 1 > ROLE_PATH_MAX) return undefined;
  return { partition, account, segments };
}

export type PatternResult = { ok: true; pattern: RegExp } | { ok: false; problem: string };

/**
 * Compiles an allow-list pattern: a role ARN whose partition, account, path segments and name may
 * each hold `*`, which matches any run (possibly empty) of that part's own characters and so never
 * crosses a `/` or `:`. `arn:aws:iam::111122223333:role/legacy/*` admits
 * `arn:aws:iam::111122223333:role/legacy/team-a` but not `.../role/legacy/any/OrgAdmin`.
 */
export function roleArnPattern(glob: string): PatternResult {
  const parts = splitArn(glob);
  if (parts === undefined) {
    return {
      ok: false,
      problem: `"${glob}" is not a role ARN pattern (arn:PARTITION:iam::ACCOUNT:role/PATH/NAME, no "." or ".." segments)`,
    };
  }
  const { partition, account, segments } = parts;
  if (!/^[a-z*-]+$/.test(partition)) {
    return { ok: false, problem: `"${glob}": the partition may hold only a-z, - and *` };
  }
  if (!/^[\d*]+$/.test(account)) {
    return { ok: false, problem: `"${glob}": the account may hold only digits and *` };
  }
  const bad = segments.find((segment) => !/^[\w+=,.@*-]+$/.test(segment));
  if (bad !== undefined) {
    return {
      ok: false,
      problem: `"${glob}": path segment or name "${bad}" may hold only letters, digits, +=,.@_- and *`,
    };
  }
  const source = [
    'arn:',
    part(partition, '[a-z-]'),
    ':iam::',
    part(account, '\\d'),
    ':role/',
    segments.map((segment) => part(segment, '[\\w+=,.@-]')).join('/'),
  ].join('');
  return { ok: true, pattern: new RegExp(`^${source}$`) };
}

function part(glob: string, alphabet: string): string {
  return glob
    .split('*')
    .map((literal) => literal.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'))
    .join(`${alphabet}*`);
}

/**
 * Whether `roleArn` is a well-formed role ARN that one of the compiled patterns admits. The
 * candidate is parsed first, so a `..`, an empty segment or a foreign character never matches.
 */
export function matchesAny(roleArn: string, patterns: readonly RegExp[]): boolean {
  return parseRoleArn(roleArn) !== undefined && patterns.some((pattern) => pattern.test(roleArn));
}

/** The configured allow list, compiled; the configuration has refused bad patterns already. */
export function compileRoleArnPatterns(globs: readonly string[]): RegExp[] {
  return globs.map((glob) => {
    const result = roleArnPattern(glob);
    if (!result.ok) throw new Error(result.problem);
    return result.pattern;
  });
}

import { roleTags } from '../core/role-spec.js';
import type { RoleSettings } from '../core/settings.js';

/** IAM's tag alphabet (the `Tag` type of the IAM API): letters, spaces, digits and `_.:/=+-@`. */
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const TAG_KEY_MAX = 128;
const TAG_VALUE_MAX = 256;
/** Tags on one IAM role, ours included. */
const TAGS_PER_ROLE = 50;

/** The tag keys the webhook itself sets on every role, whatever the configuration. */
function ownershipTagKeys(): string[] {
  const placeholder: RoleSettings = {
    clusterName: 'c',
    region: 'us-east-1',
    accountId: '000000000000',
    oidcIssuer: 'https://issuer.example',
    roleNameTemplate: '{namespace}',
    rolePath: '/',
    serviceAccounts: ['sa'],
    s3Access: 'readonly',
    s3Buckets: ['b'],
    extraTags: {},
  };
  return Object.keys(roleTags(placeholder, 'ns'));
}

/**
 * Parses `--extra-role-tags` (`key=value,key=value`). The list splits at `,`, which IAM never
 * allows in a tag, and each pair at its first `=`: a value may hold `=`, a key cannot, so a key
 * IAM would accept with `=` is not expressible here (the chart's schema refuses one). Surrounding
 * spaces are trimmed. Everything IAM would refuse later is refused now: lengths (counted in
 * characters, as IAM does), the alphabet, the reserved `aws:` prefix in any case, our own keys,
 * keys that differ only by case (IAM treats them as one), and more than 50 tags with ours.
 */
export function parseExtraTags(pairs: readonly string[]): {
  tags: Record<string, string>;
  problems: string[];
} {
  const ours = ownershipTagKeys();
  const tags: Record<string, string> = {};
  const seen = new Map(ours.map((key) => [key.toLowerCase(), key]));
  const problems: string[] = [];
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const key = at > 0 ? pair.slice(0, at).trim() : '';
    const value = at > 0 ? pair.slice(at + 1).trim() : '';
    const problem = tagProblem(key, value, pair, seen);
    if (problem) {
      problems.push(problem);
      continue;
    }
    seen.set(key.toLowerCase(), key);
    tags[key] = value;
  }
  const total = Object.keys(tags).length + ours.length;
  if (total > TAGS_PER_ROLE) {
    problems.push(
      `${total} tags with the webhook's own ${ours.length}; IAM allows ${TAGS_PER_ROLE} per role, so at most ${TAGS_PER_ROLE - ours.length} extra tags`,
    );
  }
  return { tags, problems };
}

function tagProblem(
  key: string,
  value: string,
  pair: string,
  seen: Map<string, string>,
): string | undefined {
  if (key === '') return `"${pair}" is not key=value`;
  if (length(key) > TAG_KEY_MAX) return `tag key "${key}" is longer than ${TAG_KEY_MAX} characters`;
  if (length(value) > TAG_VALUE_MAX) {
    return `the value of tag "${key}" is longer than ${TAG_VALUE_MAX} characters`;
  }
  if (!TAG_CHARS.test(key) || !TAG_CHARS.test(value)) {
    return `tag "${pair}" has characters IAM does not allow in tags (letters, digits, spaces and _.:/=+-@ only)`;
  }
  if (key.toLowerCase().startsWith('aws:'))
    return `tag "${key}": the aws: prefix is reserved by AWS`;
  const clash = seen.get(key.toLowerCase());
  if (clash !== undefined) {
    return clash === key
      ? `tag "${key}" is set twice or is one the webhook sets itself`
      : `tag "${key}" differs from "${clash}" only by case; IAM treats them as one key`;
  }
  return undefined;
}

/** IAM counts characters (code points), not UTF-16 units. */
function length(text: string): number {
  return [...text].length;
}

/**
 * Why an OIDC issuer cannot be used, or undefined. It must be what the cluster's tokens carry in
 * `iss` and what IAM's OIDC provider is registered as: an https URL (the scheme may be left out),
 * without a trailing slash, query, fragment or credentials, in canonical form.
 */
export function issuerProblem(issuer: string): string | undefined {
  const url = /^[a-z][a-z0-9+.-]*:/i.test(issuer) ? issuer : `https://${issuer}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be the issuer URL, such as https://oidc.eks.us-east-1.amazonaws.com/id/ABC';
  }
  if (parsed.protocol !== 'https:') {
    return `must be an https:// URL (IAM trusts OIDC providers over HTTPS only), not ${parsed.protocol}//`;
  }
  if (url.includes('?')) return 'must not have a query: tokens name the issuer without one';
  if (url.includes('#')) return 'must not have a fragment';
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry credentials';
  if (url.endsWith('/')) {
    return 'must not end in /: tokens name the issuer without it, and IAM matches it exactly';
  }
  const canonical = parsed.pathname === '/' ? parsed.origin : `${parsed.origin}${parsed.pathname}`;
  if (canonical !== url) {
    return `must be written as ${canonical} (lowercase host, no default port, dot segments or escapes)`;
  }
  return undefined;
}

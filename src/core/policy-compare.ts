import { isObject, type JsonObject } from './json.js';
import type { PolicyDocument } from './policy-document.js';
import { globToRegExp } from './role-pattern.js';

/** Thrown when a policy document is neither JSON nor URL-encoded JSON. */
export class PolicyParseError extends Error {
  override readonly name = 'PolicyParseError';
}

/**
 * Parses a policy document as IAM hands it back. IAM returns documents URL-encoded (RFC 3986),
 * while documents from configuration or tests are plain JSON; both are accepted.
 */
export function parsePolicyDocument(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Not plain JSON: fall through to the URL-encoded form.
  }
  try {
    return JSON.parse(decodeURIComponent(text));
  } catch (err) {
    throw new PolicyParseError('policy document is neither JSON nor URL-encoded JSON', {
      cause: err,
    });
  }
}

/**
 * True when two policy documents mean the same to IAM. Every array in the IAM policy grammar
 * (Statement, Action, Resource, Principal and condition values) is an unordered set, and IAM
 * treats a one-item array and the bare item alike, so both are normalised before comparing;
 * otherwise a document IAM reformatted would look drifted and be rewritten on every admission.
 */
export function policiesEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * A string that is equal for semantically equal policy documents. Built depth first with an
 * explicit stack rather than by recursion, so no document, however deeply nested, can exhaust
 * the call stack (a document read back from IAM is data like any other input).
 */
function canonicalJson(root: unknown): string {
  const stack: Frame[] = [frameOf(root)];
  let finished: string | undefined;
  for (;;) {
    const top = stack[stack.length - 1]!;
    if (finished !== undefined) top.children.push(finished);
    if (top.children.length < top.size) {
      finished = undefined;
      stack.push(frameOf(childOf(top, top.children.length)));
      continue;
    }
    stack.pop();
    finished = finish(top);
    if (stack.length === 0) return finished;
  }
}

interface Frame {
  value: unknown;
  /** Sorted keys of an object; undefined for arrays and scalars. */
  keys: string[] | undefined;
  size: number;
  /** Canonical strings of the children done so far, in order. */
  children: string[];
}

function frameOf(value: unknown): Frame {
  if (Array.isArray(value)) return { value, keys: undefined, size: value.length, children: [] };
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return { value, keys, size: keys.length, children: [] };
  }
  return { value, keys: undefined, size: 0, children: [] };
}

function childOf(frame: Frame, index: number): unknown {
  return frame.keys === undefined
    ? (frame.value as unknown[])[index]
    : (frame.value as JsonObject)[frame.keys[index]!];
}

function finish(frame: Frame): string {
  const { value, keys, children } = frame;
  if (Array.isArray(value)) {
    // An unordered set: duplicates collapse, order is sorted away, one item stands for itself.
    const items = [...new Set(children)].sort();
    return items.length === 1 ? items[0]! : `[${items.join(',')}]`;
  }
  if (keys !== undefined) {
    return `{${keys.map((key, i) => `${JSON.stringify(key)}:${children[i]}`).join(',')}}`;
  }
  if (value === null || value === undefined) return 'null';
  // IAM evaluates condition values as strings: `true` and "true" mean the same.
  return JSON.stringify(typeof value === 'string' ? value : JSON.stringify(value));
}

export type TrustVerdict = { ok: true } | { ok: false; reason: string };

const WEB_IDENTITY_ACTION = 'sts:AssumeRoleWithWebIdentity';
const AUDIENCE = 'sts.amazonaws.com';

interface ExpectedTrust {
  provider: string;
  subKey: string;
  audKey: string;
  subjects: string[];
}

/**
 * Decides whether an existing role's trust policy lets the namespace's service accounts assume it
 * the way the webhook would have written it, and nothing broader: an Allow for
 * sts:AssumeRoleWithWebIdentity from the cluster's OIDC provider, with StringEquals on the exact
 * subject and on the STS audience; and no Allow statement that trusts anyone else (another
 * principal, another namespace's service account, a subject pattern such as StringLike
 * `system:serviceaccount:*`, no subject condition at all, another audience). A role that admits
 * more is shared: the namespace's sessions would be someone else's too. Deny statements only
 * narrow and are not judged. The expectations are read from the derived trust policy, so the
 * two cannot disagree.
 */
export function trustAdmits(document: unknown, expectedTrust: PolicyDocument): TrustVerdict {
  const expected = expectationsFrom(expectedTrust);
  const doc = typeof document === 'string' ? safeParse(document) : document;
  const statements = statementsOf(doc);
  if (statements === undefined)
    return { ok: false, reason: 'its trust policy is not a valid policy document' };

  const forAction = statements.filter(
    (s) => s['Effect'] === 'Allow' && stringsOf(s['Action']).some(matchesWebIdentityAction),
  );
  if (forAction.length === 0) {
    return {
      ok: false,
      reason: `its trust policy has no Allow statement for ${WEB_IDENTITY_ACTION}`,
    };
  }
  const fromProvider = forAction.filter((s) =>
    stringsOf(recordOf(s['Principal'])?.['Federated']).includes(expected.provider),
  );
  if (fromProvider.length === 0) {
    return {
      ok: false,
      reason: `its trust policy does not trust the cluster's OIDC provider ${expected.provider}`,
    };
  }

  const notAdmitted = expected.subjects.filter(
    (subject) =>
      !fromProvider.some(
        (s) =>
          conditionValues(s, 'StringEquals', expected.subKey).includes(subject) &&
          conditionValues(s, 'StringEquals', expected.audKey).includes(AUDIENCE),
      ),
  );
  if (notAdmitted.length === 0) return broaderThanExpected(statements, expected);

  const names = notAdmitted.join(', ');
  const exactSub = fromProvider.filter((s) =>
    notAdmitted.every((subject) =>
      conditionValues(s, 'StringEquals', expected.subKey).includes(subject),
    ),
  );
  if (exactSub.length > 0) {
    return {
      ok: false,
      reason: `its trust policy admits ${names} but does not require the audience ${AUDIENCE}`,
    };
  }
  const byPattern = fromProvider.some(
    (s) =>
      Object.keys(recordOf(s['Condition']) ?? {}).some(
        (operator) =>
          operator !== 'StringEquals' && conditionValues(s, operator, expected.subKey).length > 0,
      ) || conditionValues(s, 'StringEquals', expected.subKey).some((v) => v.includes('*')),
  );
  if (byPattern) {
    return {
      ok: false,
      reason: `its trust policy matches the subject only by pattern; it must admit ${names} with StringEquals`,
    };
  }
  return { ok: false, reason: `its trust policy does not admit ${names}` };
}

/** The first way in which an Allow statement admits more than the expected subjects. */
function broaderThanExpected(
  statements: Record<string, unknown>[],
  expected: ExpectedTrust,
): TrustVerdict {
  const only = expected.subjects.join(', ');
  const deny = (what: string): TrustVerdict => ({
    ok: false,
    reason: `its trust policy ${what}, so the role is shared; a role used as is must admit only ${only}`,
  });
  for (const statement of statements) {
    if (statement['Effect'] !== 'Allow') continue;
    for (const negation of ['NotPrincipal', 'NotAction'] as const) {
      if (statement[negation] !== undefined) return deny(`has an Allow statement with ${negation}`);
    }
    const principal = statement['Principal'];
    const principals = recordOf(principal);
    if (principals === undefined)
      return deny(`also trusts the principal ${JSON.stringify(principal)}`);
    for (const [kind, value] of Object.entries(principals)) {
      const others = stringsOf(value).filter(
        (v) => kind !== 'Federated' || v !== expected.provider,
      );
      const malformed = !Array.isArray(value) && typeof value !== 'string';
      if (others.length > 0 || malformed) {
        return deny(`also trusts ${kind} ${others.join(', ') || JSON.stringify(value)}`);
      }
    }
    // The OIDC provider can call nothing but AssumeRoleWithWebIdentity; other actions grant it
    // nothing.
    if (!stringsOf(statement['Action']).some(matchesWebIdentityAction)) continue;
    const subOperators = Object.keys(recordOf(statement['Condition']) ?? {}).filter(
      (operator) => conditionValues(statement, operator, expected.subKey).length > 0,
    );
    if (subOperators.length === 0) {
      return deny(
        `admits every service account of the cluster in a statement without a condition on ${expected.subKey}`,
      );
    }
    for (const operator of subOperators) {
      const values = conditionValues(statement, operator, expected.subKey);
      if (operator !== 'StringEquals' || values.some((v) => v.includes('*') || v.includes('?'))) {
        return deny(`also matches the subject by pattern (${operator} ${values.join(', ')})`);
      }
      const others = values.filter((v) => !expected.subjects.includes(v));
      if (others.length > 0) return deny(`also admits ${others.join(', ')}`);
    }
    const audiences = conditionValues(statement, 'StringEquals', expected.audKey);
    if (audiences.length === 0 || audiences.some((aud) => aud !== AUDIENCE)) {
      return deny(`has a statement that does not require the audience ${AUDIENCE} alone`);
    }
  }
  return { ok: true };
}

function expectationsFrom(trust: PolicyDocument): ExpectedTrust {
  for (const statement of trust.Statement) {
    const provider = stringsOf(statement.Principal?.['Federated'])[0];
    const equals = statement.Condition?.['StringEquals'] ?? {};
    const subKey = Object.keys(equals).find((key) => key.endsWith(':sub'));
    const audKey = Object.keys(equals).find((key) => key.endsWith(':aud'));
    if (provider !== undefined && subKey !== undefined && audKey !== undefined) {
      return { provider, subKey, audKey, subjects: stringsOf(equals[subKey]) };
    }
  }
  // The derived trust policy always has this shape; anything else is a programming error.
  throw new Error('expected trust policy has no federated statement with sub and aud conditions');
}

function safeParse(text: string): unknown {
  try {
    return parsePolicyDocument(text);
  } catch {
    return undefined;
  }
}

function statementsOf(doc: unknown): Record<string, unknown>[] | undefined {
  const statement = recordOf(doc)?.['Statement'];
  if (statement === undefined) return undefined;
  const list = Array.isArray(statement) ? statement : [statement];
  return list.map(recordOf).filter((s): s is Record<string, unknown> => s !== undefined);
}

function recordOf(value: unknown): JsonObject | undefined {
  return isObject(value) ? value : undefined;
}

function stringsOf(value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is string => typeof v === 'string');
}

/** IAM action names are case-insensitive and may be globs (`sts:*`). */
function matchesWebIdentityAction(action: string): boolean {
  return globToRegExp(action, 'i').test(WEB_IDENTITY_ACTION);
}

/** Condition keys are case-insensitive in IAM; operators are not. */
function conditionValues(
  statement: Record<string, unknown>,
  operator: string,
  key: string,
): string[] {
  const block = recordOf(recordOf(statement['Condition'])?.[operator]);
  if (block === undefined) return [];
  const wanted = key.toLowerCase();
  return Object.entries(block)
    .filter(([k]) => k.toLowerCase() === wanted)
    .flatMap(([, v]) => stringsOf(v));
}

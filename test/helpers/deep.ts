/**
 * A value nested `depth` levels deep (`{"d":{"d":...}}` around `leaf`), built without recursion:
 * what another plugin may keep in its spec, up to the API server's own nesting limit.
 */
export function nested(depth: number, leaf: unknown = 'bottom'): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = { d: value };
  return value;
}

/** The JSON text of `nested(depth, leaf)`, written directly: JSON.stringify itself recurses. */
export function nestedJson(depth: number, leaf = '"bottom"'): string {
  return `${'{"d":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
}

/** About what the API server accepts: apimachinery's JSON decoding stops at 10,000 levels. */
export const API_SERVER_DEPTH = 9_990;

// IAM pages ListRolePolicies and ListInstanceProfilesForRole by MaxItems and Marker; moto ignores
// both and answers every item at once. The IAM proxy uses this to page moto's full answer as IAM
// would, so the code's paging loops for those two lists cross real page boundaries.

/** The actions moto does not page, and the element of the answer that holds the list. */
export const UNPAGED_BY_MOTO: ReadonlyMap<string, string> = new Map([
  ['ListRolePolicies', 'PolicyNames'],
  ['ListInstanceProfilesForRole', 'InstanceProfiles'],
]);

/**
 * The page of moto's full answer that IAM would give for MaxItems and Marker (the Marker this
 * function hands out: the index of the next item). Items may nest `<member>`s of their own.
 */
export function pageAnswer(xml: string, list: string, maxItems: number, marker: string): string {
  const open = `<${list}>`;
  const start = xml.indexOf(open);
  const end = xml.indexOf(`</${list}>`, start);
  if (start < 0 || end < 0) return xml;
  const items = topLevelMembers(xml.slice(start + open.length, end));
  const from = Number(marker || '0');
  const page = items.slice(from, from + maxItems);
  const next = from + page.length;
  const truncated = next < items.length;
  const paging = `<IsTruncated>${truncated}</IsTruncated>${truncated ? `<Marker>${next}</Marker>` : ''}`;
  const close = `</${list}>`;
  // moto leaves IsTruncated out of some answers.
  const rest = xml.slice(end + close.length).replace(/<IsTruncated>\w+<\/IsTruncated>/, '');
  return xml.slice(0, start + open.length) + page.join('') + close + paging + rest;
}

function topLevelMembers(body: string): string[] {
  const members: string[] = [];
  const tags = /<member>|<\/member>/g;
  let depth = 0;
  let from = 0;
  for (let match = tags.exec(body); match !== null; match = tags.exec(body)) {
    if (match[0] === '<member>') {
      if (depth++ === 0) from = match.index;
    } else if (--depth === 0) {
      members.push(body.slice(from, match.index + match[0].length));
    }
  }
  return members;
}

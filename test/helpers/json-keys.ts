/**
 * The keys that appear more than once in one object of a JSON text, as `path.key`. JSON.parse
 * keeps the last of two equal keys without a word, and log stores differ on which one they keep,
 * so the text itself is scanned. Throws on text that is not JSON.
 */
export function duplicateKeys(text: string): string[] {
  let i = 0;
  const found: string[] = [];
  const fail = (what: string): never => {
    throw new Error(`not JSON: ${what} at ${i} in ${text.slice(0, 200)}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const expect = (ch: string) => {
    ws();
    if (text[i] !== ch) fail(`expected ${ch}`);
    i++;
  };
  const string = (): string => {
    expect('"');
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const ch = text[i++]!;
      if (ch === '"') return JSON.parse(`"${out}"`) as string;
      out += ch;
      if (ch === '\\') out += text[i++] ?? '';
    }
  };
  const value = (path: string): void => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      const seen = new Set<string>();
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        const key = string();
        if (seen.has(key)) found.push(`${path}${key}`);
        seen.add(key);
        expect(':');
        value(`${path}${key}.`);
        ws();
        if (text[i] === ',') i++;
        else return expect('}');
      }
    }
    if (ch === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (let n = 0; ; n++) {
        value(`${path}${n}.`);
        ws();
        if (text[i] === ',') i++;
        else return expect(']');
      }
    }
    if (ch === '"') {
      string();
      return;
    }
    const literal = /^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i));
    if (literal === null) fail('unexpected token');
    i += literal![0].length;
  };
  value('');
  ws();
  if (i !== text.length) fail('trailing text');
  return found;
}

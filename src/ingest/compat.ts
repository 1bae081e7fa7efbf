/**
 * Text rewrites for the two legacy formats. Each turns near-JSON into JSON with a small scanner that
 * respects string literals, so a comma or quote inside a service name is never touched.
 */

/** The seed's reference client: JSON with trailing commas (before `}`/`]`, or after the object). */
export function stripTrailingCommas(text: string): string {
  let out = '';
  let inString = false;
  let pendingComma = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === ',') {
      if (pendingComma) out += ','; // ",," stays invalid
      pendingComma = true;
    } else if (c === ' ' || c === '\n' || c === '\r' || c === '\t') {
      out += c;
    } else {
      // A comma is emitted only when a value follows it; before a closer or the end it was trailing.
      if (pendingComma && c !== '}' && c !== ']') out += ',';
      pendingComma = false;
      if (c === '"') inString = true;
      out += c;
    }
  }
  return out;
}

/** The course dataset: Python `repr` of a dict (single quotes, True/False/None). */
export function pythonDictToJson(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"') {
      let s = '';
      let j = i + 1;
      for (; j < text.length && text[j] !== c; j++) {
        if (text[j] === '\\' && j + 1 < text.length) {
          j++;
          const e = text[j];
          s += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
        } else s += text[j];
      }
      if (j >= text.length) return text; // unterminated: leave it for JSON.parse to reject
      out += JSON.stringify(s);
      i = j;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < text.length && /[A-Za-z0-9_]/.test(text[j])) j++;
      const word = text.slice(i, j);
      out += word === 'True' ? 'true' : word === 'False' ? 'false' : word === 'None' ? 'null' : word;
      i = j - 1;
      continue;
    }
    out += c;
  }
  return stripTrailingCommas(out);
}

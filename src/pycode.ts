/**
 * Python source for a log filter: the `taskscope.logger.dataset.get(...)` call that gives
 * the rows the panel shows. Every value is written as a Python literal, whatever
 * characters the user typed.
 */

/** Characters kept out of a literal as escapes: controls, direction marks, separators. */
// eslint-disable-next-line no-control-regex
const ESCAPED = /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]/;

const SIMPLE: { [ch: string]: string } = {
  '\\': '\\\\',
  "'": "\\'",
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t'
};

/** A Python str literal in single quotes. */
export function pyString(text: string): string {
  let out = "'";
  for (const ch of text) {
    // for...of walks code points: a valid surrogate pair arrives whole, a lone half alone
    const code = ch.codePointAt(0)!;
    if (SIMPLE[ch]) {
      out += SIMPLE[ch];
    } else if (ch.length === 1 && ESCAPED.test(ch)) {
      out += code < 0x100 ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`;
    } else {
      out += ch;
    }
  }
  return out + "'";
}

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}

/** A JSON-like value as a Python literal. */
export function pyValue(value: unknown): string {
  if (value === null || value === undefined) {
    return 'None';
  }
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (typeof value === 'number') {
    return isFinite(value) ? String(value) : 'None';
  }
  if (typeof value === 'string') {
    return pyString(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map(pyValue).join(', ')}]`;
  }
  return pyString(String(value));
}

/** The cell that reads a filter's rows as a DataFrame. */
export function datasetCall(filter: { [key: string]: unknown }): string {
  const args = Object.entries(filter)
    .filter(([key]) => /^[a-z_]+$/.test(key))
    .map(([key, value]) => `${key}=${pyValue(value)}`);
  return `import taskscope\n\ntaskscope.logger.dataset.get(${args.join(', ')})`;
}

// Jaeger-style logfmt tag input: `error=true http.status_code=200 msg="a b"`.
// Spaces separate pairs (AND); values may be double-quoted with `\"` and `\\`
// escapes. The result is the JSON object the API takes as `tags`.

export type ParseResult = { ok: true; tags: Record<string, string> } | { ok: false; error: string };

export function parseLogfmt(input: string): ParseResult {
  const tags: Record<string, string> = {};
  const s = input;
  let i = 0;
  const n = s.length;
  const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  while (i < n) {
    while (i < n && isSpace(s[i])) i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && s[i] !== '=' && !isSpace(s[i])) {
      if (s[i] === '"') return { ok: false, error: `unexpected quote in key at position ${i + 1}` };
      i++;
    }
    const key = s.slice(keyStart, i);
    if (i >= n || s[i] !== '=') {
      return { ok: false, error: `tag "${key}" has no value (write ${key}=value)` };
    }
    if (!key) return { ok: false, error: `missing key before "=" at position ${i + 1}` };
    i++; // '='
    let value = '';
    if (s[i] === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = s[i];
        if (c === '\\' && i + 1 < n) {
          const e = s[i + 1];
          value += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          i += 2;
          continue;
        }
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        value += c;
        i++;
      }
      if (!closed) return { ok: false, error: `unterminated quote in the value of "${key}"` };
      if (i < n && !isSpace(s[i])) return { ok: false, error: `expected a space after the quoted value of "${key}"` };
    } else {
      const vs = i;
      while (i < n && !isSpace(s[i])) i++;
      value = s.slice(vs, i);
      if (value.includes('"')) return { ok: false, error: `stray quote in the value of "${key}"` };
    }
    tags[key] = value;
  }
  return { ok: true, tags };
}

/** The inverse: a tags object as logfmt text, quoting where needed. */
export function toLogfmt(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([k, v]) => {
      const needsQuote = v === '' || /[\s"\\=]/.test(v);
      if (!needsQuote) return `${k}=${v}`;
      const esc = v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
      return `${k}="${esc}"`;
    })
    .join(' ');
}

import { describe, expect, it } from 'vitest';
import { parseLogfmt, toLogfmt } from './logfmt';

describe('logfmt tags', () => {
  it('parses plain and quoted values', () => {
    expect(parseLogfmt('error=true http.status_code=200  msg="a b \\"c\\""')).toEqual({
      ok: true,
      tags: { error: 'true', 'http.status_code': '200', msg: 'a b "c"' },
    });
  });

  it('accepts empty input and empty quoted values', () => {
    expect(parseLogfmt('   ')).toEqual({ ok: true, tags: {} });
    expect(parseLogfmt('k=""')).toEqual({ ok: true, tags: { k: '' } });
    expect(parseLogfmt('url=http://x/?a=b')).toEqual({ ok: true, tags: { url: 'http://x/?a=b' } });
  });

  it('rejects malformed input with a message', () => {
    const r1 = parseLogfmt('error');
    expect(r1.ok).toBe(false);
    if (!r1.ok) expect(r1.error).toContain('"error" has no value');
    const r2 = parseLogfmt('a="open');
    expect(r2.ok).toBe(false);
    if (!r2.ok) expect(r2.error).toContain('unterminated');
    expect(parseLogfmt('=v').ok).toBe(false);
    expect(parseLogfmt('a="x"b').ok).toBe(false);
  });

  it('round-trips through toLogfmt', () => {
    const tags = { a: '1', b: 'two words', c: 'q"uote', d: '', e: 'back\\slash' };
    const text = toLogfmt(tags);
    expect(text).toBe('a=1 b="two words" c="q\\"uote" d="" e="back\\\\slash"');
    expect(parseLogfmt(text)).toEqual({ ok: true, tags });
  });
});

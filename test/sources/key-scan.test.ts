import { describe, expect, it } from 'vitest';
import { scanUserIdKey } from '../../src/sources/key-scan.ts';

function key(text: string | Buffer): string | null {
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  const r = scanUserIdKey(buf, 0, buf.length);
  if (!r) return null;
  return Buffer.from(r.decoded ?? buf.subarray(r.start, r.end)).toString('utf8');
}

describe('scanUserIdKey', () => {
  it('finds the first top-level user_id string', () => {
    expect(key('{"id":"e1","user_id":"u1","type":1}')).toBe('u1');
    expect(key('  {\n"user_id" : "u2"}')).toBe('u2');
    expect(key('{"parameters":{"user_id":"inner"},"user_id":"outer"}')).toBe('outer');
    expect(key('{"a":[1,{"user_id":"x"}],"b":"} \\" {","user_id":"u3"}')).toBe('u3');
    expect(key('{"a":true,"b":null,"c":-1.5e3,"user_id":"u4"}')).toBe('u4');
    expect(key('{"user_id":"dup1","user_id":"dup2"}')).toBe('dup1');
  });

  it('decodes escaped keys to their UTF-8', () => {
    expect(key('{"user_id":"caf\\u00e9"}')).toBe('café');
    expect(key('{"user_id":"a\\"b"}')).toBe('a"b');
  });

  it('has no key for non-strings, empty strings and junk', () => {
    for (const t of ['{"user_id":123}', '{"user_id":null}', '{"user_id":""}', '{"id":"x"}', '[1,2]', 'hello', '', '{', '{"user_id"', '{"a":1 "user_id":"x"}', '{"a":{"b":1}']) {
      expect(key(t), t).toBeNull();
    }
  });

  it('still keys a record cut short after user_id', () => {
    expect(key('{"id":"e","user_id":"u5","timestamp":"2026-')).toBe('u5');
  });

  it('takes raw bytes as they are when there is no escape', () => {
    const buf = Buffer.concat([Buffer.from('{"user_id":"x'), Buffer.from([0xff, 0xfe]), Buffer.from('y"}')]);
    const r = scanUserIdKey(buf, 0, buf.length)!;
    expect(Buffer.from(buf.subarray(r.start, r.end))).toEqual(Buffer.from([0x78, 0xff, 0xfe, 0x79]));
  });

  it('never reads outside the given range', () => {
    const buf = Buffer.from('XX{"user_id":"abc"}YY');
    const r = scanUserIdKey(buf, 2, buf.length - 2)!;
    expect(buf.subarray(r.start, r.end).toString()).toBe('abc');
    expect(scanUserIdKey(buf, 2, 14)).toBeNull();
  });
});

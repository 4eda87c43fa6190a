import { describe, expect, it } from 'vitest';
import { decodeJson } from '../../src/partition/decode.ts';
import type { Rejection, ValidEvent } from '../../src/partition/record.ts';
import { isRejection, validate } from '../../src/partition/validate.ts';

const NOW = Date.UTC(2026, 10, 27, 12);
const base = {
  id: 'e1', user_id: 'u1', session_id: 's1', timestamp: '2026-11-27T11:00:00Z', type: 1001, name: 'level_start',
  parameters: { level_id: 7 }, app_version: '1.0', platform: 'ios', ip_address: '8.8.8.8', device_model: 'Pixel 8',
};

function run(obj: Record<string, unknown>): ValidEvent | Rejection {
  return validate(obj, { futureToleranceMs: 3_600_000, nowMs: NOW });
}
function code(obj: Record<string, unknown>): string {
  const r = run(obj);
  return isRejection(r) ? r.code : 'ok';
}

describe('validate', () => {
  it('accepts a full event and reads level_id', () => {
    const v = run(base);
    expect(isRejection(v)).toBe(false);
    expect(v).toMatchObject({ id: 'e1', userId: 'u1', type: 1001, tsMs: Date.UTC(2026, 10, 27, 11), levelId: 7 });
  });

  it('missing_fields for absent, null or empty required fields', () => {
    for (const f of ['id', 'user_id', 'timestamp', 'type']) {
      expect(code({ ...base, [f]: undefined })).toBe('missing_fields');
      expect(code({ ...base, [f]: null })).toBe('missing_fields');
      expect(code({ ...base, [f]: '' })).toBe('missing_fields');
    }
    const r = run({ ...base, id: null, type: null }) as Rejection;
    expect(r.message).toContain('id, type');
  });

  it('invalid_field for wrong types', () => {
    expect(code({ ...base, type: '1001' })).toBe('invalid_field');
    expect(code({ ...base, type: 1001.5 })).toBe('invalid_field');
    expect(code({ ...base, type: 12345678901234567890 })).toBe('invalid_field');
    expect(code({ ...base, type: 1e300 })).toBe('invalid_field');
    expect(code({ ...base, id: 42 })).toBe('invalid_field');
    expect(code({ ...base, user_id: { a: 1 } })).toBe('invalid_field');
    expect(code({ ...base, platform: 3 })).toBe('invalid_field');
    expect(code({ ...base, parameters: [1, 2] })).toBe('invalid_field');
    expect(code({ ...base, parameters: 'x' })).toBe('invalid_field');
    expect(code({ ...base, user_id: 'a\u0000b' })).toBe('invalid_field');
    expect(code({ ...base, session_id: 'x\ud800' })).toBe('invalid_field');
    expect(code({ ...base, id: 'x'.repeat(257) })).toBe('invalid_field');
    expect(code({ ...base, ip_address: '1'.repeat(65) })).toBe('invalid_field');
    let deep: Record<string, unknown> = {};
    const top = deep;
    for (let i = 0; i < 40; i++) deep = (deep.x = {}) as Record<string, unknown>;
    expect(code({ ...base, parameters: top })).toBe('invalid_field');
  });

  it('invalid_timestamp and future_timestamp', () => {
    expect(code({ ...base, timestamp: '2026-02-30T00:00:00Z' })).toBe('invalid_timestamp');
    expect(code({ ...base, timestamp: '2026-11-27T11:00:00' })).toBe('invalid_timestamp');
    expect(code({ ...base, timestamp: true })).toBe('invalid_timestamp');
    expect(code({ ...base, timestamp: NOW + 3_600_001 })).toBe('future_timestamp');
    expect(code({ ...base, timestamp: NOW + 3_600_000 })).toBe('ok');
  });

  it('the first failing rule wins', () => {
    expect(code({ ...base, user_id: null, type: 'x', timestamp: 'bad' })).toBe('missing_fields');
    expect(code({ ...base, type: 'x', timestamp: 'bad' })).toBe('invalid_field');
  });

  it('level_id is NULL unless an integer', () => {
    for (const level_id of ['7', 7.5, null, 2 ** 60, true]) {
      expect((run({ ...base, parameters: { level_id } }) as ValidEvent).levelId).toBeNull();
    }
    expect((run({ ...base, parameters: null }) as ValidEvent).parameters).toEqual({});
  });
});

describe('decodeJson', () => {
  it('rejects what is not a JSON object', () => {
    for (const t of ['not json', '[1,2]', '42', '"str"', 'null', '{"a":', '']) {
      const d = decodeJson(Buffer.from(t), 1 << 20);
      expect(d.ok, t).toBe(false);
      if (!d.ok) expect(d.rejection.code).toBe('parse_error');
    }
  });

  it('rejects invalid UTF-8 but accepts a real U+FFFD', () => {
    const bad = decodeJson(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), 1 << 20);
    expect(bad.ok).toBe(false);
    expect(decodeJson(Buffer.from('{"a":"\uFFFD"}'), 1 << 20).ok).toBe(true);
  });

  it('too_large above the limit', () => {
    const d = decodeJson(Buffer.from(`{"a":"${'x'.repeat(2000)}"}`), 1024);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.rejection.code).toBe('too_large');
  });

  it('a __proto__ key stays data', () => {
    const d = decodeJson(Buffer.from('{"__proto__":{"polluted":1},"id":"x"}'), 1 << 20);
    expect(d.ok).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    if (d.ok) expect(Object.getPrototypeOf(d.obj)).toBe(Object.prototype);
  });
});

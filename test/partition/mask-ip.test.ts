import { describe, expect, it } from 'vitest';
import { maskIps } from '../../src/partition/mask-ip.ts';

describe('maskIps', () => {
  it('zeroes the last octet of every dotted quad', () => {
    expect(maskIps('81.2.69.142')).toBe('81.2.69.0');
    expect(maskIps('a 10.0.0.1, b 8.8.8.8')).toBe('a 10.0.0.0, b 8.8.8.0');
    expect(maskIps('ip=192.168.1.23:8080')).toBe('ip=192.168.1.0:8080');
    expect(maskIps('x1.2.3.4y')).toBe('x1.2.3.0y');
    expect(maskIps('1.2.3.4.5.6.7.8')).toBe('1.2.3.0.5.6.7.0');
    // Not a quad: a group of 4 digits, three groups, a decimal number.
    expect(maskIps('1.2.3.4567 1.2.3 3.14 2026-11-27T12:30:45.123Z')).toBe('1.2.3.4567 1.2.3 3.14 2026-11-27T12:30:45.123Z');
  });

  it('keeps the first 48 bits of every IPv6 literal, in any spelling', () => {
    expect(maskIps('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1::');
    expect(maskIps('"2001:4860:4860::8888"')).toBe('"2001:4860:4860::"');
    expect(maskIps('2001:DB8::1')).toBe('2001:db8:0::');
    expect(maskIps('[2001:67c:2e8:22::c100:68b]:443')).toBe('[2001:67c:2e8::]:443');
    expect(maskIps('fe80::1%eth0')).toBe('fe80:0:0::%eth0');
    expect(maskIps('::ffff:192.0.2.1')).toBe('0:0:0::');
    expect(maskIps('64:ff9b::192.0.2.33 next')).toBe('64:ff9b:0:: next');
    // An Avro length byte glued to the address.
    expect(maskIps('42001:4860:4860::8888')).toBe('42001:4860:4860::');
    // Unbracketed with a port: eight groups are the address.
    expect(maskIps('client 2001:0db8:0:0:1:2:3:4:443')).toBe('client 2001:db8:0:::443');
  });

  it('leaves text that is no address alone', () => {
    for (const s of ['12:30:45', 'aa:bb:cc:dd:ee:ff', 'std::vector', '::', '2001:db8::', 'a::b::c', '{"a":1,"b":"c:d"}', 'deadbeef', '']) {
      expect(maskIps(s)).toBe(s);
    }
  });

  it('masks inside JSON text without breaking it', () => {
    const row = JSON.stringify({ p: { nested: ['x', { v6: '2001:db8:aa:bb::1', v4: '203.0.113.77' }] }, e: '\u00e9\u0000', k: { '198.51.100.9': 1 } });
    const masked = maskIps(row);
    expect(JSON.parse(masked)).toEqual({ p: { nested: ['x', { v6: '2001:db8:aa::', v4: '203.0.113.0' }] }, e: '\u00e9\u0000', k: { '198.51.100.0': 1 } });
    expect(maskIps('"\\u00e9::1"')).toBe('"\\u00e90:0:0::"');
  });

  it('is linear on adversarial text', () => {
    for (const unit of ['1:', '1.', '1.1.1.', 'a:b:', '::1:', '\\u12', '9999.']) {
      const s = unit.repeat(2_000_000 / unit.length);
      const t0 = performance.now();
      maskIps(s);
      expect(performance.now() - t0, unit).toBeLessThan(1000);
    }
  });
});

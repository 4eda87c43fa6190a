import { describe, expect, it } from 'vitest';
import avro from 'avsc';
import { rawForDeadLetter } from '../../src/partition/dead-letter.ts';
import { maskIps, maskIpsSameLength, scanAndMask } from '../../src/partition/mask-ip.ts';

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

  it('keeps every address\'s length for binary records, masking the same bits', () => {
    const cases: [string, string][] = [
      ['81.2.69.142', '81.2.69.000'],
      ['ip=192.168.1.23:8080', 'ip=192.168.1.00:8080'],
      ['2001:db8:1:2:3:4:5:6', '2001:db8:1:0:0:0:0:0'],
      ['"2001:4860:4860::8888"', '"2001:4860:4860::0000"'],
      ['::ffff:192.0.2.1', '::0000:000.0.0.0'],
      ['1::2', '1::0'],
      ['fe80::1%eth0', 'fe80::0%eth0'],
      ['42001:4860:4860::8888', '42001:4860:4860::0000'],
      ['no address here', 'no address here'],
    ];
    for (const [text, masked] of cases) {
      expect(maskIpsSameLength(text), text).toBe(masked);
      expect(masked.length).toBe(text.length);
    }
  });

  it('a binary (Avro) dead letter still decodes once its addresses are masked', () => {
    const type = avro.Type.forSchema({ type: 'record', name: 'E', fields: [{ name: 'ip_address', type: 'string' }, { name: 'note', type: 'string' }, { name: 'n', type: 'long' }] });
    const datum = type.toBuffer({ ip_address: '81.2.69.142', note: 'via 2001:db8:1:2:3:4:5:6', n: 7 });
    // Its bytes happen to be UTF-8 text without NUL: still binary, as an Avro datum.
    expect(Buffer.from(datum).toString('utf8').includes('81.2.69.142')).toBe(true);
    const dead = rawForDeadLetter(datum, '81.2.69.142', true);
    expect(dead.encoding).toBe('base64');
    expect(type.fromBuffer(Buffer.from(dead.raw, 'base64'))).toMatchObject({ ip_address: '81.2.69.000', note: 'via 2001:db8:1:0:0:0:0:0', n: 7 });
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

  it('gives what the full scan gives on any text: the quick test only skips text with nothing to mask', () => {
    // Random text made of the characters that matter (digits, hex letters, dots, colons, escapes, quotes) and a few
    // that do not, so that near-addresses of every shape occur. A seeded generator: failures reproduce.
    const alphabet = '0123456789abcdefABCDEF.:.:\\u"xyz-{} [],';
    let seed = 20261205;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    let masked = 0;
    for (let k = 0; k < 200_000; k++) {
      let s = '';
      for (let len = 1 + rnd(40); len > 0; len--) s += alphabet[rnd(alphabet.length)];
      const full = scanAndMask(s);
      if (full !== s) masked++;
      expect(maskIps(s), JSON.stringify(s)).toBe(full);
    }
    // The generator makes both kinds of text.
    expect(masked).toBeGreaterThan(1000);
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

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeviceTable,
  defaultDeviceTablePath,
  loadDeviceFile,
  loadDeviceFileAsync,
  parseDeviceTable,
} from '../../src/enrich/devices.ts';

const HEADER = 'device_model,category,performance_tier';

function parseError(text: string, name = 'devices.csv'): Error & { code?: string } {
  try {
    parseDeviceTable(text, name);
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a parse error');
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'gamestream-devices-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('parseDeviceTable', () => {
  it('looks up known models; unknown → null', () => {
    const t = parseDeviceTable(`${HEADER}\nPixel 8,phone,high\niPad (10th generation),tablet,mid\n`, 'x.csv');
    expect(t.size).toBe(2);
    expect(t.lookup('Pixel 8')).toEqual({ category: 'phone', tier: 'high' });
    expect(t.lookup('iPad (10th generation)')).toEqual({ category: 'tablet', tier: 'mid' });
    expect(t.lookup('Pixel 9')).toBeNull();
    expect(t.lookup('pixel 8')).toBeNull(); // exact match
    expect(t.lookup('')).toBeNull();
  });

  it('handles quoted fields: commas, doubled quotes, line breaks', () => {
    const text =
      `${HEADER}\n` +
      `"iPhone15,2",phone,high\n` +
      `"Tab 10.1"" LTE",tablet,low\n` +
      `"Two\nLines",phone,"mid"\n` +
      `"X",phone,low\n`;
    const t = parseDeviceTable(text, 'q.csv');
    expect(t.lookup('iPhone15,2')).toEqual({ category: 'phone', tier: 'high' });
    expect(t.lookup('Tab 10.1" LTE')).toEqual({ category: 'tablet', tier: 'low' });
    expect(t.lookup('Two\nLines')).toEqual({ category: 'phone', tier: 'mid' });
    expect(t.lookup('X')).toEqual({ category: 'phone', tier: 'low' });
  });

  it('accepts a BOM, CRLF, no trailing newline, and blank lines', () => {
    const t = parseDeviceTable(`\uFEFF${HEADER}\r\nA,phone,low\r\n\r\nB,tablet,high`, 'bom.csv');
    expect(t.lookup('A')).toEqual({ category: 'phone', tier: 'low' });
    expect(t.lookup('B')).toEqual({ category: 'tablet', tier: 'high' });
    expect(t.size).toBe(2);
  });

  it('empty category/tier cells are null; quoted empty cells too', () => {
    const t = parseDeviceTable(`${HEADER}\nA,,\nB,phone,""\n`, 'e.csv');
    expect(t.lookup('A')).toEqual({ category: null, tier: null });
    expect(t.lookup('B')).toEqual({ category: 'phone', tier: null });
  });

  it('duplicate models: the last row wins', () => {
    const t = parseDeviceTable(`${HEADER}\nA,phone,low\nB,phone,mid\nA,tablet,high\n`, 'd.csv');
    expect(t.lookup('A')).toEqual({ category: 'tablet', tier: 'high' });
    expect(t.size).toBe(2);
  });

  it('a header-only file is an empty table', () => {
    expect(parseDeviceTable(`${HEADER}\n`, 'h.csv').size).toBe(0);
  });

  it('rejects a bad header, naming the file and line', () => {
    for (const header of [
      'model,category,performance_tier',
      'device_model,category',
      'device_model,category,performance_tier,extra',
      'device_model, category,performance_tier',
      'Device_Model,category,performance_tier',
    ]) {
      const err = parseError(`${header}\nA,phone,low\n`, '/etc/gs/devices.csv');
      expect(err.code).toBe('device_table_invalid');
      expect(err.message).toContain('/etc/gs/devices.csv');
      expect(err.message).toMatch(/line 1: header must be exactly/);
    }
    // A blank file has no header at all.
    expect(parseError('').message).toMatch(/empty/);
    expect(parseError('\uFEFF\n\n').message).toMatch(/empty/);
  });

  it('rejects a wrong column count with the line number', () => {
    expect(parseError(`${HEADER}\nA,phone,low\nB,phone\n`).message).toMatch(/devices\.csv: line 3: expected 3 columns, got 2/);
    expect(parseError(`${HEADER}\r\nA,phone,low,extra\r\n`).message).toMatch(/line 2: expected 3 columns, got 4/);
    // A quoted line break does not shift the numbering of the rows after it.
    expect(parseError(`${HEADER}\n"A\nA",phone,low\nB\n`).message).toMatch(/line 4: expected 3 columns, got 1/);
  });

  it('rejects broken quoting and empty models', () => {
    expect(parseError(`${HEADER}\nA,phone,low\n"B,phone,low\n`).message).toMatch(/line 3: quoted field is never closed/);
    expect(parseError(`${HEADER}\n"B"x,phone,low\n`).message).toMatch(/line 2: unexpected character "x" after a closing quote/);
    expect(parseError(`${HEADER}\n,phone,low\n`).message).toMatch(/line 2: device_model is empty/);
    // A line holding only "" is a one-column row, not a blank line.
    expect(parseError(`${HEADER}\n""\n`).message).toMatch(/line 2: expected 3 columns, got 1/);
  });
});

describe('files and shared bytes', () => {
  it('loadDeviceFile → SharedArrayBuffer → DeviceTable.fromShared', async () => {
    const p = join(tmp, 'd.csv');
    writeFileSync(p, `\uFEFF${HEADER}\nGalaxy S24,phone,high\n`);
    for (const sab of [loadDeviceFile(p), await loadDeviceFileAsync(p)]) {
      expect(sab).toBeInstanceOf(SharedArrayBuffer);
      const t = DeviceTable.fromShared(sab, p);
      expect(t.lookup('Galaxy S24')).toEqual({ category: 'phone', tier: 'high' });
      expect(t.sourceName).toBe(p);
    }
  });

  it('load errors name the file: missing, invalid UTF-8, bad content', async () => {
    const missing = join(tmp, 'missing.csv');
    expect(() => loadDeviceFile(missing)).toThrow(missing);
    await expect(loadDeviceFileAsync(missing)).rejects.toMatchObject({ code: 'device_table_invalid' });

    const bad = join(tmp, 'latin1.csv');
    writeFileSync(bad, Buffer.concat([Buffer.from(`${HEADER}\nCaf`), Buffer.from([0xe9]), Buffer.from(',phone,low\n')]));
    expect(() => loadDeviceFile(bad)).toThrow(/latin1\.csv: not valid UTF-8/);

    const cols = join(tmp, 'cols.csv');
    writeFileSync(cols, `${HEADER}\nA,phone\n`);
    expect(() => loadDeviceFile(cols)).toThrow(`device table ${cols}: line 2: expected 3 columns, got 2 (GAMESTREAM_DEVICE_TABLE: a CSV with the header device_model,category,performance_tier, default or off)`);
  });
});

describe('shipped default table', () => {
  it('is an absolute path to assets/devices.csv', () => {
    const p = defaultDeviceTablePath();
    expect(isAbsolute(p)).toBe(true);
    expect(p.endsWith(join('assets', 'devices.csv'))).toBe(true);
  });

  it('parses, has realistic models, and only the documented values', () => {
    const t = DeviceTable.fromShared(loadDeviceFile(defaultDeviceTablePath()), 'devices.csv');
    expect(t.size).toBeGreaterThanOrEqual(50);
    for (const m of ['iPhone 15 Pro', 'iPhone 12', 'Galaxy S24 Ultra', 'Galaxy A15', 'Pixel 8', 'Galaxy Tab S9', 'Redmi Note 13']) {
      expect(t.lookup(m), m).not.toBeNull();
    }
    expect(t.lookup('Galaxy Tab S9')?.category).toBe('tablet');
    for (const m of t.models()) {
      const info = t.lookup(m)!;
      expect(['phone', 'tablet'], m).toContain(info.category);
      expect(['low', 'mid', 'high'], m).toContain(info.tier);
    }
    // No duplicate rows hiding each other.
    const lines = readFileSync(defaultDeviceTablePath(), 'utf8').trim().split('\n');
    expect(lines.length - 1).toBe(t.size);
  });
});

// A query result as a table for a terminal, NDJSON and CSV.
import { describe, expect, it } from 'vitest';
import { formatResult } from '../../src/sql/format.ts';
import type { SqlResult } from '../../src/sql/result.ts';

const result = (rows: SqlResult['rows'], truncated = false): SqlResult => ({
  columns: [{ name: 'name', type: 'VARCHAR' }, { name: 'n', type: 'BIGINT' }, { name: 'extra', type: 'JSON' }],
  rows, truncated, limits: { timeoutMs: 1000, maxRows: 2 }, elapsedMs: 1234,
});

describe('formatResult', () => {
  const r = result([['level_start', 12, { a: [1] }], ['a, "b"\nc', 3, null]], true);

  it('draws a table: numbers to the right, NULL said, a cell of several lines over several lines, the count', () => {
    expect(formatResult(r, 'table')).toBe([
      'name          n  extra',
      '-----------  --  ---------',
      'level_start  12  {"a":[1]}',
      'a, "b"        3  NULL',
      'c',
      '(2 rows, cut at 2; 1.23 s)',
      '',
    ].join('\n'));
  });

  it('escapes control characters in a table, so a stored record cannot drive the terminal; NDJSON and CSV keep them', () => {
    const hostile = result([['x\u001b]0;pwned\u0007\u001b[2J\rtab\there', 1, null]]);
    const table = formatResult(hostile, 'table');
    expect(table).not.toMatch(/[\u001b\u0007\r\t]/);
    expect(table).toContain('x\\u001b]0;pwned\\u0007\\u001b[2J\\u000dtab\\u0009here');
    expect(JSON.parse(formatResult(hostile, 'ndjson')).name).toBe('x\u001b]0;pwned\u0007\u001b[2J\rtab\there');
  });

  it('writes one JSON object a row, and RFC 4180 CSV with a header', () => {
    expect(formatResult(r, 'ndjson')).toBe('{"name":"level_start","n":12,"extra":{"a":[1]}}\n{"name":"a, \\"b\\"\\nc","n":3,"extra":null}\n');
    expect(formatResult(r, 'csv')).toBe('name,n,extra\r\nlevel_start,12,"{""a"":[1]}"\r\n"a, ""b""\nc",3,\r\n');
    expect(formatResult(result([]), 'table')).toBe('name  n  extra\n----  -  -----\n(0 rows; 1.23 s)\n');
  });

  it('keeps every column of a row in NDJSON when two have the same name (SELECT e.user_id, u.user_id)', () => {
    const same: SqlResult = {
      columns: [{ name: 'user_id', type: 'VARCHAR' }, { name: 'user_id', type: 'VARCHAR' }, { name: 'user_id_1', type: 'VARCHAR' }],
      rows: [['a', 'b', 'c']], truncated: false, limits: { timeoutMs: 1000, maxRows: 2 }, elapsedMs: 1,
    };
    expect(formatResult(same, 'ndjson')).toBe('{"user_id":"a","user_id_2":"b","user_id_1":"c"}\n');
  });
});

import { describe, expect, it } from 'vitest';
import { textLine } from '../src/log.ts';

describe('log lines on a terminal', () => {
  it('read as one line: time, level, message, then the fields; an error by its message, no stack', () => {
    const line = textLine({
      level: 40, time: '2026-12-05T09:31:02.345Z', service: 'gamestream', msg: 'BigQuery: retrying querying',
      attempt: 2, err: { message: 'socket hang up', stack: 'Error: socket hang up\n    at x (y.ts:1:2)' }, table: 'events', note: 'two words',
    });
    expect(line).toBe('09:31:02.345 WARN  BigQuery: retrying querying  attempt=2 err="socket hang up" table=events note="two words"\n');
    expect(textLine({ level: 30, time: '2026-12-05T09:31:02.345Z', msg: 'user states ready', users: 5000 })).toBe('09:31:02.345 INFO  user states ready  users=5000\n');
  });
});

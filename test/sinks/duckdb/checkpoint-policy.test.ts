import { describe, expect, it } from 'vitest';
import { CheckpointPolicy, FULL_ENOUGH_ROWS, MAX_ROWS_BETWEEN, MAX_WINDOW_WAIT_MS, ROW_GROUP_ROWS } from '../../../src/sinks/duckdb/checkpoint-policy.ts';

const MAX_WAL = 64 << 20;

describe('CheckpointPolicy', () => {
  it('waits while the last row group would be closed less than three quarters full', () => {
    const p = new CheckpointPolicy(MAX_WAL);
    expect(p.due(0)).toBe(false);
    p.committed(45_000);
    expect(p.due(1 << 20)).toBe(false);
    p.committed(45_000); // 90,000: under the mark
    expect(p.due(10 << 20)).toBe(false);
    p.committed(45_000); // 135,000: a full row group and 12,120 rows
    expect(p.due(15 << 20)).toBe(false);
    p.committed(45_000); // 180,000: 57,120
    expect(p.due(20 << 20)).toBe(false);
    p.committed(45_000); // 225,000: 102,120
    expect(p.due(25 << 20)).toBe(true);
    p.checkpointed();
    expect(p.rowsSinceCheckpoint).toBe(0);
    expect(p.due(0)).toBe(false);
  });

  it('checkpoints at the mark, at whole row groups, and at three row groups', () => {
    const mark = new CheckpointPolicy(MAX_WAL);
    mark.committed(FULL_ENOUGH_ROWS - 1);
    expect(mark.due(0)).toBe(false);
    mark.committed(1);
    expect(mark.due(0)).toBe(true);

    const whole = new CheckpointPolicy(MAX_WAL);
    whole.committed(2 * ROW_GROUP_ROWS);
    expect(whole.due(0)).toBe(true);

    const many = new CheckpointPolicy(MAX_WAL);
    many.committed(MAX_ROWS_BETWEEN + 1); // ends in a row group with one row: forced anyway
    expect(many.due(0)).toBe(true);
  });

  it('checkpoints at the write-ahead log size whatever the rows, also with no events rows at all', () => {
    const p = new CheckpointPolicy(MAX_WAL);
    expect(p.due(MAX_WAL - 1)).toBe(false);
    expect(p.due(MAX_WAL)).toBe(true);
    p.committed(10);
    expect(p.due(MAX_WAL)).toBe(true);
  });

  it('lets a commit that carries closed windows go first, for at most MAX_WINDOW_WAIT_MS, but never a forced checkpoint', () => {
    const p = new CheckpointPolicy(MAX_WAL);
    p.committed(FULL_ENOUGH_ROWS);
    expect(p.due(0, true, 1_000)).toBe(false);
    expect(p.due(0, true, 1_000 + MAX_WINDOW_WAIT_MS - 1)).toBe(false);
    expect(p.due(0, false, 1_000 + MAX_WINDOW_WAIT_MS - 1)).toBe(true); // the windows are committed: now
    expect(p.due(0, true, 1_000 + MAX_WINDOW_WAIT_MS)).toBe(true); // waited long enough
    p.checkpointed();

    // The wait restarts with the next due checkpoint, and ends where the rows stop being due.
    p.committed(FULL_ENOUGH_ROWS);
    expect(p.due(0, true, 5_000)).toBe(false);
    p.committed(ROW_GROUP_ROWS - FULL_ENOUGH_ROWS + 1); // one row into the next group: not due
    expect(p.due(0, true, 5_100)).toBe(false);
    p.committed(FULL_ENOUGH_ROWS);
    expect(p.due(0, true, 5_000 + MAX_WINDOW_WAIT_MS)).toBe(false); // due again since now: its own wait
    expect(p.due(0, true, 5_000 + 2 * MAX_WINDOW_WAIT_MS)).toBe(true);

    const many = new CheckpointPolicy(MAX_WAL);
    many.committed(MAX_ROWS_BETWEEN);
    expect(many.due(0, true, 0)).toBe(true);
    const wal = new CheckpointPolicy(MAX_WAL);
    wal.committed(FULL_ENOUGH_ROWS);
    expect(wal.due(MAX_WAL, true, 0)).toBe(true);
  });
});

// DuckDB's memory limit with room for the users table's index: how it grows with the players, and the error that
// names the setting when DuckDB runs out all the same.
import { describe, expect, it } from 'vitest';
import { INDEX_BYTES_PER_USER, MemoryLimit } from '../../../src/sinks/duckdb/memory-limit.ts';

const MIB = 2 ** 20;

describe('MemoryLimit', () => {
  it('leaves the configured limit alone until the players\' index needs more, then raises it in 16 MiB steps, never lowering it', () => {
    const m = new MemoryLimit(128 * MIB);
    expect(m.bytes).toBe(128 * MIB);
    expect(m.raiseFor(0)).toBeNull();
    // 100,000 players need about 10.7 MiB more: 144 MiB, the next step.
    const raise = m.raiseFor(100_000);
    expect(raise).toBe(144 * MIB);
    m.applied(raise!);
    expect(m.bytes).toBe(144 * MIB);
    // Within the same step: nothing to do.
    expect(m.raiseFor(140_000)).toBeNull();
    expect(m.raiseFor(50_000)).toBeNull();
    // 1.34 million players (where the 128 MiB default failed): the limit covers their index with room to spare.
    const big = m.raiseFor(1_340_000)!;
    m.applied(big);
    expect(m.bytes - 128 * MIB).toBeGreaterThanOrEqual(1_340_000 * INDEX_BYTES_PER_USER);
    expect(m.bytes - 128 * MIB - 1_340_000 * INDEX_BYTES_PER_USER).toBeLessThan(16 * MIB);
    expect(m.bytes % (16 * MIB)).toBe(0);
  });

  it('sets nothing when DuckDB runs with its own default', () => {
    const m = new MemoryLimit(null);
    expect(m.raiseFor(10_000_000)).toBeNull();
    expect(m.bytes).toBe(0);
  });

  it('turns DuckDB\'s out-of-memory error into one that names GAMESTREAM_DUCKDB_MEMORY_LIMIT, the limit and the players', () => {
    const m = new MemoryLimit(128 * MIB);
    m.applied(m.raiseFor(200_000)!);
    const duck = new Error('Out of Memory Error: could not allocate block of size 256.0 KiB (127.8 MiB/128.0 MiB used)\n\nPossible solutions:\n* Reducing the number of threads');
    const e = m.outOfMemory(duck, 'warehouse_write_failed', 'DuckDB commit failed')!;
    expect(e.code).toBe('warehouse_write_failed');
    expect(e.retryable).toBe(true);
    expect(e.cause).toBe(duck);
    expect(e.message).toContain('Raise GAMESTREAM_DUCKDB_MEMORY_LIMIT');
    expect(e.message).toContain('GAMESTREAM_DUCKDB_MEMORY_LIMIT=128MiB');
    expect(e.message).toContain('its limit of 160 MiB');
    expect(e.message).toContain('200,000 players');
    expect(e.message).not.toContain('Possible solutions');
    expect(m.outOfMemory(new Error('Conversion Error: bad date'), 'warehouse_write_failed', 'x')).toBeNull();
  });
});

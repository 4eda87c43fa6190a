/**
 * DuckDB's memory limit, with room for the users table's key index.
 *
 * DuckDB holds a primary key's index (an ART) in memory while it writes to the table, and counts it against
 * `memory_limit`; it cannot evict it. The users table has one, of about 90 bytes a player (88–92 bytes measured
 * from 0.1 to 3.5 million players, DuckDB 1.5). With the limit at its 128 MiB default, a warehouse of about 1.34
 * million players failed every commit with DuckDB's out-of-memory error, and the daemon stopped. So the limit
 * DuckDB runs with is GAMESTREAM_DUCKDB_MEMORY_LIMIT for its own work plus INDEX_BYTES_PER_USER for every player
 * in the warehouse, raised as players arrive (never lowered: DuckDB keeps what it loaded).
 */
import { GamestreamError, type ErrorCode } from '../../errors.ts';

/** Room in DuckDB's memory for each player in the users table: the measured ~90 bytes of its index, and a quarter more. */
export const INDEX_BYTES_PER_USER = 112;
/** The limit moves in steps of this much, so that a commit that adds a few players does not change it. */
const STEP_BYTES = 16 * 2 ** 20;

const MIB = 2 ** 20;

export class MemoryLimit {
  /** GAMESTREAM_DUCKDB_MEMORY_LIMIT; null: DuckDB's own default (80% of RAM), left alone. */
  private readonly baseBytes: number | null;
  private appliedBytes: number;
  private users = 0;

  constructor(baseBytes: number | null) {
    this.baseBytes = baseBytes;
    this.appliedBytes = baseBytes ?? 0;
  }

  /** The limit for a warehouse of `users` players: the base and their index's room, rounded up to a step. */
  static bytesFor(baseBytes: number, users: number): number {
    const need = baseBytes + users * INDEX_BYTES_PER_USER;
    return need <= baseBytes ? baseBytes : Math.ceil(need / STEP_BYTES) * STEP_BYTES;
  }

  /** The limit DuckDB runs with now (0: its own default). */
  get bytes(): number {
    return this.appliedBytes;
  }

  /**
   * The limit that gives `users` players their room, or null when the limit in force already does. Call
   * `applied()` once DuckDB has taken it.
   */
  raiseFor(users: number): number | null {
    this.users = users;
    if (this.baseBytes === null) return null;
    const want = MemoryLimit.bytesFor(this.baseBytes, users);
    return want > this.appliedBytes ? want : null;
  }

  applied(bytes: number): void {
    this.appliedBytes = bytes;
  }

  /**
   * DuckDB's out-of-memory error as one that names the setting to raise (null when `err` is another error). DuckDB's
   * own text suggests settings of its own that the daemon does not expose.
   */
  outOfMemory(err: unknown, code: ErrorCode, doing: string): GamestreamError | null {
    const msg = (err as Error)?.message ?? String(err);
    if (!/Out of Memory Error/i.test(msg)) return null;
    const first = msg.split('\n')[0]!.trim();
    const limit = this.baseBytes === null
      ? 'its default limit (80% of RAM)'
      : `its limit of ${Math.round(this.appliedBytes / MIB)} MiB (GAMESTREAM_DUCKDB_MEMORY_LIMIT=${Math.round(this.baseBytes / MIB)}MiB, `
        + `plus ${INDEX_BYTES_PER_USER} bytes for each of the ${this.users.toLocaleString('en-US')} players in the users table)`;
    return new GamestreamError(code,
      `${doing}: DuckDB ran out of memory at ${limit}: ${first}. Raise GAMESTREAM_DUCKDB_MEMORY_LIMIT (docs/OPERATIONS.md, "Memory")`,
      { cause: err, retryable: true });
  }
}

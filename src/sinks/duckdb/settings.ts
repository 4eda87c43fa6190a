/** The settings a DuckDB instance of the daemon's opens with (the warehouse's, and `gamestream sql`'s read-only one). */
/**
 * The instance settings the options ask for (DuckDB reads sizes in whole MiB here). DuckDB never downloads an
 * extension on its own: the daemon needs only the built-in ones, and a query sent to POST /sql that names an
 * unknown function must not install anything.
 */
export function duckDbSettings(o: { threads?: number | null; memoryLimitBytes?: number | null; checkpointWalBytes?: number }): Record<string, string> {
  // DuckDB's own checkpoint (at 16 MiB of write-ahead log, its default) ran inside the COMMIT that crossed it,
  // for over a second at 50k events/s, with that commit's rows and the next ones waiting. The daemon checkpoints
  // between commits instead (betweenCommits, CheckpointPolicy); DuckDB's own, four times further out than the
  // daemon's largest log, is left for the commits made outside the committer's loop (the marker commits).
  // DuckDB's allocator (its own jemalloc) kept the pages its loads had freed until later allocations purged them:
  // at the 1M-event runs' peak it held about twice what was allocated. Its background thread returns them as they
  // age; the peak fell by 20–150 MB at no CPU the runs could tell (docs/PERFORMANCE.md, "DuckDB's allocator").
  const settings: Record<string, string> = {
    autoinstall_known_extensions: 'false',
    checkpoint_threshold: `${Math.ceil((4 * (o.checkpointWalBytes ?? CHECKPOINT_WAL_BYTES)) / 1024)}KiB`,
    allocator_background_threads: 'true',
  };
  if (o.threads) settings.threads = String(o.threads);
  if (o.memoryLimitBytes) settings.memory_limit = memoryLimitSetting(o.memoryLimitBytes);
  return settings;
}

/** A memory limit as DuckDB's `memory_limit` takes it, in whole MiB (at start and in `SET memory_limit`). */
export function memoryLimitSetting(bytes: number): string {
  return `${Math.max(1, Math.floor(bytes / 2 ** 20))}MiB`;
}

/**
 * Write-ahead log size at which the daemon checkpoints between commits in any case. About three row groups of
 * the daemon's events (MAX_ROWS_BETWEEN); it is reached first when the other tables or wide rows fill the log.
 */
export const CHECKPOINT_WAL_BYTES = 64 << 20;

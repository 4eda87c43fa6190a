/**
 * The embedded warehouse. One thread (the supervisor's) owns the DuckDB instance: two instances on one file
 * corrupt it. Workers hand over NDJSON row files; DuckDB's native reader loads them in its own threads.
 */
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { ActorRestore, Checkpoint } from '../../contract/checkpoint.ts';
import { GamestreamError } from '../../errors.ts';
import { makeDir } from '../../dirs.ts';
import { CheckpointPolicy } from './checkpoint-policy.ts';
import { corruptError } from './corrupt.ts';
import { EVENTS_COMPRESSION, withCompression } from './compression.ts';
import { MemoryLimit } from './memory-limit.ts';
import { CHECKPOINT_WAL_BYTES, duckDbSettings, memoryLimitSetting } from './settings.ts';
import { GAMESTREAM_VERSION } from '../../version.ts';
import type { CommitBatch, CommittedId, CommittedPosition, IdRange, RestoreRules, UpkeepContext, Warehouse } from '../sink.ts';
import {
  AGG_COLUMNS,
  CHECKPOINT_COLUMNS,
  DLQ_COLUMNS,
  EVENTS_COLUMNS,
  FAILURE_SCHEMA,
  USERS_COLUMNS,
  WATERMARK_COLUMNS,
} from '../tables.ts';
import type { StoredUserState } from '../../users/state.ts';
import { DUCKDB } from '../../etl/dialect.ts';
import { columnsStruct, ddl, sqlList, sqlString } from './sql.ts';

type Cols = readonly (readonly [string, string])[];

/** Ids a query of readUserStates asks for: at most DuckDB's `index_scan_max_count`, so that it keeps to the index. */
const USER_READ_IDS = 2048;

/** Before any event time (an anchor of "none"). */
const NO_TIME = -9e15;

// Keys of the NDJSON row files the workers write (see partition/actor.ts).
const EVENTS_FILE: Cols = [
  ['event_id', 'VARCHAR'], ['user_id', 'VARCHAR'], ['session_id', 'VARCHAR'], ['event_type', 'BIGINT'],
  ['event_name', 'VARCHAR'], ['ts_ms', 'BIGINT'], ['event_date', 'DATE'], ['event_hour', 'INTEGER'],
  ['day_of_week', 'INTEGER'], ['parameters', 'JSON'], ['platform', 'VARCHAR'], ['app_version', 'VARCHAR'],
  ['country', 'VARCHAR'], ['region', 'VARCHAR'], ['city', 'VARCHAR'], ['device_model', 'VARCHAR'],
  ['device_category', 'VARCHAR'], ['device_tier', 'VARCHAR'], ['source_partition', 'INTEGER'], ['source_offset', 'BIGINT'],
  ['is_paying_user', 'BOOLEAN'], ['days_since_install', 'INTEGER'], ['properties', 'JSON'],
];
const USERS_FILE: Cols = [
  ['user_id', 'VARCHAR'], ['install_ms', 'BIGINT'], ['first_seen_ms', 'BIGINT'], ['first_paid_ms', 'BIGINT'], ['source_partition', 'INTEGER'],
];
const EVENTS_INSERT_COLUMNS = EVENTS_COLUMNS.map(([c]) => `"${c}"`).join(', ');
const DLQ_FILE: Cols = [
  ['error_code', 'VARCHAR'], ['error', 'VARCHAR'], ['stage', 'VARCHAR'], ['raw_message', 'VARCHAR'],
  ['raw_encoding', 'VARCHAR'], ['source_partition', 'INTEGER'], ['source_offset', 'BIGINT'], ['received_at_ms', 'BIGINT'],
];
const AGG_FILE: Cols = [
  ['window_start_ms', 'BIGINT'], ['window_end_ms', 'BIGINT'], ['event_type', 'BIGINT'], ['level_id', 'BIGINT'],
  ['event_count', 'BIGINT'], ['source_partition', 'INTEGER'],
];

export interface DuckDbOptions {
  path: string;
  source: string;
  maxEventBytes: number;
  threads?: number | null;
  /** DuckDB's memory_limit, in bytes; null: DuckDB's own default (80% of RAM). */
  memoryLimitBytes?: number | null;
  /** Write-ahead log size at which betweenCommits checkpoints in any case (default CHECKPOINT_WAL_BYTES; tests: less). */
  checkpointWalBytes?: number;
}

export class DuckDbWarehouse implements Warehouse {
  readonly name: string;
  /** One process owns the file: no hand-offs between daemons. */
  readonly shared = null;
  private readonly opts: DuckDbOptions;
  private instance: DuckDBInstance | null = null;
  private conn: DuckDBConnection | null = null;
  /** For reads of user states, which must not queue behind the commits. */
  private reader: DuckDBConnection | null = null;
  /** For the memory gauge, which must neither queue behind the commits nor share the reader with its reads. */
  private monitor: DuckDBConnection | null = null;
  private readonly checkpoints: CheckpointPolicy;
  /** The limit DuckDB runs with: the configured one and room for the users table's index (MemoryLimit). */
  private readonly memory: MemoryLimit;

  constructor(opts: DuckDbOptions) {
    this.opts = opts;
    this.name = `duckdb:${opts.path}`;
    this.checkpoints = new CheckpointPolicy(opts.checkpointWalBytes ?? CHECKPOINT_WAL_BYTES);
    this.memory = new MemoryLimit(opts.memoryLimitBytes ?? null);
  }

  /** The connection's query calls, with DuckDB's reports of a damaged file turned into `warehouse_corrupt`. */
  private get c(): Pick<DuckDBConnection, 'run' | 'runAndReadAll' | 'stream'> {
    const conn = this.conn;
    if (!conn) throw new GamestreamError('warehouse_unavailable', `${this.name} is not open`);
    const damaged = (err: unknown): never => {
      throw corruptError(err, this.opts.path) ?? err;
    };
    return {
      run: (...a: Parameters<DuckDBConnection['run']>) => conn.run(...a).catch(damaged),
      runAndReadAll: (...a: Parameters<DuckDBConnection['runAndReadAll']>) => conn.runAndReadAll(...a).catch(damaged),
      stream: (...a: Parameters<DuckDBConnection['stream']>) => conn.stream(...a).catch(damaged),
    };
  }

  async open(): Promise<void> {
    if (this.conn) return;
    makeDir(dirname(this.opts.path), 'GAMESTREAM_WAREHOUSE');
    try {
      this.instance = await DuckDBInstance.create(this.opts.path, duckDbSettings(this.opts));
      this.conn = await this.instance.connect();
    } catch (err) {
      throw corruptError(err, this.opts.path) ?? new GamestreamError('warehouse_unavailable', `cannot open DuckDB warehouse ${this.opts.path}: ${(err as Error).message}`, { cause: err });
    }
    await this.c.run(ddl('events', withCompression(EVENTS_COLUMNS, EVENTS_COMPRESSION)));
    await this.addNewColumns('events', EVENTS_COLUMNS);
    await this.c.run(ddl('users', USERS_COLUMNS, ', PRIMARY KEY (user_id)'));
    await this.c.run(ddl('events_dlq', DLQ_COLUMNS));
    await this.c.run(ddl('events_agg_1min', AGG_COLUMNS));
    await this.c.run(ddl('gamestream_checkpoints', CHECKPOINT_COLUMNS, ', PRIMARY KEY (source, source_partition)'));
    await this.addNewColumns('gamestream_checkpoints', CHECKPOINT_COLUMNS);
    await this.c.run(ddl('gamestream_watermarks', WATERMARK_COLUMNS, ', PRIMARY KEY (source)'));
    // The per-window answer over all partitions, for dashboards that do not want to sum themselves.
    await this.c.run(`CREATE VIEW IF NOT EXISTS events_agg_1min_total AS
      SELECT window_start, window_end, event_type, level_id, sum(event_count)::BIGINT AS event_count
      FROM events_agg_1min GROUP BY ALL`);
    await this.fitUsers();
  }

  /** Gives DuckDB's memory limit room for the users table's index as it stands (MemoryLimit). */
  private async fitUsers(): Promise<void> {
    const bytes = this.memory.raiseFor(await this.countUsers());
    if (bytes === null) return;
    await this.c.run(`SET memory_limit = '${memoryLimitSetting(bytes)}'`);
    this.memory.applied(bytes);
  }

  /** The memory limit DuckDB runs with now, in bytes (0: DuckDB's own default), for its gauge. */
  memoryLimitBytes(): number {
    return this.memory.bytes;
  }

  /** Columns added since a warehouse may have been created (nullable, so old rows read as "none"). */
  private async addNewColumns(table: string, cols: Cols): Promise<void> {
    for (const [col, type] of cols) {
      if (!type.includes('NOT NULL')) await this.c.run(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS "${col}" ${type}`);
    }
  }

  /**
   * Another connection to the same database, for work that must not queue behind the commits (the daily ETL):
   * DuckDB runs the two concurrently, each in its own transactions.
   */
  async connect(): Promise<DuckDBConnection> {
    if (!this.instance) throw new GamestreamError('warehouse_unavailable', `${this.name} is not open`);
    return this.instance.connect();
  }

  async loadCheckpoints(source: string): Promise<Map<number, Checkpoint>> {
    const r = await this.c.runAndReadAll(
      `SELECT source_partition, next_offset, max_event_ms, watermark_ms, closed_through_ms, events, dead_letters,
              duplicates, late_events, window_rows, provisional_from_ms, provisional_to_ms, last_record_hash, window_size_ms
       FROM gamestream_checkpoints WHERE source = ${sqlString(source)}`,
    );
    const out = new Map<number, Checkpoint>();
    for (const row of r.getRows()) {
      const num = (v: unknown): number => Number(v);
      const opt = (v: unknown): number | null => (v === null ? null : Number(v));
      const cp: Checkpoint = {
        partition: num(row[0]),
        nextOffset: num(row[1]),
        maxEventMs: opt(row[2]),
        watermarkMs: opt(row[3]),
        closedThroughMs: opt(row[4]),
        provisionalFromMs: opt(row[10]),
        provisionalToMs: opt(row[11]),
        events: num(row[5]),
        deadLetters: num(row[6]),
        duplicates: num(row[7]),
        lateEvents: num(row[8]),
        windowRows: num(row[9]),
        lastRecordHash: opt(row[12]),
        windowSizeMs: opt(row[13]),
      };
      out.set(cp.partition, cp);
    }
    return out;
  }

  async identity(): Promise<string> {
    await this.c.run('CREATE TABLE IF NOT EXISTS gamestream_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)');
    await this.c.run(`INSERT OR IGNORE INTO gamestream_meta VALUES ('warehouse_id', ${sqlString(randomUUID())})`);
    const r = await this.c.runAndReadAll(`SELECT value FROM gamestream_meta WHERE key = 'warehouse_id'`);
    return String(r.getRows()[0]![0]);
  }

  async committedPositions(): Promise<CommittedPosition[]> {
    const r = await this.c.runAndReadAll('SELECT source, source_partition, next_offset, max_event_ms FROM gamestream_checkpoints');
    return r.getRows().map((row) => ({
      source: String(row[0]), partition: Number(row[1]), nextOffset: Number(row[2]), maxEventMs: row[3] === null ? null : Number(row[3]),
    }));
  }

  async readCommittedIds(ranges: IdRange[], onRows: (rows: CommittedId[]) => void): Promise<void> {
    if (ranges.length === 0) return;
    const values = ranges.map((r) => `(${sqlString(r.source)}, ${r.partition}, ${r.fromOffset}, ${r.toOffset}, ${r.anchorMs ?? NO_TIME}, ${Math.max(NO_TIME, Math.floor(r.minSeenMs))})`).join(', ');
    // Whole ranges (a local scan): an event's "seen" is the running max of event times in offset order.
    const result = await this.c.stream(
      `SELECT event_id, seen, source, source_partition, source_offset FROM (
         SELECT e.event_id, e.source, e.source_partition, e.source_offset, r.min_seen,
                greatest(r.anchor, max(epoch_ms(e.timestamp)) OVER (PARTITION BY e.source, e.source_partition ORDER BY e.source_offset
                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS seen
         FROM events e JOIN (VALUES ${values}) r(s, p, lo, hi, anchor, min_seen) ON e.source = r.s AND e.source_partition = r.p
         WHERE e.source_offset >= r.lo AND e.source_offset < r.hi)
       WHERE seen >= min_seen`,
    );
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      onRows(chunk.getRows().map((row) => ({
        id: String(row[0]), seenMs: Number(row[1]), source: String(row[2]), partition: Number(row[3]), offset: Number(row[4]),
      })));
    }
  }

  async loadRestore(source: string, checkpoints: Checkpoint[], rules: RestoreRules): Promise<ActorRestore[]> {
    if (checkpoints.length === 0) return [];
    const restores = new Map<number, ActorRestore>();
    const windowCut: string[] = [];
    const provisional: string[] = [];
    for (const cp of checkpoints) {
      restores.set(cp.partition, { checkpoint: cp, windows: [], written: [] });
      windowCut.push(`(${cp.partition}, ${cp.closedThroughMs ?? NO_TIME})`);
      if (cp.provisionalFromMs !== null && cp.provisionalToMs !== null) provisional.push(`(${cp.partition}, ${cp.provisionalFromMs}, ${cp.provisionalToMs})`);
    }
    const src = sqlString(source);
    const size = rules.windowSizeMs;
    const w = await this.c.runAndReadAll(
      `SELECT e.source_partition, (epoch_ms(e.timestamp) // ${size}) * ${size} AS ws, e.event_type,
              ${DUCKDB.levelId} AS level_id, count(*) AS n
       FROM events e JOIN (VALUES ${windowCut.join(', ')}) c(p, closed) ON e.source_partition = c.p
       WHERE e.source = ${src} AND epoch_ms(e.timestamp) >= c.closed
       GROUP BY ALL`,
    );
    for (const row of w.getRows()) {
      restores.get(Number(row[0]))!.windows.push({
        windowStart: Number(row[1]),
        eventType: Number(row[2]),
        levelId: row[3] === null ? null : Number(row[3]),
        count: Number(row[4]),
      });
    }
    if (provisional.length > 0) {
      // Rows of windows written early at an end of input: when those windows close they are rewritten.
      const r = await this.c.runAndReadAll(
        `SELECT a.source_partition, epoch_ms(a.window_start), a.event_type, a.level_id FROM events_agg_1min a
         JOIN (VALUES ${provisional.join(', ')}) c(p, lo, hi) ON a.source_partition = c.p
         WHERE a.source = ${src} AND epoch_ms(a.window_start) >= c.lo AND epoch_ms(a.window_start) < c.hi`,
      );
      for (const row of r.getRows()) {
        restores.get(Number(row[0]))!.written.push({ windowStart: Number(row[1]), eventType: Number(row[2]), levelId: row[3] === null ? null : Number(row[3]) });
      }
    }
    const perPartition = Math.floor(rules.usersPerPartition ?? 0);
    if (perPartition > 0) {
      const r = await this.c.runAndReadAll(
        `SELECT source_partition, user_id, epoch_ms(install_at), epoch_ms(first_seen_at), epoch_ms(first_paid_at) FROM users
         WHERE source = ${src} AND source_partition IN (${checkpoints.map((c) => c.partition).join(', ')})
         QUALIFY row_number() OVER (PARTITION BY source_partition ORDER BY updated_at DESC) <= ${perPartition}`,
      );
      const opt = (v: unknown): number | null => (v === null ? null : Number(v));
      for (const row of r.getRows()) {
        const restore = restores.get(Number(row[0]))!;
        (restore.users ??= []).push({ userId: String(row[1]), installMs: opt(row[2]), firstSeenMs: Number(row[3]), firstPaidMs: opt(row[4]) });
      }
    }
    return [...restores.values()];
  }

  private readRows(files: string[], cols: Cols): string {
    const maxObject = 2 * this.opts.maxEventBytes + (1 << 20);
    return `read_ndjson(${sqlList(files)}, columns = ${columnsStruct(cols)}, format = 'newline_delimited', records = true, maximum_object_size = ${maxObject})`;
  }

  async commit(batch: CommitBatch): Promise<void> {
    const src = sqlString(this.opts.source);
    const events = batch.files.map((f) => f.events).filter((f): f is string => f !== null);
    const dlq = batch.files.map((f) => f.dlq).filter((f): f is string => f !== null);
    const agg = batch.files.map((f) => f.agg).filter((f): f is string => f !== null);
    const aggUpdates = batch.files.map((f) => f.aggUpdates).filter((f): f is string => f !== null);
    const users = batch.files.map((f) => f.users ?? null).filter((f): f is string => f !== null);
    const c = this.c;
    let inserted = 0;
    await c.run('BEGIN TRANSACTION');
    try {
      if (events.length > 0) {
        inserted = (await c.run(`INSERT INTO events (${EVENTS_INSERT_COLUMNS}) SELECT event_id, user_id, session_id, event_type, event_name, epoch_ms(ts_ms),
          event_date, event_hour, day_of_week, parameters, platform, app_version, country, region, city,
          device_model, device_category, device_tier, ${src}, source_partition, source_offset, is_paying_user, days_since_install, properties
          FROM ${this.readRows(events, EVENTS_FILE)}`)).rowsChanged;
      }
      if (users.length > 0) {
        // The earliest of each time wins, so merging a state twice, or an older one, changes nothing.
        await c.run(`INSERT INTO users SELECT user_id, epoch_ms(min(install_ms)), epoch_ms(min(first_seen_ms)), epoch_ms(min(first_paid_ms)),
            ${src}, any_value(source_partition), now()::TIMESTAMP
          FROM ${this.readRows(users, USERS_FILE)} GROUP BY user_id
          ON CONFLICT (user_id) DO UPDATE SET install_at = least(install_at, excluded.install_at),
            first_seen_at = least(first_seen_at, excluded.first_seen_at), first_paid_at = least(first_paid_at, excluded.first_paid_at),
            source = excluded.source, source_partition = excluded.source_partition, updated_at = excluded.updated_at`);
      }
      if (dlq.length > 0) {
        await c.run(`INSERT INTO events_dlq SELECT error_code, error, stage, raw_message, raw_encoding, ${src},
          source_partition, source_offset, epoch_ms(received_at_ms), ${sqlString(GAMESTREAM_VERSION)}, ${sqlString(FAILURE_SCHEMA)}
          FROM ${this.readRows(dlq, DLQ_FILE)}`);
      }
      if (agg.length > 0) {
        await c.run(`INSERT INTO events_agg_1min SELECT epoch_ms(window_start_ms), epoch_ms(window_end_ms), event_type,
          level_id, event_count, ${src}, source_partition FROM ${this.readRows(agg, AGG_FILE)}`);
      }
      if (aggUpdates.length > 0) {
        // Windows written early at an end of input, now closed: their rows get the full counts.
        await c.run(`UPDATE events_agg_1min AS a SET event_count = u.event_count
          FROM ${this.readRows(aggUpdates, AGG_FILE)} AS u
          WHERE a.source = ${src} AND a.source_partition = u.source_partition AND a.window_start = epoch_ms(u.window_start_ms)
            AND a.event_type = u.event_type AND a.level_id IS NOT DISTINCT FROM u.level_id`);
      }
      if (batch.checkpoints.length > 0) {
        const v = (x: number | null): string => (x === null ? 'NULL' : String(x));
        const values = batch.checkpoints.map(
          (cp) =>
            `(${src}, ${cp.partition}, ${cp.nextOffset}, ${v(cp.maxEventMs)}, ${v(cp.watermarkMs)}, ${v(cp.closedThroughMs)}, ` +
            `${cp.events}, ${cp.deadLetters}, ${cp.duplicates}, ${cp.lateEvents}, ${cp.windowRows}, now()::TIMESTAMP, ` +
            `${v(cp.provisionalFromMs)}, ${v(cp.provisionalToMs)}, ${v(cp.lastRecordHash ?? null)}, ${v(cp.windowSizeMs ?? null)})`,
        );
        const cols = CHECKPOINT_COLUMNS.map(([name]) => `"${name}"`).join(', ');
        await c.run(`INSERT OR REPLACE INTO gamestream_checkpoints (${cols}) VALUES ${values.join(', ')}`);
      }
      const wm = batch.engineWatermarkMs === null ? 'NULL' : `epoch_ms(${batch.engineWatermarkMs})`;
      await c.run(`INSERT OR REPLACE INTO gamestream_watermarks VALUES (${src}, ${wm}, ${batch.endOfInput}, now()::TIMESTAMP)`);
      // In the transaction (it sees the players it adds): a failure rolls back, where one after COMMIT would retry
      // a durable commit. DuckDB keeps a setting made in a transaction that rolls back.
      if (users.length > 0) await this.fitUsers();
      await c.run('COMMIT');
      this.checkpoints.committed(inserted);
    } catch (err) {
      await c.run('ROLLBACK').catch(() => undefined);
      throw corruptError(err, this.opts.path) ?? this.memory.outOfMemory(err, 'warehouse_write_failed', 'DuckDB commit failed')
        ?? new GamestreamError('warehouse_write_failed', `DuckDB commit failed: ${(err as Error).message}`, { cause: err, retryable: true });
    }
  }

  /**
   * By the users table's key index, up to USER_READ_IDS ids a query. DuckDB looks ids up in the index only when
   * its join hands the scan the list of ids, which it does for at most `dynamic_or_filter_threshold` of them (50 by
   * default); past that it scanned the whole table: 130 ms for 100 ids in a table of 4M players, against 7 ms by
   * the index (docs/PERFORMANCE.md, "Many players").
   */
  async readUserStates(userIds: string[]): Promise<StoredUserState[]> {
    if (userIds.length === 0) return [];
    if (!this.instance) throw new GamestreamError('warehouse_unavailable', `${this.name} is not open`);
    if (!this.reader) {
      const reader = await this.instance.connect();
      await reader.run(`SET SESSION dynamic_or_filter_threshold = ${USER_READ_IDS}`);
      this.reader = reader;
    }
    const out: StoredUserState[] = [];
    const opt = (v: unknown): number | null => (v === null ? null : Number(v));
    for (let from = 0; from < userIds.length; from += USER_READ_IDS) {
      const r = await this.reader.runAndReadAll(
        `SELECT user_id, epoch_ms(install_at), epoch_ms(first_seen_at), epoch_ms(first_paid_at) FROM users
         WHERE user_id IN (SELECT unnest(${sqlList(userIds.slice(from, from + USER_READ_IDS))}))`,
      ).catch((err: unknown) => {
        throw corruptError(err, this.opts.path) ?? this.memory.outOfMemory(err, 'warehouse_unavailable', `reading user states from ${this.name} failed`)
          ?? new GamestreamError('warehouse_unavailable', `reading user states from ${this.name} failed: ${(err as Error).message}`, { cause: err, retryable: true });
      });
      for (const row of r.getRows()) out.push({ userId: String(row[0]), installMs: opt(row[1]), firstSeenMs: Number(row[2]), firstPaidMs: opt(row[3]) });
    }
    return out;
  }

  /** What DuckDB's buffer manager holds now, over every connection (its table data, indexes, query state). */
  async memoryBytes(): Promise<number> {
    if (!this.instance) throw new GamestreamError('warehouse_unavailable', `${this.name} is not open`);
    this.monitor ??= await this.instance.connect();
    const r = await this.monitor.runAndReadAll('SELECT sum(memory_usage_bytes)::BIGINT FROM duckdb_memory()');
    return Number(r.getRows()[0]![0] ?? 0);
  }

  async countUsers(): Promise<number> {
    const r = await this.c.runAndReadAll('SELECT count(*) FROM users');
    return Number(r.getRows()[0]![0]);
  }

  async readUserIds(only: { source: string; partitions: number[] } | null, onIds: (ids: string[]) => void): Promise<void> {
    if (only && only.partitions.length === 0) return;
    const where = only ? `WHERE source = ${sqlString(only.source)} AND source_partition IN (${only.partitions.join(', ')})` : '';
    const result = await this.c.stream(`SELECT user_id FROM users ${where}`);
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      onIds(chunk.getRows().map((row) => String(row[0])));
    }
  }

  /**
   * Checkpoints when CheckpointPolicy says so: once the events rows since the last checkpoint end in a row group
   * that DuckDB will not merge again, or the write-ahead log has reached CHECKPOINT_WAL_BYTES. Open reads and
   * writes on other connections did not stop it (DuckDB 1.5); should DuckDB refuse because another transaction
   * writes, a later call tries again. Any other failure (a full disk, a damaged file) leaves DuckDB unusable: it
   * is thrown, with its cause, and the daemon stops; the commit before it is durable. A checkpoint that is not
   * forced lets the next commit go first when it carries closed windows (CheckpointPolicy).
   */
  async betweenCommits(next: UpkeepContext = { windowsWaiting: false }): Promise<void> {
    if (!this.conn || !this.checkpoints.due(walBytes(this.opts.path), next.windowsWaiting)) return;
    try {
      await this.c.run('CHECKPOINT');
      this.checkpoints.checkpointed();
    } catch (err) {
      if (err instanceof GamestreamError) throw err;
      const msg = (err as Error).message;
      if (/other (write )?transactions/i.test(msg)) return;
      throw new GamestreamError('warehouse_write_failed', `DuckDB could not checkpoint ${this.opts.path}: ${msg}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.reader?.closeSync();
    this.monitor?.closeSync();
    this.reader = this.monitor = null;
    if (this.conn) {
      await this.conn.run('CHECKPOINT').catch(() => undefined);
      this.conn.closeSync();
    }
    this.instance?.closeSync();
    this.conn = null;
    this.instance = null;
  }
}

function walBytes(path: string): number {
  try {
    return statSync(`${path}.wal`).size;
  } catch {
    return 0;
  }
}

/**
 * The production warehouse: Google BigQuery, rows through the Storage Write API, DDL and reads through REST.
 *
 * Exactly-once across crashes, with BigQuery committing atomically only per table:
 *   1. every table's rows go to new PENDING streams, which are finalized (invisible, repeatable);
 *   2. the commit's rows in `gamestream_commits` (one append, applied whole) name those streams and the
 *      checkpoints they reach: the commit point;
 *   3. each table's streams are committed (BatchCommitWriteStreams, atomic per table).
 * A crash before 2 leaves streams nobody commits (BigQuery drops them); the restart replays. A crash after 2 is
 * rolled forward: loading the checkpoints first commits the streams of each partition's latest commit row,
 * and BigQuery answers "already committed" for those that were. Kafka offsets move only after step 3.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { BigQuery } from '@google-cloud/bigquery';
import type { ActorRestore, Checkpoint } from '../../contract/checkpoint.ts';
import { levelIdOf } from '../../contract/rules.ts';
import { GamestreamError } from '../../errors.ts';
import { GAMESTREAM_VERSION } from '../../version.ts';
import type { CommitBatch, CommittedId, CommittedPosition, IdRange, RestoreRules, Warehouse } from '../sink.ts';
import { FAILURE_SCHEMA } from '../tables.ts';
import { createClients, quotedDataset, runQuery, withRetries, type BigQueryClients, type BigQueryTarget, type RetryPolicy } from './client.ts';
import { ensureSchema, type DdlStep, type DdlReport, type TableOptions } from './ddl.ts';
import { EncodePool } from './encode-pool.ts';
import { concatEncoded, encodeObjects, rowCodec, type BadRow, type RowObject } from './rows.ts';
import { AGG_TABLE, COMMITS_TABLE, DLQ_TABLE, ENGINE_TABLES, EVENTS_TABLE, latestPerPartition, USER_STATES_TABLE } from './tables.ts';
import type { StoredUserState } from '../../users/state.ts';
import { commitStreams, TableWriter, type WriterContext } from './table-writer.ts';
import { committedPositions, countUsers, readCommittedIds, readRecentUsers, readUserIds, readUserStates, warehouseIdentity, type IdReads } from './id-reads.ts';
import { PartitionLeases } from './partition-leases.ts';
import { checkpointColumns, checkpointOf, CHECKPOINT_COLUMNS, readWindowUpdates, recordOf, streamsByTable, windowUpdateSql, type RecordToFinish, type WindowUpdate } from './commit-log.ts';

export interface BigQueryOptions {
  target: BigQueryTarget;
  source: string;
  tables: TableOptions;
  /** Parallel streams per table per commit. */
  writers: number;
  /** Threads that encode rows (0: the calling thread). */
  encodeThreads: number;
  maxRequestBytes: number;
  timeoutMs: number;
  /** How long transient failures are retried before the commit fails (Infinity: until stopped). */
  retryForMs: number;
  onRetry?: (what: string, err: unknown, attempt: number) => void;
  onRejected?: (table: string, rows: number) => void;
  onDdl?: (report: DdlReport) => void;
  /** This daemon's consumer-group member id, recorded with its commits (null without a group). */
  member?: () => string | null;
  /** After each clean-up of the commit log: rows deleted, or why it failed (the log then just stays longer). */
  onCompacted?: (rows: number, err: Error | null) => void;
  /** Tests: SIGKILL this process right after the n-th commit record (0: never). */
  killAfterCommitRecord?: number;
  /** Tests: SIGSTOP this process right before the n-th commit record is appended (0: never). */
  stopBeforeCommitRecord?: number;
}

const DAY_MS = 86_400_000;

export class BigQueryWarehouse implements Warehouse {
  readonly name: string;
  /** Hand-offs and the fence between the daemons of a group, through the commit log. */
  readonly shared: PartitionLeases;
  private readonly o: BigQueryOptions;
  private clients: BigQueryClients | null = null;
  private ctx: WriterContext | null = null;
  private writers: { events: TableWriter; dlq: TableWriter; agg: TableWriter; commits: TableWriter; users: TableWriter } | null = null;
  private encoder: EncodePool | null = null;
  private readonly writerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private closing = false;
  private compactTimer: NodeJS.Timeout | null = null;
  private commitRecords = 0;
  /** Other daemons' commits this one finished (rolled forward): their rows are visible. */
  private readonly finished = new Set<string>();

  constructor(o: BigQueryOptions) {
    this.o = o;
    this.name = `bigquery:${o.target.project}.${o.target.dataset}`;
    this.shared = new PartitionLeases({
      ds: this.ds, query: (sql, params) => this.query(sql, params), writerId: this.writerId, member: () => this.o.member?.() ?? null,
      commits: () => this.writers?.commits ?? null, closing: () => this.closing,
    });
  }

  private get opened(): BigQueryClients {
    if (!this.clients) throw new GamestreamError('warehouse_unavailable', `${this.name} is not open`);
    return this.clients;
  }
  /** The REST client for the ETL and the status page, with the library's own retries; `ebq`: the engine's (createClients). */
  get bq(): BigQuery { return this.opened.bq; }
  private get ebq(): BigQuery { return this.opened.engineBq; }

  private get ds(): string {
    return quotedDataset(this.o.target);
  }

  private retryPolicy(): RetryPolicy {
    return {
      baseDelayMs: 200,
      maxDelayMs: 10_000,
      giveUpAfterMs: this.o.retryForMs,
      stopped: () => this.closing,
      onRetry: (what, err, attempt) => this.o.onRetry?.(what, err, attempt),
    };
  }

  async open(): Promise<void> {
    if (this.clients) return;
    this.closing = false;
    this.clients = createClients(this.o.target);
    const retry = this.retryPolicy();
    this.ctx = {
      writer: this.clients.writer, target: this.o.target, retry, timeoutMs: this.o.timeoutMs,
      maxRequestBytes: this.o.maxRequestBytes, parallel: this.o.writers, inflight: 4,
    };
    const tw = (spec: typeof EVENTS_TABLE): TableWriter => new TableWriter(this.ctx!, spec, rowCodec(spec));
    this.writers = { events: tw(EVENTS_TABLE), dlq: tw(DLQ_TABLE), agg: tw(AGG_TABLE), commits: tw(COMMITS_TABLE), users: tw(USER_STATES_TABLE) };
    this.encoder = new EncodePool(this.o.encodeThreads);
    try {
      // Each table on its own retries; a schema that does not fit is no transient failure and comes out as it is.
      const step: DdlStep = (what, fn) => withRetries(what, retry, fn).catch((e: unknown) => {
        const cause = (e as { cause?: { code?: string } }).cause;
        throw cause?.code === 'warehouse_schema_mismatch' ? cause : e;
      });
      const report = await ensureSchema(this.ebq, this.o.target, ENGINE_TABLES, this.o.tables, true, step);
      this.o.onDdl?.(report);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'warehouse_schema_mismatch') throw err;
      const inner = (err as { cause?: Error }).cause ?? err;
      throw new GamestreamError('warehouse_unavailable', `cannot open BigQuery warehouse ${this.name}: ${(inner as Error).message}`, { cause: err });
    }
    // The commit log grows by a row per partition per commit: old rows no partition needs go at start and
    // every six hours, in the background.
    const compact = (): void => {
      this.compactCommitLog().then((n) => this.o.onCompacted?.(n, null), (err: Error) => this.o.onCompacted?.(0, err));
    };
    compact();
    this.compactTimer = setInterval(compact, 6 * 3_600_000);
    this.compactTimer.unref();
  }

  private async query(sql: string, params?: Record<string, unknown>): Promise<Record<string, unknown>[]> {
    return withRetries('querying', this.retryPolicy(), () => runQuery(this.ebq, sql, { params, location: this.o.target.location }));
  }

  async loadCheckpoints(source: string, finish?: number[]): Promise<Map<number, Checkpoint>> {
    const rows = await this.query(latestPerPartition(this.ds, CHECKPOINT_COLUMNS, { where: 'source = @source' }), { source });
    // A partition just claimed: its latest record is finished, whoever wrote it. Any other: unless another daemon
    // has claimed one of its partitions since (partition-leases.ts, contested()).
    const finishing = finish ? new Set(finish) : null;
    const withStreams = rows.filter((r) => ((r.streams as string[] | null) ?? []).length > 0).map((r) => String(r.commit_id));
    const contested = finishing ? await this.shared.contested([...new Set(withStreams)]) : new Set<string>();
    await this.rollForward(source, rows
      .filter((r) => !finishing || finishing.has(Number(r.source_partition)) || !contested.has(String(r.commit_id)))
      .map(recordOf));
    return new Map(rows.map((r) => [Number(r.source_partition), checkpointOf(r)]));
  }

  /**
   * Finishes step 3 of any commit whose record landed: committing a committed stream is a no-op, and the window
   * rows a commit rewrites are set to absolute counts, so setting them again changes nothing.
   */
  private async rollForward(source: string, records: RecordToFinish[]): Promise<void> {
    await Promise.all([...streamsByTable(records)].map(([table, streams]) => commitStreams(this.ctx!, table, streams)));
    await this.applyWindowUpdates(source, records.flatMap((c) => c.updates.map((u) => ({ p: c.partition, u }))));
    for (const r of records) this.finished.add(r.commitId);
  }

  /** Rewrites window rows written early at an end of input with their final counts (one DML statement). */
  private async applyWindowUpdates(source: string, updates: { p: number; u: WindowUpdate }[]): Promise<void> {
    if (updates.length > 0) await this.query(windowUpdateSql(this.ds, updates), { source });
  }

  identity(): Promise<string> {
    return warehouseIdentity(this.idReads());
  }

  committedPositions(): Promise<CommittedPosition[]> {
    return committedPositions(this.idReads(), async (records) => {
      const open = records.filter((r) => r.writer !== this.writerId && !this.finished.has(r.commitId)).map((r) => r.commitId);
      return this.shared.contested(open);
    });
  }

  readCommittedIds(ranges: IdRange[], onRows: (rows: CommittedId[]) => void): Promise<void> {
    return readCommittedIds(this.idReads(), ranges, onRows);
  }

  readUserStates(userIds: string[]): Promise<StoredUserState[]> {
    return readUserStates(this.idReads(), userIds);
  }

  countUsers(): Promise<number> {
    return countUsers(this.idReads());
  }

  readUserIds(only: { source: string; partitions: number[] } | null, onIds: (ids: string[]) => void): Promise<void> {
    return readUserIds(this.idReads(), only, onIds);
  }

  private idReads(): IdReads {
    return { bq: this.ebq, target: this.o.target, ds: this.ds, retry: this.retryPolicy(), query: (sql) => this.query(sql) };
  }

  async loadRestore(source: string, checkpoints: Checkpoint[], rules: RestoreRules): Promise<ActorRestore[]> {
    if (checkpoints.length === 0) return [];
    const restores = new Map<number, ActorRestore>();
    const cuts: { p: number; closed: number }[] = [];
    const provisional: string[] = [];
    for (const cp of checkpoints) {
      restores.set(cp.partition, { checkpoint: cp, windows: [], written: [] });
      if (cp.provisionalFromMs !== null && cp.provisionalToMs !== null) {
        provisional.push(`STRUCT(${cp.partition} AS p, ${cp.provisionalFromMs} AS lo, ${cp.provisionalToMs} AS hi)`);
      }
      cuts.push({ p: cp.partition, closed: cp.closedThroughMs ?? -9e15 });
    }
    // One scan of the recent events of these partitions; the partition filter keeps it to the days involved.
    const lowest = Math.min(...cuts.map((c) => c.closed));
    const fromDay = new Date(Math.max(0, Math.floor(lowest / DAY_MS) * DAY_MS)).toISOString().slice(0, 10);
    const cutList = cuts.map((c) => `STRUCT(${c.p} AS p, ${c.closed} AS closed)`).join(', ');
    const rows = await this.query(
      `SELECT e.source_partition AS p, UNIX_MILLIS(e.timestamp) AS ms, e.event_type, TO_JSON_STRING(e.parameters) AS params
       FROM ${this.ds}.events e JOIN UNNEST([${cutList}]) c ON e.source_partition = c.p
       WHERE e.source = @source AND e.event_date >= DATE '${fromDay}' AND UNIX_MILLIS(e.timestamp) >= c.closed`,
      { source },
    );
    const size = rules.windowSizeMs;
    const windows = new Map<string, { p: number; windowStart: number; eventType: number; levelId: number | null; count: number }>();
    for (const r of rows) {
      const p = Number(r.p);
      const ms = Number(r.ms);
      const params = r.params === null || r.params === undefined ? null : (JSON.parse(String(r.params)) as Record<string, unknown> | null);
      const lv = params && typeof params === 'object' && Object.hasOwn(params, 'level_id') ? params.level_id : undefined;
      const levelId = levelIdOf(lv);
      const windowStart = Math.floor(ms / size) * size;
      const eventType = Number(r.event_type);
      const key = `${p}|${windowStart}|${eventType}|${levelId}`;
      const w = windows.get(key);
      if (w) w.count++;
      else windows.set(key, { p, windowStart, eventType, levelId, count: 1 });
    }
    for (const w of windows.values()) {
      restores.get(w.p)!.windows.push({ windowStart: w.windowStart, eventType: w.eventType, levelId: w.levelId, count: w.count });
    }
    if (provisional.length > 0) {
      // Rows of windows written early at an end of input: when those windows close they are rewritten.
      const lo = Math.min(...checkpoints.map((c) => c.provisionalFromMs ?? Infinity));
      const hi = Math.max(...checkpoints.map((c) => c.provisionalToMs ?? -Infinity));
      const written = await this.query(
        `SELECT a.source_partition AS p, UNIX_MILLIS(a.window_start) AS ws, a.event_type, a.level_id
         FROM ${this.ds}.events_agg_1min a JOIN UNNEST([${provisional.join(', ')}]) c ON a.source_partition = c.p
         WHERE a.source = @source AND a.window_start >= TIMESTAMP_MILLIS(${lo}) AND a.window_start < TIMESTAMP_MILLIS(${hi})
           AND UNIX_MILLIS(a.window_start) >= c.lo AND UNIX_MILLIS(a.window_start) < c.hi`,
        { source },
      );
      for (const r of written) {
        restores.get(Number(r.p))!.written.push({
          windowStart: Number(r.ws), eventType: Number(r.event_type), levelId: r.level_id === null || r.level_id === undefined ? null : Number(r.level_id),
        });
      }
    }
    for (const u of await readRecentUsers(this.idReads(), source, checkpoints.map((c) => c.partition), rules.usersPerPartition ?? 0)) {
      (restores.get(u.partition)!.users ??= []).push(u.state);
    }
    return [...restores.values()];
  }

  async commit(batch: CommitBatch): Promise<void> {
    const w = this.writers;
    if (!w || !this.ctx) throw new GamestreamError('warehouse_unavailable', `${this.name} is not open`);
    const src = this.o.source;
    const pick = (k: 'events' | 'dlq' | 'agg' | 'users'): string[] => batch.files.map((f) => f[k] ?? null).filter((f): f is string => f !== null);
    const task = { source: src, version: GAMESTREAM_VERSION, failureSchema: FAILURE_SCHEMA };
    const pool = this.encoder!;
    const [events, agg, dlqObjects, users] = await Promise.all([
      pool.encode({ ...task, table: 'events', paths: pick('events') }),
      pool.encode({ ...task, table: 'agg', paths: pick('agg') }),
      pool.encode({ ...task, table: 'dlq', paths: pick('dlq') }),
      pool.encode({ ...task, table: 'users', paths: pick('users') }),
    ]);
    if (users.bad.length > 0) throw new GamestreamError('internal', `cannot encode a user state: ${users.bad[0]!.reason}`);

    // 1. Rows to PENDING streams. Rows BigQuery refuses become dead letters, so they are never dropped.
    const [ev, ag, us] = await Promise.all([w.events.writePending(events), w.agg.writePending(agg), w.users.writePending(users)]);
    if (us.rejected.length > 0) throw new GamestreamError('warehouse_write_failed', `BigQuery refused ${us.rejected.length} user state row(s) (first: ${us.rejected[0]!.reason}); nothing was committed`);
    const refused = [
      ...events.bad.map((b) => this.refusal('events', b)), ...ev.rejected.map((b) => this.refusal('events', b)),
      ...agg.bad.map((b) => this.refusal('events_agg_1min', b)), ...ag.rejected.map((b) => this.refusal('events_agg_1min', b)),
    ];
    const rejected = [['events', events.bad.length + ev.rejected.length], ['events_agg_1min', agg.bad.length + ag.rejected.length]] as const;
    let dlqRows = dlqObjects;
    if (refused.length > 0) {
      dlqRows = concatEncoded(dlqObjects, encodeObjects(refused, w.dlq.codec));
    }
    const dl = await w.dlq.writePending(dlqRows);
    const lostDeadLetters = [...dlqRows.bad, ...dl.rejected];
    if (lostDeadLetters.length > 0) {
      throw new GamestreamError('warehouse_write_failed',
        `BigQuery refused ${lostDeadLetters.length} dead-letter row(s) (first: ${lostDeadLetters[0]!.reason}); nothing was committed`);
    }

    // Window rows this commit rewrites (provisional windows that closed), per partition, for the commit record.
    const updates = readWindowUpdates(batch.files.map((f) => f.aggUpdates).filter((f): f is string => f !== null));

    // 2. The commit record: from here on the batch is durable, and a restart finishes step 3.
    const streams = [...ev.streams, ...ag.streams, ...dl.streams, ...us.streams];
    const common: RowObject = {
      commit_id: randomUUID(),
      source: src,
      writer: this.writerId,
      member: this.o.member?.() ?? null,
      committed_at: Date.now() * 1000,
      streams,
      engine_watermark: batch.engineWatermarkMs === null ? null : batch.engineWatermarkMs * 1000,
      end_of_input: batch.endOfInput,
    };
    const records: RowObject[] = batch.checkpoints.map((cp) => ({
      ...common, ...checkpointColumns(cp), window_updates: updates.has(cp.partition) ? JSON.stringify(updates.get(cp.partition)) : null,
      claim_epoch: this.shared.epochOf(src, cp.partition),
    }));
    for (const p of updates.keys()) {
      if (!batch.checkpoints.some((c) => c.partition === p)) throw new GamestreamError('internal', `window rows of partition ${p} to rewrite without its checkpoint in the commit`);
    }
    if (records.length === 0) records.push({ ...common });
    const enc = encodeObjects(records, w.commits.codec);
    if (enc.bad.length > 0) throw new GamestreamError('internal', `cannot encode the commit record: ${enc.bad[0]!.reason}`);
    if (this.commitRecords + 1 === this.o.stopBeforeCommitRecord) process.kill(process.pid, 'SIGSTOP');
    await w.commits.appendDefault(enc);
    if (++this.commitRecords === this.o.killAfterCommitRecord) process.kill(process.pid, 'SIGKILL');
    // Checked once the record has landed, not before: a daemon that stalled past its group session between a
    // check and its append would otherwise make rows visible that the partitions' new owner writes again. Its
    // record, if it landed after the new owner's claim, ranks below the new owner's rows (partition-leases.ts).
    await batch.fence?.();
    // Reported once the batch is durable: an attempt that failed before and was retried refused the same rows.
    for (const [table, n] of rejected) if (n > 0) this.o.onRejected?.(table, n);

    // 3. Make the rows visible, table by table, then rewrite the window rows.
    await Promise.all([
      commitStreams(this.ctx, EVENTS_TABLE.name, ev.streams),
      commitStreams(this.ctx, AGG_TABLE.name, ag.streams),
      commitStreams(this.ctx, DLQ_TABLE.name, dl.streams),
      commitStreams(this.ctx, USER_STATES_TABLE.name, us.streams),
    ]);
    await this.applyWindowUpdates(src, [...updates].flatMap(([p, list]) => list.map((u) => ({ p, u }))));
  }


  private refusal(table: string, b: BadRow): RowObject {
    const r = b.row;
    return {
      error_code: 'warehouse_rejected',
      error: `BigQuery refused the ${table} row: ${b.reason}`.slice(0, 10_000),
      stage: 'warehouse',
      raw_message: JSON.stringify(r),
      raw_encoding: 'utf8',
      source: this.o.source,
      source_partition: r.source_partition ?? -1,
      source_offset: r.source_offset ?? -1,
      received_at: Date.now() * 1000,
      gamestream_version: GAMESTREAM_VERSION,
      failure_schema: FAILURE_SCHEMA,
    };
  }

  /**
   * Deletes commit records that no partition needs any more: older than two days (out of the streaming
   * buffer, where DML may not touch rows) and not the latest of any partition: neither the latest with a
   * position nor the latest at all (a claim, which the next claim's epoch must exceed).
   */
  async compactCommitLog(olderThanDays = 2): Promise<number> {
    const [job] = await this.ebq.createQueryJob({
      query: `DELETE FROM ${this.ds}.gamestream_commits
        WHERE committed_at < TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${Math.max(0, Math.floor(olderThanDays))} DAY)
          AND commit_id NOT IN (${latestPerPartition(this.ds, 'commit_id', { by: 'source, source_partition' })})
          AND commit_id NOT IN (${latestPerPartition(this.ds, 'commit_id', { by: 'source, source_partition', claims: true })})`,
    });
    await job.getQueryResults();
    const [md] = await job.getMetadata();
    return Number((md.statistics?.query as { numDmlAffectedRows?: string } | undefined)?.numDmlAffectedRows ?? 0);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.compactTimer = null;
    this.clients?.writer.close();
    await this.encoder?.close();
    this.encoder = null;
    this.clients = null;
    this.writers = null;
    this.ctx = null;
  }
}

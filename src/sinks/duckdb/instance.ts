/**
 * The daemon's one DuckDB instance and its named connections, reopened from time to time.
 *
 * Why reopen: DuckDB keeps the metadata of every row group it has written or read in memory until the database is
 * closed, with no way to unload it (DuckDB 1.5). Measured alone, with the events table's columns: about 1.3 bytes
 * per row written, so a daemon at 50k events/s would gain about 5 GB a day. Closing the instance and opening it
 * again frees it, in about 150 ms after a checkpoint (docs/OPERATIONS.md, "Memory").
 *
 * Every query runs inside use(), which a reopen waits for, and which waits for a reopen: a reopen happens only
 * when no connection is in use, so no query is ever cut. A connection handed out raw by pin() keeps the instance
 * alive, so once one is, the instance is never reopened.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { GamestreamError } from '../../errors.ts';
import { corruptError } from './corrupt.ts';

/** Runs `fn` with a connection; how callers outside the warehouse reach DuckDB. */
export type WithConnection = <T>(fn: (conn: DuckDBConnection) => Promise<T>) => Promise<T>;

/** How long a reopen waits for a lock another process took in the moment the file was closed. */
const RELOCK_WAIT_MS = 30_000;
const RELOCK_RETRY_MS = 100;

export class ReopenableInstance {
  private instance: DuckDBInstance | null = null;
  private readonly conns = new Map<string, DuckDBConnection>();
  private inUse = 0;
  private pinned = false;
  private reopening: Promise<void> | null = null;
  private reopenCount = 0;
  private readonly path: string;
  private readonly settings: Record<string, string>;
  private readonly relockWaitMs: number;
  private readonly whileClosed: (() => Promise<void>) | null;

  /** `whileClosed` runs in a reopen between the close and the open (tests: another process takes the file). */
  constructor(path: string, settings: Record<string, string>, relockWaitMs = RELOCK_WAIT_MS, whileClosed: (() => Promise<void>) | null = null) {
    this.path = path;
    this.settings = settings;
    this.relockWaitMs = relockWaitMs;
    this.whileClosed = whileClosed;
  }

  get isOpen(): boolean {
    return this.instance !== null;
  }

  /** How many times the instance was reopened since open(). */
  get reopens(): number {
    return this.reopenCount;
  }

  async open(): Promise<void> {
    if (this.instance) return;
    try {
      this.instance = await DuckDBInstance.create(this.path, this.settings);
    } catch (err) {
      throw corruptError(err, this.path) ?? new GamestreamError('warehouse_unavailable', `cannot open DuckDB warehouse ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Runs `fn` on the connection called `name`, made on its first use; a reopen waits for it to end. */
  async use<T>(name: string, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    while (this.reopening) await this.reopening;
    const instance = this.instance;
    if (!instance) throw new GamestreamError('warehouse_unavailable', `the DuckDB warehouse ${this.path} is not open`);
    this.inUse++;
    try {
      let conn = this.conns.get(name);
      if (!conn) {
        conn = await instance.connect();
        this.conns.set(name, conn);
      }
      return await fn(conn);
    } finally {
      this.inUse--;
    }
  }

  /** `use` bound to one connection name. */
  connection(name: string): WithConnection {
    return (fn) => this.use(name, fn);
  }

  /** Interrupts what the connection called `name` runs, if it is open. */
  interrupt(name: string): void {
    this.conns.get(name)?.interrupt();
  }

  /** A connection the caller owns and closes. The instance is never reopened after this. */
  async pin(): Promise<DuckDBConnection> {
    while (this.reopening) await this.reopening;
    if (!this.instance) throw new GamestreamError('warehouse_unavailable', `the DuckDB warehouse ${this.path} is not open`);
    this.pinned = true;
    return this.instance.connect();
  }

  /**
   * Closes the instance and opens it again, if no connection is in use (else false: the caller tries later).
   * Checkpoint first: closing checkpoints, and should take no longer than a small one.
   */
  async reopen(): Promise<boolean> {
    if (!this.instance || this.inUse > 0 || this.reopening || this.pinned) return false;
    let done!: () => void;
    this.reopening = new Promise<void>((resolve) => (done = resolve));
    try {
      this.closeAll();
      await this.whileClosed?.();
      this.instance = await this.openAgain();
      this.reopenCount++;
      return true;
    } finally {
      this.reopening = null;
      done();
    }
  }

  /** DuckDB's file lock is released while the file is closed: another process may have taken it meanwhile. */
  private async openAgain(): Promise<DuckDBInstance> {
    const until = Date.now() + this.relockWaitMs;
    for (;;) {
      try {
        return await DuckDBInstance.create(this.path, this.settings);
      } catch (err) {
        const msg = (err as Error).message;
        const locked = /lock/i.test(msg);
        if (locked && Date.now() < until) {
          await new Promise((r) => setTimeout(r, RELOCK_RETRY_MS));
          continue;
        }
        throw corruptError(err, this.path) ?? new GamestreamError('warehouse_unavailable',
          locked
            ? `another process took the lock of ${this.path} while the daemon reopened it (to free DuckDB's metadata) and held it for ${this.relockWaitMs / 1000}s: stop that process (while the daemon runs, query it with 'gamestream sql' and run the ETL with GAMESTREAM_ETL=on), then restart the daemon, which resumes from its last commit: ${msg}`
            : `cannot reopen the DuckDB warehouse ${this.path}: ${msg}`,
          { cause: err });
      }
    }
  }

  private closeAll(): void {
    for (const conn of this.conns.values()) conn.closeSync();
    this.conns.clear();
    this.instance?.closeSync();
    this.instance = null;
  }

  async close(): Promise<void> {
    while (this.reopening) await this.reopening;
    this.closeAll();
  }
}

/** The daily ETL's way into the DuckDB warehouse (etl/warehouse.ts says what an EtlWarehouse must do). */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { GamestreamError } from '../../errors.ts';
import { DUCKDB } from '../../etl/dialect.ts';
import { ensureEtlTables, serialQueue, type EtlWarehouse } from '../../etl/warehouse.ts';

/** BIGINT arrives as bigint; the ETL's numbers all fit a double, and tests compare plain numbers. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  return v;
}

/**
 * Over a connection the caller owns. Calls are queued: the DAG runs tasks in parallel, and a transaction sent
 * as one exec must not have another task's statement land inside it.
 */
export function duckdbEtlWarehouse(conn: DuckDBConnection): EtlWarehouse {
  const serial = serialQueue();
  return {
    query: (sql) => serial(async () => {
      const r = await conn.runAndReadAll(sql);
      return r.getRowObjectsJS().map((row) => {
        const out: Record<string, unknown> = {};
        for (const [k, val] of Object.entries(row)) out[k] = plain(val);
        return out;
      });
    }),
    dialect: DUCKDB,
    exec: (sql) => serial(async () => {
      try {
        await conn.run(sql);
      } catch (err) {
        // A failed statement leaves DuckDB's transaction open but aborted; close it within this same call so
        // the connection is usable by the next caller (the engine's commit, in the daemon).
        if (/^\s*BEGIN/i.test(sql)) await conn.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    }),
  };
}

/**
 * For `gamestream etl` outside the daemon: opens the DuckDB file itself (so no daemon may hold it: DuckDB allows
 * one process per file), checks it is a gamestream warehouse, and makes the ETL's tables.
 */
export async function openDuckDbEtl(path: string): Promise<{ wh: EtlWarehouse; close(): void }> {
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(path);
  } catch (err) {
    const msg = (err as Error).message;
    if (/lock/i.test(msg)) {
      throw new GamestreamError('warehouse_unavailable',
        `${path} is locked by another process (is the gamestream daemon running on it? stop it first; while it runs, its own ETL (GAMESTREAM_ETL=on) and 'gamestream sql' work on it): ${msg}`, { cause: err });
    }
    throw new GamestreamError('warehouse_unavailable', `cannot open DuckDB warehouse ${path}: ${msg}`, { cause: err });
  }
  const conn = await instance.connect();
  const wh = duckdbEtlWarehouse(conn);
  const close = (): void => {
    conn.closeSync();
    instance.closeSync();
  };
  const [r] = await wh.query(`SELECT count(*) AS n FROM duckdb_tables() WHERE table_name IN ('events', 'events_dlq', 'gamestream_watermarks')`);
  if (Number(r.n) < 3) {
    close();
    throw new GamestreamError('warehouse_unavailable', `${path} has no gamestream tables: run the daemon on it first`);
  }
  await ensureEtlTables(wh);
  return { wh, close };
}

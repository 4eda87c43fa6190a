/** The daily ETL's way into the DuckDB warehouse (etl/warehouse.ts says what an EtlWarehouse must do). */
import type { DuckDBConnection } from '@duckdb/node-api';
import { DUCKDB } from '../../etl/dialect.ts';
import { serialQueue, type EtlWarehouse } from '../../etl/warehouse.ts';

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

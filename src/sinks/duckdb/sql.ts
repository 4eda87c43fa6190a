/** SQL text helpers for DuckDB. */
import { DUCKDB } from '../../etl/dialect.ts';

/** A string literal (the ETL's DuckDB dialect spells it once). */
export function sqlString(s: string): string {
  return DUCKDB.str(s);
}

export function sqlList(items: string[]): string {
  return `[${items.map(sqlString).join(', ')}]`;
}

export function columnsStruct(cols: readonly (readonly [string, string])[]): string {
  return `{${cols.map(([name, type]) => `${sqlString(name)}: ${sqlString(type)}`).join(', ')}}`;
}

/** CREATE TABLE IF NOT EXISTS with these column definitions, and `extra` (a key) after them. */
export function ddl(table: string, cols: readonly (readonly [string, string])[], extra = ''): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (${cols.map(([c, t]) => `"${c}" ${t}`).join(', ')}${extra})`;
}

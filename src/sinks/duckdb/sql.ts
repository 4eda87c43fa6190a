/** SQL text helpers for DuckDB. */

export function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

export function sqlList(items: string[]): string {
  return `[${items.map(sqlString).join(', ')}]`;
}

export function columnsStruct(cols: readonly (readonly [string, string])[]): string {
  return `{${cols.map(([name, type]) => `${sqlString(name)}: ${sqlString(type)}`).join(', ')}}`;
}

/** `parameters.level_id` exactly as the engine reads it: an integer within ±2^53, else NULL. */
export const LEVEL_ID_SQL = `CASE WHEN json_type(parameters, '$.level_id') IN ('BIGINT', 'UBIGINT')
  AND abs(TRY_CAST(parameters->>'$.level_id' AS HUGEINT)) <= 9007199254740991
  THEN CAST(parameters->>'$.level_id' AS BIGINT) END`;

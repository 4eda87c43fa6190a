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

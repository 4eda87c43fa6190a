/**
 * The few places where the ETL's SQL differs between DuckDB and BigQuery (GoogleSQL). Everything else the ETL
 * writes (DATE/TIMESTAMP literals, CASE, NULLIF division, window functions, DELETE/INSERT/UPDATE, BEGIN … COMMIT)
 * is spelled the same in both. docs/ETL.md lists the differences and the one approximation (p50/p95 on BigQuery).
 *
 * Each BigQuery form was checked against the test emulator (bqemulator, which translates GoogleSQL to DuckDB);
 * where a natural form behaves differently there, an equivalent that behaves the same in both is used, and the
 * comment says why.
 */

export interface SqlDialect {
  readonly name: 'duckdb' | 'bigquery';
  /** A string literal. */
  str(s: string): string;
  /** A column alias that may be a reserved word (`rows` is one in GoogleSQL). */
  ident(name: string): string;
  /** `parameters.<key>` as a DOUBLE: a JSON number, or a string that parses as one; otherwise NULL. */
  jsonNumber(key: string): string;
  /**
   * `parameters.<key>` as money: an exact decimal with 6 places (DECIMAL(18,6) on DuckDB, NUMERIC rounded to 6 places
   * on BigQuery), from a JSON number or a string that parses as one; otherwise NULL. Sums of it are exact.
   */
  jsonMoney(key: string): string;
  /** The type money is stored in (`jsonMoney`'s). */
  readonly moneyType: string;
  /** `expr` as a double, for ratios of money (ARPDAU). */
  float(expr: string): string;
  /** `parameters.level_id` exactly as the engine reads it: an integer JSON number within ±(2^53 − 1), else NULL. */
  readonly levelId: string;
  /** True when `parameters.<key>` is a JSON array with at least one element. */
  nonEmptyArray(key: string): string;
  countIf(cond: string): string;
  /** `fn([DISTINCT] expr)` over the rows where `cond` holds. */
  aggIf(fn: 'avg' | 'sum' | 'count', expr: string, cond: string, distinct?: boolean): string;
  /**
   * An aggregate holding the discrete quantiles of `expr` over the rows where `cond` holds, read back with
   * `quantileAt`. One aggregate serves every quantile of the same values.
   */
  quantiles(expr: string, cond: string, qs: readonly number[]): string;
  /** The `qs[i]` quantile out of a `quantiles` column, rounded to a BIGINT; NULL when there were no values. */
  quantileAt(column: string, qs: readonly number[], q: number): string;
  /** A DATE as 'YYYY-MM-DD' text. */
  dayText(expr: string): string;
  /** A TIMESTAMP as epoch milliseconds. */
  epochMs(expr: string): string;
}

const index = (qs: readonly number[], q: number): number => {
  const i = qs.indexOf(q);
  if (i === -1) throw new Error(`quantile ${q} was not computed (have ${qs.join(', ')})`);
  return i;
};

/** `parameters.level_id` exactly as the engine reads it: an integer within ±2^53, else NULL. */
const DUCKDB_LEVEL_ID = `CASE WHEN json_type(parameters, '$.level_id') IN ('BIGINT', 'UBIGINT')
  AND abs(TRY_CAST(parameters->>'$.level_id' AS HUGEINT)) <= 9007199254740991
  THEN CAST(parameters->>'$.level_id' AS BIGINT) END`;

export const DUCKDB: SqlDialect = {
  name: 'duckdb',
  str: (s) => `'${s.replaceAll("'", "''")}'`,
  ident: (name) => name,
  jsonNumber: (key) => `TRY_CAST(parameters->>'$.${key}' AS DOUBLE)`,
  // From the JSON text, so 4.99 is 4.99 and not the double nearest to it.
  jsonMoney: (key) => `TRY_CAST(parameters->>'$.${key}' AS DECIMAL(18,6))`,
  moneyType: 'DECIMAL(18,6)',
  float: (expr) => `CAST(${expr} AS DOUBLE)`,
  levelId: DUCKDB_LEVEL_ID,
  nonEmptyArray: (key) => `json_type(parameters, '$.${key}') = 'ARRAY' AND json_array_length(parameters, '$.${key}') > 0`,
  countIf: (cond) => `count_if(${cond})`,
  aggIf: (fn, expr, cond, distinct = false) => `${fn}(${distinct ? 'DISTINCT ' : ''}${expr}) FILTER (WHERE ${cond})`,
  // quantile_disc is exact nearest rank: the ⌈n·q⌉-th smallest value.
  quantiles: (expr, cond, qs) => `quantile_disc(${expr}, [${qs.join(', ')}]) FILTER (WHERE ${cond})`,
  // TRY_CAST: a client's moves_used of 1e300 or "NaN" is no median; it must not fail the day's run.
  quantileAt: (column, qs, q) => `TRY_CAST(round(${column}[${index(qs, q) + 1}]) AS BIGINT)`,
  dayText: (expr) => `strftime(${expr}, '%Y-%m-%d')`,
  epochMs: (expr) => `epoch_ms(${expr})`,
};

/** GoogleSQL string literals take backslash escapes and may not hold a raw newline. */
function bqString(s: string): string {
  const body = s.replace(/[\\'\n\r\t\0]/g, (c) => ({ '\\': '\\\\', "'": "\\'", '\n': '\\n', '\r': '\\r', '\t': '\\t', '\0': '\\x00' })[c]!);
  return `'${body}'`;
}

const bqJson = (key: string): string => `JSON_QUERY(parameters, '$.${key}')`;

export const BIGQUERY: SqlDialect = {
  name: 'bigquery',
  str: bqString,
  ident: (name) => `\`${name}\``,
  jsonNumber: (key) => `SAFE_CAST(JSON_VALUE(parameters, '$.${key}') AS FLOAT64)`,
  // NUMERIC keeps 9 places; rounded to DuckDB's 6 so both warehouses store the same amounts.
  jsonMoney: (key) => `ROUND(SAFE_CAST(JSON_VALUE(parameters, '$.${key}') AS NUMERIC), 6)`,
  moneyType: 'NUMERIC',
  float: (expr) => `CAST(${expr} AS FLOAT64)`,
  // The JSON text of the value tells an integer number (3) from a string ("3") or a fraction (3.5). JSON_TYPE
  // cannot: BigQuery says 'number' for both 3 and 3.5, and the emulator answers DuckDB's type names. The engine
  // writes parameters with JSON.stringify, which never writes 3.0, so the text is an integer exactly when the
  // engine's Number.isSafeInteger holds (given the range check). BETWEEN, not ABS: ABS(INT64 min) overflows.
  levelId: `CASE WHEN REGEXP_CONTAINS(TO_JSON_STRING(${bqJson('level_id')}), r'^-?[0-9]+$')
    AND SAFE_CAST(JSON_VALUE(parameters, '$.level_id') AS INT64) BETWEEN -9007199254740991 AND 9007199254740991
    THEN SAFE_CAST(JSON_VALUE(parameters, '$.level_id') AS INT64) END`,
  // JSON_QUERY_ARRAY is NULL for a non-array in BigQuery but fails in the emulator, so it only sees arrays.
  // JSON_TYPE says 'array' in both.
  nonEmptyArray: (key) =>
    `ARRAY_LENGTH(JSON_QUERY_ARRAY(IF(JSON_TYPE(${bqJson(key)}) = 'array', parameters, NULL), '$.${key}')) > 0`,
  countIf: (cond) => `COUNTIF(${cond})`,
  aggIf: (fn, expr, cond, distinct = false) => `${fn.toUpperCase()}(${distinct ? 'DISTINCT ' : ''}IF(${cond}, ${expr}, NULL))`,
  // APPROX_QUANTILES (NULLs ignored): BigQuery's documented quantile aggregate, approximate on large inputs.
  // The array is read in the outer query through UNNEST … WITH OFFSET rather than `q[OFFSET(k)]`, which behaves
  // the same in BigQuery but not in the emulator: indexed in place, the aggregate is interpolated (DuckDB's
  // t-digest) instead of exact; indexed after a table read, OFFSET(k) returns element k − 1.
  quantiles: (expr, cond) => `APPROX_QUANTILES(IF(${cond}, ${expr}, NULL), 100)`,
  quantileAt: (column, qs, q) => {
    index(qs, q);
    return `SAFE_CAST(ROUND((SELECT v FROM UNNEST(${column}) AS v WITH OFFSET AS o WHERE o = ${Math.round(q * 100)})) AS INT64)`;
  },
  dayText: (expr) => `FORMAT_DATE('%Y-%m-%d', ${expr})`,
  epochMs: (expr) => `UNIX_MILLIS(${expr})`,
};

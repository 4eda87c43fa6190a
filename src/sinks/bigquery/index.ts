/**
 * The BigQuery adapter as the composition roots use it, in one module that they load only when GAMESTREAM_WAREHOUSE
 * names BigQuery: its client libraries took about a third of a second of CPU to load (measured alone), which a
 * DuckDB run never needs.
 */
export { BigQueryWarehouse } from './bigquery-warehouse.ts';
export { bigQueryTargetOf, createClients } from './client.ts';
export { bigQueryEtlWarehouse, missingEngineTables } from './etl-warehouse.ts';
export { bigQueryReadOnlyRunner } from './read-only-query.ts';
export { readBigQueryStatusView } from './status-view.ts';

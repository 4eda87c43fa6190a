/**
 * The compression a fresh warehouse's `events` columns are created with, where one method is right for any data
 * those columns can hold.
 *
 * At each checkpoint DuckDB compresses every column segment of a row group, and to choose how it first analyses the
 * segment with every method its type allows (for strings dictionary and FSST among others, for integers RLE and
 * bit-packing among others) and keeps the smallest. A column created `USING COMPRESSION m` skips that analysis and is
 * compressed with `m` whatever its data, so only columns whose nature decides the method are named here:
 * - `event_id`: unique by design (it is the dedupe key), where a dictionary never pays: FSST;
 * - names from small closed sets (the event's name, platform, app version, the GeoIP place, the device table's
 *   columns, the source): dictionary;
 * - `event_type`, `timestamp`, `source_offset`, `is_paying_user`: bit-packing, which also stores a constant run of a
 *   group as one value.
 *
 * The others (`user_id`, `session_id`, `parameters`, `properties`, the date parts) keep DuckDB's choice: their best
 * method depends on the game. `parameters` that repeat a few shapes took 0.5–1.3 MB per million rows with a
 * dictionary and 4.5–5.3 MB with FSST; `user_id` is a dictionary for the bench's 5,000 players, where a million
 * distinct UUIDs took 49 MB as a dictionary and 28 MB with FSST.
 *
 * On the 1M-event bench file's rows, loaded by DuckDB alone in commits of 200,000 rows, this took the load from
 * 3.15–3.35 to 2.96–3.16 CPU-s with a database of the same size (docs/PERFORMANCE.md, "Compression chosen by
 * column"). A warehouse created before keeps DuckDB's choice for every column; its data is the same either way.
 */
export const EVENTS_COMPRESSION: Readonly<Record<string, string>> = {
  event_id: 'fsst',
  event_name: 'dictionary',
  platform: 'dictionary',
  app_version: 'dictionary',
  country: 'dictionary',
  region: 'dictionary',
  city: 'dictionary',
  device_model: 'dictionary',
  device_category: 'dictionary',
  device_tier: 'dictionary',
  source: 'dictionary',
  event_type: 'bitpacking',
  timestamp: 'bitpacking',
  source_offset: 'bitpacking',
  is_paying_user: 'bitpacking',
};

/** Column definitions with their compression clause, for a CREATE TABLE (not for ALTER TABLE … ADD COLUMN). */
export function withCompression(cols: readonly (readonly [string, string])[], compression: Readonly<Record<string, string>>): [string, string][] {
  return cols.map(([c, t]) => [c, compression[c] ? `${t} USING COMPRESSION ${compression[c]}` : t]);
}

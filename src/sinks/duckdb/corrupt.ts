/**
 * DuckDB's own words for a damaged database file, turned into `warehouse_corrupt`: a truncated file ("Could not
 * read enough bytes"), a block whose checksum does not match, or a file that is not a database. Retrying cannot
 * repair a file, so the error is not retryable and says what to do instead.
 */
import { GamestreamError } from '../../errors.ts';

const DAMAGE = /Could not read enough bytes|Corrupt database file|checksum .* does not match|not a valid DuckDB database file|database file .* is corrupt|INTERNAL Error: .*(block|corrupt)/i;

/** `err` as `warehouse_corrupt` when DuckDB says the file is damaged, else null. */
export function corruptError(err: unknown, path: string): GamestreamError | null {
  const msg = (err as Error)?.message ?? String(err);
  if (!DAMAGE.test(msg)) return null;
  return new GamestreamError('warehouse_corrupt',
    `the DuckDB warehouse ${path} is damaged (${msg}). Restore it from a backup; or move it aside and let GAMESTREAM_WAREHOUSE name a new file, which the daemon refills from its input (a Kafka topic within its retention, or the files again)`,
    { cause: err, retryable: false });
}

/**
 * A source yields chunks of raw records in source order. Partitioning happens in the router, so a source only
 * finds record boundaries (and, for Avro, the key).
 */

export interface RecordChunk {
  data: Uint8Array;
  /** Record i is data[starts[i], ends[i]). */
  starts: Uint32Array;
  ends: Uint32Array;
  count: number;
  /** Record number in the source of the first record (the keyless-partitioning rule uses it). */
  firstIndex: number;
  /** Partition keys, when the source knows them (Avro); otherwise the router scans the JSON. */
  keys: (Uint8Array | null)[] | null;
}

export interface Source {
  /** Stable name stored with every row and checkpoint, so a rerun resumes instead of duplicating. */
  readonly name: string;
  readonly format: 'ndjson' | 'avro';
  readonly avroWriterSchema: string | null;
  open(): Promise<void>;
  /** The next chunk, or null at the end of input. Endless sources never return null. */
  next(): Promise<RecordChunk | null>;
  /** Bytes read so far and total (when known), for progress. */
  progress(): { bytesRead: number; totalBytes: number | null };
  close(): Promise<void>;
}

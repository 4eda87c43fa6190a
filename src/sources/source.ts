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
  /** Set by sources that have real partitions and offsets (Kafka); the router then uses them as they are. */
  partitions?: Int32Array;
  offsets?: Float64Array;
}

export interface Source {
  /** Stable name stored with every row and checkpoint, so a rerun resumes instead of duplicating. */
  readonly name: string;
  readonly format: 'ndjson' | 'avro';
  readonly avroWriterSchema: string | null;
  open(): Promise<void>;
  /** The next chunk, or null at the end of input. Endless sources never return null. */
  next(): Promise<RecordChunk | null>;
  /** The partition count, when the source has its own (Kafka: the topic's); known after open(). */
  readonly partitionCount?: number;
  /** Where each partition resumes (from the warehouse checkpoints); called before the first next(). */
  resumeFrom?(nextOffsets: Map<number, number>): void;
  /** Shutdown: a next() that is waiting for data returns null at once (the caller knows it is not the end). */
  interrupt?(): void;
  /** Stop and restart fetching these partitions (Kafka), while the worker that owns them is behind. */
  pause?(partitions: number[]): void;
  resume?(partitions: number[]): void;
  /** Rows up to these offsets are durably in the warehouse (Kafka: commit them to the group). */
  durable?(nextOffsets: Map<number, number>): void;
  /** Log-end offset per partition, when the source has one (Kafka), for the lag metric. */
  endOffsets?(): Promise<Map<number, number>>;
  /**
   * Sources whose partitions are assigned by a consumer group (Kafka) report each new assignment. A partition
   * newly assigned stays paused until `startPartitions` names the offset it resumes from (the warehouse's
   * checkpoint, read after the previous owner released it); records of partitions no longer assigned are
   * dropped. Sources without it own every partition for the whole run.
   */
  onAssignment?(listener: (partitions: number[]) => void): void;
  startPartitions?(nextOffsets: Map<number, number>): void;
  /** Consumer groups: until when the group surely still counts this member (epoch ms; 0 after a lapse). */
  leaseExpiresAt?(): number;
  settleLapse?(): void;
  /** Consumer groups: this member's id, and the ids of the group's members now. */
  memberId?(): string | null;
  liveMembers?(): Promise<Set<string>>;
  /** Bytes read so far and total (when known), for progress. */
  progress(): { bytesRead: number; totalBytes: number | null };
  close(): Promise<void>;
}

/**
 * A source yields chunks of raw records in source order. Partitioning happens in the router, so a source only
 * finds record boundaries (and, for Avro, the key).
 */
import type { OffsetGaps } from './offset-gaps.ts';

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
  /**
   * Where data[0] is in the source's file, when the chunk is a slice of it: each record can then be read again
   * from there (Source.reread), so the engine need not hold its bytes until they are durable. Only sources that
   * implement reread set it.
   */
  filePos?: number;
  /**
   * Its records can be fetched again by partition and offset (Kafka: Source.refetch), so the engine need not hold
   * their bytes until they are durable either.
   */
  refetchable?: boolean;
}

/**
 * A source that is a partitioned log with offsets of its own (Kafka). The engine then uses its partitions,
 * resumes each at an offset, pauses a slow worker's partitions, and acknowledges what is durable.
 */
export interface PartitionedLog {
  /** The partition count (Kafka: the topic's); known after open(). */
  readonly partitionCount: number;
  /** Where each partition resumes (from the warehouse checkpoints); called before the first next(). */
  resumeFrom(nextOffsets: Map<number, number>): void;
  /** Stop and restart fetching these partitions, while the worker that owns them is behind. */
  pause(partitions: number[]): void;
  resume(partitions: number[]): void;
  /** Rows up to these offsets are durably in the warehouse (Kafka: commit them to the group). */
  durable(nextOffsets: Map<number, number>): void;
  /** Log-end offset per partition, for the lag metric. */
  endOffsets(): Promise<Map<number, number>>;
  /** Offsets whose records the log deleted before they were read (Kafka: retention), when it had any. */
  readonly unreadable?: OffsetGaps;
  /**
   * When its records were received, for the freshness metric (Kafka: each record batch's timestamp). Called once
   * the warehouse commit that reached these offsets went through: reports every record below them not reported
   * before, as `add(receivedAtMs, records)`, and forgets them. Optional: the engine otherwise uses the time it
   * read each batch.
   */
  receivedTimes?(reached: readonly { partition: number; nextOffset: number }[], add: (receivedAtMs: number, records: number) => void): void;
}

/**
 * A source whose partitions a consumer group assigns (Kafka). Each new assignment is reported; a partition
 * newly assigned stays paused until `startPartitions` names the offset it resumes from (the warehouse's
 * checkpoint, read after the previous owner released it); records of partitions no longer assigned are dropped.
 */
export interface ConsumerGroupMember {
  onAssignment(listener: (partitions: number[]) => void): void;
  startPartitions(nextOffsets: Map<number, number>): void;
  /**
   * Until when the group surely still counts this member, on the monotonic clock (`performance.now()` ms, which a
   * wall clock stepped by NTP does not move); 0 after a lapse.
   */
  leaseExpiresAt(): number;
  /** A commit found the partitions still this member's after a lapse: the lease holds again. */
  settleLapse(): void;
  /** This member's id, and the ids of the group's members now. */
  memberId(): string | null;
  liveMembers(): Promise<Set<string>>;
  /**
   * Asks the group now whether it still knows this member: false once the group dropped it (its session ran
   * out), which is when its partitions may have gone to another daemon, whether or not that one's claims have
   * landed yet; null when the group cannot be asked.
   */
  stillMember(): Promise<boolean | null>;
}

export interface Source {
  /** Stable name stored with every row and checkpoint, so a rerun resumes instead of duplicating. */
  readonly name: string;
  readonly format: 'ndjson' | 'avro';
  readonly avroWriterSchema: string | null;
  /** Lines over the size limit come as stand-ins of bounded size (src/contract/oversized.ts); unset: records whole. */
  readonly cutsOversized?: boolean;
  /**
   * An input read again from the start at each run (a file), whose records the router numbers: a run resuming it
   * checks that it is the input the warehouse read (Router, StoredRecords).
   */
  readonly rereadFromStart?: boolean;
  /** Partitions and offsets of its own (Kafka), or null: the router partitions by key, offsets count records. */
  readonly partitionedLog: PartitionedLog | null;
  /** Partitions assigned by a consumer group, or null: this daemon owns every partition for the whole run. */
  readonly group: ConsumerGroupMember | null;
  open(): Promise<void>;
  /** The next chunk, or null at the end of input. Endless sources never return null. A chunk's bytes may be reused by the call after. */
  next(): Promise<RecordChunk | null>;
  /** Shutdown: a next() that is waiting for data returns null at once (the caller knows it is not the end). */
  interrupt(): void;
  /**
   * Reads records again from the file, into `into`: record i's bytes, from file position filePos[i], go to
   * into[index[3i+1], index[3i+2]) (the layout of a batch, src/actors/router.ts). For sources whose chunks carry
   * filePos; used to replay a batch to a restarted worker.
   */
  reread?(filePos: Float64Array, index: Int32Array, into: Uint8Array): Promise<void>;
  /**
   * Fetches records again from the log, into `into`: record i (partition index[3i], offset offsets[i]) goes to
   * into[index[3i+1], index[3i+2]). For sources whose chunks are `refetchable`; used like reread.
   */
  refetch?(index: Int32Array, offsets: Float64Array, into: Uint8Array): Promise<void>;
  /** Bytes read so far and total (when known), for progress. */
  progress(): { bytesRead: number; totalBytes: number | null };
  /** Bytes at the input's end not read: a last line without its newline that does not parse (its writer not done). */
  unreadTail?(): number;
  /** Records the source could not read at all (an Avro file's damaged blocks), for the run's summary; null when none. */
  lostNote?(): string | null;
  close(): Promise<void>;
}

/**
 * Routes source records to partitions (Kafka's default partitioner on user_id) and packs them into one batch
 * per worker thread. Batch bytes live in a SharedArrayBuffer: the worker reads them without a copy. Until the
 * warehouse has the rows, the supervisor keeps the batch for replay: for a file source only where each record is
 * in the file (filePos), and for Kafka only each record's partition and offset (refetch), so the bytes are freed
 * once the worker has read them; for other sources the bytes too.
 */
import type { Checkpoint } from '../contract/checkpoint.ts';
import { recordHash } from '../contract/record-hash.ts';
import { GamestreamError } from '../errors.ts';
import { partitionOfRecord } from '../sources/partitioner.ts';
import type { RecordChunk } from '../sources/source.ts';

export interface SealedBatch {
  worker: number;
  /** Over a SharedArrayBuffer; null once its worker has read it, when filePos or refetch can get it again (WorkerSlot.onProcessed). */
  data: Uint8Array | null;
  index: Int32Array; // [partition, start, end] per record
  offsets: Float64Array;
  /** Where each record is in the source's file, when every record's chunk said (RecordChunk.filePos); else null. */
  filePos: Float64Array | null;
  /** Every record came from a chunk the source can fetch again by partition and offset (RecordChunk.refetchable). */
  refetch: boolean;
  /** Highest offset per partition in this batch: the batch can be released once all are durable. */
  maxOffsets: Map<number, number>;
  bytes: number;
}

/**
 * Batch buffers given back once a worker has read a batch it need not be sent again from memory (a file's: see
 * WorkerSlot.onProcessed), so the next batches are built in them instead of new ones. Without it, a used buffer
 * is freed only when both threads' collectors have run, and the supervisor's rarely runs.
 */
export class BatchBuffers {
  private readonly free: SharedArrayBuffer[] = [];

  take(): SharedArrayBuffer {
    return this.free.pop() ?? new SharedArrayBuffer(BATCH_BYTES);
  }

  /** Only full-size buffers are kept, and a few: more are made when needed. */
  give(buffer: ArrayBufferLike): void {
    if (buffer instanceof SharedArrayBuffer && buffer.byteLength === BATCH_BYTES && this.free.length < MAX_FREE_BUFFERS) this.free.push(buffer);
  }

  get size(): number {
    return this.free.length;
  }
}

/** Builds one worker's next batch straight into shared memory, so sealing it copies nothing. */
class BatchBuilder {
  private readonly buffers: BatchBuffers;
  /** Over a SharedArrayBuffer. */
  private data: Uint8Array;
  used = 0;
  index: number[] = [];
  offsets: number[] = [];
  /** Each record's file position, while every record added had one. */
  filePos: number[] | null = [];
  /** Every record added could be fetched again by partition and offset. */
  refetch = true;

  constructor(buffers: BatchBuffers) {
    this.buffers = buffers;
    this.data = new Uint8Array(buffers.take());
  }

  /**
   * `pos`: where the record is in the source's file, or -1 when the source cannot read it again; `refetchable`:
   * the source can fetch it again by partition and offset.
   */
  add(partition: number, offset: number, src: Uint8Array, s: number, e: number, pos: number, refetchable: boolean): void {
    const len = e - s;
    if (this.used + len > this.data.length) {
      // A big record: move what we have into a larger buffer (rare; most batches fit BATCH_BYTES).
      const data = new Uint8Array(new SharedArrayBuffer(Math.max(this.data.length * 2, this.used + len)));
      data.set(this.data.subarray(0, this.used));
      this.data = data;
    }
    this.data.set(src.subarray(s, e), this.used);
    this.index.push(partition, this.used, this.used + len);
    this.offsets.push(offset);
    if (pos < 0) this.filePos = null;
    else this.filePos?.push(pos);
    if (!refetchable) this.refetch = false;
    this.used += len;
  }

  get records(): number {
    return this.offsets.length;
  }

  seal(worker: number): SealedBatch {
    const maxOffsets = new Map<number, number>();
    for (let i = 0, r = 0; i < this.index.length; i += 3, r++) {
      const p = this.index[i];
      const o = this.offsets[r];
      if ((maxOffsets.get(p) ?? -1) < o) maxOffsets.set(p, o);
    }
    // A mostly full buffer is handed over as it is; a small batch gets an exact-size copy and the big
    // buffer is reused, so trickling sources do not pin megabytes per batch.
    let data: Uint8Array;
    if (this.used >= this.data.length / 2) {
      data = this.data.subarray(0, this.used);
      this.data = new Uint8Array(this.buffers.take());
    } else {
      data = new Uint8Array(new SharedArrayBuffer(this.used));
      data.set(this.data.subarray(0, this.used));
    }
    const batch: SealedBatch = {
      worker,
      data,
      index: Int32Array.from(this.index),
      offsets: Float64Array.from(this.offsets),
      filePos: this.filePos ? Float64Array.from(this.filePos) : null,
      refetch: this.refetch,
      maxOffsets,
      // Counted against GAMESTREAM_MAX_UNCOMMITTED_BYTES until durable, held or not: the whole buffer, as that
      // is what a batch holds while it waits and while its worker reads it.
      bytes: data.buffer.byteLength + this.index.length * 4 + this.offsets.length * 8,
    };
    this.used = 0;
    this.index = [];
    this.offsets = [];
    this.filePos = [];
    this.refetch = true;
    return batch;
  }
}

/**
 * The last record each partition's checkpoint covers (Checkpoint.lastRecordHash), of the source named: given for an
 * input read again from the start at each run (Source.rereadFromStart: files), not for Kafka or a replay's spool.
 */
export interface StoredRecords {
  source: string;
  lastRecords: Map<number, number>;
}

export function storedRecords(source: string, checkpoints: Map<number, Checkpoint>): StoredRecords {
  const lastRecords = new Map<number, number>();
  for (const [p, c] of checkpoints) if (c.lastRecordHash != null) lastRecords.set(p, c.lastRecordHash);
  return { source, lastRecords };
}

const RENAME = 'Give the new file a name of its own (a new source: the events the warehouse already has are dropped as duplicates), or put back the file the warehouse read.';

/** Starting size of a batch's shared buffer: about 4096 records of 400 bytes. */
export const BATCH_BYTES = 2 << 20;
/** Free buffers kept for reuse: 32 MiB. */
const MAX_FREE_BUFFERS = 16;

export class Router {
  readonly partitions: number;
  readonly workers: number;
  private readonly batchRecords: number;
  private readonly builders: BatchBuilder[];
  /** Next offset the source will assign per partition (file and generator sources number records per partition). */
  private readonly nextOffset: Float64Array;
  /** Records below these offsets are already in the warehouse. */
  private readonly resumeAt: Float64Array;
  /**
   * Per partition, the offset and fingerprint of the last record the warehouse holds (its checkpoint's), checked
   * as a numbered source's records pass it: a file replaced under the same name is not resumed as if it grew.
   */
  private readonly stored: Map<number, { at: number; hash: number }>;
  /** The source numbers no records itself (files): what it reads past the checkpoints is checked (StoredRecords). */
  private readonly numbered: boolean;
  readonly lastRoutedAt: Float64Array;
  routed = 0;
  skipped = 0;
  readonly buffers = new BatchBuffers();

  /** The source's name, for the errors of a changed input. */
  private readonly source: string;

  constructor(partitions: number, workers: number, batchRecords: number, resumeAt: Map<number, number>, stored?: StoredRecords) {
    this.partitions = partitions;
    this.workers = workers;
    this.batchRecords = batchRecords;
    this.builders = Array.from({ length: workers }, () => new BatchBuilder(this.buffers));
    this.nextOffset = new Float64Array(partitions);
    this.resumeAt = new Float64Array(partitions);
    for (const [p, o] of resumeAt) if (p < partitions) this.resumeAt[p] = o;
    this.numbered = stored !== undefined;
    this.source = stored?.source ?? 'the input';
    this.stored = new Map([...(stored?.lastRecords ?? [])].filter(([p]) => this.resumeAt[p]! > 0).map(([p, hash]) => [p, { at: this.resumeAt[p]! - 1, hash }]));
    this.lastRoutedAt = new Float64Array(partitions);
  }

  workerOf(partition: number): number {
    return partition % this.workers;
  }

  partitionOf(chunk: RecordChunk, i: number): number {
    return partitionOfRecord(chunk, i, this.partitions);
  }

  /** Routes a chunk; returns batches that filled up and must be sent now. */
  route(chunk: RecordChunk, nowMs: number): SealedBatch[] {
    const full: SealedBatch[] = [];
    const given = chunk.partitions && chunk.offsets ? { partitions: chunk.partitions, offsets: chunk.offsets } : null;
    const base = chunk.filePos ?? -1;
    const refetchable = chunk.refetchable === true;
    for (let i = 0; i < chunk.count; i++) {
      const p = given ? given.partitions[i] : this.partitionOf(chunk, i);
      const offset = given ? given.offsets[i] : this.nextOffset[p]++;
      if (offset < this.resumeAt[p]) {
        this.skipped++;
        if (!given && this.stored.get(p)?.at === offset) this.checkStored(p, chunk.data.subarray(chunk.starts[i], chunk.ends[i]));
        continue;
      }
      const w = this.workerOf(p);
      const b = this.builders[w];
      b.add(p, offset, chunk.data, chunk.starts[i], chunk.ends[i], base < 0 ? -1 : base + chunk.starts[i], refetchable);
      this.lastRoutedAt[p] = nowMs;
      this.routed++;
      if (b.records >= this.batchRecords) full.push(b.seal(w));
    }
    return full;
  }

  /** The record at a partition's checkpoint must be the one the warehouse read there. */
  private checkStored(p: number, bytes: Uint8Array): void {
    const s = this.stored.get(p)!;
    this.stored.delete(p);
    if (recordHash(bytes) === s.hash) return;
    throw new GamestreamError('input_changed', `${this.source} is not the input the warehouse read: record ${s.at} of partition ${p} is not the one the warehouse holds there, so the file was replaced or rewritten under the same name (or GAMESTREAM_PARTITIONS is not the earlier runs'). ${RENAME}`);
  }

  /**
   * The input's end: a source the router numbers must have reached every partition's checkpoint, or it is not
   * the input the warehouse read (a shorter file under the same name). Returns true, for the end of input.
   */
  endOfInput(): true {
    if (!this.numbered) return true;
    for (let p = 0; p < this.partitions; p++) {
      const at = this.resumeAt[p]!;
      if (Number.isFinite(at) && this.nextOffset[p]! < at) {
        throw new GamestreamError('input_changed', `${this.source} ends before the warehouse's checkpoint: partition ${p} has ${this.nextOffset[p]} records, the warehouse read ${at} of it, so the file was replaced by a shorter one or cut. ${RENAME}`);
      }
    }
    return true;
  }

  /**
   * Where a partition resumes after a hand-off; Infinity drops its records (it belongs to another daemon). One taken
   * over is idle only once the idle timeout passes from now, as at a daemon's start: counted from this daemon's own
   * start, it would be idle at once in a daemon up for longer, and follow the engine's watermark, its backlog late.
   */
  setResume(partition: number, nextOffset: number, nowMs = Date.now()): void {
    this.resumeAt[partition] = nextOffset;
    this.lastRoutedAt[partition] = Number.isFinite(nextOffset) ? nowMs : 0;
  }

  /** Partial batches, for the end of a chunk burst or the end of input. */
  sealAll(): SealedBatch[] {
    const out: SealedBatch[] = [];
    this.builders.forEach((b, w) => {
      if (b.records > 0) out.push(b.seal(w));
    });
    return out;
  }
}

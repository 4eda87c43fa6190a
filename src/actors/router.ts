/**
 * Routes source records to partitions (Kafka's default partitioner on user_id) and packs them into one batch
 * per worker thread. Batch bytes live in a SharedArrayBuffer: the worker reads them without a copy, and the
 * supervisor keeps the same memory for replay until the warehouse has the rows.
 */
import { partitionOfRecord } from '../sources/partitioner.ts';
import type { RecordChunk } from '../sources/source.ts';

export interface SealedBatch {
  worker: number;
  data: Uint8Array; // over a SharedArrayBuffer
  index: Int32Array; // [partition, start, end] per record
  offsets: Float64Array;
  /** Highest offset per partition in this batch: the batch can be released once all are durable. */
  maxOffsets: Map<number, number>;
  bytes: number;
}

/** Builds one worker's next batch straight into shared memory, so sealing it copies nothing. */
class BatchBuilder {
  private sab = new SharedArrayBuffer(BATCH_BYTES);
  private data = new Uint8Array(this.sab);
  used = 0;
  index: number[] = [];
  offsets: number[] = [];

  add(partition: number, offset: number, src: Uint8Array, s: number, e: number): void {
    const len = e - s;
    if (this.used + len > this.data.length) {
      // A big record: move what we have into a larger buffer (rare; most batches fit BATCH_BYTES).
      const sab = new SharedArrayBuffer(Math.max(this.data.length * 2, this.used + len));
      const data = new Uint8Array(sab);
      data.set(this.data.subarray(0, this.used));
      this.sab = sab;
      this.data = data;
    }
    this.data.set(src.subarray(s, e), this.used);
    this.index.push(partition, this.used, this.used + len);
    this.offsets.push(offset);
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
      this.sab = new SharedArrayBuffer(BATCH_BYTES);
      this.data = new Uint8Array(this.sab);
    } else {
      data = new Uint8Array(new SharedArrayBuffer(this.used));
      data.set(this.data.subarray(0, this.used));
    }
    const batch: SealedBatch = {
      worker,
      data,
      index: Int32Array.from(this.index),
      offsets: Float64Array.from(this.offsets),
      maxOffsets,
      // The whole shared buffer stays alive until the batch is released, so count all of it.
      bytes: data.buffer.byteLength + this.index.length * 4 + this.offsets.length * 8,
    };
    this.used = 0;
    this.index = [];
    this.offsets = [];
    return batch;
  }
}

/** Starting size of a batch's shared buffer: about 4096 records of 400 bytes. */
const BATCH_BYTES = 2 << 20;

export class Router {
  readonly partitions: number;
  readonly workers: number;
  private readonly batchRecords: number;
  private readonly builders: BatchBuilder[];
  /** Next offset the source will assign per partition (file and generator sources number records per partition). */
  private readonly nextOffset: Float64Array;
  /** Records below these offsets are already in the warehouse. */
  private readonly resumeAt: Float64Array;
  readonly lastRoutedAt: Float64Array;
  routed = 0;
  skipped = 0;

  constructor(partitions: number, workers: number, batchRecords: number, resumeAt: Map<number, number>) {
    this.partitions = partitions;
    this.workers = workers;
    this.batchRecords = batchRecords;
    this.builders = Array.from({ length: workers }, () => new BatchBuilder());
    this.nextOffset = new Float64Array(partitions);
    this.resumeAt = new Float64Array(partitions);
    for (const [p, o] of resumeAt) if (p < partitions) this.resumeAt[p] = o;
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
    for (let i = 0; i < chunk.count; i++) {
      const p = given ? given.partitions[i] : this.partitionOf(chunk, i);
      const offset = given ? given.offsets[i] : this.nextOffset[p]++;
      if (offset < this.resumeAt[p]) {
        this.skipped++;
        continue;
      }
      const w = this.workerOf(p);
      const b = this.builders[w];
      b.add(p, offset, chunk.data, chunk.starts[i], chunk.ends[i]);
      this.lastRoutedAt[p] = nowMs;
      this.routed++;
      if (b.records >= this.batchRecords) full.push(b.seal(w));
    }
    return full;
  }

  /** Where a partition resumes after a hand-off; Infinity drops its records (it belongs to another daemon). */
  setResume(partition: number, nextOffset: number): void {
    this.resumeAt[partition] = nextOffset;
    this.lastRoutedAt[partition] = 0;
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

/**
 * A batch's Kafka records fetched again from the broker, for a replay to a restarted worker. Once a worker has
 * read a batch the engine keeps only each record's partition and offset, not its bytes (WorkerSlot.onProcessed),
 * so a crash before the rows are durable fetches them again here, through the source's fetch loop
 * (PartitionFetcher.fetchOnce). The bytes must come back exactly as first read: a record whose length differs, or
 * one the log no longer has, stops the daemon rather than replay something else.
 */
import { GamestreamError } from '../errors.ts';
import type { FetchedOnce } from './fetcher.ts';

export interface Refetcher {
  fetchOnce(partition: number, offset: number): Promise<FetchedOnce>;
}

/**
 * Record i (partition index[3i], offset offsets[i]) goes to into[index[3i+1], index[3i+2]), the layout of a
 * batch (src/actors/router.ts).
 */
export async function refetchRecords(topic: string, fetcher: Refetcher, index: Int32Array, offsets: Float64Array, into: Uint8Array): Promise<void> {
  // Per partition: the records wanted, by offset.
  const wanted = new Map<number, Map<number, number>>();
  for (let i = 0; i < offsets.length; i++) {
    const p = index[3 * i];
    let byOffset = wanted.get(p);
    if (!byOffset) wanted.set(p, (byOffset = new Map()));
    byOffset.set(offsets[i], i);
  }
  for (const [partition, byOffset] of wanted) {
    let from = lowest(byOffset);
    let last = -1;
    for (const o of byOffset.keys()) last = Math.max(last, o);
    while (byOffset.size > 0) {
      let got: FetchedOnce;
      try {
        got = await fetcher.fetchOnce(partition, from);
      } catch (err) {
        throw new GamestreamError('source_unavailable', `cannot fetch Kafka topic ${topic} partition ${partition} again from offset ${from} for a restarted worker: ${(err as Error).message}`, { cause: err, retryable: true });
      }
      for (let k = 0; k < got.offsets.length; k++) {
        const i = byOffset.get(got.offsets[k]);
        if (i === undefined) continue;
        const v = got.values[k];
        const s = index[3 * i + 1];
        const e = index[3 * i + 2];
        if ((v?.length ?? 0) !== e - s) throw changed(topic, partition, got.offsets[k], `its value is ${v?.length ?? 0} bytes, not the ${e - s} first read`);
        if (v) into.set(v, s);
        byOffset.delete(got.offsets[k]);
      }
      if (byOffset.size === 0) break;
      if (got.outOfRange) throw changed(topic, partition, lowest(byOffset), 'the log no longer has it (deleted by retention, or the topic was recreated)');
      // Past the last offset wanted, or no progress: the log skips the offsets still missing (compacted away).
      if (got.next <= from || got.next > last) throw changed(topic, partition, lowest(byOffset), 'the log no longer has it (compacted away, or the topic was recreated)');
      from = got.next;
    }
  }
}

function lowest(byOffset: Map<number, number>): number {
  let min = Infinity;
  for (const o of byOffset.keys()) min = Math.min(min, o);
  return min;
}

function changed(topic: string, partition: number, offset: number, why: string): GamestreamError {
  return new GamestreamError('input_changed',
    `Kafka topic ${topic} partition ${partition} offset ${offset} was needed again for a restarted worker, but ${why}, before its row was in the warehouse. Start the daemon again: it resumes from the warehouse's checkpoints, and logs any records the topic no longer holds as lost`);
}

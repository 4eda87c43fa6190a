/**
 * A batch's Kafka records fetched again from the broker, for a replay to a restarted worker. Once a worker has
 * read a batch the engine keeps only each record's partition and offset, not its bytes (WorkerSlot.onProcessed),
 * so a crash before the rows are durable fetches them again here, through the source's fetch loop
 * (PartitionFetcher.fetchOnce). A record must come back as first read: one whose length differs, or one the log no
 * longer has, stops the daemon rather than replay something else (its restart resumes from the warehouse). Broker
 * trouble meanwhile (a leader election, a restart, a throttled or empty answer) is retried for a while first.
 *
 * Committed records only, as the fetch loop reads them: an aborted transaction's records are left out whether or not
 * its marker is in the answer (aborted.ts), so a fetch again from any offset answers as the first did.
 */
import { GamestreamError } from '../errors.ts';
import type { FetchedOnce } from './fetcher.ts';

export interface Refetcher {
  fetchOnce(partition: number, offset: number): Promise<FetchedOnce>;
}

/** How long one fetch is tried again through broker trouble before the daemon gives up (and restarts from the warehouse). */
export const REFETCH_RETRY_MS = 60_000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

/**
 * Record i (partition index[3i], offset offsets[i]) goes to into[index[3i+1], index[3i+2]), the layout of a
 * batch (src/actors/router.ts).
 */
export async function refetchRecords(
  topic: string, fetcher: Refetcher, index: Int32Array, offsets: Float64Array, into: Uint8Array, retryForMs = REFETCH_RETRY_MS,
): Promise<void> {
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
      const got = await fetchWithRetry(topic, fetcher, partition, from, retryForMs);
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
      // Past the last offset wanted: the log skips the offsets still missing (compacted away).
      if (got.next > last) throw changed(topic, partition, lowest(byOffset), 'the log no longer has it (compacted away, or the topic was recreated)');
      from = got.next;
    }
  }
}

/** One fetch that moved on (or found the offset gone), tried again with a growing delay through anything else. */
async function fetchWithRetry(topic: string, fetcher: Refetcher, partition: number, from: number, retryForMs: number): Promise<FetchedOnce> {
  const giveUpAt = Date.now() + retryForMs;
  for (let attempt = 1; ; attempt++) {
    let why: unknown;
    try {
      const got = await fetcher.fetchOnce(partition, from);
      if (got.outOfRange || got.next > from) return got;
      why = new Error('the broker answered with no records (throttled, or busy)');
    } catch (err) {
      if (err instanceof GamestreamError) throw err; // the source is closing
      why = err;
    }
    if (Date.now() >= giveUpAt) {
      throw new GamestreamError('source_unavailable',
        `cannot fetch Kafka topic ${topic} partition ${partition} again from offset ${from} for a restarted worker (tried ${attempt} times over ${Math.round(retryForMs / 1000)} s): ${(why as Error).message}`,
        { cause: why, retryable: true });
    }
    await new Promise((r) => setTimeout(r, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (attempt - 1))));
  }
}

function lowest(byOffset: Map<number, number>): number {
  let min = Infinity;
  for (const o of byOffset.keys()) min = Math.min(min, o);
  return min;
}

function changed(topic: string, partition: number, offset: number, why: string): GamestreamError {
  return new GamestreamError('input_changed',
    `Kafka topic ${topic} partition ${partition} offset ${offset} was needed again for a restarted worker, but ${why}, before its row was in the warehouse. Start the daemon again: it resumes from the warehouse's checkpoints (records deleted by retention are logged as lost there)`);
}

/**
 * Which record batches of a partition's fetch answer a read_committed consumer must leave out: control batches
 * (transaction markers), and the data of transactions their producer aborted.
 *
 * The client library drops an aborted transaction's records only when its abort marker is in the same answer, so a
 * transaction cut by the answer's size limit was read as events. Kafka's own consumer needs no marker in the answer:
 * each answer lists every aborted transaction that overlaps its records (`firstOffset` may lie before the fetch
 * offset; the broker keeps it while its marker is at or after that offset). Walking the batches in offset order, a
 * transaction's producer is aborted from its `firstOffset` on, until its abort marker. That is what this does, answer
 * by answer, with no state kept between fetches: a seek, a rebalance or a restart in the middle of a transaction
 * gets it listed again by the broker.
 */
import { IS_CONTROL, IS_TRANSACTIONAL } from '@platformatic/kafka';

interface Batch {
  firstOffset: bigint;
  lastOffsetDelta: number;
  attributes: number;
  producerId: bigint;
  records: { key?: Buffer | null }[];
}

interface AbortedTransaction {
  producerId: bigint;
  firstOffset: bigint;
}

/** A control record's key: version (int16), then type (int16), 0 for ABORT, 1 for COMMIT. */
const ABORT = 0;

function isAbortMarker(batch: Batch): boolean {
  const key = batch.records[0]?.key;
  return key !== undefined && key !== null && key.length >= 4 && key.readInt16BE(2) === ABORT;
}

const CONTROL_ONLY = (batch: Batch): boolean => (batch.attributes & IS_CONTROL) !== 0;

/**
 * A test for the answer's batches, to be called once per batch in offset order: true when the batch is to be left
 * out. `aborted` is the answer's list for the partition.
 */
export function skippedBatches(aborted: readonly AbortedTransaction[] | null | undefined): (batch: Batch) => boolean {
  if (!aborted || aborted.length === 0) return CONTROL_ONLY;
  const queue = [...aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  let next = 0;
  const abortedProducers = new Set<bigint>();
  return (batch) => {
    const control = (batch.attributes & IS_CONTROL) !== 0;
    if (batch.producerId < 0n) return control;
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    while (next < queue.length && queue[next]!.firstOffset <= last) abortedProducers.add(queue[next++]!.producerId);
    if (control) {
      if (isAbortMarker(batch)) abortedProducers.delete(batch.producerId);
      return true;
    }
    return (batch.attributes & IS_TRANSACTIONAL) !== 0 && abortedProducers.has(batch.producerId);
  };
}

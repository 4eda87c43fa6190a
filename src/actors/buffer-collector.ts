/**
 * Collects the supervisor thread's dead ArrayBuffers once they pile up. V8 schedules collections by its own heap,
 * which on this thread is small (tens of MB), while the bytes that pass through it are not: source chunks, the
 * batches handed to workers, row files read back for the copies to Kafka. Their buffers die young but are freed
 * only when a collection runs, and one rarely runs here: at a steady 50k events/s the thread's ArrayBuffers grew
 * by 12–20 MB/s and RSS passed 2 GB within two minutes; with a collection every 2 s it stayed near 700 MB.
 *
 * So, every `intervalMs`, when ArrayBuffer bytes have grown by more than `growthBytes` since the last collection,
 * a full collection runs (about 5–10 ms on this thread's heap). Live buffers are bounded elsewhere
 * (GAMESTREAM_MAX_UNCOMMITTED_BYTES); this bounds the dead ones.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface BufferCollectorOptions {
  /** Growth of ArrayBuffer bytes since the last collection that triggers the next one. */
  growthBytes: number;
  intervalMs: number;
  /** After each collection: the ArrayBuffer bytes before and after, and how long it took. */
  onCollect?: (beforeBytes: number, afterBytes: number, ms: number) => void;
}

let collect: (() => void) | null = null;

/** V8's collector as a function: the flag exposes it to contexts made after it is set. */
function collector(): () => void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  return collect;
}

export function startBufferCollector(o: BufferCollectorOptions): { stop(): void } {
  const gc = collector();
  let base = process.memoryUsage().arrayBuffers;
  const timer = setInterval(() => {
    const before = process.memoryUsage().arrayBuffers;
    if (before - base <= o.growthBytes) {
      // Buffers freed meanwhile lower the mark, so growth counts from the lowest point seen.
      base = Math.min(base, before);
      return;
    }
    const t0 = performance.now();
    gc();
    base = process.memoryUsage().arrayBuffers;
    o.onCollect?.(before, base, performance.now() - t0);
  }, o.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

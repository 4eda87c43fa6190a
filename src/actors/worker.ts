/**
 * A worker thread: the fixed home of many partition actors. It turns batches into rows, and every flush
 * interval (or row limit) writes its buffered rows to spool files and tells the supervisor, with the
 * checkpoints those rows cover.
 */
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, threadId } from 'node:worker_threads';
import { EnrichmentTables } from '../enrich/tables.ts';
import { toWire } from '../errors.ts';
import { IndexView, type LookupStats } from '../dedupe/lookup.ts';
import { writeRun } from '../dedupe/run-file.ts';
import { actorOutput, PartitionActor, type ActorOutput } from '../partition/actor.ts';
import { actorRules } from '../contract/rules.ts';
import { AvroDecoder, ConfluentAvro } from '../partition/decode.ts';
import type { RawRecord } from '../partition/record.ts';
import { removeSpills, spillFiles, writeFlush } from '../sinks/row-files.ts';
import { UserCache } from '../users/user-cache.ts';
import { UserLookupClient } from '../users/lookup-channel.ts';
import { KnownUsers } from '../users/known-users.ts';
import { unreachable, type FromWorker, type ToWorker, type ToWorkerData, type WorkerSettings } from './protocol.ts';
import type { Checkpoint } from '../contract/checkpoint.ts';

if (!parentPort) throw new Error('worker.ts must run in a worker thread');
const port = parentPort;

let settings!: WorkerSettings;
let tables!: EnrichmentTables;
let avro: AvroDecoder | null = null;
let confluent: ConfluentAvro | null = null;
const actors = new Map<number, PartitionActor>();
let out!: ActorOutput;
let flushSeq = 0;
let batchesProcessed = 0;
let lastFlushAt = Date.now();
let timer: NodeJS.Timeout | null = null;
/** Per batch since the last flush: when the supervisor received it and how many of its records were new. */
let received = { atMs: [] as number[], records: [] as number[] };

/**
 * Windows closed since the last flush: they are flushed now rather than at the next flush interval, so a closed
 * window's row is queryable within one commit (at a steady 50k events/s, waiting for the 1 s interval put the
 * window-close-to-commit p99 at 2.5 s). Windows close in bursts about once a window size; the 100 ms floor keeps
 * a burst spread over several batches to a few flushes.
 */
const EARLY_FLUSH_GAP_MS = 100;

function windowsWaiting(): boolean {
  return out.windowsClosedAtMs.length > 0 && Date.now() - lastFlushAt >= EARLY_FLUSH_GAP_MS;
}

function send(msg: FromWorker): void {
  port.postMessage(msg);
}

function flush(): void {
  const checkpoints: Checkpoint[] = [];
  for (const actor of actors.values()) {
    const c = actor.flush();
    if (c) checkpoints.push(c);
  }
  lastFlushAt = Date.now();
  // User states change only with events, so a flush without rows has none to write either.
  if (checkpoints.length === 0 && out.events.rows + out.dlq.rows + out.agg.rows + out.aggUpdates.rows === 0) return;
  const seq = ++flushSeq;
  const base = join(settings.spoolDir, `w${settings.workerIndex}-${process.pid}-${Date.now()}-${seq}`);
  const rows = { events: out.events.rows, dlq: out.dlq.rows, agg: out.agg.rows, aggUpdates: out.aggUpdates.rows };
  const newUsers = out.users.flushTo(out.userRows, seq);
  const files = writeFlush(base, { events: out.events, dlq: out.dlq, agg: out.agg, aggUpdates: out.aggUpdates, users: out.userRows });
  // The ids accepted since the last flush, for the dedupe index once this flush is committed.
  let idRun: string | null = null;
  if (out.index.pending.size > 0) writeRun((idRun = `${settings.index.runPrefix}-${seq}.ids`), out.index.pending.seal(seq));
  const deadLetterCodes = Object.fromEntries(out.deadLetterCodes);
  out.deadLetterCodes.clear();
  const windowsClosedAtMs = out.windowsClosedAtMs.splice(0);
  send({ t: 'flush', workerIndex: settings.workerIndex, flushSeq: seq, files, idRun, rows, checkpoints, deadLetterCodes, windowsClosedAtMs, received, newUsers });
  received = { atMs: [], records: [] };
}

/** Counts a batch's new records for the freshness metric (batches of one chunk share their time: one entry). */
function noteReceived(atMs: number, records: number): void {
  if (records === 0) return;
  const last = received.atMs.length - 1;
  if (last >= 0 && received.atMs[last] === atMs) received.records[last] += records;
  else {
    received.atMs.push(atMs);
    received.records.push(records);
  }
}

/** Records at or above `from` (records are in offset order; those below it are replays the actor skips). */
function newRecords(records: RawRecord[], from: number): number {
  if (records[0].offset >= from) return records.length;
  let n = 0;
  for (const r of records) if (r.offset >= from) n++;
  return n;
}

// This thread's event-loop delay, for the per-thread lag metric (a busy worker shows it here first).
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();

let lookupsReported: LookupStats = { filterMaybes: 0, runReads: 0 };

function reportWatermarks(): void {
  const partitions: number[] = [];
  const watermarksMs: number[] = [];
  let openWindows = 0;
  for (const [p, a] of actors) {
    partitions.push(p);
    watermarksMs.push(a.watermarkMs);
    openWindows += a.openWindows;
  }
  const eventLoopLagMs = loopDelay.max / 1e6;
  loopDelay.reset();
  const { filterMaybes, runReads } = out.index.stats;
  const indexLookups = { filterMaybes: filterMaybes - lookupsReported.filterMaybes, runReads: runReads - lookupsReported.runReads };
  lookupsReported = { filterMaybes, runReads };
  const { heapTotal, external } = process.memoryUsage();
  send({ t: 'watermarks', partitions, watermarksMs, openWindows, eventLoopLagMs, indexLookups, memory: { heapBytes: heapTotal, externalBytes: external } });
}

function onBatch(msg: ToWorkerData): void {
  const now = Date.now();
  const byPartition = new Map<number, RawRecord[]>();
  const { index, offsets, data } = msg;
  for (let i = 0, r = 0; i < index.length; i += 3, r++) {
    const partition = index[i];
    let list = byPartition.get(partition);
    if (!list) byPartition.set(partition, (list = []));
    list.push({ partition, offset: offsets[r], bytes: data.subarray(index[i + 1], index[i + 2]) });
  }
  let taken = 0;
  const shares: [PartitionActor, RawRecord[]][] = [];
  for (const [p, records] of byPartition) {
    const actor = actors.get(p);
    // A partition handed to another daemon: records routed before the hand-off but sent after it are its new
    // owner's to read (from the checkpoint this worker's last flush left).
    if (actor) shares.push([actor, records]);
  }
  out.ahead.begin(shares.map(([, records]) => records));
  out.users.batchBegins();
  for (const [actor, records] of shares) {
    taken += newRecords(records, actor.nextOffsetToRead);
    actor.processBatch(records, msg.receivedAtMs, now);
    out.ahead.next();
  }
  out.ahead.end();
  out.users.batchEnds();
  noteReceived(msg.receivedAtMs, taken);
  batchesProcessed++;
  send({ t: 'processed', seq: msg.seq });
  if (settings.crashAfterBatches !== null && batchesProcessed >= settings.crashAfterBatches) {
    // Test-only fault injection: die the way a bug would, with rows buffered and not yet flushed.
    throw new Error(`test fault injection: worker ${settings.workerIndex} crashes after ${batchesProcessed} batches`);
  }
  if (out.events.rows + out.dlq.rows >= settings.flushRows || windowsWaiting()) flush();
}

function handle(msg: ToWorker): void {
  switch (msg.t) {
    case 'init': {
      settings = msg.settings;
      // Chunks spilled by this worker's earlier thread, which died before its flush: those rows are replayed.
      removeSpills(settings.spoolDir, settings.workerIndex);
      tables = EnrichmentTables.fromSnapshot(msg.tables);
      const channel = UserLookupClient.create(settings.userLookupTimeoutMs);
      port.postMessage({ t: 'users-port', port: channel.remote, flag: channel.flag } satisfies FromWorker, [channel.remote]);
      out = actorOutput(() => tables, new IndexView(settings.index.filter, settings.index.runs), new UserCache(settings.userCache, (ids) => channel.client.lookup(ids), new KnownUsers(settings.knownUsers)),
        spillFiles(settings.spoolDir, settings.workerIndex, threadId));
      avro = settings.avroWriterSchema ? new AvroDecoder(settings.avroWriterSchema) : null;
      confluent = settings.confluent
        ? new ConfluentAvro(settings.confluent.schemas, { unusable: settings.confluent.unusable, unknownHint: settings.confluent.unknownHint })
        : null;
      // Ticks at a quarter of the flush interval: a tick at the interval itself, a hair early, would put the flush
      // off to the next one and double the wait.
      timer = setInterval(() => guarded(() => {
        if (Date.now() - lastFlushAt >= settings.flushIntervalMs || windowsWaiting()) flush();
        reportWatermarks();
        for (const a of actors.values()) a.onTick(Date.now());
      }), Math.max(10, Math.min(settings.flushIntervalMs / 4, 1000)));
      send({ t: 'ready', workerIndex: settings.workerIndex });
      return;
    }
    case 'start-actors': {
      const restoreByPartition = new Map(msg.restore.map((r) => [r.checkpoint.partition, r]));
      for (const p of msg.partitions) {
        // Started anew from the warehouse: so are its users (another owner may have changed them meanwhile).
        out.users.dropPartition(p);
        out.users.preload(restoreByPartition.get(p)?.users ?? [], p);
        const actor = new PartitionActor({ ...actorRules(settings), partition: p, origin: settings.index.origin, avro, confluent, cutsOversized: settings.cutsOversized }, out);
        actor.start(restoreByPartition.get(p) ?? null);
        actors.set(p, actor);
      }
      return;
    }
    case 'batch':
      return onBatch(msg);
    case 'watermark': {
      const idle = new Set(msg.idlePartitions);
      for (const [p, a] of actors) a.onWatermark(msg.engineWatermarkMs, idle.has(p));
      return;
    }
    case 'tables':
      tables = EnrichmentTables.fromSnapshot(msg.tables);
      return;
    case 'schemas':
      // Shared by every actor of this thread, so all of them see the new ids at once.
      confluent?.add(msg.schemas, msg.unusable);
      return;
    case 'end':
      for (const a of actors.values()) a.endOfInput();
      flush();
      send({ t: 'log', level: 'debug', msg: 'worker utilisation', fields: { elu: Math.round(performance.eventLoopUtilization().utilization * 100) } });
      reportWatermarks();
      send({ t: 'ended', workerIndex: settings.workerIndex });
      return;
    case 'drain':
      flush();
      reportWatermarks();
      send({ t: 'drained', workerIndex: settings.workerIndex });
      return;
    case 'index':
      out.index.removeRuns(msg.remove);
      out.index.addRuns(msg.add);
      if (msg.filter) out.index.setFilter(msg.filter);
      if (msg.releasedSeq !== null) {
        out.index.pending.release(msg.releasedSeq);
        out.users.committed(msg.releasedSeq);
      }
      return;
    case 'revoke': {
      flush();
      for (const p of msg.partitions) {
        actors.get(p)?.close();
        actors.delete(p);
        out.users.dropPartition(p);
      }
      send({ t: 'revoked', workerIndex: settings.workerIndex, partitions: msg.partitions });
      return;
    }
    default:
      unreachable(msg);
  }
}

let dead = false;

/** Runs a message's or a tick's work; a failure is reported with its code, then the thread dies. */
function guarded(work: () => void): void {
  if (dead) return;
  try {
    work();
  } catch (err) {
    dead = true;
    if (timer) clearInterval(timer);
    // Report, then die: the supervisor rebuilds this worker's actors from the warehouse and replays.
    send({ t: 'fatal', error: toWire(err) });
    setImmediate(() => {
      throw err;
    });
  }
}

port.on('message', (msg: ToWorker) => guarded(() => handle(msg)));

/**
 * Every message between the supervisor (main thread) and the worker threads. A batch's bytes sit in a
 * SharedArrayBuffer the worker reads in place (no copy); there is never one message per event.
 */
import type { ActorRestore, Checkpoint, FlushFiles } from '../contract/checkpoint.ts';
import type { ActorRules } from '../contract/rules.ts';
import type { LookupStats } from '../dedupe/lookup.ts';
import type { ThreadMemory } from '../observability/memory-metrics.ts';
import type { WireError } from '../errors.ts';
import type { TableSnapshot } from '../enrich/tables.ts';
import type { MessagePort } from 'node:worker_threads';
import type { StoredUserState } from '../users/state.ts';

/** What a worker needs to know about the engine, sent once at start. */
export interface WorkerSettings extends ActorRules {
  workerIndex: number;
  source: string;
  format: 'ndjson' | 'avro';
  avroWriterSchema: string | null;
  /** The source hands on lines over the size limit as stand-ins (src/contract/oversized.ts). */
  cutsOversized: boolean;
  /** Confluent-framed Avro on Kafka, or null when no schema source is configured (framed records are then JSON). */
  confluent: ConfluentSchemaSet | null;
  spoolDir: string;
  flushRows: number;
  flushIntervalMs: number;
  crashAfterBatches: number | null;
  logLevel: string;
  /** The dedupe index: its runs and filter, this source's origin, and where this worker writes its flush runs. */
  index: WorkerIndex;
  /** The users the warehouse may have (src/users/known-users.ts). */
  knownUsers: SharedArrayBuffer;
  /** User states this thread keeps (GAMESTREAM_USER_STATE_CACHE over the worker threads). */
  userCache: number;
  /** How long a read of user states from the warehouse may take before the worker gives up. */
  userLookupTimeoutMs: number;
}

export interface WorkerIndex {
  runs: string[];
  filter: SharedArrayBuffer;
  origin: number;
  /** Flush runs are written to `${runPrefix}-${flushSeq}.ids`. */
  runPrefix: string;
}

/** Schemas for Confluent-framed records: every id the supervisor knows when the worker starts. */
export interface ConfluentSchemaSet {
  /** Schema id → Avro schema JSON. */
  schemas: Record<string, string>;
  /** Schema id → why it cannot decode Avro (for the dead letter's message). */
  unusable: Record<string, string>;
  /** Where an unknown id was looked for, for the dead letter's message. */
  unknownHint: string;
}

/*
 * Messages come in three kinds, as in stream engines: data (the records and what is made of them), signals (time:
 * watermarks, and a mailbox slot freed) and control (the lifecycle, settings, tables, the dedupe index).
 */

/** Records of this worker's partitions. */
export type ToWorkerData = {
  t: 'batch';
  seq: number;
  receivedAtMs: number;
  data: Uint8Array;
  /** [partition, start, end] per record, into `data` */
  index: Int32Array;
  offsets: Float64Array;
};

/** The engine watermark, and which partitions are idle (they follow it). */
export type ToWorkerSignal = { t: 'watermark'; engineWatermarkMs: number; idlePartitions: number[] };

export type ToWorkerControl =
  | { t: 'init'; settings: WorkerSettings; tables: TableSnapshot }
  | { t: 'start-actors'; partitions: number[]; restore: ActorRestore[] }
  | { t: 'tables'; tables: TableSnapshot }
  // Schemas resolved since start; always posted before the first batch that uses them.
  | { t: 'schemas'; schemas: Record<string, string>; unusable: Record<string, string> }
  | { t: 'end' } // end of input: close every window, flush
  | { t: 'drain' } // shutdown: flush, keep windows open (they are rebuilt on restart)
  | { t: 'revoke'; partitions: number[] }
  // The dedupe index changed: runs added (committed flushes, merges) or removed (merged, expired), a rebuilt
  // filter; and this worker's flushes up to releasedSeq are in it, so their pending ids may go.
  | { t: 'index'; add: string[]; remove: string[]; filter: SharedArrayBuffer | null; releasedSeq: number | null };

export type ToWorker = ToWorkerData | ToWorkerSignal | ToWorkerControl;

/** The rows, dead letters and dedupe run of one flush, with the checkpoints they reach. */
export type FromWorkerData = {
  t: 'flush';
  workerIndex: number;
  flushSeq: number;
  files: FlushFiles;
  /** The run file of the ids this flush accepted, for the dedupe index (null: none). */
  idRun: string | null;
  rows: { events: number; dlq: number; agg: number; aggUpdates: number };
  checkpoints: Checkpoint[];
  /** Dead letters in these files per reason code. */
  deadLetterCodes: Record<string, number>;
  /** When each window in these files closed (wall clock), for the emit latency. */
  windowsClosedAtMs: number[];
  /**
   * When the records this flush covers were received, for the freshness metric: per batch, the time the
   * supervisor stamped on it (`receivedAtMs`) and how many of its records were new to their actors (replays
   * after a restart are not). Absent: none.
   */
  received?: { atMs: number[]; records: number[] };
  /** Users this flush adds to the warehouse, for the supervisor's filter of known users once it is committed. */
  newUsers?: string[];
};

export type FromWorkerSignal =
  | { t: 'processed'; seq: number } // a batch is done: its mailbox slot is free
  | {
      t: 'watermarks';
      partitions: number[];
      watermarksMs: number[];
      /** Windows open over this worker's actors. */
      openWindows: number;
      /** Longest event-loop delay of the thread since its last report. */
      eventLoopLagMs: number;
      /** Dedupe lookups since its last report that the filter could not settle (see LookupStats). */
      indexLookups: LookupStats;
      /** The thread's V8 heap and what its objects hold outside it, for the memory gauges. */
      memory: ThreadMemory;
    };

export type FromWorkerControl =
  | { t: 'ready'; workerIndex: number }
  // Sent once at init, with `port` transferred: the channel the worker reads user states through (src/users/).
  | { t: 'users-port'; port: MessagePort; flag: SharedArrayBuffer }
  | { t: 'ended'; workerIndex: number }
  | { t: 'drained'; workerIndex: number }
  | { t: 'revoked'; workerIndex: number; partitions: number[] }
  | { t: 'fatal'; error: WireError }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> };

export type FromWorker = FromWorkerData | FromWorkerSignal | FromWorkerControl;

/** On the user-state channel (src/users/lookup-channel.ts): the users a worker needs, and the answer. */
export type UserLookupRequest = { userIds: string[] };
export type UserLookupReply = { states: StoredUserState[] } | { error: WireError };

/** For the default of a switch over a message type: it fails to compile when a message kind has no case. */
export function unreachable(msg: never): never {
  throw new Error(`unexpected message ${JSON.stringify(msg)}`);
}

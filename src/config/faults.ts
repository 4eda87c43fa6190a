/**
 * Fault injection, for the project's own tests: a slow warehouse or open, a crashing worker thread, a daemon killed
 * between a BigQuery commit record and its streams, a handle nobody closes. These are not settings a user has, so
 * they are kept out of `Config` and out of `gamestream env` and docs/OPERATIONS.md; the engine gets them as one
 * object, and a production start gets `NO_FAULTS` unless the variables are set.
 *
 * They are parsed with the daemon's configuration (loadConfig reports their problems with the others), from
 * GAMESTREAM_TEST_* variables so that a test can set them on a child process.
 */
import { GamestreamError } from '../errors.ts';
import { boolFlag, duration, integer, ValueError } from './parsers.ts';
import { parseVars, type VarSpec } from './vars.ts';

export interface Faults {
  /** This worker thread throws after that many batches, in its first incarnation (or every one: `always`). */
  crashWorker: { worker: number; afterBatches: number; always: boolean } | null;
  /** Every warehouse commit waits this long first. */
  commitDelayMs: number;
  /** Every claim of adopted partitions waits this long first (a slow claim append). */
  claimDelayMs: number;
  /** The daemon leaves a timer running; the command must exit all the same. */
  leakHandle: boolean;
  /** The warehouse opens this much later, as a slow open (a long WAL replay) would. */
  openDelayMs: number;
  /** BigQuery: SIGKILL right after the n-th commit record landed (0: never). */
  killAfterCommitRecord: number;
  /** BigQuery: SIGSTOP right before the n-th commit record is appended, past every check before it (0: never). */
  stopBeforeCommitRecord: number;
}

export const NO_FAULTS: Faults = Object.freeze({ crashWorker: null, commitDelayMs: 0, claimDelayMs: 0, leakHandle: false, openDelayMs: 0, killAfterCommitRecord: 0, stopBeforeCommitRecord: 0 });

function f<K extends keyof Faults>(spec: VarSpec<Faults, K>): VarSpec<Faults, K> {
  return spec;
}

function crashSpec(raw: string): Faults['crashWorker'] {
  if (raw.trim() === '') return null;
  const m = /^(\d+):(\d+)(:always)?$/.exec(raw.trim());
  if (!m) throw new ValueError('<worker index>:<batches before the crash>[:always], for example 0:5 (testing only)');
  return { worker: Number(m[1]), afterBatches: Number(m[2]), always: m[3] !== undefined };
}

export const FAULT_VARS = [
  f({ name: 'GAMESTREAM_TEST_CRASH_WORKER', key: 'crashWorker', default: '', allowed: '<worker>:<batches>[:always], for tests only',
    doc: 'The given worker thread crashes after processing that many batches, once (or after every restart with :always).', parse: crashSpec }),
  f({ name: 'GAMESTREAM_TEST_COMMIT_DELAY', key: 'commitDelayMs', default: '0', allowed: '0–1m, for tests only',
    doc: 'Every warehouse commit waits this long first, as a slow warehouse would.', parse: duration(0, 60_000) }),
  f({ name: 'GAMESTREAM_TEST_CLAIM_DELAY', key: 'claimDelayMs', default: '0', allowed: '0–1m, for tests only',
    doc: 'With a consumer group and a shared warehouse, every claim of adopted partitions waits this long before it is appended, as a slow append would.', parse: duration(0, 60_000) }),
  f({ name: 'GAMESTREAM_TEST_LEAK_HANDLE', key: 'leakHandle', default: 'off', allowed: 'on | off, for tests only',
    doc: 'The daemon leaves a timer running, as a library that does not let go of a handle would.', parse: boolFlag }),
  f({ name: 'GAMESTREAM_TEST_OPEN_DELAY', key: 'openDelayMs', default: '0', allowed: '0–1m, for tests only',
    doc: 'The warehouse opens this much later, as a slow open (a long DuckDB WAL replay) would.', parse: duration(0, 60_000) }),
  f({ name: 'GAMESTREAM_TEST_KILL_AFTER_COMMIT_RECORD', key: 'killAfterCommitRecord', default: '0', allowed: '0 (off) or a count, for tests only',
    doc: 'BigQuery: the daemon kills itself with SIGKILL right after its n-th commit record landed, before the streams it names are committed.', parse: integer(0, 1_000_000) }),
  f({ name: 'GAMESTREAM_TEST_STOP_BEFORE_COMMIT_RECORD', key: 'stopBeforeCommitRecord', default: '0', allowed: '0 (off) or a count, for tests only',
    doc: 'BigQuery: the daemon freezes itself with SIGSTOP right before its n-th commit record is appended, as a stall (GC, a frozen VM) at the worst moment would; the test sends SIGCONT.', parse: integer(0, 1_000_000) }),
] as const;

/** The faults the environment asks for and the problems with them, one line each; `workers` bounds the crash. */
export function parseFaults(env: NodeJS.ProcessEnv, workers: number): { faults: Faults; problems: string[] } {
  const { values, problems } = parseVars<Faults>(FAULT_VARS as readonly VarSpec<Faults, keyof Faults>[], env);
  const faults = { ...NO_FAULTS, ...values } as Faults;
  if (faults.crashWorker && faults.crashWorker.worker >= workers) {
    problems.push(`GAMESTREAM_TEST_CRASH_WORKER names worker ${faults.crashWorker.worker}, but GAMESTREAM_WORKERS=${workers} (workers are numbered from 0)`);
  }
  return { faults, problems };
}

/** The faults to inject, for a configuration loadConfig has accepted (it reports these problems with its own). */
export function loadFaults(env: NodeJS.ProcessEnv, workers: number): Faults {
  const { faults, problems } = parseFaults(env, workers);
  if (problems.length > 0) throw new GamestreamError('config_invalid', `invalid configuration:\n  ${problems.join('\n  ')}`);
  return faults;
}

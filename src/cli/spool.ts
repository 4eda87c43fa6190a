/**
 * Scratch folders, one per process, named by its pid so the next process removes those of processes that died
 * without cleaning up. The spool holds the row files workers hand to the warehouse, in RAM-backed /dev/shm when
 * present and large enough: the files live for about one flush interval and never need to survive a crash (the
 * warehouse checkpoint decides what is replayed).
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { makeDir, mib, roomOf } from '../dirs.ts';
import { join } from 'node:path';
import { processAlive } from '../pid.ts';

/**
 * Bytes of row file a byte of record becomes, rounded up: 550 against 379 on the 1M-event bench (the enrichment
 * adds columns). Every row in the spool is of a record not yet committed, and those are bounded by
 * GAMESTREAM_MAX_UNCOMMITTED_BYTES (the source waits), so the spool is too: it peaked at 192 MiB on that bench with
 * the default 256 MiB, and a run with 4 MiB went through an 8 MiB spool.
 */
const ROW_BYTES_PER_RECORD_BYTE = 1.5;

/** What bounds the spool: GAMESTREAM_MAX_UNCOMMITTED_BYTES. */
export interface SpoolNeed {
  maxUncommittedBytes: number;
}

/** The most the spool is expected to hold: the rows of every record not yet committed. */
export function spoolNeedBytes({ maxUncommittedBytes }: SpoolNeed): number {
  return Math.ceil(ROW_BYTES_PER_RECORD_BYTE * maxUncommittedBytes);
}

export interface SpoolChoice {
  /** The folder made for this process. */
  dir: string;
  /** Why the spool is not where it would go by default, or that the configured folder is small: for the log. */
  warning: string | null;
}

const PREFIX = 'gamestream-spool';

/**
 * `fallbackParent`: where the folder goes when none is configured and /dev/shm is missing or has less free room
 * than the spool may need (Docker gives a container 64 MB of it, and a full spool makes the workers fail). A
 * configured folder is used as given, with a warning when it is that small. Folders of processes that are gone
 * are removed first, so that they do not count against the room.
 */
export function createSpoolDir(
  configured: string | null,
  fallbackParent: string,
  need: SpoolNeed = { maxUncommittedBytes: 0 },
  freeBytes: (dir: string) => number | null = (dir) => roomOf(dir)?.free ?? null,
  shm = '/dev/shm',
): SpoolChoice {
  const needBytes = spoolNeedBytes(need);
  const sizing = `the ${mib(needBytes)} its row files may take (the rows of up to GAMESTREAM_MAX_UNCOMMITTED_BYTES=${mib(need.maxUncommittedBytes)} `
    + `of records not yet committed, about ${ROW_BYTES_PER_RECORD_BYTE} bytes of row a byte of record)`;
  let parent: string;
  let warning: string | null = null;
  if (configured) {
    makeDir(configured, 'GAMESTREAM_SPOOL_DIR');
    parent = configured;
    removeStale(parent, PREFIX);
    const free = freeBytes(parent);
    if (free !== null && free < needBytes) {
      warning = `GAMESTREAM_SPOOL_DIR: ${parent} has ${mib(free)} free, less than ${sizing}. A spool that fills up makes its worker fail `
        + 'with spool_full and start again, and the daemon stops with crash_loop when that repeats: give the folder more room, or lower '
        + 'GAMESTREAM_MAX_UNCOMMITTED_BYTES (reading then waits for commits sooner)';
    }
  } else {
    removeStale(shm, PREFIX);
    // Room unknown (statfs refused): /dev/shm as before this check existed.
    const shmFree = existsSync(shm) ? (freeBytes(shm) ?? Infinity) : null;
    if (shmFree !== null && shmFree >= needBytes) parent = shm;
    else {
      parent = fallbackParent;
      if (shmFree !== null) {
        const shmSize = Math.ceil(needBytes / (64 << 20)) * 64;
        warning = `the spool is in ${fallbackParent}, not ${shm}: ${shm} has ${mib(shmFree)} free, less than ${sizing}. To keep it in RAM, give `
          + `${shm} that much (docker run --shm-size ${shmSize}m) or lower GAMESTREAM_MAX_UNCOMMITTED_BYTES; GAMESTREAM_SPOOL_DIR chooses the folder`;
      }
    }
    makeDir(parent, 'GAMESTREAM_WAREHOUSE (its folder holds the spool)');
  }
  return { dir: ownFolder(parent, PREFIX, 'GAMESTREAM_SPOOL_DIR'), warning };
}

/**
 * Removes the `<prefix>-<pid>` folders of processes that are gone, and one named by this process's pid, which can
 * only be left from an earlier process: in a container the daemon is always pid 1.
 */
function removeStale(parent: string, prefix: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return; // missing or unreadable: nothing of ours is there
  }
  const named = new RegExp(`^${prefix}-(\\d+)$`);
  for (const name of names) {
    const m = named.exec(name);
    if (m && (Number(m[1]) === process.pid || !processAlive(Number(m[1])))) rmSync(join(parent, name), { recursive: true, force: true });
  }
}

/**
 * The folder `gamestream dlq replay` copies its claimed letters into, in the system's temporary folder. A replay
 * killed with -9 cannot remove it, so the next one removes the folders of replays no longer running.
 */
export function createReplaySpoolDir(parent: string): string {
  return ownFolder(parent, 'gamestream-replay', 'TMPDIR (the system temporary folder)');
}

/** `<parent>/<prefix>-<pid>`, empty, after removing the folders of earlier processes that died without cleaning up. */
function ownFolder(parent: string, prefix: string, setting: string): string {
  removeStale(parent, prefix);
  const dir = join(parent, `${prefix}-${process.pid}`);
  makeDir(dir, setting);
  return dir;
}

export function removeSpoolDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

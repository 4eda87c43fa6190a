/**
 * Scratch folders, one per process, named by its pid so the next process removes those of processes that died
 * without cleaning up. The spool holds the row files workers hand to the warehouse, in RAM-backed /dev/shm when
 * present and large enough: the files live for about one flush interval and never need to survive a crash (the
 * warehouse checkpoint decides what is replayed).
 */
import { existsSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { makeDir } from '../dirs.ts';
import { join } from 'node:path';
import { processAlive } from '../pid.ts';

/**
 * Bytes a row takes in a row file, rounded up: the 1M-event bench's rows average about 550. The spool holds
 * about two flushes a worker (the one its commit waits for and the one filling): 192 MiB at its peak on that
 * bench with one worker and GAMESTREAM_FLUSH_ROWS at 200,000.
 */
const ROW_BYTES = 600;

/** What the spool may hold at once with these settings: two flushes of `flushRows` rows a worker. */
export function spoolNeedBytes(workers: number, flushRows: number): number {
  return 2 * workers * flushRows * ROW_BYTES;
}

export interface SpoolChoice {
  /** The folder made for this process. */
  dir: string;
  /** Why the spool is not where it would go by default, or that the configured folder is small: for the log. */
  warning: string | null;
}

/**
 * `fallbackParent`: where the folder goes when none is configured and /dev/shm is missing or has less free room
 * than `needBytes` (Docker gives a container 64 MB of it: a full spool would stop the daemon). A configured folder
 * is used as given, with a warning when it is that small.
 */
export function createSpoolDir(
  configured: string | null,
  fallbackParent: string,
  needBytes = 0,
  freeBytes: (dir: string) => number | null = freeBytesOf,
  shm = '/dev/shm',
): SpoolChoice {
  const need = `the ${mib(needBytes)} its row files may take (two flushes of GAMESTREAM_FLUSH_ROWS rows a worker, about ${ROW_BYTES} bytes a row)`;
  let parent: string;
  let warning: string | null = null;
  if (configured) {
    makeDir(configured, 'GAMESTREAM_SPOOL_DIR');
    parent = configured;
    const free = freeBytes(parent);
    if (free !== null && free < needBytes) {
      warning = `GAMESTREAM_SPOOL_DIR: ${parent} has ${mib(free)} free, less than ${need}; a full spool stops the daemon: give it more room or lower GAMESTREAM_FLUSH_ROWS`;
    }
  } else {
    const shmFree = existsSync(shm) ? freeBytes(shm) : null;
    if (shmFree !== null && shmFree >= needBytes) parent = shm;
    else {
      parent = fallbackParent;
      if (shmFree !== null) {
        warning = `the spool is in ${fallbackParent}, not ${shm}: ${shm} has ${mib(shmFree)} free, less than ${need}. Give ${shm} more room (docker run --shm-size 512m) or set GAMESTREAM_SPOOL_DIR`;
      }
    }
    makeDir(parent, 'GAMESTREAM_WAREHOUSE (its folder holds the spool)');
  }
  return { dir: ownFolder(parent, 'gamestream-spool', 'GAMESTREAM_SPOOL_DIR'), warning };
}

/** Free bytes for an unprivileged writer on the folder's file system, or null when it cannot be read. */
function freeBytesOf(dir: string): number | null {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

const mib = (bytes: number): string => `${Math.round(bytes / (1 << 20))} MiB`;

/**
 * The folder `gamestream dlq replay` copies its claimed letters into, in the system's temporary folder. A replay
 * killed with -9 cannot remove it, so the next one removes the folders of replays no longer running.
 */
export function createReplaySpoolDir(parent: string): string {
  return ownFolder(parent, 'gamestream-replay', 'TMPDIR (the system temporary folder)');
}

/** `<parent>/<prefix>-<pid>`, after removing the folders of earlier processes that died without cleaning up. */
function ownFolder(parent: string, prefix: string, setting: string): string {
  const named = new RegExp(`^${prefix}-(\\d+)$`);
  for (const name of readdirSync(parent)) {
    const m = named.exec(name);
    if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))) rmSync(join(parent, name), { recursive: true, force: true });
  }
  const dir = join(parent, `${prefix}-${process.pid}`);
  makeDir(dir, setting);
  return dir;
}

export function removeSpoolDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Scratch folders, one per process, named by its pid so the next process removes those of processes that died
 * without cleaning up. The spool holds the row files workers hand to the warehouse, in RAM-backed /dev/shm when
 * present: the files live for about one flush interval and never need to survive a crash (the warehouse
 * checkpoint decides what is replayed).
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { makeDir } from '../dirs.ts';
import { join } from 'node:path';
import { processAlive } from '../pid.ts';

/** `fallbackParent`: where the folder goes when neither a configured one nor /dev/shm exists. */
export function createSpoolDir(configured: string | null, fallbackParent: string): string {
  const parent = configured ?? (existsSync('/dev/shm') ? '/dev/shm' : fallbackParent);
  makeDir(parent, configured ? 'GAMESTREAM_SPOOL_DIR' : 'GAMESTREAM_WAREHOUSE (its folder holds the spool)');
  return ownFolder(parent, 'gamestream-spool', 'GAMESTREAM_SPOOL_DIR');
}

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

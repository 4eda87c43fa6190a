/**
 * Scratch folder for the row files workers hand to the warehouse. RAM-backed /dev/shm when present: the files
 * live for about one flush interval and never need to survive a crash (the warehouse checkpoint decides what
 * is replayed).
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { makeDir } from '../dirs.ts';
import { join } from 'node:path';
import { processAlive } from '../pid.ts';

/** `fallbackParent`: where the folder goes when neither a configured one nor /dev/shm exists. */
export function createSpoolDir(configured: string | null, fallbackParent: string): string {
  const parent = configured ?? (existsSync('/dev/shm') ? '/dev/shm' : fallbackParent);
  makeDir(parent, configured ? 'GAMESTREAM_SPOOL_DIR' : 'GAMESTREAM_WAREHOUSE (its folder holds the spool)');
  // Folders of earlier runs that died without cleaning up.
  for (const name of readdirSync(parent)) {
    const m = /^gamestream-spool-(\d+)$/.exec(name);
    if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))) rmSync(join(parent, name), { recursive: true, force: true });
  }
  const dir = join(parent, `gamestream-spool-${process.pid}`);
  makeDir(dir, 'GAMESTREAM_SPOOL_DIR');
  return dir;
}

export function removeSpoolDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

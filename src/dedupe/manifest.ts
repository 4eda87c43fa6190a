/**
 * The dedupe index's directory: its manifest (which runs make up the index, which sources it knows, how far
 * each source partition is in it) and its lock.
 *
 * The manifest names only runs whose entries are committed to the warehouse, and is rewritten whole (through a
 * temporary file and a rename) each time runs are added or merged. Files the manifest does not name are left
 * over from a crash (a flush's run whose commit never came, a merge cut short) and are removed at open.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { GamestreamError } from '../errors.ts';
import { makeDir } from '../dirs.ts';
import { processAlive } from '../pid.ts';
import { MAX_ORIGINS } from './entries.ts';

const VERSION = 1;
const MANIFEST = 'manifest.json';
const LOCK = 'lock';

export interface RunEntry {
  file: string;
  count: number;
  minSeenMs: number;
  maxSeenMs: number;
  /** Merge level: 0 for a flush or catch-up run, n+1 for a merge of level-n runs. */
  level: number;
}

export interface Mark {
  next: number;
  maxEventMs: number | null;
}

export interface PendingRuns {
  files: string[];
  /** The checkpoints the commit carries, for the origin's partitions. */
  origin: number;
  checkpoints: { partition: number; next: number; maxEventMs: number | null }[];
}

export interface ManifestData {
  version: number;
  /** The warehouse this index belongs to (see Warehouse.identity): another one means the index is stale. */
  warehouseId: string;
  /** Source names; an entry's origin is its position here. */
  origins: string[];
  runs: RunEntry[];
  /**
   * `${origin}/${partition}` → how far the runs hold that partition's committed ids: everything before `next`,
   * and the partition's max event time there (what an id read back after it counts as seen from).
   */
  marks: Record<string, Mark>;
  /**
   * Runs of flushes being committed: named here before the warehouse commit, so that a crash between the commit
   * and their registration loses nothing. At open, those whose checkpoints the warehouse reached join the index,
   * the others are dropped.
   */
  pending: PendingRuns[];
  /** The newest "seen" time the index has held (expiry counts back from it); null when empty. */
  maxSeenMs: number | null;
  /** Number for the next run file name. */
  nextRun: number;
}

export function emptyManifest(warehouseId: string): ManifestData {
  return { version: VERSION, warehouseId, origins: [], runs: [], marks: {}, pending: [], maxSeenMs: null, nextRun: 1 };
}

/** Directories this process holds the lock of. */
const lockedHere = new Set<string>();

export class IndexDirectory {
  readonly dir: string;
  private lockFd = -1;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the directory if needed and takes its lock; a live process holding it is an error that says what to do. */
  lock(setting: string): void {
    makeDir(this.dir, setting);
    const path = join(this.dir, LOCK);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        this.lockFd = openSync(path, 'wx');
        writeSync(this.lockFd, String(process.pid));
        lockedHere.add(this.dir);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new GamestreamError('config_invalid', `${setting}: cannot lock the dedupe index directory ${this.dir}: ${(err as Error).message}`, { cause: err });
        }
      }
      const holder = Number(readFileSync(path, 'utf8').trim());
      // Our own pid: held here, or left by an earlier process that had the same pid (a container's pid 1).
      const inUse = holder === process.pid ? lockedHere.has(this.dir) : Number.isSafeInteger(holder) && holder > 0 && processAlive(holder);
      if (inUse) {
        throw new GamestreamError('config_invalid',
          `${setting}: the dedupe index ${this.dir} is in use by process ${holder}. Each daemon needs a directory of its own: set ${setting} to another path for this one (or, if process ${holder} is no gamestream daemon, delete ${path}).`);
      }
      // Left by a process that is gone.
      unlinkSync(path);
    }
    throw new GamestreamError('config_invalid', `${setting}: cannot lock the dedupe index directory ${this.dir}`);
  }

  unlock(): void {
    if (this.lockFd < 0) return;
    closeSync(this.lockFd);
    this.lockFd = -1;
    rmSync(join(this.dir, LOCK), { force: true });
    lockedHere.delete(this.dir);
  }

  /** The manifest, or null when there is none or it cannot be read (the index is then rebuilt). */
  load(): ManifestData | null {
    const path = join(this.dir, MANIFEST);
    if (!existsSync(path)) return null;
    try {
      const m = JSON.parse(readFileSync(path, 'utf8')) as ManifestData;
      if (m.version !== VERSION || !Array.isArray(m.runs) || !Array.isArray(m.origins) || typeof m.marks !== 'object' || !Array.isArray(m.pending)) return null;
      return m;
    } catch {
      return null;
    }
  }

  save(m: ManifestData): void {
    const tmp = join(this.dir, `${MANIFEST}.${randomUUID().slice(0, 8)}.tmp`);
    writeFileSync(tmp, JSON.stringify(m));
    renameSync(tmp, join(this.dir, MANIFEST));
  }

  path(file: string): string {
    return join(this.dir, file);
  }

  /** Removes every file but the manifest, the lock and the runs it names (left over from a crash). */
  removeStray(m: ManifestData): number {
    const keep = new Set([MANIFEST, LOCK, ...m.runs.map((r) => r.file), ...m.pending.flatMap((p) => p.files)]);
    let removed = 0;
    for (const f of readdirSync(this.dir)) {
      if (keep.has(f)) continue;
      rmSync(join(this.dir, f), { force: true, recursive: true });
      removed++;
    }
    return removed;
  }
}

/** The origin number of a source, adding it to the manifest when new. */
export function originOf(m: ManifestData, source: string): number {
  const i = m.origins.indexOf(source);
  if (i >= 0) return i;
  if (m.origins.length >= MAX_ORIGINS) throw new GamestreamError('internal', `the dedupe index knows ${MAX_ORIGINS} sources, its limit`);
  return m.origins.push(source) - 1;
}

export function markKey(origin: number, partition: number): string {
  return `${origin}/${partition}`;
}

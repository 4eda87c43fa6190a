/**
 * Making the directories a setting names. Node's `mkdirSync(p, { recursive: true })` never returns for a path
 * under /proc (it retries the parent for ever, and the blocked event loop then ignores SIGTERM), so the path is
 * made one component at a time, and any failure becomes one clear error that names the setting and the value.
 */
import { mkdirSync, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { GamestreamError } from './errors.ts';

const WHY: Record<string, string> = {
  ENOENT: 'a parent cannot hold directories (a virtual file system such as /proc?)',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
};

/** Creates `dir` and its missing parents; `setting` (e.g. GAMESTREAM_DEDUPE_DIR) is named in the error. */
export function makeDir(dir: string, setting: string): void {
  const target = resolve(dir);
  const missing: string[] = [];
  for (let p = target; ; p = dirname(p)) {
    let isDir: boolean | null = null;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw failed(setting, dir, p, err);
    }
    if (isDir === false) throw failed(setting, dir, p, Object.assign(new Error('not a directory'), { code: 'ENOTDIR' }));
    if (isDir) break;
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p);
    } catch (err) {
      // Made meanwhile by another process: fine.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(p).isDirectory()) continue;
      throw failed(setting, dir, p, err);
    }
  }
}

function failed(setting: string, dir: string, at: string, err: unknown): GamestreamError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return new GamestreamError('config_invalid',
    `${setting}: cannot create the directory ${dir} (at ${at}: ${WHY[code] ?? (err as Error).message}); point ${setting} at a directory that can be written`,
    { cause: err });
}

/** A folder's file system: the bytes free for an unprivileged writer, and its size; null when it cannot be read. */
export function roomOf(dir: string): { free: number; size: number } | null {
  try {
    const s = statfsSync(dir);
    return { free: s.bavail * s.bsize, size: s.blocks * s.bsize };
  } catch {
    return null;
  }
}

/** Bytes as whole MiB, rounded down, for messages. */
export const mib = (bytes: number): string => `${Math.floor(bytes / (1 << 20))} MiB`;

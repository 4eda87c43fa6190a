/**
 * How `gamestream sql` finds the daemon that holds a DuckDB warehouse: the daemon writes `<file>.daemon.json`
 * beside the warehouse once it holds the file's lock, and removes it when it stops. It names the daemon's PID and
 * the URL of its observability server (null when GAMESTREAM_METRICS_PORT=off). A file left by a daemon that was
 * killed names a PID that is gone; one whose PID was reused is caught by the server, which refuses a request
 * naming another warehouse than its own.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export interface DaemonFile {
  pid: number;
  /** The warehouse as the daemon names it: `duckdb:<absolute path>`. */
  warehouse: string;
  /** Where this machine reaches the observability server (POST /sql); null: the daemon runs without it. */
  url: string | null;
  startedAt: string;
  version: string;
}

export function daemonFilePath(warehousePath: string): string {
  return `${warehousePath}.daemon.json`;
}

/** Written whole (a temporary file renamed), so a reader never sees half of it. */
export function writeDaemonFile(path: string, info: DaemonFile): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info)}\n`);
  renameSync(tmp, path);
}

/** The file's content, or null when there is none or it is not one (a reader then acts as if no daemon ran). */
export function readDaemonFile(path: string): DaemonFile | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text) as Partial<DaemonFile>;
    if (!Number.isSafeInteger(v.pid) || typeof v.warehouse !== 'string' || (v.url !== null && typeof v.url !== 'string')) return null;
    return { pid: v.pid!, warehouse: v.warehouse, url: v.url ?? null, startedAt: String(v.startedAt ?? ''), version: String(v.version ?? '') };
  } catch {
    return null;
  }
}

/** Removes the file if it is still this process's (a later daemon on the same file may have written its own). */
export function removeDaemonFile(path: string, pid = process.pid): void {
  if (readDaemonFile(path)?.pid === pid) rmSync(path, { force: true });
}

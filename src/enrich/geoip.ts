/**
 * IP → country/region/city lookups over a MaxMind DB (.mmdb) file.
 *
 * The database bytes live in one SharedArrayBuffer made on the main thread; every worker thread wraps the same
 * memory with `Buffer.from(sab)` (no copy), so N workers cost one copy of a 60 MB City database, not N.
 *
 * Two record layouts are understood, detected per record:
 * - official MaxMind GeoIP2/GeoLite2 City and Country: `country.iso_code` (else `registered_country.iso_code`),
 *   `subdivisions[0].names.en`, `city.names.en`;
 * - the flat layout of the `@ip-location-db/*-mmdb` packages: `country_code`, `state1`, `city`.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { open as openFile, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gunzipSync } from 'node:zlib';
import { Reader } from 'maxmind';
import { GamestreamError } from '../errors.ts';
import { StringMap } from '../string-map.ts';

export interface GeoResult {
  readonly country: string | null;
  readonly region: string | null;
  readonly city: string | null;
}

export interface GeoIpTableOptions {
  /** Shown in error messages (usually the file path). */
  name?: string;
  /** Entries per generation of the IP → result cache (the cache holds at most twice this). Default 4096. */
  cacheSize?: number;
  /** Entries per generation of the decoded-record cache handed to the maxmind Reader. Default 1024. */
  recordCacheSize?: number;
}

export interface GeoIpInfo {
  readonly databaseType: string;
  readonly buildEpoch: Date;
  readonly ipVersion: number;
  readonly byteLength: number;
}

const NO_RESULT: GeoResult = Object.freeze({ country: null, region: null, city: null });

const DEFAULT_DB_SPECIFIER = '@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb';

/** Shipped default database: CC0 data from ip-location-db, country only (IPv4 + IPv6). */
export function defaultGeoIpPath(): string {
  // createRequire resolves through node_modules from this file, so the answer does not depend on cwd.
  return createRequire(import.meta.url).resolve(DEFAULT_DB_SPECIFIER);
}

/** What a cache generation needs of its map: a Map's, or a StringMap's. */
export interface CacheMap<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): unknown;
  clear(): void;
  readonly size: number;
}

/**
 * A bounded cache with approximately-LRU eviction: two generations of maps. When the young one is full it becomes
 * the old one and the previous old one is dropped whole. A hit in the old generation is promoted. This costs
 * one Map lookup on a hit (a true LRU needs delete + set to reorder) and holds at most 2 × `size` entries.
 */
export class GenerationalCache<K, V> {
  private readonly newMap: () => CacheMap<K, V>;
  private young: CacheMap<K, V>;
  private old: CacheMap<K, V>;
  private readonly size: number;

  /** `newMap`: each generation's map (a StringMap for keys a record's parse has just made). */
  constructor(size: number, newMap: () => CacheMap<K, V> = () => new Map<K, V>()) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`cache size must be a positive integer, got ${size}`);
    this.size = size;
    this.newMap = newMap;
    this.young = newMap();
    this.old = newMap();
  }

  get(key: K): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const o = this.old.get(key);
    if (o !== undefined) this.set(key, o);
    return o;
  }

  set(key: K, value: V): void {
    if (this.young.size >= this.size) {
      this.old = this.young;
      this.young = this.newMap();
    }
    this.young.set(key, value);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  get entries(): number {
    return this.young.size + this.old.size;
  }
}

function invalid(name: string, what: string, cause?: unknown): GamestreamError {
  // Named by its setting, with what may go there instead: the file is the operator's to fix.
  return new GamestreamError('geoip_db_invalid', `GeoIP database ${name}: ${what} (GAMESTREAM_GEOIP_DB: a MaxMind .mmdb or .mmdb.gz file, default or off)`, { cause });
}

function causeText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const isGzipName = (path: string): boolean => path.toLowerCase().endsWith('.gz');
const hasGzipMagic = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

// MMDB spec: the search tree is followed by 16 zero bytes, then the data section, then the metadata.
const DATA_SECTION_SEPARATOR_SIZE = 16;

/**
 * Throws a clear error unless `bytes` hold a MaxMind DB. The maxmind Reader only checks the metadata; the separator
 * check also catches files whose metadata survived but whose tree is cut short.
 */
function openReader(bytes: Buffer, name: string, cache?: GenerationalCache<string | number, unknown>): Reader<any> {
  if (bytes.length === 0) throw invalid(name, 'file is empty');
  let reader: Reader<any>;
  try {
    reader = new Reader<any>(bytes, cache ? { cache } : {});
  } catch (err) {
    throw invalid(name, `not a MaxMind DB (.mmdb) file: ${causeText(err)}`, err);
  }
  const md = reader.metadata;
  if (!md || (md.ipVersion !== 4 && md.ipVersion !== 6) || !(md.nodeCount > 0) || !(md.recordSize > 0)) {
    throw invalid(name, 'not a MaxMind DB (.mmdb) file: metadata is missing or malformed');
  }
  const sep = md.searchTreeSize;
  if (sep + DATA_SECTION_SEPARATOR_SIZE > bytes.length) {
    throw invalid(name, `truncated: search tree needs ${sep + DATA_SECTION_SEPARATOR_SIZE} bytes, file has ${bytes.length}`);
  }
  for (let i = sep; i < sep + DATA_SECTION_SEPARATOR_SIZE; i++) {
    if (bytes[i] !== 0) throw invalid(name, 'corrupt: data section separator not found after the search tree');
  }
  return reader;
}

function toShared(bytes: Uint8Array): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(bytes.length);
  new Uint8Array(sab).set(bytes);
  return sab;
}

/**
 * Reads a .mmdb (or gzipped .mmdb.gz) file into a SharedArrayBuffer, after checking it is a valid MaxMind DB.
 * Blocks the thread (≈0.5 s to gunzip GeoLite2-City); use `loadGeoIpFileAsync` on a busy event loop.
 */
export function loadGeoIpFile(path: string): SharedArrayBuffer {
  const name = resolvePath(path);
  let sab: SharedArrayBuffer;
  if (isGzipName(path)) {
    let gz: Buffer;
    try {
      gz = readFileSync(path);
    } catch (err) {
      throw invalid(name, `cannot read file: ${causeText(err)}`, err);
    }
    let raw: Buffer;
    try {
      raw = gunzipSync(gz);
    } catch (err) {
      throw invalid(name, `name ends with .gz but the file does not gunzip: ${causeText(err)}`, err);
    }
    sab = toShared(raw);
  } else {
    // Read straight into shared memory: avoids holding the database twice while loading.
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw invalid(name, `cannot read file: ${causeText(err)}`, err);
    }
    try {
      const size = fstatSync(fd).size;
      sab = new SharedArrayBuffer(size);
      const view = Buffer.from(sab);
      let off = 0;
      while (off < size) {
        const n = readSync(fd, view, off, size - off, off);
        if (n === 0) throw new Error(`file shrank while reading (${off} of ${size} bytes)`);
        off += n;
      }
    } catch (err) {
      throw invalid(name, `cannot read file: ${causeText(err)}`, err);
    } finally {
      closeSync(fd);
    }
    if (hasGzipMagic(new Uint8Array(sab, 0, Math.min(2, sab.byteLength)))) {
      throw invalid(name, 'file is gzip-compressed but its name does not end with .gz');
    }
  }
  openReader(Buffer.from(sab), name);
  return sab;
}

const gunzipAsync = promisify(gunzip);

/** `loadGeoIpFile` without blocking the event loop (reads and gunzips on the libuv thread pool). */
export async function loadGeoIpFileAsync(path: string): Promise<SharedArrayBuffer> {
  const name = resolvePath(path);
  let sab: SharedArrayBuffer;
  if (isGzipName(path)) {
    let gz: Buffer;
    try {
      gz = await readFile(path);
    } catch (err) {
      throw invalid(name, `cannot read file: ${causeText(err)}`, err);
    }
    let raw: Buffer;
    try {
      raw = await gunzipAsync(gz);
    } catch (err) {
      throw invalid(name, `name ends with .gz but the file does not gunzip: ${causeText(err)}`, err);
    }
    sab = toShared(raw);
  } else {
    let fh: Awaited<ReturnType<typeof openFile>>;
    try {
      fh = await openFile(path, 'r');
    } catch (err) {
      throw invalid(name, `cannot read file: ${causeText(err)}`, err);
    }
    try {
      const size = (await fh.stat()).size;
      sab = new SharedArrayBuffer(size);
      const view = Buffer.from(sab);
      let off = 0;
      while (off < size) {
        const { bytesRead } = await fh.read(view, off, size - off, off);
        if (bytesRead === 0) throw new Error(`file shrank while reading (${off} of ${size} bytes)`);
        off += bytesRead;
      }
    } catch (err) {
      throw invalid(name, `cannot read file: ${causeText(err)}`, err);
    } finally {
      await fh.close();
    }
    if (hasGzipMagic(new Uint8Array(sab, 0, Math.min(2, sab.byteLength)))) {
      throw invalid(name, 'file is gzip-compressed but its name does not end with .gz');
    }
  }
  openReader(Buffer.from(sab), name);
  return sab;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

function enName(v: unknown): string | null {
  if (v === null || typeof v !== 'object') return null;
  const names = (v as { names?: unknown }).names;
  if (names === null || typeof names !== 'object') return null;
  return str((names as { en?: unknown }).en);
}

function isoCode(v: unknown): string | null {
  return v !== null && typeof v === 'object' ? str((v as { iso_code?: unknown }).iso_code) : null;
}

/** Maps one decoded record (either layout) to a result. Exported for tests. */
export function extractGeo(rec: unknown): GeoResult {
  if (rec === null || typeof rec !== 'object') return NO_RESULT;
  const r = rec as Record<string, unknown>;
  if (typeof r.country_code === 'string') {
    return Object.freeze({ country: str(r.country_code), region: str(r.state1), city: str(r.city) });
  }
  const subs = r.subdivisions;
  const country = isoCode(r.country) ?? isoCode(r.registered_country);
  const region = Array.isArray(subs) && subs.length > 0 ? enName(subs[0]) : null;
  const city = enName(r.city);
  if (country === null && region === null && city === null) return NO_RESULT;
  return Object.freeze({ country, region, city });
}

/**
 * A read-only view of a MaxMind DB held in shared memory. Each thread builds its own instance (with its own caches)
 * over the same SharedArrayBuffer; lookups never write to the bytes.
 */
export class GeoIpTable {
  readonly name: string;
  private readonly reader: Reader<any>;
  private readonly cache: GenerationalCache<string, GeoResult>;
  private readonly bytes: number;

  constructor(sab: SharedArrayBuffer, opts: GeoIpTableOptions = {}) {
    this.name = opts.name ?? '<shared memory>';
    this.cache = new GenerationalCache(opts.cacheSize ?? 4096, () => new StringMap<GeoResult>());
    // Buffer.from(SharedArrayBuffer) is a view, not a copy: every thread reads the same memory.
    const buf = Buffer.from(sab);
    this.bytes = buf.length;
    // The Reader's own cache is keyed by data-section offset and holds decoded records; many IPs share a record,
    // so it saves decoding (City records carry names in 8 languages) on IP-cache misses.
    this.reader = openReader(buf, this.name, new GenerationalCache(opts.recordCacheSize ?? 1024));
  }

  /** Never throws: an invalid IP string, or an address the database does not cover, gives all nulls. */
  lookup(ip: string): GeoResult {
    // Not a string at all: the type says string, but events come from the outside world.
    if (typeof ip !== 'string') return NO_RESULT;
    const hit = this.cache.get(ip);
    if (hit !== undefined) return hit;
    // mmdb-lib does not validate: '1.2.3' or '999.1.1.1' would walk the tree with garbage bits and answer
    // for some unrelated network. Invalid strings are not cached so they cannot evict real entries.
    if (isIP(ip) === 0) return NO_RESULT;
    let result: GeoResult;
    try {
      result = extractGeo(this.reader.get(ip));
    } catch {
      result = NO_RESULT;
    }
    this.cache.set(ip, result);
    return result;
  }

  info(): GeoIpInfo {
    const md = this.reader.metadata;
    return { databaseType: md.databaseType, buildEpoch: md.buildEpoch, ipVersion: md.ipVersion, byteLength: this.bytes };
  }
}

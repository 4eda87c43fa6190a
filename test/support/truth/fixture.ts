// The inputs a ground-truth test runs the engine on: a generated dataset in a scratch folder, its device table,
// the official GeoLite2 City database unpacked, the expected warehouse, and the NDJSON file when asked for.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { officialCityDbGzPath } from './catalog.ts';
import { gunzipFile } from './engine.ts';
import { expectedFor, type Expected } from './expected.ts';
import { generateDataset, type Dataset, type GenerateOptions } from './generate.ts';

export interface TruthFixture {
  dir: string;
  ds: Dataset;
  truth: Expected;
  devices: string;
  cityDb: string;
  /** The dataset as NDJSON, when `ndjson` was asked for (else null). */
  ndjson: string | null;
}

export async function truthFixture(prefix: string, gen: GenerateOptions, o: { ndjson?: boolean } = {}): Promise<TruthFixture> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const ds = generateDataset(gen);
  const devices = join(dir, 'devices.csv');
  const cityDb = join(dir, 'GeoLite2-City.mmdb');
  const ndjson = o.ndjson ? join(dir, 'events.ndjson') : null;
  await Promise.all([
    ndjson ? ds.toNdjson(ndjson) : Promise.resolve(), ds.writeDeviceCsv(devices), gunzipFile(officialCityDbGzPath(), cityDb),
  ]);
  return { dir, ds, truth: expectedFor(ds, 'json'), devices, cityDb, ndjson };
}

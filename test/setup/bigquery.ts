/**
 * Vitest global setup: one BigQuery emulator for the whole `vitest run`, shared by every test file through
 * `inject('bigquery')`. With GAMESTREAM_TEST_BIGQUERY_ENDPOINT (REST) and GAMESTREAM_TEST_BIGQUERY_WRITE_ENDPOINT
 * (gRPC Storage Write API, a URL such as http://127.0.0.1:9060) both set, those are used and nothing is started
 * (GAMESTREAM_TEST_BIGQUERY_GCS_ROOT then names the emulator's BQEMU_GCS_LOCAL_ROOT, if it has one).
 * Tests create datasets with a random suffix (test/support/bigquery/client.ts) so files running in parallel do not meet.
 */
import type { TestProject } from 'vitest/node';
import { startBigQueryEmulator, stopBigQueryEmulator, type LocalBigQueryEmulator } from './bigquery-emulator.ts';
import { stopOnce } from './teardown.ts';

export interface BigQueryTestContext {
  /** apiEndpoint for @google-cloud/bigquery. */
  restEndpoint: string;
  /** Storage Write API endpoint (plaintext gRPC), as a URL. */
  writeEndpoint: string;
  /** Project the tests create their datasets in. */
  project: string;
  /** The local folder the emulator writes gs:// objects to (EXPORT DATA), or null when unknown. */
  gcsRoot: string | null;
}

declare module 'vitest' {
  export interface ProvidedContext {
    bigquery: BigQueryTestContext;
  }
}

const PROJECT = 'gamestream-test';

export default async function setup(project: TestProject): Promise<() => void> {
  const rest = process.env.GAMESTREAM_TEST_BIGQUERY_ENDPOINT?.trim();
  const write = process.env.GAMESTREAM_TEST_BIGQUERY_WRITE_ENDPOINT?.trim();
  if (rest && write) {
    const gcsRoot = process.env.GAMESTREAM_TEST_BIGQUERY_GCS_ROOT?.trim() || null;
    project.provide('bigquery', { restEndpoint: rest, writeEndpoint: write, project: PROJECT, gcsRoot });
    return () => {};
  }
  if (rest || write) {
    // One endpoint without the other cannot serve the tests that use both; say why it is ignored.
    process.stderr.write('[bigquery] only one of GAMESTREAM_TEST_BIGQUERY_ENDPOINT and GAMESTREAM_TEST_BIGQUERY_WRITE_ENDPOINT is set: starting a local emulator instead\n');
  }
  const emu: LocalBigQueryEmulator = await startBigQueryEmulator();
  process.stderr.write(`[bigquery] test emulator ${emu.restEndpoint} + ${emu.grpcEndpoint} (pid ${emu.pid}) ready in ${(emu.startMs / 1000).toFixed(1)} s\n`);
  project.provide('bigquery', { restEndpoint: emu.restEndpoint, writeEndpoint: emu.grpcEndpoint, project: PROJECT, gcsRoot: emu.gcsRoot });
  return stopOnce(() => stopBigQueryEmulator(emu));
}

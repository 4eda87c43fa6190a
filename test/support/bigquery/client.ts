/**
 * BigQuery clients for the test emulator (test/setup/bigquery.ts), set up as in scripts/bqemulator/README.md,
 * and throwaway datasets so test files running in parallel never share one.
 */
import { randomBytes } from 'node:crypto';
import { BigQuery, type Dataset } from '@google-cloud/bigquery';
import { OAuth2Client } from 'google-auth-library';
import type { BigQueryTestContext } from '../../setup/bigquery.ts';

export interface EmulatorClients {
  bq: BigQuery;
  /** Holds a dummy token; also what a Storage Write API client for the emulator needs. */
  authClient: OAuth2Client;
}

export function emulatorClients(ctx: BigQueryTestContext): EmulatorClients {
  const authClient = new OAuth2Client();
  // No expiry_date, so the client never tries to refresh it (there is nothing to refresh against).
  authClient.setCredentials({ access_token: 'gamestream-test-dummy-token' });
  const bq = new BigQuery({ projectId: ctx.project, apiEndpoint: ctx.restEndpoint, authClient });
  return { bq, authClient };
}

export interface FreshDataset {
  id: string;
  dataset: Dataset;
  /** Deletes the dataset with its tables; a dataset already gone is fine. */
  cleanup: () => Promise<void>;
}

/** Creates a dataset named `<prefix>_<time>_<random>` (letters, digits and underscores only, as BigQuery allows). */
export async function freshDataset(bq: BigQuery, prefix: string): Promise<FreshDataset> {
  const clean = prefix.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 64) || 'test';
  const id = `${clean}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const [dataset] = await bq.createDataset(id);
  const cleanup = async () => {
    try {
      await dataset.delete({ force: true });
    } catch (err) {
      if ((err as { code?: unknown }).code !== 404) throw err;
    }
  };
  return { id, dataset, cleanup };
}

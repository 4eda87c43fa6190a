// The test emulator (scripts/bqemulator/launch.py) serves many AppendRows streams open at once. Without a
// thread pool of its own it ran each open stream on one of 6 threads (2 cores): a 7th waited, with no error,
// until a client closed one. Two daemons writing one dataset hold about that many, and a daemon frozen with
// SIGSTOP holds its streams until it wakes: every other writer's appends then timed out, test after test.
import { credentials } from '@grpc/grpc-js';
import { adapt, managedwriter } from '@google-cloud/bigquery-storage';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { emulatorClients, freshDataset, type FreshDataset } from '../support/bigquery/client.ts';

const HELD = 12;

describe('the BigQuery test emulator', { timeout: 60_000 }, () => {
  const ctx = inject('bigquery');
  const { bq, authClient } = emulatorClients(ctx);
  const datasets: FreshDataset[] = [];
  const open: { close: () => void }[] = [];

  afterAll(async () => {
    for (const c of open) c.close();
    for (const d of datasets) await d.cleanup().catch(() => undefined);
  });

  it(`answers an append while ${HELD} other AppendRows streams are held open`, async () => {
    const d = await freshDataset(bq, 'streams');
    datasets.push(d);
    const fields = [{ name: 'n', type: 'INTEGER' }];
    await d.dataset.createTable('t', { schema: { fields } });
    const w = new URL(ctx.writeEndpoint);
    const writer = new managedwriter.WriterClient({
      projectId: ctx.project, apiEndpoint: w.hostname, port: Number(w.port), sslCreds: credentials.createInsecure(), authClient: authClient as never,
    });
    open.push(writer);
    const protoDescriptor = adapt.convertStorageSchemaToProto2Descriptor(adapt.convertBigQuerySchemaToStorageTableSchema({ fields }), 'root');
    const streamId = `projects/${ctx.project}/datasets/${d.id}/tables/t/streams/_default`;
    const append = async (n: number): Promise<void> => {
      const connection = await writer.createStreamConnection({ streamId });
      connection.onConnectionError(() => undefined);
      const jw = new managedwriter.JSONWriter({ connection, protoDescriptor });
      open.push({ close: () => { jw.close(); connection.close(); } });
      const res = await jw.appendRows([{ n }]).getResult();
      expect(res.error ?? null).toBeNull();
    };
    // Each stream stays open after its append, as a writer's connection does between batches.
    for (let i = 0; i < HELD; i++) await append(i);
    await append(HELD);
    const [rows] = await bq.query(`SELECT COUNT(*) AS n FROM \`${ctx.project}.${d.id}.t\``);
    expect(rows).toEqual([{ n: HELD + 1 }]);
  });
});

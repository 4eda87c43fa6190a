/** Producer-side helpers for tests that use the schema registry: register a schema, frame an Avro body. */

/** Registers a schema under a subject through the Confluent API and returns its id. */
export async function registerSchema(url: string, subject: string, schema: object, schemaType?: string): Promise<number> {
  const res = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify(schema), ...(schemaType ? { schemaType } : {}) }),
  });
  const body = (await res.json()) as { id?: number };
  if (res.status !== 200 || typeof body.id !== 'number') throw new Error(`register ${subject}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

/** The Confluent wire format: magic byte 0, the schema id as 4 bytes big-endian, the Avro body. */
export function confluentFrame(id: number, body: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(id, 1);
  return Buffer.concat([head, body]);
}

/** Avro schemas for Confluent-framed Kafka records, read once at start from `<id>.avsc` files. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { GamestreamError } from '../../errors.ts';

export function loadSchemaDir(dir: string): Record<string, string> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new GamestreamError('config_invalid', `GAMESTREAM_AVRO_SCHEMA_DIR=${dir} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  const out: Record<string, string> = {};
  for (const name of names) {
    const m = /^(\d+)\.avsc$/.exec(name);
    if (!m) continue;
    const text = readFileSync(join(dir, name), 'utf8');
    try {
      avro.Type.forSchema(JSON.parse(text) as avro.Schema);
    } catch (err) {
      throw new GamestreamError('config_invalid', `${join(dir, name)} is not a valid Avro schema: ${(err as Error).message}`, { cause: err });
    }
    out[m[1]] = text;
  }
  if (Object.keys(out).length === 0) {
    throw new GamestreamError('config_invalid', `GAMESTREAM_AVRO_SCHEMA_DIR=${dir} has no <schema id>.avsc files`);
  }
  return out;
}

// The Avro form of a dataset: the same records in the same order in an object container file written with
// schemas/game-event.avsc, minus the records Avro cannot carry (not a JSON object, not UTF-8, too large,
// or a field holding an object/array where the schema has only scalars).
import { createWriteStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import avro from 'avsc';
import type { Schema } from 'avsc';
import type { TruthRecord } from './records.ts';
import { decodeJsonLine, holdsLoneSurrogate } from './validate.ts';

export const GAME_EVENT_SCHEMA_PATH = new URL('../../../schemas/game-event.avsc', import.meta.url);

export function gameEventSchema(): Schema {
  return JSON.parse(readFileSync(GAME_EVENT_SCHEMA_PATH, 'utf8')) as Schema;
}

const SCALAR_FIELDS = [
  'id', 'user_id', 'session_id', 'timestamp', 'type', 'name', 'app_version', 'platform', 'ip_address', 'device_model',
] as const;

const AVSC_MAX_LONG = 2 ** 53 - 2;

type Branch = { string: string } | { long: number } | { double: number } | { boolean: boolean };
/** A datum with unions in avsc's wrapped form ({branch: value}); the schema's unions mix long and double. */
export type AvroDatum = Record<string, Branch | null>;

function branchOf(v: unknown): Branch | null | undefined {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return { string: v };
  if (typeof v === 'boolean') return { boolean: v };
  // avsc's long accepts |n| <= 2^53 - 2 only; anything else travels as a double.
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= AVSC_MAX_LONG ? { long: v } : { double: v };
  return undefined; // object or array: no branch for it
}

/** The datum carrying exactly what the JSON record had, or null when Avro cannot represent the record. */
export function toAvroDatum(line: Buffer, maxEventBytes: number): AvroDatum | null {
  const decoded = decodeJsonLine(line, maxEventBytes);
  if (!decoded.ok) return null;
  const obj = decoded.value;
  // Half a character outside parameters: Avro's UTF-8 strings cannot carry it (it would arrive as U+FFFD), and a
  // field outside the schema is not in the datum at all, so the record would not mean the same.
  if (holdsLoneSurrogate(Object.fromEntries(Object.entries(obj).filter(([k]) => k !== 'parameters')))) return null;
  const datum: AvroDatum = {};
  for (const name of SCALAR_FIELDS) {
    const b = branchOf(Object.hasOwn(obj, name) ? obj[name] : undefined);
    if (b === undefined) return null;
    datum[name] = b;
  }
  const params = Object.hasOwn(obj, 'parameters') ? obj.parameters : undefined;
  datum.parameters = params === undefined || params === null ? null : { string: JSON.stringify(params) };
  return datum;
}

export function isAvroRepresentable(line: Buffer, maxEventBytes: number): boolean {
  return toAvroDatum(line, maxEventBytes) !== null;
}

/** Writes the representable records; returns how many were written. */
export async function writeAvroFile(
  path: string,
  records: readonly TruthRecord[],
  opts: { maxEventBytes: number; syncMarker?: Buffer; codec?: 'null' | 'deflate' },
): Promise<number> {
  // Wrapped unions everywhere (avsc's 'auto' would unwrap the unambiguous parameters union only).
  const type = avro.Type.forSchema(gameEventSchema(), { wrapUnions: true });
  const encoder = new avro.streams.BlockEncoder(type as unknown as Schema, {
    codec: opts.codec ?? 'deflate',
    // A fixed marker keeps the file byte-identical across runs of the same seed.
    syncMarker: opts.syncMarker ?? Buffer.from('gamestream-truth'),
  });
  let typeError: unknown;
  encoder.on('typeError', (err: unknown) => { typeError ??= err; });
  let written = 0;
  function* data(): Generator<AvroDatum> {
    for (const r of records) {
      const d = toAvroDatum(r.line, opts.maxEventBytes);
      if (d === null) continue;
      written++;
      yield d;
    }
  }
  await pipeline(Readable.from(data()), encoder, createWriteStream(path));
  if (typeError !== undefined) throw new Error(`avro encoding failed: ${String(typeError)}`);
  return written;
}

/** Reads an Avro file back as plain objects (unions unwrapped, parameters still JSON text). */
export async function readAvroFile(path: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const decoder = avro.createFileDecoder(path, {
    parseHook: (schema: Schema) => avro.Type.forSchema(schema, { wrapUnions: true }),
  });
  for await (const datum of decoder as AsyncIterable<AvroDatum>) {
    const plain: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(datum)) plain[k] = v === null ? null : Object.values(v)[0];
    out.push(plain);
  }
  return out;
}

/** avsc types that write longs beyond ±2^53 (as BigInts), to make the datums a Java or Python writer would. */
import avro from 'avsc';
import type { Schema } from 'avsc';

/** A long that reads and writes BigInts. */
export const BIG_LONG = avro.types.LongType.__with({
  fromBuffer: (b: Buffer) => b.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(n);
    return b;
  },
  fromJSON: (n: number | string) => BigInt(n),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

/** The writer type of `schema` with every long, logical or not, as a BigInt (wrapped unions). */
export function bigLongWriter(schema: Schema): avro.Type {
  return avro.Type.forSchema(schema, {
    wrapUnions: true, registry: { long: BIG_LONG } as never,
    typeHook: (s) => (typeof s === 'object' && (s as { type?: unknown }).type === 'long' ? BIG_LONG : undefined),
  });
}

/**
 * Avro schemas as gamestream reads them, so that an Avro datum gives the object the same event in JSON would:
 * - a long of any size, read as `JSON.parse` reads the same digits (avsc's own long refuses beyond ±2^53, which
 *   made one such value a parse error, and in a file's key scan the loss of its whole block);
 * - logical types as the JSON value a client sends for them: timestamps in epoch milliseconds (micro- and
 *   nanoseconds cut to the millisecond, as an ISO timestamp's digits are), a `date` as `YYYY-MM-DD`, a
 *   `decimal` as a number (as JSON would carry 9.99), a `uuid` as its text;
 * - a writer schema whose field defaults do not fit their type (a union default that is not its first branch,
 *   which Java's Avro and registries accept): a writer's defaults are never read, so they are left out.
 */
import avro from 'avsc';

interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
}

/** The zig-zag varint at `at`, exactly. */
function exactLong(buf: Buffer, at: number): bigint {
  let n = 0n;
  let shift = 0n;
  for (let p = at; p < buf.length; p++) {
    const b = buf[p]!;
    n |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if ((b & 0x80) === 0) break;
  }
  return (n >> 1n) ^ -(n & 1n);
}

/** The zig-zag varint at `at` exactly, rounded to a double once, as `JSON.parse` rounds its digits. */
function wideLong(buf: Buffer, at: number): number {
  return Number(exactLong(buf, at));
}

/** avsc's long, without its refusal of values beyond ±2^53, and exact up to them (its float path is not). */
class AnyLong extends avro.types.LongType {}
(AnyLong.prototype as unknown as { _read(tap: Tap): number })._read = function read(tap: Tap): number {
  const at = tap.pos;
  const n = tap.readLong();
  // avsc sums a long's zig-zag form in a double, exact only up to 2^53: beyond ±2^52 it is read again exactly.
  return n < 2 ** 52 && n > -(2 ** 52) ? n : wideLong(tap.buf, at);
};

/** A long read exactly as a BigInt: under timestamp-nanos, whose values pass 2^53 and must be cut, not rounded. */
class ExactLong extends avro.types.LongType {}
(ExactLong.prototype as unknown as { _read(tap: Tap & { skipLong(): void }): bigint })._read = function read(tap: Tap & { skipLong(): void }): bigint {
  const at = tap.pos;
  tap.skipLong();
  return exactLong(tap.buf, at);
};

const DAY_MS = 86_400_000;
/** Above 0 while a logical type makes its underlying type (the same schema object, read again by avsc). */
let underlying = 0;

/** A logical type read as a plain value; writing is never needed here (datums are only decoded). */
function readAs(name: string, convert: (v: unknown, schema: Record<string, unknown>) => unknown): new (schema: avro.Schema, opts?: unknown) => avro.types.LogicalType {
  const Derived = class extends avro.types.LogicalType {
    private readonly spec: Record<string, unknown>;
    constructor(schema: avro.Schema, opts?: unknown) {
      underlying++;
      try {
        super(schema, opts);
      } finally {
        underlying--;
      }
      this.spec = schema as unknown as Record<string, unknown>;
    }
    protected override _fromValue(v: unknown): unknown {
      return convert(v, this.spec);
    }
    protected override _toValue(v: unknown): unknown {
      return v;
    }
    protected override _resolve(type: avro.Type): unknown {
      // The writer's value is already read as this type, or is its underlying value.
      if (avro.Type.isType(type, 'logical:' + name)) return (v: unknown) => v;
      if (type.typeName === this.underlyingType.typeName) return (v: unknown) => this._fromValue(v);
      return undefined;
    }
  };
  Object.defineProperty(Derived, 'name', { value: `Avro_${name.replace(/-/g, '_')}` });
  return Derived;
}

function decimalOf(v: unknown, schema: Record<string, unknown>): unknown {
  if (!Buffer.isBuffer(v)) return v;
  const scale = typeof schema.scale === 'number' ? schema.scale : 0;
  if (v.length === 0) return 0;
  // Big-endian two's complement, then the digits moved by the scale: one rounding, as JSON.parse does.
  let n = BigInt('0x' + v.toString('hex'));
  if (v[0]! & 0x80) n -= 1n << BigInt(v.length * 8);
  const neg = n < 0n;
  const digits = (neg ? -n : n).toString().padStart(scale + 1, '0');
  const text = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return Number((neg ? '-' : '') + text);
}

const LOGICAL_TYPES = {
  'timestamp-millis': readAs('timestamp-millis', (v) => v),
  'timestamp-micros': readAs('timestamp-micros', (v) => (typeof v === 'number' ? Math.floor(v / 1000) : v)),
  'timestamp-nanos': readAs('timestamp-nanos', (v) => (typeof v === 'bigint' ? Number(v / 1_000_000n - (v < 0n && v % 1_000_000n !== 0n ? 1n : 0n)) : v)),
  date: readAs('date', (v) => (typeof v === 'number' && Number.isSafeInteger(v * DAY_MS) ? new Date(v * DAY_MS).toISOString().slice(0, 10) : v)),
  decimal: readAs('decimal', decimalOf),
};

/** The schema without any field's `default`, at any depth (a writer never reads them). */
function withoutDefaults(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutDefaults);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'default') continue;
    out[k] = withoutDefaults(v);
  }
  return out;
}

function options(): Partial<avro.ForSchemaOptions> {
  return {
    // Wrapped unions: long and double both map to JS numbers, so only the wrapper says which branch it was.
    wrapUnions: true,
    registry: { long: new AnyLong() } as unknown as avro.ForSchemaOptions['registry'],
    typeHook: (s: avro.Schema) => {
      if (typeof s !== 'object' || s === null || Array.isArray(s) || (s as { type?: unknown }).type !== 'long') return undefined;
      const logical = (s as { logicalType?: unknown }).logicalType;
      if (underlying > 0 && logical === 'timestamp-nanos') return new ExactLong();
      return underlying > 0 || typeof logical !== 'string' || !(logical in LOGICAL_TYPES) ? new AnyLong() : undefined;
    },
    logicalTypes: LOGICAL_TYPES,
  };
}

/** The type that decodes datums written with this writer schema (JSON text or parsed). Throws when it is not Avro. */
export function avroWriterType(schema: string | avro.Schema): avro.Type {
  const parsed = typeof schema === 'string' ? (JSON.parse(schema) as unknown) : schema;
  return avro.Type.forSchema(withoutDefaults(parsed) as avro.Schema, options());
}

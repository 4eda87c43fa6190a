// Defective and unusual records. Each kind turns one well-formed template event into a record with exactly
// one defect (or one oddity that must still be accepted) and states the verdict the contract gives it.
import type { Rng } from './prng.ts';
import { KNOWN_IPV4, UNLOCATED_IPS } from './catalog.ts';
import type { GameEvent } from './traffic.ts';
import type { ErrorCode } from './validate.ts';

export interface DefectContext {
  rng: Rng;
  /** A well-formed event of a random user, timed near where the record is inserted. */
  template: GameEvent;
  maxEventBytes: number;
}

export interface DefectKind {
  kind: string;
  expect: 'valid' | ErrorCode;
  variants: readonly string[];
  /** About 1 MB each: a fixed couple per dataset instead of a share. */
  heavy?: boolean;
  build(ctx: DefectContext, variant: string): Buffer;
}

type Obj = Record<string, unknown>;

function clone(t: GameEvent): Obj {
  return { ...t.obj };
}

/**
 * Decode-stage rejects keep raw text in the dead-letter table; the contract masks IPv4 anywhere but IPv6 only
 * in `ip_address` values, which an unparsable record has none of. Keeping such records IPv4-only avoids
 * asking the engine to recognise IPv6 inside broken text.
 */
function ipv4Only(rng: Rng, o: Obj): Obj {
  if (typeof o.ip_address === 'string' && o.ip_address.includes(':')) o.ip_address = rng.pick(KNOWN_IPV4);
  return o;
}

/** Serializes `o` with the value of `field` replaced by raw JSON text (for literals JSON.stringify cannot emit). */
function withRaw(o: Obj, field: string, raw: string): string {
  const marker = '\u0001RAW\u0001';
  return JSON.stringify({ ...o, [field]: marker }).replace(JSON.stringify(marker), raw);
}

/** Inserts a raw `"key":value` member first in a serialized object. */
function prependMember(json: string, member: string): string {
  return '{' + member + (json === '{}' ? '' : ',') + json.slice(1);
}

function levelParams(o: Obj, rng: Rng): Obj {
  const p = o.parameters;
  if (typeof p === 'object' && p !== null && !Array.isArray(p) && 'level_id' in p) return { ...(p as Obj) };
  return { level_id: rng.int(1, 120), attempt: 1 };
}

function asLevelEvent(o: Obj, rng: Rng): Obj {
  if (o.type !== 1001 && o.type !== 1002 && o.type !== 1003) {
    o.type = 1001;
    o.name = 'level_start';
  }
  o.parameters = levelParams(o, rng);
  return o;
}

function nestObjects(depth: number, leaf: Obj): Obj {
  let v: Obj = leaf;
  for (let i = 1; i < depth; i++) v = { a: v };
  return v;
}

function isoOf(t: GameEvent): string {
  return new Date(t.ts).toISOString();
}

/** Replaces the ASCII marker inside the serialized record with arbitrary bytes. */
function spliceBytes(text: string, marker: string, bytes: number[]): Buffer {
  const at = text.indexOf(marker);
  const head = Buffer.from(text.slice(0, at), 'utf8');
  const tail = Buffer.from(text.slice(at + marker.length), 'utf8');
  return Buffer.concat([head, Buffer.from(bytes), tail]);
}

const IPV4_TEXT = /\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/;

export const DEFECT_KINDS: readonly DefectKind[] = [
  {
    kind: 'random_bytes', expect: 'parse_error', variants: ['binary', 'gzip_magic'],
    build({ rng }, variant) {
      for (;;) {
        // No LF (record separator) and no CR (a line reader may strip it); 0xFF makes it invalid UTF-8.
        const b = rng.bytes(rng.int(16, 400), [0x0a, 0x0d]);
        b[rng.int(2, b.length - 1)] = 0xff;
        if (variant === 'gzip_magic') { b[0] = 0x1f; b[1] = 0x8b; }
        if (!IPV4_TEXT.test(b.toString('latin1'))) return b;
      }
    },
  },
  {
    kind: 'truncated_json', expect: 'parse_error', variants: ['cut_mid', 'cut_last_brace'],
    build({ rng, template }, variant) {
      const text = JSON.stringify(ipv4Only(rng, clone(template)));
      if (variant === 'cut_last_brace') return Buffer.from(text.slice(0, -1));
      let cut = rng.int(2, text.length - 2);
      // Never cut inside the address: a cut-short address is a different address and its masking is moot.
      const key = text.indexOf('"ip_address":"');
      if (key >= 0 && cut > key && cut < text.indexOf('"', key + 14)) cut = key;
      return Buffer.from(text.slice(0, cut));
    },
  },
  {
    kind: 'invalid_utf8', expect: 'parse_error',
    variants: ['latin1_device', 'lone_continuation', 'overlong', 'cesu_surrogate', 'cut_multibyte'],
    build({ rng, template }, variant) {
      const o = ipv4Only(rng, clone(template));
      if (variant === 'latin1_device') {
        o.device_model = 'Galaxy Caf\u00e9';
        return Buffer.from(JSON.stringify(o), 'latin1');
      }
      const marker = '@@BAD@@';
      const bytes: Record<string, number[]> = {
        lone_continuation: [0x80], overlong: [0xc0, 0xaf], cesu_surrogate: [0xed, 0xa0, 0x80], cut_multibyte: [0xe2, 0x82],
      };
      const field = variant === 'overlong' ? 'session_id' : variant === 'cut_multibyte' ? 'device_model' : 'name';
      o[field] = `${String(o[field] ?? 'x')}${marker}`;
      return spliceBytes(JSON.stringify(o), marker, bytes[variant]);
    },
  },
  {
    kind: 'not_object', expect: 'parse_error',
    variants: ['array_of_event', 'number', 'string', 'null', 'boolean', 'empty_array'],
    build({ rng, template }, variant) {
      const values: Record<string, unknown> = {
        array_of_event: [ipv4Only(rng, clone(template))], number: 42, string: 'level_start', null: null, boolean: true,
        empty_array: [],
      };
      return Buffer.from(JSON.stringify(values[variant]));
    },
  },
  {
    kind: 'deep_array', expect: 'parse_error', variants: ['depth_5000'],
    // JSON.parse accepts this; it is rejected because the top level is not an object.
    build: () => Buffer.from('['.repeat(5000) + ']'.repeat(5000)),
  },
  {
    kind: 'too_large', expect: 'too_large', variants: ['with_user_id', 'without_user_id'], heavy: true,
    build({ rng, template, maxEventBytes }, variant) {
      const o = asLevelEvent(ipv4Only(rng, clone(template)), rng);
      if (variant === 'without_user_id') delete o.user_id;
      o.parameters = { ...(o.parameters as Obj), replay: 'x'.repeat(maxEventBytes + 50_000) };
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'missing_fields', expect: 'missing_fields',
    variants: [
      'missing_id', 'null_id', 'empty_id', 'missing_user_id', 'null_user_id', 'empty_user_id',
      'missing_timestamp', 'null_timestamp', 'empty_timestamp', 'missing_type', 'null_type', 'empty_type',
    ],
    build({ template }, variant) {
      const o = clone(template);
      const [how, ...rest] = variant.split('_');
      const field = rest.join('_');
      if (how === 'missing') delete o[field];
      else o[field] = how === 'null' ? null : '';
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'type_not_integer', expect: 'invalid_field',
    variants: ['string', 'huge', 'fraction', 'exponent', 'boolean', 'object'],
    build({ template }, variant) {
      const o = clone(template);
      const t = Number(o.type);
      if (variant === 'huge') return Buffer.from(withRaw(o, 'type', '12345678901234567890'));
      if (variant === 'exponent') return Buffer.from(withRaw(o, 'type', '1e300'));
      o.type = variant === 'string' ? String(t) : variant === 'fraction' ? t + 0.5 : variant === 'boolean' ? true : { code: t };
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'id_not_string', expect: 'invalid_field',
    variants: ['id_number', 'id_boolean', 'id_object', 'user_id_number', 'user_id_array'],
    build({ template }, variant) {
      const o = clone(template);
      const values: Record<string, [string, unknown]> = {
        id_number: ['id', 12345], id_boolean: ['id', true], id_object: ['id', { uuid: o.id }],
        user_id_number: ['user_id', 42], user_id_array: ['user_id', [o.user_id]],
      };
      const [field, value] = values[variant];
      o[field] = value;
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'too_long', expect: 'invalid_field',
    variants: ['id', 'user_id', 'session_id', 'name', 'app_version', 'device_model', 'ip_address'],
    build({ template }, variant) {
      const o = clone(template);
      o[variant] = variant === 'ip_address' ? 'unknown-' + 'h'.repeat(62) : `${String(o[variant] ?? 'v')}-${'z'.repeat(300)}`;
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'optional_not_string', expect: 'invalid_field',
    variants: ['session_id_number', 'name_object', 'platform_number', 'app_version_boolean', 'device_model_number', 'ip_address_number'],
    build({ template }, variant) {
      const o = clone(template);
      const values: Record<string, [string, unknown]> = {
        session_id_number: ['session_id', 77], name_object: ['name', { en: o.name }], platform_number: ['platform', 2],
        app_version_boolean: ['app_version', false], device_model_number: ['device_model', 8],
        ip_address_number: ['ip_address', 3232235777],
      };
      const [field, value] = values[variant];
      o[field] = value;
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'bad_parameters', expect: 'invalid_field', variants: ['array', 'string', 'number', 'boolean'],
    build({ template }, variant) {
      const o = clone(template);
      const values: Record<string, unknown> = { array: [1, 2], string: 'level=5', number: 7, boolean: true };
      o.parameters = values[variant];
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'deep_parameters', expect: 'invalid_field', variants: ['objects_40', 'arrays_2000'],
    build({ rng, template }, variant) {
      const o = asLevelEvent(clone(template), rng);
      if (variant === 'objects_40') {
        o.parameters = nestObjects(40, { level_id: 5 });
        return Buffer.from(JSON.stringify(o));
      }
      return Buffer.from(withRaw(o, 'parameters', '{"level_id":5,"path":' + '['.repeat(2000) + ']'.repeat(2000) + '}'));
    },
  },
  {
    kind: 'nul_in_string', expect: 'invalid_field',
    variants: ['name', 'device_model', 'session_id', 'app_version', 'id', 'user_id'],
    build({ template }, variant) {
      const o = clone(template);
      o[variant] = `${String(o[variant] ?? 'Pixel 8')}\u0000x`;
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'bad_timestamp', expect: 'invalid_timestamp',
    variants: [
      'feb_30', 'feb_29_non_leap', 'month_13', 'hour_25', 'words', 'no_zone', 'date_only', 'hour_only_offset',
      'slashes', 'before_2000', 'epoch_before_2000', 'epoch_negative', 'epoch_fraction', 'epoch_as_string', 'boolean',
    ],
    build({ template }, variant) {
      const o = clone(template);
      const iso = isoOf(template);
      const values: Record<string, unknown> = {
        feb_30: '2026-02-30T10:00:00Z', feb_29_non_leap: '2026-02-29T10:00:00Z', month_13: '2026-13-01T10:00:00Z',
        hour_25: iso.slice(0, 11) + '25:00:00Z', words: 'yesterday', no_zone: iso.slice(0, -1),
        date_only: iso.slice(0, 10), hour_only_offset: iso.slice(0, 19) + '+02', slashes: iso.slice(0, 19).replace(/-/g, '/'),
        before_2000: '1999-12-31T23:59:59.999Z', epoch_before_2000: Date.UTC(2000, 0, 1) - 1, epoch_negative: -1,
        epoch_fraction: template.ts + 0.5, epoch_as_string: String(template.ts), boolean: true,
      };
      o.timestamp = values[variant];
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'future_timestamp', expect: 'future_timestamp', variants: ['iso_2099', 'offset_2099', 'epoch_2100'],
    build({ template }, variant) {
      const o = clone(template);
      const values: Record<string, unknown> = {
        iso_2099: '2099-06-01T12:00:00Z', offset_2099: '2099-06-01T12:00:00.250+05:00', epoch_2100: Date.UTC(2100, 0, 1),
      };
      o.timestamp = values[variant];
      return Buffer.from(JSON.stringify(o));
    },
  },
  // ---- accepted despite looking odd ----
  {
    kind: 'big_valid', expect: 'valid', variants: ['near_1mb'], heavy: true,
    build({ rng, template, maxEventBytes }) {
      const o = asLevelEvent(clone(template), rng);
      const target = Math.min(1_000_000, Math.floor(maxEventBytes * 0.95));
      o.parameters = { ...(o.parameters as Obj), replay: '' };
      const base = Buffer.byteLength(JSON.stringify(o));
      o.parameters = { ...(o.parameters as Obj), replay: 'r'.repeat(Math.max(0, target - base)) };
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'extra_keys', expect: 'valid',
    variants: ['params___proto__', 'params_constructor', 'top___proto__', 'top_constructor', 'top_unknown'],
    build({ rng, template }, variant) {
      const o = asLevelEvent(clone(template), rng);
      if (variant.startsWith('params_')) {
        const member = variant === 'params___proto__'
          ? '"__proto__":{"polluted":"yes","level_id":999}' : '"constructor":{"prototype":{"polluted":"yes"}}';
        return Buffer.from(withRaw(o, 'parameters', prependMember(JSON.stringify(o.parameters), member)));
      }
      // A nested user_id ahead of the real one: the key is the top-level user_id only.
      const member = variant === 'top___proto__' ? '"__proto__":{"user_id":"intruder","type":9}'
        : variant === 'top_constructor' ? '"constructor":{"prototype":{"isAdmin":true}}'
        : '"sdk":{"user_id":"sdk-user","name":"unity"}';
      return Buffer.from(prependMember(JSON.stringify(o), member));
    },
  },
  {
    kind: 'level_id_odd', expect: 'valid', variants: ['string', 'float', 'zero', 'negative', 'null', 'missing', 'boolean'],
    build({ rng, template }, variant) {
      const o = asLevelEvent(clone(template), rng);
      const p = o.parameters as Obj;
      const values: Record<string, unknown> = { string: String(p.level_id), float: 12.5, zero: 0, negative: -3, null: null, boolean: true };
      if (variant === 'missing') delete p.level_id;
      else p.level_id = values[variant];
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    // The client's own user-state stamps: stored as sent when a boolean and a 32-bit integer, else computed.
    kind: 'client_stamps', expect: 'valid', variants: ['days_max', 'days_past_int32', 'days_below_int32', 'days_float', 'paying_string'],
    build({ template }, variant) {
      const o = clone(template);
      const values: Record<string, [string, unknown]> = {
        days_max: ['days_since_install', 2 ** 31 - 1], days_past_int32: ['days_since_install', 3_000_000_000],
        days_below_int32: ['days_since_install', -(2 ** 31) - 1], days_float: ['days_since_install', 1.5], paying_string: ['is_paying_user', 'yes'],
      };
      const [field, value] = values[variant]!;
      o[field] = value;
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    // Half of an emoji on its own, as a client's serializer writes it after cutting a string: the JSON text holds
    // a \uD83D escape with no low half. No warehouse load accepts such a string, so the record is a dead letter.
    kind: 'lone_surrogate', expect: 'invalid_field', variants: ['name', 'parameters_value', 'parameters_key', 'unknown_field_nested', 'low_half'],
    build({ template }, variant) {
      const o = clone(template);
      if (variant === 'name') o.name = 'level\uD83D';
      else if (variant === 'parameters_value') o.parameters = { ...(o.parameters as Obj), player: 'Bob\uD83D' };
      else if (variant === 'parameters_key') o.parameters = { ...(o.parameters as Obj), ['\uDE00']: 1 };
      else if (variant === 'unknown_field_nested') o.profile = { tags: ['ok', 'x\uD83D'] };
      else o.nickname = '\uDE00 alone';
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'nested_ok', expect: 'valid', variants: ['objects_20'],
    build({ rng, template }) {
      const o = asLevelEvent(clone(template), rng);
      o.parameters = { level_id: (o.parameters as Obj).level_id, tree: nestObjects(18, { leaf: true }) };
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'minimal', expect: 'valid', variants: ['required_only'],
    build({ template }) {
      const { id, user_id, timestamp, type } = template.obj;
      return Buffer.from(JSON.stringify({ id, user_id, timestamp, type }));
    },
  },
  {
    kind: 'empty_parameters', expect: 'valid', variants: ['null', 'empty_object', 'absent'],
    build({ template }, variant) {
      const o = clone(template);
      if (variant === 'absent') delete o.parameters;
      else o.parameters = variant === 'null' ? null : {};
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'unlocated_ip', expect: 'valid', variants: [...UNLOCATED_IPS],
    build({ template }, variant) {
      return Buffer.from(JSON.stringify({ ...clone(template), ip_address: variant }));
    },
  },
  {
    kind: 'edge_timestamp', expect: 'valid', variants: ['exactly_2000', 'epoch_2000', 'leap_day', 'nanoseconds'],
    build({ template }, variant) {
      const o = clone(template);
      const values: Record<string, unknown> = {
        exactly_2000: '2000-01-01T00:00:00Z', epoch_2000: Date.UTC(2000, 0, 1), leap_day: '2024-02-29T12:00:00Z',
        nanoseconds: isoOf(template).replace('Z', '987654Z'),
      };
      o.timestamp = values[variant];
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'unicode', expect: 'valid', variants: ['device_model', 'params', 'name'],
    build({ rng, template }, variant) {
      const o = asLevelEvent(clone(template), rng);
      if (variant === 'device_model') o.device_model = 'Galaxy Caf\u00e9 \u{1F600}';
      if (variant === 'name') o.name = 'niveau_termin\u00e9';
      if (variant === 'params') o.parameters = { ...(o.parameters as Obj), title: '\u00dcn\u00efc\u00f6d\u00e9 \u2713 \u{1F3AE}' };
      return Buffer.from(JSON.stringify(o));
    },
  },
  {
    kind: 'odd_type', expect: 'valid', variants: ['zero', 'negative', 'two_pow_52', 'unknown'],
    build({ template }, variant) {
      const values: Record<string, number> = { zero: 0, negative: -1, two_pow_52: 2 ** 52, unknown: 424242 };
      return Buffer.from(JSON.stringify({ ...clone(template), type: values[variant] }));
    },
  },
];

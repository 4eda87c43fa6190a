/**
 * A record over GAMESTREAM_MAX_EVENT_BYTES is dead-lettered as its first bytes, its size and its SHA-256, never
 * whole: a dead letter must fit every warehouse load and every topic, whatever the input (docs/SEMANTICS.md).
 *
 * A file source that meets such a line reads it in constant memory and hands on a stand-in record instead:
 * byte 0x0A, then `<size> <sha256 hex>\n`, then the line's first bytes. An NDJSON line never contains 0x0A, so
 * no input line can pose as a stand-in; actors read stand-ins only from sources that make them (`cutsOversized`).
 */

/** At most this many bytes of an oversized record are kept (fewer when GAMESTREAM_MAX_EVENT_BYTES is smaller). */
export const OVERSIZED_PREFIX_BYTES = 64 * 1024;

export function oversizedPrefixBytes(maxEventBytes: number): number {
  return Math.min(maxEventBytes, OVERSIZED_PREFIX_BYTES);
}

export interface Oversized {
  size: number;
  sha256: string;
  prefix: Uint8Array;
}

export function encodeStandIn(o: Oversized): Buffer {
  const head = Buffer.from(`\n${o.size} ${o.sha256}\n`, 'latin1');
  return Buffer.concat([head, o.prefix]);
}

/** The stand-in's parts, or null when the bytes are not one. */
export function decodeStandIn(bytes: Uint8Array): Oversized | null {
  if (bytes.length < 2 || bytes[0] !== 10) return null;
  const nl = bytes.indexOf(10, 1);
  if (nl === -1) return null;
  const m = /^(\d+) ([0-9a-f]{64})$/.exec(Buffer.from(bytes.buffer, bytes.byteOffset + 1, nl - 1).toString('latin1'));
  if (!m) return null;
  return { size: Number(m[1]), sha256: m[2], prefix: bytes.subarray(nl + 1) };
}

/**
 * Dead-letter rows keep the original record so it can be fixed and replayed, minus raw IP addresses; an oversized
 * record keeps only its first bytes, its size and its hash (src/contract/oversized.ts).
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { Oversized } from '../contract/oversized.ts';
import { maskIps, maskIpsSameLength } from './mask-ip.ts';

/**
 * The raw message as text, or base64 when the record is Avro, or its bytes are not UTF-8 text or contain NUL. Every IPv4 and IPv6 literal
 * is masked (maskIps: an app version such as "1.2.3.4" is masked too, privacy wins over fidelity here), and so is
 * the record's `ip_address` when it decoded, wherever it appears (Avro binary may glue a length byte to it; for
 * text records only its IPv6 form needs it). Binary records keep their length (maskIpsSameLength).
 */
export function rawForDeadLetter(bytes: Uint8Array, ip: string | null, avro = false): { raw: string; encoding: 'utf8' | 'base64' } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const ipv6 = ip !== null && ip.includes(':') ? ip : null;
  // An Avro datum is binary even when its bytes happen to be UTF-8 text (short strings' lengths are ASCII bytes).
  if (avro || !isUtf8(buf) || buf.indexOf(0) !== -1) {
    // latin1 maps bytes 1:1, so ASCII addresses inside binary records are masked as well. An Avro datum keeps its
    // length: a string's length is written before it, and the datum must still decode when it is fixed by hand.
    // Its own address is masked wherever it is, IPv4 too: the next field's length byte may be an ASCII digit glued
    // to it (a 24-character string's length is "0"), which hides it from the scan.
    const mask = avro ? maskIpsSameLength : maskIps;
    const own = avro ? ip : ipv6;
    let text = mask(buf.toString('latin1'));
    if (own !== null && /^[\x00-\x7f]*$/.test(own)) text = text.replaceAll(own, mask(own));
    return { raw: Buffer.from(text, 'latin1').toString('base64'), encoding: 'base64' };
  }
  let text = maskIps(buf.toString('utf8'));
  if (ipv6 !== null) text = text.replaceAll(ipv6, maskIps(ipv6));
  return { raw: text, encoding: 'utf8' };
}

/** A whole record over the limit, as the stand-in form: its size, SHA-256 and first `prefixBytes` bytes. */
export function oversized(bytes: Uint8Array, prefixBytes: number): Oversized {
  return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), prefix: bytes.subarray(0, prefixBytes) };
}

/**
 * The dead letter of an oversized record: the prefix is cut back to a whole UTF-8 character (at most 3 bytes), so
 * a text record stays text; size and hash go into the error text, which names them for replay tooling.
 */
export function oversizedDeadLetter(o: Oversized, maxEventBytes: number): { error: string; raw: string; encoding: 'utf8' | 'base64' } {
  let end = o.prefix.length;
  if (end < o.size) {
    let back = 0;
    while (back < 3 && end - back > 0 && (o.prefix[end - back - 1] & 0xc0) === 0x80) back++;
    const lead = end - back > 0 ? o.prefix[end - back - 1] : 0;
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    // A character cut short: drop its lead byte and the continuation bytes kept.
    if (lead >= 0xc0 && back + 1 < need) end = end - back - 1;
  }
  const raw = rawForDeadLetter(o.prefix.subarray(0, end), null);
  const error = `record is ${o.size} bytes, over the ${maxEventBytes}-byte limit; sha256 ${o.sha256}; raw_message holds its first ${end} bytes`;
  return { error, ...raw };
}

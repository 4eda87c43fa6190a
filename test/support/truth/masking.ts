// What the dead-letter raw message must look like after IP masking, and detectors for raw addresses.
// Only the generator's own addresses are considered: they are the only ones the input contains.
import { ALL_IPV4, ALL_IPV6 } from './catalog.ts';

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function ipv4Pattern(flags: string): RegExp {
  return new RegExp(`(?<![0-9.])(?:${ALL_IPV4.map(escape).join('|')})(?![0-9])`, flags);
}

const IPV4_ANY = ipv4Pattern('');
const IPV6_ANY = new RegExp(`(?<![0-9A-Fa-f:])(?:${ALL_IPV6.map(escape).join('|')})(?![0-9A-Fa-f:])`, 'i');

/** The IPv4 address with its last octet zeroed. */
export function maskIpv4(ip: string): string {
  return ip.replace(/\.\d+$/, '.0');
}

/** The IPv6 address with its last 80 bits zeroed, in compressed form (first three groups kept). */
export function maskIpv6(ip: string): string {
  const [head, tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = [...left, ...new Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 3).map((g) => parseInt(g, 16).toString(16)).join(':')}::`;
}

/** Masks every generated IPv4 address in a text (latin1 text works for binary records too). */
export function maskIpv4InText(text: string): string {
  return text.replace(ipv4Pattern('g'), (ip) => maskIpv4(ip));
}

/** Masks `"ip_address":"<ipv6>"` values, the only place the contract masks IPv6. */
export function maskIpv6Values(text: string): string {
  return text.replace(/("ip_address"\s*:\s*")([^"]*)(")/g, (m, a: string, v: string, b: string) =>
    v.includes(':') && ALL_IPV6.includes(v) ? a + maskIpv6(v) + b : m);
}

/**
 * Engines may spell a masked IPv6 address in any valid form, so comparisons replace IPv6-looking
 * `ip_address` values with a placeholder on both sides (the raw-address check catches a missing mask).
 */
export function normalizeIpv6Values(text: string): string {
  return text.replace(/("ip_address"\s*:\s*")([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(")/g, '$1<ipv6>$3');
}

/** The generated raw address found in a text, if any. */
export function findRawIp(text: string): string | null {
  return IPV4_ANY.exec(text)?.[0] ?? IPV6_ANY.exec(text)?.[0] ?? null;
}

/** The raw message the dead-letter table should hold for a record's bytes, as text of its encoding. */
export function maskedRaw(raw: Buffer, encoding: 'utf8' | 'base64'): string {
  if (encoding === 'base64') return Buffer.from(maskIpv4InText(raw.toString('latin1')), 'latin1').toString('base64');
  return maskIpv6Values(maskIpv4InText(raw.toString('utf8')));
}

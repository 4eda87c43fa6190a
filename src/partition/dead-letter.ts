/**
 * Dead-letter rows keep the original record so it can be fixed and replayed, minus raw IP addresses.
 */
import { isUtf8 } from 'node:buffer';

const IPV4 = /\b(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}\b/g;

/** Keeps the first 48 bits of an IPv6 address (a /48, the usual site prefix). */
export function maskIpv6(ip: string): string {
  const head = ip.split('::')[0].split(':').slice(0, 3);
  return `${head.join(':')}::`;
}

export function maskIpv4(ip: string): string {
  return ip.replace(IPV4, '$1.0');
}

export function maskIp(ip: string): string {
  return ip.includes(':') ? maskIpv6(ip) : maskIpv4(ip);
}

/**
 * The raw message as text, or base64 when the bytes are not UTF-8 text or contain NUL. Every dotted quad is
 * masked (an app version such as "1.2.3.4" is masked too: privacy wins over fidelity here), and so is the
 * record's IPv6 `ip_address` when it decoded, wherever it appears (JSON text or Avro binary).
 */
export function rawForDeadLetter(bytes: Uint8Array, ip: string | null): { raw: string; encoding: 'utf8' | 'base64' } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const ipv6 = ip !== null && ip.includes(':') ? ip : null;
  if (!isUtf8(buf) || buf.indexOf(0) !== -1) {
    // latin1 maps bytes 1:1, so ASCII addresses inside binary records are masked as well.
    let text = buf.toString('latin1').replace(IPV4, '$1.0');
    if (ipv6 !== null && /^[\x00-\x7f]*$/.test(ipv6)) text = text.replaceAll(ipv6, maskIpv6(ipv6));
    return { raw: Buffer.from(text, 'latin1').toString('base64'), encoding: 'base64' };
  }
  let text = buf.toString('utf8').replace(IPV4, '$1.0');
  if (ipv6 !== null) text = text.replaceAll(ipv6, maskIpv6(ipv6));
  return { raw: text, encoding: 'utf8' };
}

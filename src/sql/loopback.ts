/**
 * Loopback addresses: POST /sql answers only clients on the daemon's own machine, whatever address the server
 * listens on (GAMESTREAM_METRICS_HOST may be 0.0.0.0 so that Prometheus can scrape from elsewhere).
 */
import { isIPv4 } from 'node:net';

/** Whether a socket's remote address is this machine's loopback: 127.0.0.0/8, ::1, or 127.x as IPv4-mapped IPv6. */
export function isLoopback(address: string | undefined | null): boolean {
  if (!address) return false;
  const a = address.toLowerCase();
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return isIPv4(v4) && v4.startsWith('127.');
}

/**
 * A URL this machine's clients reach a server on, from the address it listens on: a wildcard address (0.0.0.0,
 * ::) is reached over loopback; any other address as it is.
 */
export function localUrl(host: string, port: number): string {
  if (host === '0.0.0.0') return `http://127.0.0.1:${port}`;
  if (host === '::' || host === '0:0:0:0:0:0:0:0') return `http://[::1]:${port}`;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

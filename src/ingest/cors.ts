/**
 * CORS for the events endpoint, so that a web game (the seed's Web App client) can post events from its own
 * origin: a browser first asks with an OPTIONS preflight, then sends the POST, and reads the answer only when the
 * server names its origin. Origins are configured (GAMESTREAM_INGEST_CORS_ORIGINS); none by default, so a browser
 * on another origin is refused until someone says otherwise.
 */
import { ValueError } from '../config/parsers.ts';

/** `*`, or exact origins (scheme://host[:port], no path). */
export type CorsOrigins = '*' | ReadonlySet<string>;

export function parseCorsOrigins(raw: string): CorsOrigins {
  const t = raw.trim();
  if (t === '*') return '*';
  const out = new Set<string>();
  for (const part of t.split(',').map((s) => s.trim()).filter(Boolean)) {
    let u: URL;
    try {
      u = new URL(part);
    } catch {
      throw new ValueError(`origins such as https://game.example.com (comma-separated), or *; "${part}" is not one`);
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin !== part.replace(/\/$/, '')) {
      throw new ValueError(`origins such as https://game.example.com (scheme, host and port only), or *; "${part}" is not one`);
    }
    out.add(u.origin);
  }
  return out;
}

/** The request headers a browser may send with the POST: the API key, the body's type and encoding. */
const ALLOWED_HEADERS = 'content-type, content-encoding, x-api-key';

/** The Access-Control-Allow-Origin a response carries for this request's Origin, or null: none (not allowed). */
export function allowedOrigin(origins: CorsOrigins, origin: string | undefined): string | null {
  if (origin === undefined) return null;
  if (origins === '*') return '*';
  return origins.has(origin) ? origin : null;
}

/** Headers for the answer to a request from an allowed origin. */
export function corsHeaders(allowed: string): Record<string, string> {
  // A page's script may read Retry-After only when it is exposed: a web game backs off by it after a 429 or 503.
  const expose = { 'access-control-expose-headers': 'retry-after' };
  return allowed === '*' ? { 'access-control-allow-origin': '*', ...expose } : { 'access-control-allow-origin': allowed, vary: 'Origin', ...expose };
}

/** Headers for the answer to an allowed preflight of POST /v1/events. */
export function preflightHeaders(allowed: string): Record<string, string> {
  return {
    ...corsHeaders(allowed),
    'access-control-allow-methods': 'POST',
    'access-control-allow-headers': ALLOWED_HEADERS,
    'access-control-max-age': '600',
  };
}

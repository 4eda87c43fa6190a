/**
 * The image's HEALTHCHECK (Containerfile): GET /healthz of whichever server the container runs, so that one
 * image serves both roles without a per-role override: the tracking server's (`gamestream ingest`, on
 * GAMESTREAM_INGEST_PORT) or the daemon's observability server (on GAMESTREAM_METRICS_PORT). Exits 0 on a 2xx,
 * 1 otherwise. The command is read from /proc/1/cmdline: the container's first process, or its init (docker run
 * --init), whose command line holds the one it starts.
 */
import { readFileSync } from 'node:fs';

const args = readFileSync('/proc/1/cmdline', 'utf8').split('\0');
const ingest = args.includes('ingest');
const port = ingest ? (process.env.GAMESTREAM_INGEST_PORT ?? '8088') : (process.env.GAMESTREAM_METRICS_PORT ?? '9464');
if (!/^[1-9]\d*$/.test(port)) {
  // off or 0 (any free port): nothing known to ask.
  process.stderr.write(`healthcheck: no fixed port to check (${ingest ? 'GAMESTREAM_INGEST_PORT' : 'GAMESTREAM_METRICS_PORT'}=${port})\n`);
  process.exit(1);
}
const url = `http://127.0.0.1:${port}/healthz`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  process.stdout.write(`${url}: ${res.status} ${await res.text()}\n`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  process.stdout.write(`${url}: ${(err as Error).message}\n`);
  process.exit(1);
}

/**
 * A throwaway local schema registry (scripts/schema-registry/start.sh: Apicurio Registry with its Confluent API,
 * schemas in an H2 file in its data dir) on a free port, for the test suite's global setup. Stopped by its pid
 * (stop.sh checks the pid is still the registry), never by name. It can be stopped and started again on the same
 * port and data dir: the schemas and ids survive, as with a registry that had an outage.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './kafka-broker.ts';

const SCRIPTS = fileURLToPath(new URL('../../scripts/schema-registry/', import.meta.url));

export interface LocalSchemaRegistry {
  /** The Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7 (GAMESTREAM_SCHEMA_REGISTRY_URL). */
  url: string;
  port: number;
  dataDir: string;
  pid: number;
  startMs: number;
}

function runStart(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // 240 s: the first use on a machine fetches the registry (about 140 MB) with Maven.
    execFile(join(SCRIPTS, 'start.sh'), args, { encoding: 'utf8', timeout: 240_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a registry; with `at`, on that port and data dir again (after `stopLocalSchemaRegistry(r, { keepData: true })`). */
export async function startLocalSchemaRegistry(at?: { port: number; dataDir: string }): Promise<LocalSchemaRegistry> {
  let lastErr = '';
  // Two attempts for a fresh one: another process may take the free port before the registry binds it.
  for (let attempt = 1; attempt <= (at ? 1 : 2); attempt++) {
    const dataDir = at?.dataDir ?? mkdtempSync(join(tmpdir(), 'gamestream-schema-registry-test-'));
    const port = at?.port ?? (await freePort());
    const t0 = performance.now();
    const r = await runStart(['--port', String(port), '--data-dir', dataDir]);
    const startMs = performance.now() - t0;
    const vars = Object.fromEntries(r.stdout.trim().split('\n').filter((l) => l.includes('=')).map((l) => {
      const i = l.indexOf('=');
      return [l.slice(0, i), l.slice(i + 1)];
    }));
    if (r.code === 0 && vars.SCHEMA_REGISTRY_URL && vars.SCHEMA_REGISTRY_PID) {
      return { url: vars.SCHEMA_REGISTRY_URL, port, dataDir, pid: Number(vars.SCHEMA_REGISTRY_PID), startMs };
    }
    if (!at) rmSync(dataDir, { recursive: true, force: true });
    lastErr = `scripts/schema-registry/start.sh exited ${r.code}:\n${r.stderr.trim().split('\n').slice(-30).join('\n')}`;
  }
  throw new Error(`could not start a local schema registry (Java 17+ and Maven are needed on first use):\n${lastErr}`);
}

/** Stops it by its recorded pid; removes its data dir unless `keepData`. Synchronous, so it also works at exit. */
export function stopLocalSchemaRegistry(r: { dataDir: string }, opts: { keepData?: boolean } = {}): void {
  const args = ['--data-dir', r.dataDir, ...(opts.keepData ? [] : ['--remove-data'])];
  spawnSync(join(SCRIPTS, 'stop.sh'), args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  if (!opts.keepData) rmSync(r.dataDir, { recursive: true, force: true });
}

/**
 * A throwaway local BigQuery emulator (scripts/bqemulator/start.sh: REST + gRPC Storage APIs, in memory) on free
 * ports with a temp dir for its pid file and log, for the test suite's global setup. It is stopped by its pid
 * (stop.sh checks the pid is still the emulator), never by name, so other emulators on the machine are left alone.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './kafka-broker.ts';

const SCRIPTS = fileURLToPath(new URL('../../scripts/bqemulator/', import.meta.url));

export interface LocalBigQueryEmulator {
  /** apiEndpoint for @google-cloud/bigquery, e.g. http://127.0.0.1:9050. */
  restEndpoint: string;
  /** Storage Read/Write API, plaintext gRPC, e.g. http://127.0.0.1:9060. */
  grpcEndpoint: string;
  pid: number;
  /** Holds the pid file and the emulator's log. */
  dir: string;
  /** Local folder the emulator maps gs://bucket/path onto (EXPORT DATA writes there). */
  gcsRoot: string;
  startMs: number;
}

function runStart(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // 180 s: the first use on a machine builds the venv (about 60 s with an empty pip cache).
    execFile(join(SCRIPTS, 'start.sh'), args, { encoding: 'utf8', timeout: 180_000, maxBuffer: 16 << 20, env }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export async function startBigQueryEmulator(): Promise<LocalBigQueryEmulator> {
  let lastErr = '';
  // Two attempts: another process may take a free port between freePort() and the emulator's bind.
  for (let attempt = 1; attempt <= 2; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'gamestream-bqemulator-test-'));
    const [restPort, grpcPort] = [await freePort(), await freePort()];
    const t0 = performance.now();
    const gcsRoot = join(dir, 'gcs');
    mkdirSync(gcsRoot);
    const r = await runStart(['--rest-port', String(restPort), '--grpc-port', String(grpcPort), '--dir', dir],
      { ...process.env, BQEMU_GCS_LOCAL_ROOT: gcsRoot });
    const startMs = performance.now() - t0;
    const vars = Object.fromEntries(r.stdout.trim().split('\n').filter((l) => l.includes('=')).map((l) => {
      const i = l.indexOf('=');
      return [l.slice(0, i), l.slice(i + 1)];
    }));
    if (r.code === 0 && vars.BQ_REST_ENDPOINT && vars.BQ_GRPC_ENDPOINT && vars.BQ_PID) {
      // start.sh prints the gRPC address as host:port; clients take a URL.
      const grpc = vars.BQ_GRPC_ENDPOINT.includes('://') ? vars.BQ_GRPC_ENDPOINT : `http://${vars.BQ_GRPC_ENDPOINT}`;
      return { restEndpoint: vars.BQ_REST_ENDPOINT, grpcEndpoint: grpc, pid: Number(vars.BQ_PID), dir: vars.BQ_DIR || dir, gcsRoot, startMs };
    }
    // start.sh stops its own emulator when it fails; only the folder is left to remove.
    rmSync(dir, { recursive: true, force: true });
    lastErr = `scripts/bqemulator/start.sh exited ${r.code}:\n${r.stderr.trim().split('\n').slice(-30).join('\n')}`;
  }
  throw new Error(`could not start a local BigQuery emulator (Python >= 3.11 and PyPI access are needed on first use):\n${lastErr}`);
}

/** Stops the emulator by its recorded pid and removes its dir. Synchronous, so it also works at process exit. */
export function stopBigQueryEmulator(e: LocalBigQueryEmulator): void {
  spawnSync(join(SCRIPTS, 'stop.sh'), ['--dir', e.dir, '--remove-dir'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  // stop.sh removes the dir only when it holds the emulator's log; make sure nothing is left either way.
  rmSync(e.dir, { recursive: true, force: true });
}

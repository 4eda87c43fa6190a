/**
 * A throwaway local Kafka broker (scripts/kafka/start.sh) on free ports in a temp data dir, for the test suite's
 * global setup and for benches. It is stopped by its pid (stop.sh checks the pid is still that broker), never
 * by name, so other brokers on the machine are left alone.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPTS = fileURLToPath(new URL('../../scripts/kafka/', import.meta.url));

export interface LocalBroker {
  bootstrap: string;
  dataDir: string;
  pid: number;
  startMs: number;
  /** The broker's own listener and controller ports (a restart uses them again). */
  port: number;
  controllerPort: number;
  /** The port the broker tells clients to use, when it is not its own (see LocalBrokerOptions). */
  advertisedPort?: number;
}

export interface LocalBrokerOptions {
  /** The listener port; default: a free one. */
  port?: number;
  /**
   * The port advertised to clients instead of the listener's (start.sh --advertised-port): a test's TCP proxy
   * there, forwarding to `port`, then carries every client connection. It must be forwarding before the start.
   */
  advertisedPort?: number;
}

/** A port nobody listens on right now (the kernel picks it; the tiny race with other processes is retried). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function runScript(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(SCRIPTS, script), args, { encoding: 'utf8', timeout: 180_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function startArgs(port: number, cport: number, dataDir: string, advertisedPort: number | undefined): string[] {
  const args = ['--port', String(port), '--controller-port', String(cport), '--data-dir', dataDir];
  return advertisedPort === undefined ? args : [...args, '--advertised-port', String(advertisedPort)];
}

function startVars(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').filter((l) => l.includes('=')).map((l) => {
    const i = l.indexOf('=');
    return [l.slice(0, i), l.slice(i + 1)];
  }));
}

export async function startLocalBroker(o: LocalBrokerOptions = {}): Promise<LocalBroker> {
  let lastErr = '';
  for (let attempt = 1; attempt <= 2; attempt++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'gamestream-kafka-test-'));
    const [port, cport] = [o.port ?? await freePort(), await freePort()];
    const t0 = performance.now();
    const r = await runScript('start.sh', startArgs(port, cport, dataDir, o.advertisedPort));
    const startMs = performance.now() - t0;
    const vars = startVars(r.stdout);
    if (r.code === 0 && vars.KAFKA_BOOTSTRAP && vars.KAFKA_PID) {
      return { bootstrap: vars.KAFKA_BOOTSTRAP, dataDir, pid: Number(vars.KAFKA_PID), startMs, port, controllerPort: cport, advertisedPort: o.advertisedPort };
    }
    // start.sh stops its own broker when it fails; only the folder is left to remove.
    rmSync(dataDir, { recursive: true, force: true });
    lastErr = `scripts/kafka/start.sh exited ${r.code}:\n${r.stderr.trim().split('\n').slice(-30).join('\n')}`;
  }
  throw new Error(`could not start a local Kafka broker (Java 17+ and Maven are needed on first use):\n${lastErr}`);
}

/**
 * Stops the broker by its recorded pid (SIGTERM, a controlled shutdown) and keeps its data dir, for a test that
 * takes the broker away and brings it back with restartLocalBroker. Asynchronous: the test's own event loop
 * (a server under test in the same process) keeps running meanwhile.
 */
export async function haltLocalBroker(b: LocalBroker): Promise<void> {
  const r = await runScript('stop.sh', ['--data-dir', b.dataDir]);
  if (r.code !== 0) throw new Error(`scripts/kafka/stop.sh exited ${r.code}: ${r.stderr.trim()}`);
}

/** Starts a halted broker again on the same ports and data (its topics and records are still there). */
export async function restartLocalBroker(b: LocalBroker): Promise<void> {
  const t0 = performance.now();
  const r = await runScript('start.sh', startArgs(b.port, b.controllerPort, b.dataDir, b.advertisedPort));
  const vars = startVars(r.stdout);
  if (r.code !== 0 || !vars.KAFKA_PID) {
    throw new Error(`scripts/kafka/start.sh (restart) exited ${r.code}:\n${r.stderr.trim().split('\n').slice(-30).join('\n')}`);
  }
  b.pid = Number(vars.KAFKA_PID);
  b.startMs = performance.now() - t0;
}

/** Stops the broker by its recorded pid and removes its data dir. Synchronous, so it also works at process exit. */
export function stopLocalBroker(b: LocalBroker): void {
  spawnSync(join(SCRIPTS, 'stop.sh'), ['--data-dir', b.dataDir, '--remove-data'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  // stop.sh removes the dir only when it looks like a broker's; make sure nothing is left either way.
  rmSync(b.dataDir, { recursive: true, force: true });
}

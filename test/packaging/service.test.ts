/**
 * deploy/*.service and their example environment files, read as files: every setting an example offers is one
 * the process accepts (in every choice it offers), and the unit's numbers agree with the process's (the stop
 * timeout with the drain, the memory limits with the measured peak, the paths with an `npm ci` checkout).
 * What systemd makes of the units, running them, is test/packaging/container.test.ts.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { daemonConfig, ingestConfig, readEnvFile, readUnit, REPO_ROOT, repoFile, timeSpanMs, unitBytes, unitValue } from './deploy-files.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gs-service-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Where the units expect the app: a checkout after `npm ci`, which the image lays out the same way. */
const APP = '/opt/gamestream';
/** How long a finished command may hold open handles before main() makes it exit (src/cli/main.ts, EXIT_GRACE_MS). */
const EXIT_GRACE_MS = 5000;

/** ExecStart's program and arguments, the app's paths mapped into this checkout. */
function execStart(unit: ReturnType<typeof readUnit>): string[] {
  return unitValue(unit, 'Service', 'ExecStart').split(/\s+/).map((a) => (a.startsWith(`${APP}/`) ? join(REPO_ROOT, a.slice(APP.length + 1)) : a));
}

describe('deploy/gamestream.service', () => {
  const unit = readUnit('deploy/gamestream.service');
  const env = readEnvFile('deploy/gamestream.env');

  it('reads the example environment file, whose every choice the daemon accepts', () => {
    expect(unitValue(unit, 'Service', 'EnvironmentFile')).toBe('/etc/gamestream/gamestream.env');
    daemonConfig(env.active);
    expect(env.choices.length).toBeGreaterThanOrEqual(3);
    for (const choice of env.choices) daemonConfig({ ...env.active, ...choice });
  });

  it('runs the pinned Node on the CLI, from where `npm ci` and the image put them', () => {
    const [node, main, cmd] = execStart(unit);
    expect(node).toBe(join(REPO_ROOT, 'node_modules/node/bin/node'));
    expect(existsSync(node!)).toBe(true);
    expect(main).toBe(join(REPO_ROOT, 'src/cli/main.ts'));
    expect(cmd).toBe('run');
    const containerfile = repoFile('Containerfile');
    expect(containerfile).toContain(`COPY --from=build /app ${APP}`);
    expect(containerfile).toContain('node_modules/node/bin/node');
  });

  it('gives a SIGTERM drain the time it may take, and sends that SIGTERM once', () => {
    const { config } = daemonConfig(env.active);
    expect(unitValue(unit, 'Service', 'KillSignal')).toBe('SIGTERM');
    // A second SIGTERM makes the daemon exit without draining: only the main process gets the first.
    expect(unitValue(unit, 'Service', 'KillMode')).toBe('mixed');
    expect(timeSpanMs(unitValue(unit, 'Service', 'TimeoutStopSec'))).toBeGreaterThan(config.shutdownTimeoutMs + EXIT_GRACE_MS);
  });

  it('keeps the daemon under memory limits above the long-run peak docs/OPERATIONS.md measured with the defaults', () => {
    // The long run's peak, not a short bench's: a daemon meant to run for months fills its bounded parts (the
    // dedupe filter, DuckDB's buffer manager), and a MemoryHigh under that throttles it for good.
    const m = /long-run peak RSS was ([\d.]+) GB/.exec(repoFile('docs/OPERATIONS.md'));
    expect(m, 'docs/OPERATIONS.md states the measured long-run peak RSS').not.toBeNull();
    const peak = Number(m![1]) * 1e9;
    const high = unitBytes(unitValue(unit, 'Service', 'MemoryHigh'));
    const max = unitBytes(unitValue(unit, 'Service', 'MemoryMax'));
    // Room above the peak for more worker threads and the spool files in /dev/shm, which count in the cgroup.
    expect(high).toBeGreaterThan(1.2 * peak);
    expect(max).toBeGreaterThan(high);
  });

  it('keeps the data directory writable under ProtectSystem=strict, and the working directory, so that relative paths land in it', () => {
    expect(unitValue(unit, 'Service', 'ProtectSystem')).toBe('strict');
    expect(unitValue(unit, 'Service', 'StateDirectory')).toBe('gamestream');
    expect(unitValue(unit, 'Service', 'WorkingDirectory')).toBe('/var/lib/gamestream');
    const { config } = daemonConfig(env.active);
    // The default warehouse under the working directory (./data/gamestream.duckdb), as the image's: one file whichever way it is run.
    expect(config.warehouse).toEqual({ kind: 'duckdb', path: '/var/lib/gamestream/data/gamestream.duckdb' });
  });
});

describe('deploy/gamestream-ingest.service', () => {
  const unit = readUnit('deploy/gamestream-ingest.service');
  const env = readEnvFile('deploy/gamestream-ingest.env');
  const keys = join(tmp, 'ingest-api-keys');
  writeFileSync(keys, 'mygame:service-test-key-0123456789\n');
  /** The example's settings, with its key file here instead of in /etc. */
  const settings = (extra: Record<string, string> = {}): Record<string, string> => {
    const s = { ...env.active, ...extra };
    expect(s.GAMESTREAM_INGEST_API_KEYS_FILE).toBe('/etc/gamestream/ingest-api-keys');
    return { ...s, GAMESTREAM_INGEST_API_KEYS_FILE: keys };
  };

  it('reads the example environment file, whose every choice the tracking server accepts', () => {
    expect(unitValue(unit, 'Service', 'EnvironmentFile')).toBe('/etc/gamestream/gamestream-ingest.env');
    ingestConfig(settings());
    expect(env.choices.length).toBeGreaterThanOrEqual(1);
    for (const choice of env.choices) ingestConfig(settings(choice));
  });

  it('runs the pinned Node on the CLI\'s ingest command', () => {
    const [node, main, cmd] = execStart(unit);
    expect(node).toBe(join(REPO_ROOT, 'node_modules/node/bin/node'));
    expect(main).toBe(join(REPO_ROOT, 'src/cli/main.ts'));
    expect(cmd).toBe('ingest');
  });

  it('gives the requests in flight the time they may take after SIGTERM, and has descriptors for every connection', () => {
    const cfg = ingestConfig(settings());
    expect(unitValue(unit, 'Service', 'KillSignal')).toBe('SIGTERM');
    expect(unitValue(unit, 'Service', 'KillMode')).toBe('mixed');
    // A request ends within the ack timeout once its body is in; a stalled upload is cut 10 s after that.
    expect(timeSpanMs(unitValue(unit, 'Service', 'TimeoutStopSec'))).toBeGreaterThan(cfg.ackTimeoutMs + 10_000);
    expect(Number(unitValue(unit, 'Service', 'LimitNOFILE'))).toBeGreaterThan(cfg.maxConnections + 256);
    expect(unitBytes(unitValue(unit, 'Service', 'MemoryHigh'))).toBeGreaterThan(4 * cfg.maxInflightBytes);
  });
});

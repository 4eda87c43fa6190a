/**
 * The Containerfile's image, built here with podman from a Debian base made from Debian packages
 * (scripts/container/base.sh: no registry is needed), and run: its configuration (non-root user, health check,
 * entry point), the pinned Node in it, the allocator it preloads, the daemon and the tracking server in it
 * (health, SIGTERM, the data volume), and deploy/*.service under the image's own systemd, hardening and limits
 * included.
 *
 * How containers are run here, and why:
 * - runc, not crun (podman's first choice): crun refuses hosts whose cgroups are mounted in hybrid mode (v1
 *   controllers with a v2 tree beside them); runc runs on those and on v2 alike.
 * - Explicit, low open-file and process limits: podman's defaults for a root container (1048576 open files)
 *   are above what a host may grant when its root lacks CAP_SYS_RESOURCE (inside a VM sandbox or another
 *   container); lowering a limit needs no privilege.
 * - systemd in a container needs CAP_SYS_ADMIN to give each service its own mount namespace (ProtectSystem=,
 *   PrivateTmp=, …), as the host's systemd has.
 * - The memory limits of the units are not enforced inside the container (its systemd cannot delegate the host's
 *   v1 memory controller); that systemd reads them is all that is checked of them here.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { topicCount } from '../ingest/support.ts';
import { freePort, must, readUnit, REPO_ROOT, run, unitBytes, unitValue } from './deploy-files.ts';

const RUN_FLAGS = ['--runtime', 'runc', '--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096'];
const NOFILE = 4096;
const IMAGE = `localhost/gamestream-test:${process.pid}`;
const SYSTEMD_IMAGE = `localhost/gamestream-test-systemd:${process.pid}`;
const VOLUME = `gamestream-test-${process.pid}`;
const MINUTE = 60_000;

const containers: string[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'gs-container-'));
const lockfile = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };

beforeAll(async () => {
  const t0 = Date.now();
  const base = (await must('bash', ['scripts/container/base.sh'], { timeoutMs: 15 * MINUTE })).trim();
  const t1 = Date.now();
  await must('podman', ['build', '--runtime', 'runc', '--format', 'docker', '--build-arg', `BASE=${base}`, '-t', IMAGE, '-f', 'Containerfile', '.'], { timeoutMs: 30 * MINUTE });
  process.stderr.write(`[packaging] base image ${base} in ${((t1 - t0) / 1000).toFixed(1)} s, gamestream image in ${((Date.now() - t1) / 1000).toFixed(1)} s\n`);
}, 45 * MINUTE);

afterAll(async () => {
  for (const id of containers) await run('podman', ['rm', '--force', '--volumes', id]);
  await run('podman', ['volume', 'rm', '--force', VOLUME]);
  await run('podman', ['rmi', '--force', SYSTEMD_IMAGE, IMAGE]);
  rmSync(tmp, { recursive: true, force: true });
});

async function start(args: string[]): Promise<string> {
  const id = (await must('podman', ['run', '--detach', ...RUN_FLAGS, ...args])).trim();
  containers.push(id);
  return id;
}

const logs = async (id: string): Promise<string> => {
  const r = await run('podman', ['logs', id]);
  return r.stdout + r.stderr;
};

async function state(id: string): Promise<{ status: string; exitCode: number }> {
  const [status, code] = (await must('podman', ['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', id])).trim().split(' ');
  return { status: status!, exitCode: Number(code) };
}

/** Polls `cond` until it holds; fails at once, with the logs, when the container stops running meanwhile. */
async function until(what: string, id: string, cond: () => Promise<boolean>, timeoutMs = 2 * MINUTE): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond().catch(() => false)) return;
    const s = await state(id);
    if (s.status !== 'running') throw new Error(`container stopped (${s.status}, exit ${s.exitCode}) while waiting for ${what}\n${await logs(id)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${(await logs(id)).slice(-4000)}`);
    await sleep(200);
  }
}

const ok = async (url: string): Promise<boolean> => (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;

async function inContainer(id: string, ...cmd: string[]): Promise<string> {
  return must('podman', ['exec', id, ...cmd]);
}

/** `podman healthcheck run`: the image's HEALTHCHECK, run once now; its exit code, and what podman recorded. */
async function healthcheck(id: string): Promise<{ code: number | null; status: string; output: string }> {
  const r = await run('podman', ['healthcheck', 'run', id]);
  const health = JSON.parse(await must('podman', ['inspect', '--format', '{{json .State.Health}}', id])) as { Status: string; Log: { Output: string }[] };
  return { code: r.code, status: health.Status, output: health.Log.at(-1)?.Output ?? '' };
}

/** An event as a game client sends it. */
const event = (id: string): string => JSON.stringify([{ id, user_id: 'u-container', session_id: 's-1', timestamp: new Date().toISOString(), type: 1001, name: 'session_start', parameters: {}, app_version: '1.0.0', platform: 'ios' }]);

describe('the image', () => {
  it('runs as a non-root user from the data directory, with a health check, stopped by SIGTERM', async () => {
    const [info] = JSON.parse(await must('podman', ['image', 'inspect', IMAGE])) as [{ Config: Record<string, unknown>; Healthcheck?: { Test: string[] } }];
    const c = info.Config;
    expect(c.User).toBe('gamestream');
    expect((await must('podman', ['run', '--rm', ...RUN_FLAGS, '--entrypoint', 'id', IMAGE, '-u'])).trim()).not.toBe('0');
    expect(c.WorkingDir).toBe('/var/lib/gamestream');
    expect(c.Volumes).toEqual({ '/var/lib/gamestream': {} });
    expect(c.Entrypoint).toEqual(['node', '/opt/gamestream/bin/gamestream.js']);
    expect(c.Cmd).toEqual(['run']);
    expect(c.StopSignal).toBe('SIGTERM');
    expect(info.Healthcheck?.Test).toEqual(['CMD', 'node', '/opt/gamestream/deploy/healthcheck.ts']);
  });

  it('carries the pinned Node (the lockfile\'s `node`), where `npm ci` puts it, and the production dependencies only', async () => {
    const pinned = lockfile.packages['node_modules/node']!.version;
    expect(Number(pinned.split('.')[0])).toBeGreaterThanOrEqual(26);
    const sh = (script: string): Promise<string> => must('podman', ['run', '--rm', ...RUN_FLAGS, '--entrypoint', 'sh', IMAGE, '-c', script]);
    expect((await sh('node --version')).trim()).toBe(`v${pinned}`);
    expect((await sh('readlink -f "$(command -v node)"')).trim()).toBe('/opt/gamestream/node_modules/node/bin/node');
    expect((await sh('node /opt/gamestream/bin/gamestream.js version')).trim()).toBe(lockfile.packages['']!.version);
    expect(await sh('ls /opt/gamestream/node_modules')).toContain('@duckdb');
    expect(await sh('for p in vitest typescript playwright-core; do [ -e /opt/gamestream/node_modules/$p ] && echo $p; done; true')).toBe('');
  });

  it('runs the daemon: /healthz on the published port, a passing health check, the warehouse in the volume, and a drained stop', async () => {
    const port = await freePort();
    const id = await start(['--publish', `127.0.0.1:${port}:9464`, '--volume', `${VOLUME}:/var/lib/gamestream`,
      '--env', 'GAMESTREAM_GENERATOR_RATE=2000', '--env', 'GAMESTREAM_PROGRESS_INTERVAL=500ms', IMAGE]);
    await until('/healthz on the published port', id, () => ok(`http://127.0.0.1:${port}/healthz`));
    await until('rows written', id, async () => /written [1-9]/.test(await logs(id)));
    expect(await healthcheck(id), await logs(id)).toEqual({ code: 0, status: 'healthy', output: 'http://127.0.0.1:9464/healthz: 200 {"ok":true}' });
    // The image's allocator (LD_PRELOAD) is loaded in the daemon itself (PID 1), not only named in its environment.
    expect(await inContainer(id, 'grep', '-c', 'libmimalloc', '/proc/1/maps')).toMatch(/^[1-9]\d*\n$/);

    await must('podman', ['stop', '--time', '60', id]);
    const out = await logs(id);
    expect(await state(id), out).toEqual({ status: 'exited', exitCode: 0 });
    expect(out).toContain('SIGTERM: draining');
    expect(out).toMatch(/stopped: [\d,]+ records/);
    // The container's /dev/shm (64 MB unless --shm-size says more) cannot hold two flushes, so the spool went to the volume.
    expect(out).toMatch(/the spool is in \/var\/lib\/gamestream\/data\/\.spool, not \/dev\/shm: \/dev\/shm has \d+ MiB free, less than the \d+ MiB its row files may take/);
    // The default warehouse, relative to the working directory, is in the volume, owned by the image's user.
    const files = await must('podman', ['run', '--rm', ...RUN_FLAGS, '--volume', `${VOLUME}:/var/lib/gamestream`, '--entrypoint', 'sh', IMAGE, '-c', 'stat -c "%u %n" data/gamestream.duckdb && id -u']);
    const [owner, uid] = files.trim().split('\n');
    expect(owner).toBe(`${uid} data/gamestream.duckdb`);
  }, 4 * MINUTE);

  it('runs the tracking server (`ingest`): it takes events into Kafka, and the same health check follows its port', async () => {
    const port = await freePort();
    const topic = `packaging-${randomBytes(5).toString('hex')}`;
    const key = `container-test-${randomBytes(8).toString('hex')}`;
    // The host's network, for the test broker on 127.0.0.1; the server listens there too, not on every interface.
    const id = await start(['--network', 'host', '--env', `GAMESTREAM_KAFKA_BROKERS=${inject('kafkaBrokers')}`, '--env', 'GAMESTREAM_INGEST_HOST=127.0.0.1',
      '--env', `GAMESTREAM_INGEST_PORT=${port}`, '--env', `GAMESTREAM_INGEST_API_KEYS=mygame:${key}`, '--env', `GAMESTREAM_INGEST_TOPIC=${topic}`,
      '--env', 'GAMESTREAM_KAFKA_RAW_PARTITIONS=2', IMAGE, 'ingest']);
    await until('the tracking server\'s /healthz', id, () => ok(`http://127.0.0.1:${port}/healthz`));
    const r = await fetch(`http://127.0.0.1:${port}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: event('container-1') });
    expect(await r.json()).toEqual({ accepted: 1 });
    expect(r.status).toBe(202);
    expect(await topicCount(topic)).toBe(1);
    expect(await healthcheck(id), await logs(id)).toEqual({ code: 0, status: 'healthy', output: expect.stringMatching(new RegExp(`^http://127\\.0\\.0\\.1:${port}/healthz: 200 `)) });

    await must('podman', ['stop', '--time', '30', id]);
    const out = await logs(id);
    expect(await state(id), out).toEqual({ status: 'exited', exitCode: 0 });
    expect(out).toMatch(/ingest stopped: \d+ requests, 1 events accepted/);
  }, 4 * MINUTE);
});

describe('deploy/*.service under systemd, in a container of the image', () => {
  let id = '';
  let metricsPort = 0;
  let ingestPort = 0;
  const topic = `packaging-${randomBytes(5).toString('hex')}`;
  const key = `systemd-test-${randomBytes(8).toString('hex')}`;
  const systemctl = (...args: string[]): Promise<string> => inContainer(id, 'systemctl', ...args);
  const show = async (unit: string, ...props: string[]): Promise<Record<string, string>> =>
    Object.fromEntries((await systemctl('show', unit, ...props.map((p) => `--property=${p}`))).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const journal = (unit: string): Promise<string> => inContainer(id, 'journalctl', '--unit', unit, '--no-pager', '--output', 'cat');
  const status = async (pid: string): Promise<Record<string, string>> =>
    Object.fromEntries((await inContainer(id, 'cat', `/proc/${pid}/status`)).split('\n').map((l) => l.split(':\t')).filter((p) => p.length === 2).map(([k, v]) => [k, v!.trim()]));

  beforeAll(async () => {
    metricsPort = await freePort();
    ingestPort = await freePort();
    // The units and the example settings as they are installed, and the test's own additions beside them.
    const ctx = join(tmp, 'systemd');
    mkdirSync(ctx);
    for (const f of ['gamestream.service', 'gamestream-ingest.service', 'gamestream.env', 'gamestream-ingest.env']) cpSync(join(REPO_ROOT, 'deploy', f), join(ctx, f));
    const dropIn = (envFile: string): string =>
      '[Service]\n' +
      `# This container's own limit (see RUN_FLAGS): systemd cannot raise a service above it.\nLimitNOFILE=${NOFILE}\n` +
      `# The test's settings over the example's (a later EnvironmentFile= wins).\nEnvironmentFile=${envFile}\n`;
    writeFileSync(join(ctx, 'daemon.conf'), dropIn('/etc/gamestream/test.env'));
    writeFileSync(join(ctx, 'ingest.conf'), dropIn('/etc/gamestream/test-ingest.env'));
    // On the host's network (for the test broker): every port a free one on 127.0.0.1.
    writeFileSync(join(ctx, 'test.env'), `GAMESTREAM_METRICS_HOST=127.0.0.1\nGAMESTREAM_METRICS_PORT=${metricsPort}\nGAMESTREAM_GENERATOR_RATE=2000\nGAMESTREAM_PROGRESS_INTERVAL=500ms\n`);
    writeFileSync(join(ctx, 'test-ingest.env'), `GAMESTREAM_KAFKA_BROKERS=${inject('kafkaBrokers')}\nGAMESTREAM_INGEST_HOST=127.0.0.1\nGAMESTREAM_INGEST_PORT=${ingestPort}\nGAMESTREAM_INGEST_TOPIC=${topic}\nGAMESTREAM_KAFKA_RAW_PARTITIONS=2\n`);
    writeFileSync(join(ctx, 'ingest-api-keys'), `# app:key\nmygame:${key}\n`);
    writeFileSync(join(ctx, 'Containerfile'), [
      `FROM ${IMAGE}`,
      'USER root',
      'RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd systemd-sysv >/dev/null && rm -rf /var/lib/apt/lists/*',
      'COPY gamestream.service gamestream-ingest.service /etc/systemd/system/',
      'COPY gamestream.env gamestream-ingest.env test.env test-ingest.env /etc/gamestream/',
      'COPY daemon.conf /etc/systemd/system/gamestream.service.d/test.conf',
      'COPY ingest.conf /etc/systemd/system/gamestream-ingest.service.d/test.conf',
      // As docs/OPERATIONS.md says to install the key file: readable by root and the gamestream group only.
      'COPY ingest-api-keys /etc/gamestream/',
      'RUN chown root:gamestream /etc/gamestream/ingest-api-keys && chmod 0640 /etc/gamestream/ingest-api-keys',
      'HEALTHCHECK NONE',
      // What makes systemd shut down (SIGTERM does not).
      'STOPSIGNAL SIGRTMIN+3',
      'ENTRYPOINT []',
      'CMD ["/sbin/init"]',
    ].join('\n') + '\n');
    await must('podman', ['build', '--runtime', 'runc', '--format', 'docker', '-t', SYSTEMD_IMAGE, ctx], { timeoutMs: 15 * MINUTE });
    id = await start(['--cap-add', 'SYS_ADMIN', '--systemd', 'always', '--network', 'host', SYSTEMD_IMAGE]);
    await until('systemd to finish booting', id, async () => ['running', 'degraded'].includes((await run('podman', ['exec', id, 'systemctl', 'is-system-running'])).stdout.trim()));
  }, 20 * MINUTE);

  it('passes systemd-analyze verify without a warning, and systemd reads the limits as written', async () => {
    const r = await run('podman', ['exec', id, 'systemd-analyze', 'verify', '/etc/systemd/system/gamestream.service', '/etc/systemd/system/gamestream-ingest.service']);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    // What systemd made of the settings that are not exercised below (the memory limits cannot be, here).
    const unit = readUnit('deploy/gamestream.service');
    expect(await show('gamestream', 'MemoryHigh', 'MemoryMax', 'KillMode', 'ProtectSystem')).toEqual({
      MemoryHigh: String(unitBytes(unitValue(unit, 'Service', 'MemoryHigh'))),
      MemoryMax: String(unitBytes(unitValue(unit, 'Service', 'MemoryMax'))),
      KillMode: unitValue(unit, 'Service', 'KillMode'),
      ProtectSystem: unitValue(unit, 'Service', 'ProtectSystem'),
    });
  });

  it('runs the daemon as the gamestream user, without privileges, on a read-only system but for its data directory', async () => {
    await systemctl('start', 'gamestream');
    await until('rows written', id, async () => /written [1-9]/.test(await journal('gamestream')));
    expect(await ok(`http://127.0.0.1:${metricsPort}/healthz`)).toBe(true);
    const pid = (await show('gamestream', 'MainPID')).MainPID!;
    const s = await status(pid);
    const uid = (await inContainer(id, 'id', '-u', 'gamestream')).trim();
    expect(s.Uid!.split('\t')).toEqual([uid, uid, uid, uid]);
    expect([s.NoNewPrivs, s.CapEff, s.CapBnd]).toEqual(['1', '0000000000000000', '0000000000000000']);
    expect(await inContainer(id, 'grep', 'Max open files', `/proc/${pid}/limits`)).toMatch(new RegExp(`\\s${NOFILE}\\s+${NOFILE}\\s`));
    // ProtectSystem=strict: / is read-only in the daemon's mount namespace, the state directory is writable.
    const mounts = (await inContainer(id, 'cat', `/proc/${pid}/mountinfo`)).split('\n').map((l) => l.split(' ')).filter((f) => f.length > 5);
    const options = (point: string): string[] => (mounts.findLast((f) => f[4] === point)?.[5] ?? '').split(',');
    expect(options('/')).toContain('ro');
    expect(options('/var/lib/gamestream')).toContain('rw');
    expect((await inContainer(id, 'stat', '-c', '%u', '/var/lib/gamestream/data/gamestream.duckdb')).trim()).toBe(uid);
  }, 4 * MINUTE);

  it('stops the daemon with one SIGTERM: it drains and exits 0, well within TimeoutStopSec', async () => {
    await systemctl('stop', 'gamestream');
    const out = await journal('gamestream');
    expect(await show('gamestream', 'Result', 'ExecMainStatus', 'ActiveState'), out).toEqual({ Result: 'success', ExecMainStatus: '0', ActiveState: 'inactive' });
    expect(out).toContain('SIGTERM: draining');
    expect(out).toMatch(/stopped: [\d,]+ records/);
    expect(out).not.toContain('again: exiting without draining');
  }, 2 * MINUTE);

  it('restarts the daemon after a crash, and not after a bad configuration', async () => {
    await systemctl('start', 'gamestream');
    await until('rows written', id, async () => /written [1-9]/.test(await journal('gamestream')));
    const first = (await show('gamestream', 'MainPID')).MainPID!;
    await inContainer(id, 'sh', '-c', `kill -9 ${first}`);
    await until('a restart', id, async () => {
      const p = await show('gamestream', 'ActiveState', 'NRestarts', 'MainPID');
      return p.ActiveState === 'active' && p.NRestarts === '1' && p.MainPID !== first && p.MainPID !== '0';
    });
    await systemctl('stop', 'gamestream');

    await inContainer(id, 'sh', '-c', 'echo GAMESTREAM_SORCE=kafka >> /etc/gamestream/test.env');
    await systemctl('start', 'gamestream');
    // Once the process exits, the unit is either waiting to restart (activating, auto-restart) or failed.
    await until('the daemon to exit', id, async () => (await show('gamestream', 'ActiveState')).ActiveState !== 'active');
    expect(await show('gamestream', 'ActiveState', 'SubState', 'ExecMainStatus')).toEqual({ ActiveState: 'failed', SubState: 'failed', ExecMainStatus: '2' });
    expect(await journal('gamestream')).toContain('did you mean GAMESTREAM_SOURCE?');
    await inContainer(id, 'sed', '-i', '/GAMESTREAM_SORCE/d', '/etc/gamestream/test.env');
    await systemctl('reset-failed', 'gamestream');
  }, 4 * MINUTE);

  it('runs the tracking server, reading its keys from the group-readable file, and stops it with SIGTERM', async () => {
    await systemctl('start', 'gamestream-ingest');
    await until('the tracking server\'s /healthz', id, () => ok(`http://127.0.0.1:${ingestPort}/healthz`));
    const r = await fetch(`http://127.0.0.1:${ingestPort}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: event('systemd-1') });
    expect(r.status).toBe(202);
    expect(await topicCount(topic)).toBe(1);
    const s = await status((await show('gamestream-ingest', 'MainPID')).MainPID!);
    expect([s.NoNewPrivs, s.CapEff]).toEqual(['1', '0000000000000000']);

    await systemctl('stop', 'gamestream-ingest');
    const out = await journal('gamestream-ingest');
    expect(await show('gamestream-ingest', 'Result', 'ExecMainStatus'), out).toEqual({ Result: 'success', ExecMainStatus: '0' });
    expect(out).toMatch(/ingest stopped: \d+ requests, 1 events accepted/);
  }, 4 * MINUTE);
});

/**
 * The Containerfile's image, built here with podman from a Debian base made from Debian packages
 * (scripts/container/base.sh: no registry is needed), and run: its configuration (non-root user, health check,
 * entry point), the pinned Node in it, the daemon and the tracking server in it (health, SIGTERM, the data
 * volume).
 *
 * How containers are run here, and why:
 * - runc, not crun (podman's first choice): crun refuses hosts whose cgroups are mounted in hybrid mode (v1
 *   controllers with a v2 tree beside them); runc runs on those and on v2 alike.
 * - Explicit, low open-file and process limits: podman's defaults for a root container (1048576 open files)
 *   are above what a host may grant when its root lacks CAP_SYS_RESOURCE (inside a VM sandbox or another
 *   container); lowering a limit needs no privilege.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { topicCount } from '../ingest/support.ts';
import { freePort, must, REPO_ROOT, run } from './deploy-files.ts';

const RUN_FLAGS = ['--runtime', 'runc', '--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096'];
const IMAGE = `localhost/gamestream-test:${process.pid}`;
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
  await run('podman', ['rmi', '--force', IMAGE]);
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

    await must('podman', ['stop', '--time', '60', id]);
    const out = await logs(id);
    expect(await state(id), out).toEqual({ status: 'exited', exitCode: 0 });
    expect(out).toContain('SIGTERM: draining');
    expect(out).toMatch(/stopped: [\d,]+ records/);
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

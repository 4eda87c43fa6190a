/**
 * `gamestream sql`: against the real daemon while it holds the DuckDB file (through its POST /sql, found by the
 * daemon file), against the file opened read-only when no daemon runs, and against BigQuery (the emulator).
 * The command runs as a process of its own where the file's lock matters, as an operator would run it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sqlCommand } from '../../src/cli/sql.ts';
import { DuckDbWarehouse } from '../../src/sinks/duckdb/duckdb-warehouse.ts';
import { daemonFilePath, readDaemonFile, writeDaemonFile } from '../../src/sql/daemon-file.ts';
import { Daemon } from '../support/daemon.ts';
import { ENGINE_MAIN, nodeBinary, REPO_ROOT } from '../support/truth/engine.ts';
import { openBigQueryTestWarehouse } from '../etl/support/bigquery-world.ts';
import { generateDay } from '../etl/support/world.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-sql-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Plain processes: no test runner variables, no GAMESTREAM_* of the caller. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(VITEST|NODE_|TINYPOOL|GAMESTREAM_)/.test(k)));
  return { ...env, ...extra };
}

interface Ran { code: number | null; out: string; err: string; ms: number }

/** `gamestream sql …` as a process of its own. */
function cli(args: string[], env: Record<string, string>): Promise<Ran> {
  const t0 = Date.now();
  const child = spawn(nodeBinary(), [ENGINE_MAIN, 'sql', ...args], { cwd: REPO_ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err, ms: Date.now() - t0 })));
}

/** The command in this process, with its output captured. */
async function inProcess(args: string[], env: Record<string, string>, o: { tty?: boolean; stdin?: string } = {}): Promise<Ran> {
  const t0 = Date.now();
  let out = '';
  let err = '';
  const code = await sqlCommand(args, {
    stdout: { write: (s: string) => (out += s), isTTY: o.tty ?? false }, stderr: { write: (s: string) => (err += s) }, env,
    stdin: async () => o.stdin ?? null,
  });
  return { code, out, err, ms: Date.now() - t0 };
}

const rows = (ndjson: string): Record<string, unknown>[] => ndjson.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

/** A closed warehouse file with the engine's tables and a table of its own. */
async function makeWarehouse(name: string, table: string): Promise<string> {
  const path = join(dir, name);
  const wh = new DuckDbWarehouse({ path, source: 's', maxEventBytes: 1 << 20 });
  await wh.open();
  const conn = await wh.connect();
  await conn.run(`CREATE TABLE ${table} AS SELECT range AS n, 'row ' || range AS label FROM range(1, 26)`);
  conn.closeSync();
  await wh.close();
  return path;
}

const digest = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('gamestream sql on a DuckDB file no daemon holds', () => {
  let path: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    path = await makeWarehouse('closed.duckdb', 'scores');
    env = { GAMESTREAM_WAREHOUSE: `duckdb:${path}` };
  });

  it('opens the file read-only: a table on a terminal, NDJSON or CSV otherwise, and the file is untouched', async () => {
    const before = digest(path);
    const table = await inProcess(['SELECT n, label FROM scores WHERE n <= 3 ORDER BY n'], env, { tty: true });
    expect(table.code, table.err).toBe(0);
    expect(table.out).toMatch(/^n  label\n-  -----\n1  row 1\n2  row 2\n3  row 3\n\(3 rows; \d+\.\d\d s\)\n$/);
    const nd = await inProcess(['SELECT', 'n,', 'label', 'FROM', 'scores', 'ORDER BY n LIMIT 2'], env);
    expect(rows(nd.out)).toEqual([{ n: 1, label: 'row 1' }, { n: 2, label: 'row 2' }]);
    const csv = await inProcess(['--format', 'csv', `SELECT n, label || ', "quoted"' AS l FROM scores WHERE n = 1`], env);
    expect(csv.out).toBe('n,l\r\n1,"row 1, ""quoted"""\r\n');
    const piped = await inProcess(['--format=table'], env, { stdin: 'SELECT count(*) AS c FROM scores\n' });
    expect(piped.out).toContain('25');
    const refused = await inProcess(['DELETE FROM scores'], env);
    expect([refused.code, refused.err]).toEqual([1, expect.stringContaining('gamestream sql: sql_refused: not a SELECT')]);
    expect(digest(path)).toBe(before);
    expect(readdirSync(dir).filter((f) => f.startsWith('closed.duckdb.') && !f.endsWith('.dedupe'))).toEqual([]);
  });

  it('cuts at GAMESTREAM_SQL_MAX_ROWS and says so, stops at GAMESTREAM_SQL_TIMEOUT, and ignores a dead daemon\'s file', async () => {
    // A daemon file left by a daemon that was killed: its PID is gone.
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => gone.on('exit', resolve));
    writeDaemonFile(daemonFilePath(path), { pid: gone.pid!, warehouse: `duckdb:${path}`, url: 'http://127.0.0.1:9', startedAt: '', version: '' });
    try {
      const cut = await inProcess(['SELECT n FROM scores ORDER BY n'], { ...env, GAMESTREAM_SQL_MAX_ROWS: '4' });
      expect(rows(cut.out).map((r) => r.n)).toEqual([1, 2, 3, 4]);
      expect(cut.err).toContain('only the first 4 rows are shown; the result has more (GAMESTREAM_SQL_MAX_ROWS');
      const slow = await inProcess(['SELECT sum(a.range * b.range) FROM range(100000) a, range(100000) b'], { ...env, GAMESTREAM_SQL_TIMEOUT: '500ms' });
      expect([slow.code, slow.err]).toEqual([1, expect.stringContaining('sql_timeout: the query ran longer than 500 ms')]);
      expect(slow.ms).toBeLessThan(5000);
    } finally {
      rmSync(daemonFilePath(path), { force: true });
    }
  });

  it('refuses bad arguments with exit code 2, and names the setting when there is no file', async () => {
    expect((await inProcess(['--format', 'xml', 'SELECT 1'], env)).code).toBe(2);
    expect((await inProcess(['--limit', '3', 'SELECT 1'], env)).err).toContain('unknown option --limit');
    expect((await inProcess([], env)).err).toContain('no query given');
    const none = await inProcess(['SELECT 1'], { GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, 'none.duckdb')}` });
    expect([none.code, none.err]).toEqual([1, expect.stringContaining('read-only (is GAMESTREAM_WAREHOUSE the daemon\'s? the daemon makes the file when it first starts)')]);
  });

  it('names the process that holds the file when it is not a daemon that can answer', async () => {
    const holder = spawn(process.execPath, ['--input-type=module', '-e',
      `import { DuckDBInstance } from '@duckdb/node-api'; const i = await DuckDBInstance.create(${JSON.stringify(path)}); await i.connect(); console.log('open'); setTimeout(() => {}, 60000);`,
    ], { cwd: REPO_ROOT, env: childEnv({}), stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
      const r = await inProcess(['SELECT 1'], env);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`gamestream sql: warehouse_unavailable: ${path} is held by PID ${holder.pid}, which left no ${path}.daemon.json: a gamestream daemon still opening the file (retry in a moment), another gamestream command (etl, dlq)`);
    } finally {
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill();
      await exited;
    }
  });
});

describe('gamestream sql against a daemon that is starting or stopping', () => {
  it('waits, within its time limit, while the daemon answers 503 (its warehouse not open yet)', async () => {
    const path = join(dir, 'starting.duckdb');
    let asked = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        asked++;
        res.writeHead(asked <= 2 ? 503 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(asked <= 2
          ? { error: 'the warehouse is not open yet (the daemon is starting or stopping); retry in a moment', code: 'warehouse_unavailable' }
          : { columns: [{ name: 'x', type: 'INTEGER' }], rows: [[1]], truncated: false, limits: { timeoutMs: 1000, maxRows: 10 }, elapsedMs: 1 }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // A live process to stand for the daemon in the daemon file.
    const stand = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      const { port } = server.address() as AddressInfo;
      writeDaemonFile(daemonFilePath(path), { pid: stand.pid!, warehouse: `duckdb:${path}`, url: `http://127.0.0.1:${port}`, startedAt: '', version: '' });
      const r = await inProcess(['SELECT 1 AS x'], { GAMESTREAM_WAREHOUSE: `duckdb:${path}` });
      expect([r.code, rows(r.out), asked], r.err).toEqual([0, [{ x: 1 }], 3]);
      asked = -100;
      const late = await inProcess(['SELECT 1 AS x'], { GAMESTREAM_WAREHOUSE: `duckdb:${path}`, GAMESTREAM_SQL_TIMEOUT: '500ms' });
      expect([late.code, late.err]).toEqual([1, expect.stringContaining('warehouse_unavailable: the warehouse is not open yet')]);
    } finally {
      stand.kill();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('gamestream sql while the daemon holds the DuckDB file', () => {
  const path = join(dir, 'live.duckdb');
  const env = { GAMESTREAM_WAREHOUSE: `duckdb:${path}` };
  const group: Daemon[] = [];
  let daemon: Daemon;
  let url: string;
  // In this process unless the test is about the command's own process: the daemon is another process either way.
  const count = async (): Promise<number> => {
    const r = await inProcess(['SELECT count(*) AS n FROM events'], env);
    expect(r.code, r.err).toBe(0);
    return Number(rows(r.out)[0]!.n);
  };
  const commits = async (): Promise<number> => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return Number(/^gamestream_warehouse_commits_total (\d+)/m.exec(text)?.[1] ?? NaN);
  };

  beforeAll(async () => {
    daemon = new Daemon({
      GAMESTREAM_SOURCE: 'generator', GAMESTREAM_GENERATOR_RATE: '2000', GAMESTREAM_GENERATOR_SEED: '7', GAMESTREAM_WAREHOUSE: `duckdb:${path}`,
      GAMESTREAM_WORKERS: '1', GAMESTREAM_PARTITIONS: '4', GAMESTREAM_ETL: 'off', GAMESTREAM_FLUSH_INTERVAL: '250ms', GAMESTREAM_LOG_LEVEL: 'warn',
    }, 'sql daemon', group);
    await daemon.until('the daemon file', () => readDaemonFile(daemonFilePath(path)) !== null);
    url = readDaemonFile(daemonFilePath(path))!.url!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await daemon.until('events committed', () => /written [1-9]/.test(daemon.stdout));
  }, 90_000);
  afterAll(async () => {
    for (const d of group) {
      if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL');
      await d.exited;
    }
  });

  it('answers through the daemon while it writes: counts grow between queries', async () => {
    const first = await count();
    expect(first).toBeGreaterThan(0);
    let later = first;
    for (let i = 0; i < 100 && later === first; i++) later = await count();
    expect(later).toBeGreaterThan(first);
    // The command as an operator runs it, next to the daemon.
    const table = await cli(['--format', 'table', 'SELECT event_name, count(*) AS n FROM events GROUP BY 1 ORDER BY 1'], env);
    expect(table.code, table.err).toBe(0);
    expect(table.out).toMatch(/^event_name +n\n/);
    expect(table.out).toContain('session_start');
  });

  it('refuses writes and changes nothing', async () => {
    const tables = async () => (await inProcess([`SELECT table_name FROM duckdb_tables() ORDER BY 1`], env)).out;
    const before = await tables();
    const n0 = await count();
    for (const q of ['DELETE FROM events', 'DROP TABLE events', 'CREATE TABLE stolen AS SELECT * FROM events', `COPY events TO '${join(dir, 'leak.csv')}'`, 'CHECKPOINT']) {
      const r = await inProcess([q], env);
      expect([r.code, r.err], q).toEqual([1, expect.stringContaining('sql_refused')]);
    }
    expect(await tables()).toBe(before);
    expect(await count()).toBeGreaterThanOrEqual(n0);
    expect(existsSync(join(dir, 'leak.csv'))).toBe(false);
  });

  /** Until the daemon is busy with a query (its POST /sql answers 429). */
  const untilBusy = async (): Promise<void> => {
    for (let i = 0; i < 500; i++) {
      const res = await fetch(`${url}/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sql":"SELECT 1"}' });
      await res.arrayBuffer();
      if (res.status === 429) return;
    }
    throw new Error('the daemon never got busy');
  };

  it('waits its turn while another query runs, within its own time limit', async () => {
    const slow = inProcess(['SELECT sum(a.range * b.range) FROM range(100000) a, range(100000) b'], { ...env, GAMESTREAM_SQL_TIMEOUT: '1500ms' });
    await untilBusy();
    const t0 = Date.now();
    const waited = await inProcess(['SELECT 42 AS x'], env);
    expect([waited.code, rows(waited.out)], waited.err).toEqual([0, [{ x: 42 }]]);
    expect((await slow).err).toContain('sql_timeout');
    // Its turn came when the slow one was stopped, about a second later.
    expect(Date.now() - t0).toBeGreaterThan(300);
    const slow2 = inProcess(['SELECT sum(a.range * b.range) FROM range(100000) a, range(100000) b'], { ...env, GAMESTREAM_SQL_TIMEOUT: '3s' });
    await untilBusy();
    const gaveUp = await inProcess(['SELECT 1'], { ...env, GAMESTREAM_SQL_TIMEOUT: '500ms' });
    expect(gaveUp.err).toContain('sql_busy: another query is running');
    await slow2;
  }, 30_000);

  it('cuts at the row limit, and stops a slow query at the time limit while the daemon goes on committing', async () => {
    const cut = await inProcess(['SELECT event_id FROM events'], { ...env, GAMESTREAM_SQL_MAX_ROWS: '5' });
    expect(rows(cut.out)).toHaveLength(5);
    expect(cut.err).toContain('only the first 5 rows are shown');
    const c0 = await commits();
    let during = c0;
    const slow = cli(['SELECT sum(a.range * b.range) FROM range(100000) a, range(100000) b'], { ...env, GAMESTREAM_SQL_TIMEOUT: '4s' });
    let done = false;
    void slow.then(() => (done = true));
    while (!done) {
      during = await commits();
      await sleep(200);
    }
    const r = await slow;
    expect([r.code, r.err]).toEqual([1, expect.stringContaining('sql_timeout: the query ran longer than 4000 ms')]);
    expect(r.ms).toBeGreaterThanOrEqual(4000);
    expect(r.ms).toBeLessThan(15_000);
    // Commits every 250 ms: the 4 s query held none of them back.
    expect(during - c0).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it('reaches only the daemon that holds the configured warehouse', async () => {
    // Another warehouse whose daemon file names this daemon (a stale file, a reused PID): this daemon refuses
    // the request (it holds another file), so the command opens the other file read-only itself.
    const other = await makeWarehouse('other.duckdb', 'mine');
    writeDaemonFile(daemonFilePath(other), { pid: daemon.child.pid!, warehouse: `duckdb:${other}`, url, startedAt: '', version: '' });
    const r = await cli(['SELECT current_database() AS db, count(*) AS n FROM mine'], { GAMESTREAM_WAREHOUSE: `duckdb:${other}` });
    expect(r.code, r.err).toBe(0);
    expect(rows(r.out)).toEqual([{ db: 'other', n: 25 }]);
    const live = await inProcess(['SELECT current_database() AS db'], env);
    expect(rows(live.out)).toEqual([{ db: 'live' }]);
  });

  it('says which setting to change when the daemon runs without its HTTP server', async () => {
    const quiet = join(dir, 'quiet.duckdb');
    const d = new Daemon({
      GAMESTREAM_SOURCE: 'generator', GAMESTREAM_GENERATOR_RATE: '200', GAMESTREAM_WAREHOUSE: `duckdb:${quiet}`, GAMESTREAM_METRICS_PORT: 'off',
      GAMESTREAM_WORKERS: '1', GAMESTREAM_PARTITIONS: '2', GAMESTREAM_ETL: 'off', GAMESTREAM_LOG_LEVEL: 'warn',
    }, 'sql daemon without http', group);
    await d.until('the daemon file', () => readDaemonFile(daemonFilePath(quiet)) !== null);
    const r = await inProcess(['SELECT 1'], { GAMESTREAM_WAREHOUSE: `duckdb:${quiet}` });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`the daemon holding ${quiet} (PID ${d.child.pid}) runs without its HTTP server (GAMESTREAM_METRICS_PORT=off)`);
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    // Stopped: the daemon file is gone and the file opens read-only.
    expect(existsSync(daemonFilePath(quiet))).toBe(false);
    const after = await inProcess(['SELECT count(*) >= 0 AS opened FROM events'], { GAMESTREAM_WAREHOUSE: `duckdb:${quiet}` });
    expect(rows(after.out), after.err).toEqual([{ opened: true }]);
  }, 90_000);

  it('says who holds the file when the daemon does not answer', async () => {
    const stopped = daemon.child as ChildProcess;
    stopped.kill('SIGSTOP');
    try {
      const r = await inProcess(['SELECT 1'], { ...env, GAMESTREAM_SQL_TIMEOUT: '100ms' });
      expect(r.code).toBe(1);
      expect(r.err).toContain(`${path} is held by PID ${stopped.pid}, whose daemon file (${path}.daemon.json) says it serves ${url}, but ${url} did not answer (no answer within 10 s)`);
    } finally {
      stopped.kill('SIGCONT');
    }
    // Resumed, it answers again (once the query it was sent while stopped has been dropped: this one waits its turn).
    expect(await count()).toBeGreaterThan(0);
  }, 60_000);
});

describe('a daemon stopped while a query of gamestream sql runs', () => {
  it('stops the query, drains and exits 0, instead of hanging on the query\'s thread', async () => {
    const path = join(dir, 'stopped-mid-query.duckdb');
    const group: Daemon[] = [];
    const daemon = new Daemon({
      GAMESTREAM_SOURCE: 'generator', GAMESTREAM_GENERATOR_RATE: '2000', GAMESTREAM_WAREHOUSE: `duckdb:${path}`, GAMESTREAM_WORKERS: '1',
      GAMESTREAM_PARTITIONS: '4', GAMESTREAM_ETL: 'off', GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_SQL_TIMEOUT: '5m',
    }, 'daemon stopped mid-query', group);
    try {
      await daemon.until('the daemon file', () => readDaemonFile(daemonFilePath(path)) !== null);
      const url = readDaemonFile(daemonFilePath(path))!.url!;
      await daemon.until('events committed', () => /written [1-9]/.test(daemon.stdout));
      const query = fetch(`${url}/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: 'SELECT count(*) FROM range(100000000000) t(x) WHERE x % 7 = 3' }) })
        .then((r) => r.status, () => 'no answer');
      // Running: the next query is turned away as busy.
      for (let i = 0; ; i++) {
        const res = await fetch(`${url}/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sql":"SELECT 1"}' });
        await res.arrayBuffer();
        if (res.status === 429) break;
        if (i > 500) throw new Error('the query never ran');
      }
      daemon.child.kill('SIGTERM');
      // The shutdown timeout (30 s) plus the 5 s exit grace bound a drain; past them the process hung.
      const outcome = await Promise.race([daemon.exited, sleep(45_000).then(() => 'still running 45 s after SIGTERM')]);
      expect(outcome, daemon.describe()).toBe(0);
      expect(daemon.stdout).toMatch(/stopped: [\d,]+ records/);
      expect(await query).not.toBe(200);
    } finally {
      if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGKILL');
      await daemon.exited;
    }
  }, 120_000);
});

describe('gamestream sql on BigQuery', () => {
  const ctx = inject('bigquery');

  it('queries the dataset directly: a SELECT runs, anything else is refused after a dry run', async () => {
    const b = await openBigQueryTestWarehouse(ctx, 'sql_cli');
    try {
      await b.insertEvents(generateDay('2026-11-20', 5, 5));
      const env = {
        GAMESTREAM_WAREHOUSE: `bigquery:${ctx.project}.${b.id}`, GAMESTREAM_BIGQUERY_ENDPOINT: ctx.restEndpoint,
        GAMESTREAM_BIGQUERY_WRITE_ENDPOINT: ctx.writeEndpoint,
      };
      const q = `SELECT event_type, COUNT(*) AS n FROM events WHERE event_date = DATE '2026-11-20' GROUP BY event_type ORDER BY event_type`;
      const r = await inProcess([q], env);
      expect(r.code, r.err).toBe(0);
      const got = rows(r.out);
      expect(got.map((x) => x.event_type)).toContain(1001);
      const total = got.reduce((s, x) => s + Number(x.n), 0);
      const cut = await inProcess([q], { ...env, GAMESTREAM_SQL_MAX_ROWS: '2' });
      expect(rows(cut.out)).toHaveLength(2);
      expect(cut.err).toContain('only the first 2 rows are shown');
      const refused = await inProcess([`DELETE FROM events WHERE event_date = DATE '2026-11-20'`], env);
      expect([refused.code, refused.err]).toEqual([1, expect.stringContaining('sql_refused: statement type DELETE, not a SELECT')]);
      const again = rows((await inProcess([q], env)).out);
      expect(again.reduce((s, x) => s + Number(x.n), 0)).toBe(total);
    } finally {
      await b.close();
    }
  });
});

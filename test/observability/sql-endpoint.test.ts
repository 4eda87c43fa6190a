/**
 * POST /sql on the observability server, over a real DuckDB warehouse: answers loopback clients that are not
 * browsers, refuses writes (nothing changes), lowers the limits a client asks for to its own, outlives the
 * server's idle timeout while a query runs, and refuses a request for another warehouse.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.ts';
import { startObservabilityServer, type ObservabilityServer } from '../../src/observability/server.ts';
import { handleSql, notLocal, SQL_MAX_BODY_BYTES, type SqlEndpointOptions } from '../../src/observability/sql-endpoint.ts';
import { DuckDbWarehouse } from '../../src/sinks/duckdb/duckdb-warehouse.ts';
import { duckDbReadOnlyRunner } from '../../src/sinks/duckdb/read-only-query.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-sql-endpoint-'));
const path = join(dir, 'wh.duckdb');
let wh: DuckDbWarehouse;
let writer: DuckDBConnection;
let server: ObservabilityServer;
let off: ObservabilityServer;
let sql: SqlEndpointOptions;
const SLOW = 'SELECT sum(a.range * b.range) FROM range(100000) a, range(100000) b';

const start = (o: SqlEndpointOptions, limits?: object) => startObservabilityServer({
  port: 0, metrics: new Metrics({ defaultMetrics: false }), limits, sql: o,
  health: () => ({ source: { ok: true, detail: '' }, warehouse: { ok: true, detail: '' } }),
  status: () => ({}) as never,
});

beforeAll(async () => {
  wh = new DuckDbWarehouse({ path, source: 's', maxEventBytes: 1 << 20 });
  await wh.open();
  writer = await wh.connect();
  await writer.run(`CREATE TABLE t AS SELECT range AS a FROM range(100)`);
  sql = { warehouse: wh.name, limits: { timeoutMs: 10_000, maxRows: 50 }, off: null, run: duckDbReadOnlyRunner(await wh.connect()) };
  // A short idle timeout: a query that runs longer must still get its answer.
  server = await start(sql, { idleTimeoutMs: 300 });
  off = await start({ ...sql, off: 'POST /sql is off in this daemon (GAMESTREAM_SQL_ENDPOINT=off)' });
});
afterAll(async () => {
  await server?.close();
  await off?.close();
  writer?.closeSync();
  await wh?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function post(body: unknown, o: { url?: string; headers?: Record<string, string>; raw?: string } = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${o.url ?? server.url}/sql`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...o.headers }, body: o.raw ?? JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

describe('POST /sql', () => {
  it('answers a loopback client with the rows, cut at the daemon\'s row limit', async () => {
    const r = await post({ sql: 'SELECT a FROM t ORDER BY a', warehouse: wh.name, maxRows: 1000 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ columns: [{ name: 'a', type: 'BIGINT' }], truncated: true, limits: { maxRows: 50 }, warehouse: wh.name });
    expect((r.body.rows as unknown[]).length).toBe(50);
    const few = await post({ sql: 'SELECT a FROM t ORDER BY a', maxRows: 3 });
    expect(few.body).toMatchObject({ rows: [[0], [1], [2]], truncated: true, limits: { maxRows: 3 } });
  });

  it('refuses writes with 403 sql_refused, and the table is unchanged', async () => {
    for (const q of ['DELETE FROM t', 'DROP TABLE t', 'INSERT INTO t VALUES (1)', `COPY t TO '${join(dir, 'x.csv')}'`, 'CREATE TABLE u (a INT)']) {
      const r = await post({ sql: q });
      expect([r.status, r.body.code], q).toEqual([403, 'sql_refused']);
    }
    expect((await writer.runAndReadAll('SELECT count(*), sum(a) FROM t')).getRowsJS()).toEqual([[100n, 4950n]]);
    expect((await writer.runAndReadAll(`SELECT count(*) FROM duckdb_tables() WHERE table_name = 'u'`)).getRowsJS()).toEqual([[0n]]);
  });

  it('stops a query at the lower of the client\'s and the daemon\'s time limit, past the server\'s idle timeout', async () => {
    const t0 = Date.now();
    const r = await post({ sql: SLOW, timeoutMs: 1000 });
    expect([r.status, r.body.code]).toEqual([504, 'sql_timeout']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - t0).toBeLessThan(6000);
  });

  it('runs one query at a time (429 with Retry-After for the next)', async () => {
    const slow = post({ sql: SLOW, timeoutMs: 1500 });
    // Wait until the first one has started (busy), not a fixed time.
    let second = await post({ sql: 'SELECT 1' });
    for (let i = 0; second.status === 200 && i < 100; i++) second = await post({ sql: 'SELECT 1' });
    expect([second.status, second.body.code, second.headers.get('retry-after')]).toEqual([429, 'sql_busy', '1']);
    expect((await slow).status).toBe(504);
    expect((await post({ sql: 'SELECT 1' })).status).toBe(200);
  });

  it('stops the query of a client that went away, so the next one need not wait for the time limit', async () => {
    const gone = new AbortController();
    const t0 = Date.now();
    const first = fetch(`${server.url}/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: SLOW }), signal: gone.signal }).catch(() => null);
    let next = await post({ sql: 'SELECT 1' });
    for (let i = 0; next.status === 200 && i < 100; i++) next = await post({ sql: 'SELECT 1' });
    expect(next.status).toBe(429);
    gone.abort();
    await first;
    while (next.status === 429 && Date.now() - t0 < 8000) next = await post({ sql: 'SELECT 1' });
    expect(next.status).toBe(200);
    // The daemon's time limit is 10 s: the query was interrupted when its client left, not at the limit.
    expect(Date.now() - t0).toBeLessThan(8000);
  });

  it('refuses browsers, other methods, other content types, big bodies and another warehouse', async () => {
    expect((await post({ sql: 'SELECT 1' }, { headers: { origin: 'http://evil.example' } })).status).toBe(403);
    expect((await post({ sql: 'SELECT 1' }, { headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await post(null, { raw: 'not json' })).status).toBe(400);
    expect((await post({ query: 'SELECT 1' })).status).toBe(400);
    expect((await post(null, { raw: JSON.stringify({ sql: `SELECT '${'x'.repeat(SQL_MAX_BODY_BYTES)}'` }) })).status).toBe(413);
    const other = await post({ sql: 'SELECT 1', warehouse: 'duckdb:/elsewhere.duckdb' });
    expect([other.status, other.body.error]).toEqual([409, `this daemon holds ${wh.name}, not duckdb:/elsewhere.duckdb`]);
    const get = await fetch(`${server.url}/sql`);
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    const r = await post({ sql: 'SELECT 1' }, { url: off.url });
    expect([r.status, r.body.error]).toEqual([404, 'POST /sql is off in this daemon (GAMESTREAM_SQL_ENDPOINT=off)']);
    // The other paths are as before.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('refuses a client that is not on this machine, by the socket\'s remote address', async () => {
    // The test cannot listen beyond loopback; the handler gets a request as from another host.
    const answers: [number, unknown][] = [];
    for (const remoteAddress of ['203.0.113.7', '::ffff:10.1.2.3', '2001:db8::1', undefined]) {
      const req = { socket: { remoteAddress }, headers: { 'content-type': 'application/json' }, method: 'POST' } as unknown as IncomingMessage;
      await handleSql(req, {} as ServerResponse, sql, (_res, status, body) => void answers.push([status, body]), 60_000);
    }
    expect(answers.map(([s]) => s)).toEqual([403, 403, 403, 403]);
    expect(answers[0]![1]).toEqual({ code: 'sql_refused', error: expect.stringContaining('this request came from 203.0.113.7. Run gamestream sql on the daemon\'s host') });
    expect([notLocal('127.0.0.1'), notLocal('::1'), notLocal('::ffff:127.0.0.1'), notLocal('127.8.9.10')]).toEqual([null, null, null, null]);
  });
});

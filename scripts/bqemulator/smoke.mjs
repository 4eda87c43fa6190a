#!/usr/bin/env node
// Smoke test of the local BigQuery emulator (scripts/bqemulator/start.sh) with the
// official Node client, @google-cloud/bigquery.
//
//   node scripts/bqemulator/smoke.mjs          # starts an emulator, checks, stops it
//   BQ_REST_ENDPOINT=http://127.0.0.1:9050 node scripts/bqemulator/smoke.mjs   # running one
//
// @google-cloud/bigquery and google-auth-library come from the repo's node_modules
// (run `npm ci` first). It needs Node >= 22 (run it with the repo's node:
// node_modules/.bin/node).
//
// The client is pointed at the emulator with apiEndpoint and an auth client that
// holds a dummy token (BIGQUERY_EMULATOR_HOST is not used). Each check prints
// ok/FAIL; "info" lines record behaviour that differs from BigQuery without
// failing the run. Exit code 0 only when every check passed.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { BigQuery } from '@google-cloud/bigquery';
import { OAuth2Client } from 'google-auth-library';

const here = dirname(fileURLToPath(import.meta.url));
// The installed version, for the summary line (package.json only gives a range).
const clientVersion = createRequire(import.meta.url)('@google-cloud/bigquery/package.json').version;

const results = [];
const infos = [];
let failed = 0;
function check(name, ok, detail = '') {
  results.push({ name, ok });
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
}
function info(name, detail) {
  infos.push(`${name}: ${detail}`);
  console.log(`info ${name} — ${detail}`);
}
const errText = (e) => (e?.errors?.length ? JSON.stringify(e.errors).slice(0, 300) : String(e?.message ?? e).slice(0, 300));
async function attempt(name, fn) {
  try { return await fn(); } catch (e) { check(name, false, errText(e)); return undefined; }
}

// ---------------------------------------------------------------- emulator
let endpoint = process.env.BQ_REST_ENDPOINT;
let startedDir = null;
let startedPid = null;
const rssMiB = (pid) => {
  try { return `${(Number(execFileSync('ps', ['-o', 'rss=', '-p', pid], { encoding: 'utf8' }).trim()) / 1024).toFixed(0)} MiB`; } catch { return '?'; }
};
if (!endpoint) {
  const t0 = performance.now();
  const out = execFileSync(join(here, 'start.sh'), ['--rest-port', process.env.BQ_REST_PORT ?? '9050', '--grpc-port', process.env.BQ_GRPC_PORT ?? '9060'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const vars = Object.fromEntries(out.trim().split('\n').map((l) => l.split('=')).map(([k, ...v]) => [k, v.join('=')]));
  endpoint = vars.BQ_REST_ENDPOINT;
  startedDir = vars.BQ_DIR;
  startedPid = vars.BQ_PID;
  console.log(`emulator started by start.sh in ${(performance.now() - t0).toFixed(0)} ms at ${endpoint} (pid ${vars.BQ_PID}, RSS ${rssMiB(startedPid)})`);
}
function stopEmulator() {
  if (!startedDir) return;
  console.log(`emulator RSS after the checks: ${rssMiB(startedPid)}`);
  try { execFileSync(join(here, 'stop.sh'), ['--dir', startedDir, '--remove-dir'], { stdio: ['ignore', 'inherit', 'inherit'] }); }
  catch (e) { console.error('stop.sh failed:', e.message); }
}

// ---------------------------------------------------------------- client
const authClient = new OAuth2Client();
authClient.setCredentials({ access_token: 'dummy-token' }); // no expiry: never refreshed
const bq = new BigQuery({ projectId: 'test', apiEndpoint: endpoint, authClient });
// For the probes that make the emulator answer 500: without this the client
// retries them with backoff (3 retries, ~15 s each probe).
const bqNoRetry = new BigQuery({ projectId: 'test', apiEndpoint: endpoint, authClient, autoRetry: false });

const dsId = `gs_smoke_${randomUUID().slice(0, 8)}`;
const schema = [
  { name: 'event_id', type: 'STRING', mode: 'REQUIRED' },
  { name: 'event_date', type: 'DATE', mode: 'REQUIRED' },
  { name: 'event_ts', type: 'TIMESTAMP' },
  { name: 'game_id', type: 'STRING' },
  { name: 'event_name', type: 'STRING' },
  { name: 'player_id', type: 'STRING' },
  { name: 'value', type: 'FLOAT64' },
  { name: 'n', type: 'INT64' },
  { name: 'payload', type: 'JSON' },
  { name: 'tags', type: 'STRING', mode: 'REPEATED' },
  { name: 'geo', type: 'RECORD', fields: [{ name: 'country', type: 'STRING' }, { name: 'city', type: 'STRING' }] },
];
const days = ['2026-11-01', '2026-11-02', '2026-11-03'];
const rows = Array.from({ length: 30 }, (_, i) => ({
  event_id: `e${i}`,
  event_date: days[i % 3],
  event_ts: `${days[i % 3]}T12:00:${String(i).padStart(2, '0')}Z`,
  game_id: `g${i % 2}`,
  event_name: i % 5 === 0 ? 'purchase' : 'level_up',
  player_id: `p${i % 7}`,
  value: i * 1.5,
  n: i,
  payload: JSON.stringify({ level: i, item: i % 5 === 0 ? 'sword' : null }),
  tags: ['a', `t${i % 3}`],
  geo: { country: i % 2 ? 'DE' : 'US', city: null },
}));

try {
  // ---- dataset
  let t0 = performance.now();
  const [dataset] = await bq.createDataset(dsId, { location: 'US' });
  check('createDataset', !!dataset, `${dsId} in ${(performance.now() - t0).toFixed(0)} ms`);
  const [dsList] = await bq.getDatasets();
  check('getDatasets lists it', dsList.some((d) => d.id === dsId));

  // ---- partitioned + clustered table
  const tableOpts = {
    schema,
    timePartitioning: { type: 'DAY', field: 'event_date', expirationMs: String(400 * 86400000) },
    clustering: { fields: ['game_id', 'event_name'] },
    description: 'gamestream smoke',
  };
  const [table] = await dataset.createTable('events', tableOpts);
  check('createTable (DAY partition on DATE column, clustered by 2 columns)', !!table);

  const [md] = await table.getMetadata();
  check('metadata.timePartitioning', md.timePartitioning?.type === 'DAY' && md.timePartitioning?.field === 'event_date',
    JSON.stringify(md.timePartitioning));
  if (md.timePartitioning?.expirationMs !== tableOpts.timePartitioning.expirationMs) {
    info('partition expirationMs round trip', `sent ${tableOpts.timePartitioning.expirationMs}, got ${JSON.stringify(md.timePartitioning?.expirationMs)}`);
  }
  check('metadata.clustering', JSON.stringify(md.clustering?.fields) === JSON.stringify(['game_id', 'event_name']), JSON.stringify(md.clustering));
  const mdTypes = Object.fromEntries(md.schema.fields.map((f) => [f.name, `${f.type}${f.mode ? '/' + f.mode : ''}`]));
  check('metadata.schema (JSON, REPEATED, RECORD types kept)', mdTypes.payload?.startsWith('JSON') && mdTypes.tags?.includes('REPEATED') && mdTypes.geo?.startsWith('RECORD'),
    JSON.stringify(mdTypes));

  // ---- insertAll (streaming inserts)
  t0 = performance.now();
  await attempt('table.insert (insertAll)', async () => {
    await table.insert(rows);
    check('table.insert (insertAll) 30 rows', true, `${(performance.now() - t0).toFixed(0)} ms`);
  });
  // same insertIds twice: BigQuery dedups on insertId (best effort)
  await attempt('insertAll with insertId', async () => {
    const raw = rows.slice(0, 3).map((r) => ({ insertId: `dup-${r.event_id}`, json: { ...r, event_id: `dup-${r.event_id}` } }));
    await table.insert(raw, { raw: true });
    await table.insert(raw, { raw: true });
    const [[{ c }]] = await bq.query({ query: `SELECT COUNT(*) c FROM \`${dsId}.events\` WHERE STARTS_WITH(event_id, 'dup-')` });
    info('insertAll insertId dedup', c === 3 ? 'deduplicated (3 rows)' : `not deduplicated: ${c} rows for 3 insertIds sent twice`);
    await bq.query({ query: `DELETE FROM \`${dsId}.events\` WHERE STARTS_WITH(event_id, 'dup-')` });
  });
  // Bad rows. BigQuery answers 200 with per-row insertErrors (the client throws
  // PartialFailureError) and inserts none of the request's rows; record what the emulator does.
  const badCases = {
    'unparsable DATE': { event_id: 'bad1', event_date: 'not-a-date' },
    'missing REQUIRED field': { event_id: 'bad2' },
    'unknown field': { event_id: 'bad3', event_date: '2026-11-01', no_such_column: 1 },
  };
  for (const [label, bad] of Object.entries(badCases)) {
    const good = { event_id: `good-${bad.event_id}`, event_date: '2026-11-01' };
    let outcome;
    try {
      await bqNoRetry.dataset(dsId).table('events').insert([good, bad]);
      outcome = 'accepted';
    } catch (e) {
      outcome = e.name === 'PartialFailureError'
        ? `PartialFailureError ${JSON.stringify(e.errors?.map((x) => x.errors?.[0]?.reason ?? x.errors?.[0]?.message))}`
        : `${e.name} ${e.code ?? ''} ${errText(e)}`;
    }
    const [[{ c }]] = await bq.query(`SELECT COUNT(*) c FROM \`${dsId}.events\` WHERE event_id IN ('${good.event_id}', '${bad.event_id}')`);
    info(`insertAll bad row (${label})`, `${outcome}; ${c} of the request's 2 rows stored`);
    if (c) await bq.query(`DELETE FROM \`${dsId}.events\` WHERE event_id IN ('${good.event_id}', '${bad.event_id}')`);
  }

  // ---- query back
  const [qrows] = await bq.query({
    query: `SELECT event_date, game_id, event_name, COUNT(*) AS c, SUM(value) AS v,
                   MAX(CAST(JSON_VALUE(payload, '$.level') AS INT64)) AS max_level,
                   COUNTIF(geo.country = 'DE') AS de, ARRAY_LENGTH(ANY_VALUE(tags)) AS ntags
            FROM \`${dsId}.events\`
            WHERE event_date BETWEEN @from AND @to
            GROUP BY event_date, game_id, event_name
            ORDER BY event_date, game_id, event_name`,
    params: { from: bq.date('2026-11-01'), to: bq.date('2026-11-03') },
  });
  const total = qrows.reduce((s, r) => s + r.c, 0);
  check('query with DATE params, JSON_VALUE, COUNTIF, STRUCT field, ARRAY', total === 30 && qrows.length > 0,
    `${qrows.length} groups, ${total} rows; first ${JSON.stringify(qrows[0])}`);
  const [[one]] = await bq.query(`SELECT * FROM \`${dsId}.events\` WHERE event_id = 'e5'`);
  check('SELECT * types come back (DATE, TIMESTAMP, JSON, REPEATED, RECORD)',
    one?.event_date?.value === '2026-11-03' && one?.geo?.country === 'DE' && Array.isArray(one?.tags) && one?.payload != null,
    JSON.stringify(one));

  // ---- JSON column features
  await attempt('JSON features', async () => {
    try {
      await bqNoRetry.dataset(dsId).table('events').insert([{ event_id: 'json-obj', event_date: '2026-11-02', payload: { level: 7, nested: { a: [1, 2] } } }]);
      const [[r]] = await bq.query(`SELECT TO_JSON_STRING(payload) s FROM \`${dsId}.events\` WHERE event_id = 'json-obj'`);
      info('JSON column: insertAll with an object (not a string)', `accepted; stored ${r?.s}`);
    } catch (e) {
      info('JSON column: insertAll with an object (not a string)', `rejected: ${errText(e)}`);
    }
    const probes = {
      "dot access payload.level": "SELECT payload.level AS x FROM `DS.events` WHERE event_id = 'e5'",
      "JSON_QUERY": "SELECT JSON_QUERY(payload, '$.item') AS x FROM `DS.events` WHERE event_id = 'e5'",
      "LAX_INT64": "SELECT LAX_INT64(payload.level) AS x FROM `DS.events` WHERE event_id = 'e5'",
      "INT64(json)": "SELECT INT64(payload.level) AS x FROM `DS.events` WHERE event_id = 'e5'",
      "PARSE_JSON + JSON_TYPE": "SELECT JSON_TYPE(PARSE_JSON('[1,2]')) AS x",
      "APPROX_QUANTILES": "SELECT APPROX_QUANTILES(value, 100)[OFFSET(50)] AS x FROM `DS.events`",
      "APPROX_COUNT_DISTINCT": "SELECT APPROX_COUNT_DISTINCT(player_id) AS x FROM `DS.events`",
      "SAFE_DIVIDE": "SELECT SAFE_DIVIDE(1, 0) AS x",
      "TIMESTAMP_TRUNC + FORMAT_TIMESTAMP": "SELECT FORMAT_TIMESTAMP('%Y-%m-%d %H', TIMESTAMP_TRUNC(event_ts, HOUR)) AS x FROM `DS.events` WHERE event_id = 'e5'",
      "QUALIFY ROW_NUMBER": "SELECT event_id AS x FROM `DS.events` WHERE TRUE QUALIFY ROW_NUMBER() OVER (PARTITION BY game_id ORDER BY n DESC) = 1 ORDER BY x",
    };
    for (const [label, sql] of Object.entries(probes)) {
      try {
        const [r] = await bq.query(sql.replaceAll('DS', dsId));
        info(`SQL ${label}`, `ok ${JSON.stringify(r.map((x) => x.x))}`);
      } catch (e) {
        info(`SQL ${label}`, `ERROR ${errText(e)}`);
      }
    }
    await bq.query(`DELETE FROM \`${dsId}.events\` WHERE event_id = 'json-obj'`);
  });

  // ---- insertAll throughput, 500-row requests (BigQuery's recommended size)
  await attempt('insertAll throughput', async () => {
    const big = Array.from({ length: 2500 }, (_, i) => ({ ...rows[i % 30], event_id: `bulk-${i}` }));
    const t = performance.now();
    for (let i = 0; i < big.length; i += 500) await table.insert(big.slice(i, i + 500));
    const secs = (performance.now() - t) / 1000;
    info('insertAll throughput', `${big.length} rows in 5 requests of 500: ${secs.toFixed(2)} s, ${(big.length / secs).toFixed(0)} rows/s`);
    await bq.query(`DELETE FROM \`${dsId}.events\` WHERE STARTS_WITH(event_id, 'bulk-')`);
  });

  // ---- table read (tabledata.list)
  const [listed] = await table.getRows({ maxResults: 100 });
  check('table.getRows (tabledata.list)', listed.length === 30, `${listed.length} rows`);

  // ---- DML and MERGE (what an idempotent reload would use)
  await attempt('DML DELETE', async () => {
    const [job] = await bq.createQueryJob({ query: `DELETE FROM \`${dsId}.events\` WHERE event_date = '2026-11-01'` });
    await job.getQueryResults();
    const [jmd] = await job.getMetadata();
    const [[{ c }]] = await bq.query(`SELECT COUNT(*) c FROM \`${dsId}.events\``);
    check('DML DELETE by partition column', c === 20, `${c} rows left, numDmlAffectedRows=${jmd.statistics?.query?.numDmlAffectedRows}`);
  });
  await attempt('MERGE', async () => {
    await bq.query(`MERGE \`${dsId}.events\` T
      USING (SELECT 'e1' AS event_id, DATE '2026-11-02' AS event_date, 99.0 AS value UNION ALL
             SELECT 'new1', DATE '2026-11-04', 1.0) S
      ON T.event_id = S.event_id AND T.event_date = S.event_date
      WHEN MATCHED THEN UPDATE SET value = S.value
      WHEN NOT MATCHED THEN INSERT (event_id, event_date, value) VALUES (S.event_id, S.event_date, S.value)`);
    const [[r]] = await bq.query(`SELECT (SELECT value FROM \`${dsId}.events\` WHERE event_id='e1') v, (SELECT COUNT(*) FROM \`${dsId}.events\`) c`);
    check('MERGE (update + insert)', r.v === 99 && r.c === 21, JSON.stringify(r));
  });

  // ---- load job from a local NDJSON file (multipart upload)
  await attempt('load job', async () => {
    const f = join(tmpdir(), `bqsmoke-${process.pid}.ndjson`);
    writeFileSync(f, rows.slice(0, 5).map((r) => JSON.stringify({ ...r, event_id: `load-${r.event_id}` })).join('\n') + '\n');
    const [job] = await table.load(f, { sourceFormat: 'NEWLINE_DELIMITED_JSON', writeDisposition: 'WRITE_APPEND' });
    rmSync(f, { force: true });
    const [[{ c }]] = await bq.query(`SELECT COUNT(*) c FROM \`${dsId}.events\` WHERE STARTS_WITH(event_id, 'load-')`);
    check('table.load NDJSON (load job)', c === 5, `job ${job.status?.state}, ${c} rows loaded`);
  });

  // ---- INFORMATION_SCHEMA.PARTITIONS
  await attempt('INFORMATION_SCHEMA.PARTITIONS', async () => {
    const [p] = await bq.query(`SELECT partition_id, total_rows FROM \`${dsId}.INFORMATION_SCHEMA.PARTITIONS\` WHERE table_name = 'events' ORDER BY partition_id`);
    info('INFORMATION_SCHEMA.PARTITIONS', JSON.stringify(p));
  });

  // ---- require_partition_filter
  await attempt('requirePartitionFilter table', async () => {
    const [t2] = await dataset.createTable('events_rpf', {
      schema, timePartitioning: { type: 'DAY', field: 'event_date', requirePartitionFilter: true },
      requirePartitionFilter: true, clustering: { fields: ['game_id'] },
    });
    const [md2] = await t2.getMetadata();
    info('requirePartitionFilter metadata', `table.requirePartitionFilter=${md2.requirePartitionFilter}, timePartitioning=${JSON.stringify(md2.timePartitioning)}`);
    await t2.insert(rows.slice(0, 3));
    try {
      const [r] = await bq.query(`SELECT COUNT(*) c FROM \`${dsId}.events_rpf\``);
      info('requirePartitionFilter enforcement', `query WITHOUT a partition filter was accepted (${JSON.stringify(r)}); BigQuery rejects it`);
    } catch (e) {
      info('requirePartitionFilter enforcement', `query without a partition filter rejected: ${errText(e)}`);
    }
  });

  // ---- DDL through a query: PARTITION BY / CLUSTER BY / OPTIONS
  await attempt('DDL CREATE TABLE', async () => {
    await bq.query(`CREATE TABLE \`${dsId}.daily\` (d DATE, game_id STRING, users INT64, extra JSON)
      PARTITION BY d CLUSTER BY game_id OPTIONS (require_partition_filter = TRUE, partition_expiration_days = 30)`);
    const [md3] = await dataset.table('daily').getMetadata();
    check('DDL CREATE TABLE … PARTITION BY … CLUSTER BY … OPTIONS', true,
      `timePartitioning=${JSON.stringify(md3.timePartitioning)} clustering=${JSON.stringify(md3.clustering)} requirePartitionFilter=${md3.requirePartitionFilter}`);
  });

  // ---- integer-range partitioning
  await attempt('RANGE partitioned table', async () => {
    const [t4] = await dataset.createTable('by_shard', {
      schema: [{ name: 'shard', type: 'INT64' }, { name: 'x', type: 'STRING' }],
      rangePartitioning: { field: 'shard', range: { start: '0', end: '64', interval: '8' } },
    });
    const [md4] = await t4.getMetadata();
    info('rangePartitioning metadata', JSON.stringify(md4.rangePartitioning));
  });

  // ---- final metadata (numRows after streaming)
  const [mdEnd] = await table.getMetadata();
  info('events metadata at the end', `numRows=${mdEnd.numRows} numBytes=${mdEnd.numBytes} streamingBuffer=${JSON.stringify(mdEnd.streamingBuffer)}`);

  // ---- cleanup
  await dataset.delete({ force: true });
  const [dsAfter] = await bq.getDatasets();
  check('dataset.delete({force:true})', !dsAfter.some((d) => d.id === dsId));
} catch (e) {
  check('unexpected error', false, `${e.name}: ${errText(e)}`);
} finally {
  stopEmulator();
}

console.log(`\n@google-cloud/bigquery ${clientVersion}, ${infos.length} info line(s)`);
const passed = results.filter((r) => r.ok).length;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

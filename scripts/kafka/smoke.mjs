#!/usr/bin/env node
// End-to-end check of kafkajs (the version in node_modules) against the local
// Kafka 4.x broker of scripts/kafka/start.sh.
//
//   node scripts/kafka/smoke.mjs            # starts a broker in a temp dir, checks, stops it
//   KAFKA_BOOTSTRAP=127.0.0.1:9092 node scripts/kafka/smoke.mjs   # use a running broker
//
// Options (env): SMOKE_MESSAGES (default 1000), SMOKE_PARTITIONS (default 8),
// KAFKA_PORT / KAFKA_CONTROLLER_PORT for the broker this script starts (9092/9093),
// SMOKE_PROTOCOL=1 to list every request (API key and version) kafkajs sent.
//
// Known harmless noise on Node >= 24: one "TimeoutNegativeWarning" from kafkajs's
// RequestQueue.scheduleCheckPendingRequests (throttledUntil starts at -1, so it calls
// setTimeout with a negative delay; Node clamps it to 1 ms as it always did).
//
// Checks: create an 8-partition topic; produce (plain, gzip, idempotent); consume
// all messages back with a consumer group and manual commits; the committed
// offsets equal the high watermarks; a transactional producer commits and aborts
// (read_committed consumer sees only the committed batch); consumer-group admin
// calls; delete the topic. Exit code 0 only when every check passed.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';

const require = createRequire(import.meta.url);
const { Kafka, logLevel, Partitioners, CompressionTypes } = require('kafkajs');
const kafkajsVersion = require('kafkajs/package.json').version;

const here = dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.SMOKE_MESSAGES ?? 1000);
const PARTITIONS = Number(process.env.SMOKE_PARTITIONS ?? 8);

const results = [];
const kafkaLogs = [];
const SHOW_PROTOCOL = process.env.SMOKE_PROTOCOL === '1';
const requestsSent = new Map(); // "Name(key: k, version: v)" -> count
let failed = 0;
function check(name, ok, detail = '') {
  results.push({ name, ok, detail });
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
}
const ms = (t0) => `${(performance.now() - t0).toFixed(0)} ms`;

let bootstrap = process.env.KAFKA_BOOTSTRAP;
let startedDataDir = null;
let startedPid = null;
const rssMiB = (pid) => {
  try { return `${(Number(execFileSync('ps', ['-o', 'rss=', '-p', pid], { encoding: 'utf8' }).trim()) / 1024).toFixed(0)} MiB`; } catch { return '?'; }
};
if (!bootstrap) {
  const args = ['--port', process.env.KAFKA_PORT ?? '9092', '--controller-port', process.env.KAFKA_CONTROLLER_PORT ?? '9093'];
  const t0 = performance.now();
  const out = execFileSync(join(here, 'start.sh'), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const vars = Object.fromEntries(out.trim().split('\n').map((l) => l.split('=')).map(([k, ...v]) => [k, v.join('=')]));
  bootstrap = vars.KAFKA_BOOTSTRAP;
  startedDataDir = vars.KAFKA_DATA_DIR;
  console.log(`broker started by start.sh in ${ms(t0)} at ${bootstrap} (data dir ${startedDataDir}, pid ${vars.KAFKA_PID})`);
  startedPid = vars.KAFKA_PID;
  console.log(`broker RSS after start: ${rssMiB(startedPid)}`);
}

function stopBroker() {
  if (!startedDataDir) return;
  console.log(`broker RSS after the checks: ${rssMiB(startedPid)}`);
  try {
    execFileSync(join(here, 'stop.sh'), ['--data-dir', startedDataDir, '--remove-data'], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (e) {
    console.error('stop.sh failed:', e.message);
  }
}

const kafka = new Kafka({
  clientId: 'gamestream-smoke',
  brokers: [bootstrap],
  logLevel: SHOW_PROTOCOL ? logLevel.DEBUG : logLevel.WARN,
  logCreator: () => ({ namespace, level, label, log }) => {
    const { message, ...extra } = log;
    if (level <= logLevel.WARN) kafkaLogs.push(`${label} [${namespace}] ${message} ${JSON.stringify(extra)}`);
    const m = /^Request (.+\(key: \d+, version: \d+\))/.exec(message);
    if (m) requestsSent.set(m[1], (requestsSent.get(m[1]) ?? 0) + 1);
  },
});

const topic = `smoke-${randomUUID().slice(0, 8)}`;
const txTopic = `${topic}-tx`;
const groupId = `smoke-group-${randomUUID().slice(0, 8)}`;
const admin = kafka.admin();

async function consumeAll({ topic, groupId, expected, isolation, timeoutMs = 30000 }) {
  const consumer = kafka.consumer({
    groupId,
    readUncommitted: isolation === 'read_uncommitted',
    sessionTimeout: 10000,
    heartbeatInterval: 1000,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const seen = new Map();
  const lastOffsets = new Map();
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));
  const t0 = performance.now();
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, heartbeat }) => {
      for (const m of batch.messages) {
        const v = m.value.toString();
        seen.set(v, (seen.get(v) ?? 0) + 1);
        lastOffsets.set(batch.partition, m.offset);
      }
      // manual commit: next offset to read = last + 1
      const last = batch.lastOffset();
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
      await heartbeat();
      if (seen.size >= expected) resolveDone();
    },
  });
  const timer = setTimeout(resolveDone, timeoutMs);
  await done;
  clearTimeout(timer);
  const elapsed = ms(t0);
  await consumer.disconnect();
  return { seen, elapsed };
}

try {
  // ---- admin: create topic
  await admin.connect();
  let t0 = performance.now();
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic, numPartitions: PARTITIONS, replicationFactor: 1 },
      { topic: txTopic, numPartitions: 2, replicationFactor: 1 },
    ],
  });
  check('admin.createTopics (8 partitions)', created === true, ms(t0));
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  check('admin.fetchTopicMetadata', meta.topics[0].partitions.length === PARTITIONS,
    `${meta.topics[0].partitions.length} partitions, leaders ${[...new Set(meta.topics[0].partitions.map((p) => p.leader))]}`);
  const listed = await admin.listTopics();
  check('admin.listTopics', listed.includes(topic));

  // ---- produce: half plain, half gzip, idempotent producer, acks=all
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  t0 = performance.now();
  const half = Math.floor(N / 2);
  const mk = (i) => ({ key: `player-${i % 97}`, value: `msg-${i}`, headers: { seq: String(i) }, timestamp: String(Date.now()) });
  const batches = [];
  for (let i = 0; i < N; i += 100) batches.push(Array.from({ length: Math.min(100, N - i) }, (_, j) => mk(i + j)));
  for (const [bi, messages] of batches.entries()) {
    await producer.send({ topic, acks: -1, compression: bi * 100 < half ? CompressionTypes.None : CompressionTypes.GZIP, messages });
  }
  check(`producer.send ${N} messages (idempotent, acks=-1, none+gzip)`, true, ms(t0));
  await producer.disconnect();

  const offsets = await admin.fetchTopicOffsets(topic);
  const total = offsets.reduce((s, p) => s + Number(p.high) - Number(p.low), 0);
  check('admin.fetchTopicOffsets sums to N', total === N, `${total} over ${offsets.filter((p) => p.high !== '0').length} non-empty partitions`);

  // ---- consume with a group, manual commits
  const { seen, elapsed } = await consumeAll({ topic, groupId, expected: N, isolation: 'read_committed' });
  const dups = [...seen.values()].filter((c) => c > 1).length;
  check(`consumer group read all ${N}`, seen.size === N, `${seen.size} distinct, ${dups} duplicated, ${elapsed}`);

  const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
  const parts = committed[0].partitions;
  const byPart = new Map(offsets.map((p) => [p.partition, p.high]));
  const allMatch = parts.length === PARTITIONS && parts.every((p) => p.offset === byPart.get(p.partition));
  check('committed offsets == high watermarks', allMatch,
    parts.map((p) => `${p.partition}:${p.offset}/${byPart.get(p.partition)}`).join(' '));

  const groups = await admin.listGroups();
  check('admin.listGroups', groups.groups.some((g) => g.groupId === groupId), JSON.stringify(groups.groups.find((g) => g.groupId === groupId)));
  const desc = await admin.describeGroups([groupId]);
  check('admin.describeGroups', desc.groups[0].groupId === groupId, `state ${desc.groups[0].state}, protocolType ${desc.groups[0].protocolType}`);

  // A second consumer in the same group resumes at the committed offsets: reads nothing.
  {
    const { seen: again } = await consumeAll({ topic, groupId, expected: 1, isolation: 'read_committed', timeoutMs: 4000 });
    check('restart of the group resumes after the commits', again.size === 0, `${again.size} re-read`);
  }

  // ---- transactions: commit one batch, abort another
  try {
    const txp = kafka.producer({ transactionalId: `smoke-tx-${randomUUID().slice(0, 8)}`, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await txp.connect();
    let tx = await txp.transaction();
    await tx.send({ topic: txTopic, messages: Array.from({ length: 10 }, (_, i) => ({ key: String(i), value: `commit-${i}` })) });
    await tx.sendOffsets({ consumerGroupId: `${groupId}-tx`, topics: [{ topic, partitions: [{ partition: 0, offset: '0' }] }] });
    await tx.commit();
    tx = await txp.transaction();
    await tx.send({ topic: txTopic, messages: Array.from({ length: 10 }, (_, i) => ({ key: String(i), value: `abort-${i}` })) });
    await tx.abort();
    await txp.disconnect();
    const { seen: txSeen } = await consumeAll({ topic: txTopic, groupId: `${groupId}-txread`, expected: 10, isolation: 'read_committed', timeoutMs: 8000 });
    const committedOnly = txSeen.size === 10 && [...txSeen.keys()].every((v) => v.startsWith('commit-'));
    check('transactional producer: commit + abort, read_committed sees 10 committed only', committedOnly, `${txSeen.size} seen`);
  } catch (e) {
    check('transactional producer', false, `${e.name}: ${e.message}`);
  }

  await admin.deleteGroups([groupId]).then(
    () => check('admin.deleteGroups', true),
    (e) => check('admin.deleteGroups', false, e.message),
  );
  await admin.deleteTopics({ topics: [topic, txTopic] });
  check('admin.deleteTopics', !(await admin.listTopics()).includes(topic));
  await admin.disconnect();
} catch (e) {
  check('unexpected error', false, `${e.name}: ${e.message}${e.type ? ` (${e.type})` : ''}`);
  try { await admin.disconnect(); } catch {}
} finally {
  if (kafkaLogs.length) {
    console.log(`\nkafkajs ${kafkajsVersion} logged ${kafkaLogs.length} warning/error line(s):`);
    for (const l of kafkaLogs.slice(0, 30)) console.log('  ' + l);
  } else {
    console.log(`\nkafkajs ${kafkajsVersion} logged no warnings or errors`);
  }
  if (SHOW_PROTOCOL) {
    console.log('\nrequests sent by kafkajs (API, key, negotiated version: count):');
    for (const [k, n] of [...requestsSent].sort()) console.log(`  ${k}: ${n}`);
  }
  stopBroker();
}

const passed = results.filter((r) => r.ok).length;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

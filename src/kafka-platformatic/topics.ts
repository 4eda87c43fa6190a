/**
 * The seed's topic layout, created or verified: raw events (64 partitions, 7 days), enriched events (64, 3 days),
 * dead letters (8, 30 days). A topic that exists with fewer partitions than wanted is an error: keyed events
 * would be spread over fewer partitions than the processors expect, and Kafka cannot shrink a topic anyway. More
 * partitions is allowed (someone scaled up) with a warning. Existing topics are never altered.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigResourceTypes, ListOffsetTimestamps, findErrorBy, type Admin } from '@platformatic/kafka';
import { GamestreamError } from '../errors.ts';
import { describeKafkaError } from './client.ts';
import type { Logger } from '../log.ts';
const DAY_MS = 86_400_000;

export interface TopicSpec {
  name: string;
  partitions: number;
  retentionMs: number;
  /** Other topic configs to set at creation, e.g. { 'max.message.bytes': '2097152' }. */
  config?: Record<string, string>;
}

export interface TopicReport {
  name: string;
  action: 'created' | 'verified';
  partitions: number;
  wantedPartitions: number;
  retentionMs: number | null;
  warnings: string[];
}

export const SEED_TOPICS = {
  raw: { name: 'game-events-raw', partitions: 64, retentionMs: 7 * DAY_MS },
  enriched: { name: 'game-events-enriched', partitions: 64, retentionMs: 3 * DAY_MS },
  dlq: { name: 'game-events-dlq', partitions: 8, retentionMs: 30 * DAY_MS },
} as const satisfies Record<string, TopicSpec>;

/** The seed layout with names, counts or retention changed where given. */
export function seedTopicSpecs(overrides: Partial<Record<keyof typeof SEED_TOPICS, Partial<TopicSpec>>> = {}): TopicSpec[] {
  return (Object.keys(SEED_TOPICS) as (keyof typeof SEED_TOPICS)[]).map((k) => ({ ...SEED_TOPICS[k], ...overrides[k] }));
}

export interface EnsureTopicsOptions {
  logger?: Logger;
  /** Default: the broker's default.replication.factor. */
  replicationFactor?: number;
  /** How long new topics may take until a leader serves every partition. Default 30 s. */
  timeoutMs?: number;
}

function checkSpecs(specs: readonly TopicSpec[]): void {
  const names = new Set<string>();
  for (const s of specs) {
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(s.name)) throw new GamestreamError('config_invalid', `topic name ${JSON.stringify(s.name)} is not valid`);
    if (!Number.isInteger(s.partitions) || s.partitions < 1) throw new GamestreamError('config_invalid', `topic ${s.name}: partitions must be a whole number ≥ 1, got ${s.partitions}`);
    if (!Number.isInteger(s.retentionMs) || s.retentionMs < -1) throw new GamestreamError('config_invalid', `topic ${s.name}: retentionMs must be a whole number of ms (or -1 for no limit), got ${s.retentionMs}`);
    if (names.has(s.name)) throw new GamestreamError('config_invalid', `topic ${s.name} is listed twice`);
    names.add(s.name);
  }
}

function unavailable(what: string, err: unknown): GamestreamError {
  return new GamestreamError('kafka_unavailable', `${what}: ${describeKafkaError(err)}`, { retryable: true, cause: err });
}

/** Creates the missing topics and checks the existing ones. */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], opts: EnsureTopicsOptions = {}): Promise<TopicReport[]> {
  checkSpecs(specs);
  const log = opts.logger?.child({ component: 'topics' });
  let existing: Set<string>;
  try {
    existing = new Set(await admin.listTopics());
  } catch (err) {
    throw unavailable('cannot list Kafka topics', err);
  }
  const missing = specs.filter((s) => !existing.has(s.name));
  for (const s of missing) {
    try {
      // One request per topic: the configs of a request apply to all its topics.
      await admin.createTopics({
        topics: [s.name],
        partitions: s.partitions,
        replicas: opts.replicationFactor ?? -1,
        configs: Object.entries({ 'retention.ms': String(s.retentionMs), ...s.config }).map(([name, value]) => ({ name, value })),
      });
    } catch (err) {
      // Another instance created it meanwhile: it is verified below like any existing topic.
      if (!findErrorBy(err as Error, 'apiId', 'TOPIC_ALREADY_EXISTS')) {
        throw unavailable(`cannot create topic ${s.name}`, err);
      }
    }
  }
  // Existing topics too: one created a moment ago by someone else may not be served by every broker yet.
  await waitUntilServed(admin, specs.map((s) => s.name), opts.timeoutMs ?? 30_000, log);
  let found: Map<string, number>;
  let retention: Map<string, number | null>;
  try {
    found = await partitionCounts(admin, specs.map((s) => s.name));
    retention = await retentionOf(admin, specs.map((s) => s.name));
  } catch (err) {
    throw unavailable('cannot describe topics', err);
  }
  const reports: TopicReport[] = [];
  for (const s of specs) {
    const partitions = found.get(s.name) ?? 0;
    const created = missing.includes(s);
    if (partitions < s.partitions) {
      throw new GamestreamError('topic_invalid',
        `topic ${s.name} has ${partitions} partitions but ${s.partitions} are wanted; Kafka cannot reduce them, so either add partitions (kafka-topics --alter --partitions ${s.partitions}) or configure ${partitions}`);
    }
    const warnings: string[] = [];
    if (partitions > s.partitions) warnings.push(`topic ${s.name} has ${partitions} partitions, more than the ${s.partitions} wanted; using it as it is`);
    const r = retention.get(s.name) ?? null;
    if (r !== null && r !== s.retentionMs) warnings.push(`topic ${s.name} keeps data for retention.ms=${r}, not the ${s.retentionMs} wanted; left unchanged`);
    for (const w of warnings) log?.warn({ topic: s.name }, w);
    log?.info({ topic: s.name, partitions, retentionMs: r }, created ? 'topic created' : 'topic verified');
    reports.push({ name: s.name, action: created ? 'created' : 'verified', partitions, wantedPartitions: s.partitions, retentionMs: r, warnings });
  }
  return reports;
}

/**
 * Waits until every partition of the topics is served by its leader. Metadata naming a leader is not enough: for
 * a moment after a topic is created, a KRaft broker still answers "unknown topic" and then "not the leader"
 * (an idempotent producer would turn the second into an out-of-order sequence error). A ListOffsets answered
 * for every partition means the leaders took over.
 */
async function waitUntilServed(admin: Admin, topics: string[], timeoutMs: number, log?: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let said = false;
  for (;;) {
    try {
      const meta = await admin.metadata({ topics, forceUpdate: true });
      const all = topics.map((t) => meta.topics.get(t));
      if (all.every((t) => t !== undefined && t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) {
        for (const t of topics) await endOffsetsOf(admin, t);
        return;
      }
      last = 'partitions without a leader';
    } catch (err) {
      last = describeKafkaError(err);
    }
    if (Date.now() > deadline) {
      throw new GamestreamError('kafka_unavailable', `topics ${topics.join(', ')} are not served by a leader for every partition after ${timeoutMs} ms: ${last}`, { retryable: true });
    }
    // Once, instead of a line per retry: a new topic's leaders are still being elected.
    if (!said) log?.info({ topics, waitingFor: last }, `waiting until a leader serves every partition (up to ${timeoutMs / 1000} s)`);
    said = true;
    await sleep(100);
  }
}

/** retention.ms of each topic as the broker reports it (its default when the topic sets none). */
export async function retentionOf(admin: Admin, topics: string[]): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>();
  for (const [name, v] of await topicConfig(admin, topics, 'retention.ms')) out.set(name, v === null ? null : Number(v));
  return out;
}

/** One config of each topic as the broker reports it (its default when the topic sets none). */
export async function topicConfig(admin: Admin, topics: string[], key: string): Promise<Map<string, string | null>> {
  const res = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((resourceName) => ({ resourceType: ConfigResourceTypes.TOPIC, resourceName, configurationKeys: [key] })),
  });
  return new Map(res.map((r) => [r.resourceName, r.configs.find((c) => c.name === key)?.value ?? null]));
}

/** Partition count of each topic (fresh metadata, not the client's cache). */
export async function partitionCounts(admin: Admin, topics: string[]): Promise<Map<string, number>> {
  const meta = await admin.metadata({ topics, forceUpdate: true });
  return new Map(topics.map((t) => [t, meta.topics.get(t)?.partitionsCount ?? 0]));
}

/** Where one partition's log starts (its oldest record kept) and ends (the offset the next record gets). */
export async function logRangeOf(admin: Admin, topic: string, partition: number): Promise<{ start: number; end: number }> {
  const at = async (timestamp: bigint): Promise<number> => {
    const [t] = await admin.listOffsets({ topics: [{ name: topic, partitions: [{ partitionIndex: partition, timestamp }] }] });
    return Number(t?.partitions.find((p) => p.partitionIndex === partition)?.offset ?? -1);
  };
  return { start: await at(ListOffsetTimestamps.EARLIEST), end: await at(ListOffsetTimestamps.LATEST) };
}

/** The log-end offset of every partition of a topic. */
export async function endOffsetsOf(admin: Admin, topic: string): Promise<Map<number, number>> {
  const count = (await partitionCounts(admin, [topic])).get(topic) ?? 0;
  const partitions = Array.from({ length: count }, (_, partitionIndex) => ({ partitionIndex, timestamp: ListOffsetTimestamps.LATEST }));
  const [t] = await admin.listOffsets({ topics: [{ name: topic, partitions }] });
  return new Map((t?.partitions ?? []).map((p) => [p.partitionIndex, Number(p.offset)]));
}

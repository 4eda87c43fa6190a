// ensureTopics against the real broker: creates the seed layout, verifies it on a second run, refuses a topic
// with fewer partitions, accepts one with more.
import { randomBytes } from 'node:crypto';
import type { Admin } from '@platformatic/kafka';
import pino from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { SEED_TOPICS, ensureTopics, retentionOf, seedTopicSpecs } from '../../src/kafka-platformatic/topics.ts';
import { kafkaConn, withAdmin as withAdminOn } from '../support/kafka/client.ts';

const kafka = kafkaConn(inject('kafkaBrokers'));
const withAdmin = <T>(fn: (admin: Admin) => Promise<T>): Promise<T> => withAdminOn(kafka, fn);
const uniqueTopic = (prefix: string): string => `${prefix}-${randomBytes(5).toString('hex')}`;

describe('ensureTopics', () => {
  it('creates the seed layout with its partition counts and retention, then verifies it', async () => {
    const specs = seedTopicSpecs({
      raw: { name: uniqueTopic('raw') },
      enriched: { name: uniqueTopic('enriched') },
      dlq: { name: uniqueTopic('dlq') },
    });
    expect(specs.map((s) => [s.partitions, s.retentionMs])).toEqual([[64, 7 * 86_400_000], [64, 3 * 86_400_000], [8, 30 * 86_400_000]]);
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
    await withAdmin(async (admin) => {
      const first = await ensureTopics(admin, specs, { logger });
      expect(first.map((r) => [r.action, r.partitions, r.warnings.length])).toEqual([['created', 64, 0], ['created', 64, 0], ['created', 8, 0]]);
      // New topics' leaders are elected while it waits: said once at most, and never as a warning.
      expect(lines.filter((l) => l.msg.startsWith('waiting until a leader serves every partition')).length).toBeLessThanOrEqual(1);
      expect(lines.filter((l) => l.level >= 40), JSON.stringify(lines)).toEqual([]);
      const meta = await admin.metadata({ topics: specs.map((s) => s.name), forceUpdate: true });
      const counts = new Map([...meta.topics].map(([name, t]) => [name, t.partitions.length]));
      expect(specs.map((s) => counts.get(s.name))).toEqual([64, 64, 8]);
      const retention = await retentionOf(admin, specs.map((s) => s.name));
      expect(specs.map((s) => retention.get(s.name))).toEqual([604_800_000, 259_200_000, 2_592_000_000]);
      const again = await ensureTopics(admin, specs);
      expect(again.map((r) => r.action)).toEqual(['verified', 'verified', 'verified']);
      await admin.deleteTopics({ topics: specs.map((s) => s.name) });
    });
  });

  it('refuses an existing topic with fewer partitions (topic_invalid), accepts more with a warning', async () => {
    const name = uniqueTopic('small');
    await withAdmin(async (admin) => {
      await admin.createTopics({ topics: [name], partitions: 4 });
      const err = await ensureTopics(admin, [{ name, partitions: 8, retentionMs: 3_600_000 }]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'topic_invalid' });
      expect((err as Error).message).toContain(name);
      expect((err as Error).message).toMatch(/has 4 partitions but 8 are wanted/);

      const more = await ensureTopics(admin, [{ name, partitions: 2, retentionMs: 3_600_000 }]);
      expect(more[0]).toMatchObject({ action: 'verified', partitions: 4, wantedPartitions: 2 });
      expect(more[0].warnings.join('\n')).toContain('more than the 2 wanted');
      // Created without a retention of its own: the broker's default is reported, and differs.
      expect(more[0].warnings.join('\n')).toContain('retention.ms');
      await admin.deleteTopics({ topics: [name] });
    });
  });

  it('rejects a bad spec before touching Kafka', async () => {
    await withAdmin(async (admin) => {
      await expect(ensureTopics(admin, [{ ...SEED_TOPICS.raw, partitions: 0 }])).rejects.toMatchObject({ code: 'config_invalid' });
      await expect(ensureTopics(admin, [SEED_TOPICS.dlq, SEED_TOPICS.dlq])).rejects.toThrow(/listed twice/);
    });
  });
});

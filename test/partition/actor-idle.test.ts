import { describe, expect, it } from 'vitest';
import { EnrichmentTables } from '../../src/enrich/tables.ts';
import { actorOutput, PartitionActor } from '../../src/partition/actor.ts';

const T0 = Date.UTC(2026, 10, 20, 10);

describe('an idle partition', () => {
  it('follows the engine watermark so its windows close, and only when idle', () => {
    const out = actorOutput(() => EnrichmentTables.empty());
    const actor = new PartitionActor(
      { partition: 0, windowSizeMs: 60_000, maxOutOfOrdernessMs: 10_000, allowedLatenessMs: 60_000, dedupeHorizonMs: 300_000,
        futureToleranceMs: 3_600_000, maxEventBytes: 1 << 20, avro: null, origin: 0 },
      out,
    );
    const ev = { id: 'e1', user_id: 'u', timestamp: new Date(T0 + 5000).toISOString(), type: 1001 };
    actor.processBatch([{ partition: 0, offset: 0, bytes: Buffer.from(JSON.stringify(ev)) }], T0, T0 + 10_000);
    expect(out.agg.rows).toBe(0);
    actor.onWatermark(T0 + 10 * 60_000, false); // busy partition: its own watermark rules
    expect(out.agg.rows).toBe(0);
    actor.onWatermark(T0 + 10 * 60_000, true);
    expect(out.agg.rows).toBe(1);
    expect(actor.watermarkMs).toBe(T0 + 10 * 60_000);
    expect(actor.flush()?.closedThroughMs).toBeGreaterThan(T0);
  });
});

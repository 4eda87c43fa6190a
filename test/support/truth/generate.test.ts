// The generator: deterministic, well-labelled (every label agrees with the independent contract check),
// and actually exercising every situation the ground-truth tests are meant to cover.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateDataset } from './generate.ts';
import type { Dataset } from './generate.ts';
import { expectedFor } from './expected.ts';
import { DEFECT_KINDS } from './defects.ts';
import { KNOWN_IPV4, KNOWN_IPV6 } from './catalog.ts';
import { parseTimestamp } from './timestamps.ts';

function digest(ds: Dataset): string {
  const h = createHash('sha256');
  for (const l of ds.lines) h.update(l).update('\n');
  return h.digest('hex');
}

describe('generateDataset', { timeout: 120_000 }, () => {
  const ds = generateDataset({ seed: 42 });
  const truth = expectedFor(ds, 'json');

  it('is a pure function of the seed', () => {
    expect(digest(generateDataset({ seed: 42 }))).toBe(digest(ds));
    expect(digest(generateDataset({ seed: 43 }))).not.toBe(digest(ds));
  });

  it('produces about the requested number of events and no newline inside a record', () => {
    const normal = ds.records.filter((r) => r.label.kind === 'event').length;
    expect(normal).toBeGreaterThan(40_000 * 0.9);
    expect(normal).toBeLessThan(40_000 * 1.15);
    expect(ds.lines.every((l) => !l.includes(0x0a))).toBe(true);
  });

  it('labels every record with the verdict the contract gives it', () => {
    // expectedFor throws on any disagreement; reaching here means all labels agree.
    expect(truth.records).toBe(ds.records.length);
    expect(truth.events.length + truth.dlqRows.length + truth.duplicates).toBe(ds.records.length);
  });

  it('contains every defect kind and variant, each a small share', () => {
    const c = ds.composition();
    for (const kind of DEFECT_KINDS) {
      for (const v of kind.variants) expect(c[`variant:${kind.kind}/${v}`], `${kind.kind}/${v}`).toBeGreaterThan(0);
      expect(c[`kind:${kind.kind}`] / ds.records.length).toBeLessThan(0.01);
    }
    for (const code of ['too_large', 'parse_error', 'missing_fields', 'invalid_field', 'invalid_timestamp', 'future_timestamp'] as const) {
      expect(truth.dlqCounts[code], code).toBeGreaterThan(0);
    }
  });

  it('exercises dedupe both ways, lateness both ways, and on-time disorder', () => {
    expect(truth.duplicates).toBeGreaterThan(50);
    expect(truth.reaccepted).toBeGreaterThan(10);
    expect(truth.late).toBeGreaterThan(50);
    expect(truth.outOfOrderOnTime).toBeGreaterThan(500);
    // Events delayed 30–90 s land on both sides of the lateness edge.
    const delayed = truth.events.filter((e) => ds.records[e.recordIndex].label.delivery === 'delayed');
    expect(delayed.some((e) => e.late)).toBe(true);
    expect(delayed.some((e) => !e.late)).toBe(true);
    // Clearly late deliveries (> 3 min) are all late.
    const late = truth.events.filter((e) => ds.records[e.recordIndex].label.delivery === 'late');
    expect(late.length).toBeGreaterThan(100);
    expect(late.filter((e) => !e.late).length / late.length).toBeLessThan(0.05);
  });

  it('spreads records over every partition and uses every address', () => {
    expect(Math.min(...truth.partitionSizes)).toBeGreaterThan(0);
    const ips = new Set(truth.events.map((e) => e.ip_address));
    for (const ip of [...KNOWN_IPV4, ...KNOWN_IPV6]) expect(ips.has(ip), ip).toBe(true);
    expect(truth.events.some((e) => e.geo.official.country !== e.geo.flat.country)).toBe(true);
    expect(truth.events.some((e) => e.device_category === null && e.device_model !== null)).toBe(true);
  });

  it('spells timestamps in every accepted style and straddles midnight UTC', () => {
    const styles = new Set<string>();
    for (const r of ds.records.slice(0, 20_000)) {
      if (r.label.kind !== 'event') continue;
      const ts = (JSON.parse(r.line.toString()) as { timestamp: unknown }).timestamp;
      expect(parseTimestamp(ts)).not.toBeNull();
      styles.add(typeof ts === 'number' ? 'epoch' : String(ts).replace(/\d/g, '9'));
    }
    // +02:00 and +05:30 share a shape, so nine styles make eight shapes.
    expect(styles.size).toBeGreaterThanOrEqual(8);
    expect(new Set(truth.events.map((e) => e.event_date)).size).toBeGreaterThanOrEqual(2);
  });

  it('keeps the ~1 MB valid record under the limit and the oversized ones over it', () => {
    const big = ds.records.filter((r) => r.label.kind === 'big_valid' || r.label.kind === 'too_large');
    expect(big).toHaveLength(3);
    for (const r of big) {
      if (r.label.kind === 'big_valid') expect(r.line.length).toBeGreaterThan(900_000);
      expect(r.line.length > ds.options.maxEventBytes).toBe(r.label.kind === 'too_large');
    }
  });

  it('scales: 200k events generate and evaluate in reasonable time', () => {
    const t0 = Date.now();
    const large = generateDataset({ seed: 5, events: 200_000, heavy: false });
    const e = expectedFor(large, 'json');
    expect(e.events.length).toBeGreaterThan(190_000);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });
});

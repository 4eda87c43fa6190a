import { describe, expect, it } from 'vitest';
import { loadEtlConfig } from '../../src/etl/config.ts';
import { GeneratorSource, mulberry32 } from '../../src/sources/generator.ts';
import { loadConfig } from '../../src/config/schema.ts';
import { decodeJson } from '../../src/partition/decode.ts';
import { isRejection, validate } from '../../src/partition/validate.ts';

describe('the demo generator against the seed\'s quality panel', () => {
  it('keeps its unknown devices under the 1% null-rate limit that is the default, over several seeds', async () => {
    const limit = loadEtlConfig({}).maxNullRate;
    expect(limit).toBe(0.01);
    for (const seed of [1, 2, 3, 4, 5]) {
      const g = new GeneratorSource({ seed, rate: 10_000_000, total: 100_000, badShare: 0 });
      await g.open();
      let events = 0;
      let unknown = 0;
      for (let c = await g.next(); c; c = await g.next()) {
        const text = Buffer.from(c.data).toString('utf8');
        events += c.count;
        unknown += text.split('"device_model":"XQ-DE54"').length - 1;
      }
      expect(events).toBe(100_000);
      expect(unknown / events, `seed ${seed}`).toBeLessThan(limit * 0.8);
      expect(unknown, `seed ${seed}: some devices stay unknown, so the NULLs show`).toBeGreaterThan(0);
    }
  });

  it('keeps its dead letters under the 1% of the DeadLetterRateHigh alert (monitoring/alerts.yml), so the demo does not fire it', async () => {
    for (const seed of [1, 2, 3]) {
      const g = new GeneratorSource({ seed, rate: 10_000_000, total: 100_000, badShare: loadConfig({}).generatorBadShare }); // the demo's
      await g.open();
      let records = 0;
      let dead = 0;
      for (let c = await g.next(); c; c = await g.next()) {
        for (let i = 0; i < c.count; i++) {
          records++;
          const d = decodeJson(c.data.subarray(c.starts[i], c.ends[i]), 1 << 20);
          if (!d.ok || isRejection(validate(d.obj, { futureToleranceMs: 3_600_000, nowMs: Date.now() }))) dead++;
        }
      }
      expect(dead / records, `seed ${seed}`).toBeLessThan(0.008);
      expect(dead, `seed ${seed}: the demo still shows dead letters`).toBeGreaterThan(0);
    }
  });
});

describe('the generator\'s ids', () => {
  it('are the seed\'s words as version-4 UUIDs, as they were written with toString(16), so a seed gives the same players', async () => {
    // The players' ids come first from the seed: 5000 players of four words each.
    const rand = mulberry32(7);
    const reference = (): string => {
      let s = '';
      for (let i = 0; i < 4; i++) s += ((rand() * 0x100000000) >>> 0).toString(16).padStart(8, '0');
      return `${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-a${s.slice(17, 20)}-${s.slice(20, 32)}`;
    };
    const expected = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      expected.add(reference());
      // The draws that follow each player's id (GeneratorSource.open): level, platform, device (a second draw
      // for the model unless the player's device is the unknown one), IP.
      rand();
      rand();
      if (rand() >= 0.005) rand();
      rand();
    }
    const g = new GeneratorSource({ seed: 7, rate: 10_000_000, total: 20_000, badShare: 0 });
    await g.open();
    const users = new Set<string>();
    for (let c = await g.next(); c; c = await g.next()) {
      for (const m of Buffer.from(c.data).toString('utf8').matchAll(/"user_id":"([^"]+)"/g)) users.add(m[1]!);
    }
    expect(users.size).toBeGreaterThan(4000);
    for (const u of users) {
      expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(expected.has(u), u).toBe(true);
    }
  });
});
